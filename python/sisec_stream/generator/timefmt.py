"""Fast timestamp rendering for generated events.

Formatting a ``datetime`` per event costs more than building the rest of the event, so
the date-hour-minute prefix is cached per minute and only seconds and milliseconds are
formatted per call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["TsFormatter"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CACHE_LIMIT: Final = 4096
_SEC_MS: list[str] = []  # "SS.mmm" for every millisecond of a minute, built on first use


def _sec_ms_table() -> list[str]:
    if not _SEC_MS:
        _SEC_MS.extend(f"{s:02d}.{ms:03d}" for s in range(60) for ms in range(1000))
    return _SEC_MS


class TsFormatter:
    """Render epoch milliseconds as RFC 3339 strings in a fixed UTC offset."""

    __slots__ = ("_cache", "_cache_z", "_offset_ms", "_sec_ms", "_suffix")

    def __init__(self, offset_minutes: int) -> None:
        self._offset_ms = offset_minutes * 60_000
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        self._suffix = f"{sign}{hours:02d}:{minutes:02d}"
        self._cache: dict[int, str] = {}
        self._cache_z: dict[int, str] = {}
        self._sec_ms = _sec_ms_table()

    @staticmethod
    def _prefix(minute: int) -> str:
        return (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")

    @property
    def offset_ms(self) -> int:
        """The UTC offset in milliseconds."""
        return self._offset_ms

    @property
    def suffix(self) -> str:
        """The offset as printed: ``-05:00``."""
        return self._suffix

    @property
    def sec_ms_table(self) -> list[str]:
        """``"SS.mmm"`` for each millisecond of a minute (index 0..59999)."""
        return self._sec_ms

    def minute_prefix(self, local_minute: int) -> str:
        """``YYYY-MM-DDTHH:MM:`` of a minute counted from the epoch in local time."""
        return self._prefix(local_minute)

    def local_ms(self, ts_ms: int) -> str:
        """``2026-11-23T07:00:05.123-05:00``: city offset, millisecond precision."""
        minute, rem = divmod(ts_ms + self._offset_ms, 60_000)
        prefix = self._cache.get(minute)
        if prefix is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            prefix = self._cache[minute] = self._prefix(minute)
        return prefix + self._sec_ms[rem] + self._suffix

    def utc_seconds(self, ts_ms: int) -> str:
        """``2026-11-23T12:00:05Z``: UTC, whole seconds (what some alarm panels send)."""
        minute, rem = divmod(ts_ms, 60_000)
        prefix = self._cache_z.get(minute)
        if prefix is None:
            if len(self._cache_z) >= _CACHE_LIMIT:
                self._cache_z.clear()
            prefix = self._cache_z[minute] = self._prefix(minute)
        return f"{prefix}{rem // 1000:02d}Z"
