"""Type stubs of the private Rust extension. Import `sisec_stream` instead.

Checked against the built module by `python -m mypy.stubtest sisec_stream._core`.
"""

from typing import final

# (alert_id, kind, priority, event_time_ms, incident_key, json)
_AlertTuple = tuple[str, str, int, int, str, bytes]
# (index, reason, field, detail, event_id, source)
_RejectTuple = tuple[int, str, str | None, str, str | None, str | None]

__all__ = [
    "ALERT_KINDS",
    "ALERT_SCHEMA_VERSION",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "Engine",
    "Watchlist",
]

REJECT_REASONS: list[str]
EVENT_TYPES: list[str]
ALERT_KINDS: list[str]
ALERT_SCHEMA_VERSION: int

@final
class Watchlist:
    def __new__(cls) -> Watchlist: ...
    @staticmethod
    def from_csv_bytes(data: bytes, source: str) -> Watchlist: ...
    def __len__(self) -> int: ...
    def counts_by_list(self) -> dict[str, int]: ...

@final
class Engine:
    def __new__(
        cls, config_json: str | None = None, watchlist: Watchlist | None = None
    ) -> Engine: ...
    def process(
        self, events: list[bytes], now_ms: int | None = None
    ) -> tuple[int, tuple[int, int, int], list[_AlertTuple], list[_RejectTuple]]: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def watchlist_len(self) -> int: ...
