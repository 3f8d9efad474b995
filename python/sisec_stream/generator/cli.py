"""Command-line flags for the generator (``sisec-stream generate ...``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Final

from sisec_stream.generator.config import CITY_PRESETS, GeneratorConfigError, ScenarioConfig
from sisec_stream.generator.writer import EVENT_FILES, write_scenario

__all__ = ["FLAGS", "add_generate_arguments", "run_generate"]

#: ScenarioConfig field -> command-line flag (seconds fields drop their ``_s``).
FLAGS: Final[dict[str, str]] = {
    f.name: "--" + f.name.removesuffix("_s").replace("_", "-") for f in fields(ScenarioConfig)
}

_HELP: Final[dict[str, str]] = {
    "seed": "random seed; the same seed and flags give byte-identical files",
    "city": "city preset (bounding box, clock, emergency lines, plate formats)",
    "start": "simulated start, RFC 3339; the city's UTC offset replaces the given one",
    "duration_s": "simulated duration in seconds",
    "cameras": "number of LPR cameras (arches on highways)",
    "reads_per_camera_per_day": "average plate reads per camera per day",
    "listed_share": "share of circulating vehicles on the watchlist",
    "watchlist_size": "watchlist entries (listed circulating vehicles + plates never seen)",
    "misread_rate": "share of plate reads with an OCR misread",
    "devices": "number of alarm devices (panic, community alarm, school, business)",
    "heartbeat_interval_s": "device heartbeat interval in seconds",
    "presses_per_device_per_day": "button activations per device per day",
    "false_press_share": "share of activations that are false",
    "offline_device_share": "share of devices that stop reporting part-way",
    "calls_per_hour": "emergency calls per hour",
    "invalid_call_share": "share of calls that are not valid (pranks, silent, abandoned)",
    "malformed_share": "share of events replaced by malformed ones (expected reject in truth)",
}


_METAVARS: Final[dict[str, str]] = {
    "city": "{" + ",".join(sorted(CITY_PRESETS)) + "}",
    "start": "RFC3339",
    "duration_s": "SECONDS",
    "heartbeat_interval_s": "SECONDS",
}


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add a flag for every :class:`ScenarioConfig` field, plus ``--out`` and ``--no-progress``.

    Flags use dashes (``--reads-per-camera-per-day``); seconds fields drop the suffix
    (``--duration``, ``--heartbeat-interval``; ``--duration-s`` is accepted too). Unset
    flags keep the config defaults.
    """
    group = parser.add_argument_group("scenario")
    py_types = {"int": int, "float": float, "str": str}
    for f in fields(ScenarioConfig):
        flag = FLAGS[f.name]
        names = [flag]
        if f.name.endswith("_s"):
            names.append("--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        kwargs: dict[str, object] = {
            "dest": f.name,
            "default": None,
            "type": py_types[str(f.type)],
            "help": f"{_HELP[f.name]} (default: {default})",
            "metavar": _METAVARS.get(f.name, str(f.type).upper()),
        }
        if f.name == "city":
            kwargs["choices"] = sorted(CITY_PRESETS)
        group.add_argument(*names, **kwargs)  # type: ignore[arg-type]
    parser.add_argument(
        "--out", default="scenario", metavar="DIR", help="output directory (default: scenario)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _error(message: str) -> int:
    print(f"sisec-stream generate: error: {message}", file=sys.stderr)
    return 2


def run_generate(args: argparse.Namespace) -> int:
    """Build the config from ``args``, write the scenario and print a short summary.

    Returns 0 on success, 2 on a bad argument (the message names the flag and says
    what to do), 1 if writing fails.
    """
    values = {f.name: getattr(args, f.name, None) for f in fields(ScenarioConfig)}
    try:
        config = ScenarioConfig(**{k: v for k, v in values.items() if v is not None})
    except GeneratorConfigError as exc:
        return _error(f"{FLAGS.get(exc.field, exc.field)}: {exc.message}")
    out = Path(getattr(args, "out", None) or "scenario")
    if out.exists() and not out.is_dir():
        return _error(f"--out: {out} exists and is not a directory; pass a directory path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _error(f"--out: cannot create {out}: {exc.strerror}; pass a writable directory")
    try:
        summary = write_scenario(config, out, progress=not getattr(args, "no_progress", False))
    except OSError as exc:
        print(f"sisec-stream generate: cannot write to {out}: {exc}", file=sys.stderr)
        return 1
    counts = summary["counts"]
    pr, bp, ca = counts["plate_reads"], counts["button_presses"], counts["calls"]
    world = summary["world"]
    print(
        f"scenario written to {out}/ ({config.city}, seed {config.seed}, "
        f"{summary['start']} + {config.duration_s} s)"
    )
    print(
        f"  {EVENT_FILES['plate_reads']:<22}{pr['events']:>10,} events  "
        f"({pr['misreads']:,} misreads, {pr['listed_reads']:,} listed reads, "
        f"{pr['malformed']:,} malformed)"
    )
    print(
        f"  {EVENT_FILES['button_presses']:<22}{bp['events']:>10,} events  "
        f"({bp.get('press', 0):,} presses, {bp['false_presses']:,} false, "
        f"{bp['malformed']:,} malformed)"
    )
    print(
        f"  {EVENT_FILES['calls']:<22}{ca['events']:>10,} events  "
        f"({ca['calls']:,} calls, {ca['valid_calls']:,} valid, {ca.get('incidents', 0):,} "
        f"incidents, {ca['malformed']:,} malformed)"
    )
    print(
        f"  watchlist.csv {world['watchlist_entries']:,} entries, cameras.csv "
        f"{world['cameras']:,}, devices.csv {world['devices']:,}, truth_*.csv, scenario.json"
    )
    print(
        f"  zones.geojson {world['zones']:,} zones, allow_lists.csv "
        f"{world.get('allow_list_entries', 0):,} plates"
    )
    print(
        f"generated {summary['events']:,} events in {summary['generation_seconds']:.2f} s: "
        f"{summary['events_per_s']:,} events/s"
    )
    return 0
