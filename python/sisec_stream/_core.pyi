"""Type stubs of the private Rust extension. Import `sisec_stream` instead."""

AlertTuple = tuple[str, str, int, int, str, bytes]
RejectTuple = tuple[int, str, str | None, str, str | None, str | None]

REJECT_REASONS: list[str]
EVENT_TYPES: list[str]
ALERT_KINDS: list[str]
ALERT_SCHEMA_VERSION: int

class Watchlist:
    def __init__(self) -> None: ...
    @staticmethod
    def from_csv_bytes(data: bytes, source: str) -> Watchlist: ...
    def __len__(self) -> int: ...
    def counts_by_list(self) -> dict[str, int]: ...

class Engine:
    def __init__(
        self, config_json: str | None = None, watchlist: Watchlist | None = None
    ) -> None: ...
    def process(
        self, events: list[bytes], now_ms: int | None = None
    ) -> tuple[int, tuple[int, int, int], list[AlertTuple], list[RejectTuple]]: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def watchlist_len(self) -> int: ...
