"""Seeded, deterministic synthetic city: plate reads, alarm buttons and emergency calls.

A :class:`ScenarioConfig` and its seed fully determine a :class:`Scenario`: roads and LPR
cameras of a real city box (Medellín, CDMX), vehicles driving trips past them with
realistic plates and OCR misreads, a watchlist, alarm devices that heartbeat and are
pressed, and incidents that draw clusters of emergency calls. Every event follows the
event contract v1; the ground truth (who was really read, which calls are one incident,
which events are malformed and how they must be rejected) is written beside the events.

Example::

    from pathlib import Path
    from sisec_stream.generator import ScenarioConfig, Scenario, write_scenario

    summary = write_scenario(ScenarioConfig(seed=1, cameras=50), Path("scenario"))
    for ts_ms, line, truth in Scenario(ScenarioConfig(seed=1)).events("calls"):
        ...
"""

from sisec_stream.generator.city import Camera, Device
from sisec_stream.generator.cli import add_generate_arguments, run_generate
from sisec_stream.generator.config import (
    CITY_PRESETS,
    CityPreset,
    GeneratorConfigError,
    ScenarioConfig,
)
from sisec_stream.generator.scenario import (
    EVENT_TYPES,
    SOURCES,
    TRUTH_COLUMNS,
    Event,
    Scenario,
    Source,
)
from sisec_stream.generator.writer import (
    EVENT_FILES,
    TRUTH_FILES,
    write_scenario,
    write_static_files,
    write_watchlist,
)

__all__ = [
    "CITY_PRESETS",
    "EVENT_FILES",
    "EVENT_TYPES",
    "SOURCES",
    "TRUTH_COLUMNS",
    "TRUTH_FILES",
    "Camera",
    "CityPreset",
    "Device",
    "Event",
    "GeneratorConfigError",
    "Scenario",
    "ScenarioConfig",
    "Source",
    "add_generate_arguments",
    "run_generate",
    "write_scenario",
    "write_static_files",
    "write_watchlist",
]
