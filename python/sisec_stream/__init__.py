"""sisec-stream: real-time alerting for integrated security and emergency centres.

Plate reads, alarm buttons and emergency calls in; prioritized, explainable
alerts and reasoned rejects out. The hot path (parsing, validation, matching)
runs in Rust (``sisec_stream._core``, private); this package is the public API.
"""

from sisec_stream.engine import (
    ALERT_KINDS,
    EVENT_TYPES,
    REJECT_REASONS,
    Alert,
    BatchResult,
    Engine,
    EngineConfig,
    Reject,
)
from sisec_stream.errors import (
    ConfigError,
    RegistryError,
    SisecError,
    WatchlistError,
    ZonesError,
)
from sisec_stream.registry import Registry, Sensor
from sisec_stream.watchlist import Hit, ListSettings, Watchlist, WatchlistConfig
from sisec_stream.zones import Zone, Zones

__all__ = [
    "ALERT_KINDS",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "Alert",
    "BatchResult",
    "ConfigError",
    "Engine",
    "EngineConfig",
    "Hit",
    "ListSettings",
    "Registry",
    "RegistryError",
    "Reject",
    "Sensor",
    "SisecError",
    "Watchlist",
    "WatchlistConfig",
    "WatchlistError",
    "Zone",
    "Zones",
    "ZonesError",
]

__version__ = "0.1.0"
