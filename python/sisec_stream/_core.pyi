"""Type stubs of the private Rust extension. Import `sisec_stream` instead.

Checked against the built module by `python -m mypy.stubtest sisec_stream._core`.
"""

from array import array
from typing import final

# (alert_id, kind, priority, event_time_ms, incident_key, update, json)
_AlertTuple = tuple[str, str, int, int, str, int, bytes, bool]
# (index, reason, field, detail, event_id, source)
_RejectTuple = tuple[int, str, str | None, str, str | None, str | None]

__all__ = [
    "ALERT_KINDS",
    "ALERT_SCHEMA_VERSION",
    "EVENT_TYPES",
    "NON_EMERGENCY_CALL_TYPES",
    "REJECT_REASONS",
    "Engine",
    "Registry",
    "ShardState",
    "Watchlist",
    "Zones",
]

# (n_in, accepted by source, alerts, rejects, dropped hits)
_BatchTuple = tuple[int, tuple[int, int, int], list[_AlertTuple], list[_RejectTuple], int]

REJECT_REASONS: list[str]
EVENT_TYPES: list[str]
ALERT_KINDS: list[str]
ALERT_SCHEMA_VERSION: int
NON_EMERGENCY_CALL_TYPES: list[str]

# (entry_id, list, listed, read, kind, score, priority, [(position, read, listed)],
#  edge, corroboration)
_HitTuple = tuple[
    str, str, str, str, str, float, int, list[tuple[int, str, str]], str | None, list[str]
]

@final
class Watchlist:
    def __new__(cls, config_json: str | None = None) -> Watchlist: ...
    @staticmethod
    def from_csv_bytes(
        data: bytes, source: str, config_json: str | None = None, skip_bad_rows: bool = False
    ) -> tuple[Watchlist, int, list[tuple[int, str]]]: ...
    def load_csv_bytes(
        self, data: bytes, source: str, skip_bad_rows: bool = False, replace_all: bool = False
    ) -> tuple[int, list[tuple[int, str]]]: ...
    def upsert(
        self,
        entry_id: str,
        plate: str,
        list: str,
        priority: int | None = None,
        valid_from_ms: int | None = None,
        expires_ms: int | None = None,
        region: str | None = None,
        make: str | None = None,
        color: str | None = None,
        match_mode: str | None = None,
        note: str | None = None,
    ) -> None: ...
    def remove(self, entry_id: str) -> bool: ...
    def match_plate(
        self, plate: str, at_ms: int, region: str | None = None, confidence: float | None = None
    ) -> list[_HitTuple]: ...
    def match_batch(self, plates: list[str], at_ms: int) -> list[tuple[int, _HitTuple]]: ...
    def read_variants(self, plate: str) -> list[str]: ...
    def allows(self, list: str, plate: str, at_ms: int) -> bool: ...
    def __len__(self) -> int: ...
    def counts_by_list(self) -> dict[str, int]: ...
    def memory_bytes(self) -> int: ...

@final
class Engine:
    def __new__(
        cls,
        config_json: str | None = None,
        watchlist: Watchlist | None = None,
        zones: Zones | None = None,
        cameras: Registry | None = None,
        devices: Registry | None = None,
    ) -> Engine: ...
    def set_places(
        self,
        zones: Zones | None = None,
        cameras: Registry | None = None,
        devices: Registry | None = None,
    ) -> None: ...
    def process(self, events: list[bytes], now_ms: int | None = None) -> _BatchTuple: ...
    def process_routed(
        self,
        events: list[bytes],
        now_ms: int | None = None,
        archive: bool = False,
        archive_key: bytes | None = None,
    ) -> tuple[_BatchTuple, list[bytes], list[bytes] | None]: ...
    @property
    def shards(self) -> int: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def watchlist_len(self) -> int: ...

@final
class Zones:
    @staticmethod
    def from_geojson_bytes(
        data: bytes, source: str, bbox: tuple[float, float, float, float] | None = None
    ) -> Zones: ...
    def locate(self, lat: float, lon: float) -> list[int]: ...
    def locate_batch(self, lats: object, lons: object) -> tuple[array[int], array[int]]: ...
    def zone(
        self, i: int
    ) -> tuple[
        str, str, str, int | None, list[tuple[int, int]], list[str] | None, str | None, str | None
    ]: ...
    def __len__(self) -> int: ...

_SensorTuple = tuple[str, float, float, float | None, str, str, str, str | None]

@final
class Registry:
    @staticmethod
    def from_csv_bytes(data: bytes, source: str, kind: str) -> Registry: ...
    @property
    def kind(self) -> str: ...
    def get(self, id: str) -> _SensorTuple | None: ...
    def ids(self) -> list[str]: ...
    def __len__(self) -> int: ...

@final
class ShardState:
    def __new__(cls, config_json: str | None = None) -> ShardState: ...
    @staticmethod
    def restore(data: bytes, config_json: str | None = None) -> ShardState: ...
    def apply(self, batches: list[bytes], now_ms: int | None = None) -> list[_AlertTuple]: ...
    def snapshot(self) -> bytes: ...
    def size(self) -> tuple[int, int, int, int]: ...
    def watermarks(self) -> tuple[int | None, int | None, int | None]: ...
