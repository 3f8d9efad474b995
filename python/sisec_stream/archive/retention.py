"""Retention: ``sisec-stream archive prune`` deletes old date partitions.

Only ``<root>/source=<name>/date=<YYYY-MM-DD>`` folders are ever deleted, and only
when their date is more than ``days`` days before today (UTC): with ``days=30``
on 2026-11-24, ``date=2026-10-24`` and older go, ``date=2026-10-25`` stays. Any
other file or folder is left alone (the write-ahead spool ``_spool`` too), and a
path holding no ``source=`` folder (nor a spool) is refused as not an archive.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sisec_stream.archive.schema import DATE_DIR, SOURCE_DIR
from sisec_stream.archive.spool import SPOOL_DIR
from sisec_stream.errors import SisecError

__all__ = ["NotAnArchiveError", "Partition", "expired", "prune"]


class NotAnArchiveError(SisecError):
    """The path is not an archive folder (the message says why)."""


@dataclass(frozen=True)
class Partition:
    """One date partition of one source."""

    source: str
    day: date
    path: Path


def _partitions(root: Path) -> list[Partition]:
    if not root.is_dir():
        raise NotAnArchiveError(
            f"{root}: no such folder; give the archive's folder ([archive] path)"
        )
    sources = [p for p in sorted(root.iterdir()) if p.is_dir() and SOURCE_DIR.match(p.name)]
    if not sources and not (root / SPOOL_DIR).is_dir():  # a spool alone: nothing written yet
        raise NotAnArchiveError(
            f"{root}: not an archive (no source=... folders in it); give the archive's "
            "folder ([archive] path), e.g. out/archive; nothing was deleted"
        )
    found = []
    for s in sources:
        m_source = SOURCE_DIR.match(s.name)
        assert m_source is not None
        for d in sorted(s.iterdir()):
            m = DATE_DIR.match(d.name)
            if m is None or not d.is_dir() or d.is_symlink():
                continue
            try:
                day = date.fromisoformat(m["date"])
            except ValueError:
                continue  # not a date we wrote: not ours to delete
            found.append(Partition(m_source["source"], day, d))
    return found


def expired(root: Path, days: int, today: date | None = None) -> list[Partition]:
    """The partitions older than ``days`` days before ``today`` (default: today, UTC).

    Raises:
        NotAnArchiveError: ``root`` is missing or holds no ``source=`` folder.
        ValueError: ``days`` is negative.
    """
    if days < 0:
        raise ValueError(f"days must be 0 or more, not {days}")
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=days)
    return [p for p in _partitions(Path(root)) if p.day < cutoff]


def prune(
    root: Path, days: int, *, dry_run: bool = False, today: date | None = None
) -> list[Partition]:
    """Delete the partitions :func:`expired` lists (none with ``dry_run``); them."""
    old = expired(root, days, today)
    if not dry_run:
        for p in old:
            shutil.rmtree(p.path)
    return old
