"""Watchlists (hot lists): the plates that raise an alert when read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

from sisec_stream import _core
from sisec_stream.errors import WatchlistError

__all__ = ["Watchlist"]


class Watchlist:
    """Plates to alert on, each entry on a named list (stolen_vehicle, wanted, ...).

    Load with :meth:`from_csv`. Plates are normalised the same way reads are
    (upper case; spaces, dots and dashes dropped), so ``abc-123`` lists ``ABC123``.
    """

    __slots__ = ("_inner",)

    def __init__(self, _inner: _core.Watchlist | None = None) -> None:
        """An empty watchlist (nothing matches)."""
        self._inner = _inner if _inner is not None else _core.Watchlist()

    @classmethod
    def from_csv(cls, path: str | Path) -> Watchlist:
        """Load a CSV watchlist.

        Columns: ``plate`` and ``list`` (required), ``entry_id`` and ``priority``
        (1-4, empty for the list's default) optional; other columns are ignored and
        lines starting with ``#`` are comments.

        Raises:
            WatchlistError: the file is missing or a row is bad; the message names
                the file, the line and what to do.
        """
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise WatchlistError(
                f"{p}: cannot read the watchlist ({e.strerror}); check the path",
                source=str(p),
            ) from e
        return cls.from_csv_bytes(data, source=str(p))

    @classmethod
    def from_csv_bytes(cls, data: bytes, source: str = "<watchlist>") -> Watchlist:
        """Load a CSV watchlist from memory; ``source`` names it in errors."""
        return cls(_core.Watchlist.from_csv_bytes(data, source))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, object]], source: str = "<rows>") -> Watchlist:
        """Load entries given as dicts keyed by the CSV column names.

        They go through the same loader and checks as a file; errors name
        ``source`` and the row's line as if it were a CSV file with a header.
        """
        rows = list(rows)
        if not rows:
            return cls()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return cls.from_csv_bytes(buf.getvalue().encode(), source=source)

    def __len__(self) -> int:
        return len(self._inner)

    def counts_by_list(self) -> dict[str, int]:
        """Number of entries per list."""
        return self._inner.counts_by_list()

    def __repr__(self) -> str:
        return f"Watchlist({len(self)} entries, lists={self.counts_by_list()})"
