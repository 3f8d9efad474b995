"""The archive's write-ahead spool: what a worker acknowledged and has not yet
written to Parquet, on disk.

Layout (outside every ``source=`` folder, so readers of the archive never see it)::

    <root>/_spool/worker-<i>/lock                       held (flock) by the live writer
    <root>/_spool/worker-<i>/seg-<n>/<source>.ndjson     one segment, one file per source

A worker appends each batch to its *active* segment with one ``os.write`` per
source before the sink returns (no Python buffer across batches: once the call
returns, the lines are in the OS, so a killed process loses none of them), and
``fsync``\\ s the files every ``fsync_interval_s`` (0: after every batch) and when
the segment is closed. A flush closes the active segment (the next batch opens a
new one), writes it to Parquet and then deletes it; a segment still on disk at
start was left by a crash and is written first. Lines are JSON (one row each);
a crash in the middle of an append can leave a *torn* last line, which was
never acknowledged: it is dropped, counted and logged.

The ``lock`` file keeps two live processes (or ``sisec-stream archive recover``)
off one worker's spool: whoever holds it owns the folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sisec_stream.archive.schema import SOURCES
from sisec_stream.errors import SisecError

__all__ = [
    "SPOOL_DIR",
    "ArchiveWriteError",
    "Segment",
    "SpoolBusyError",
    "SpoolError",
    "WorkerSpool",
    "read_lines",
    "spool_workers",
]

log = logging.getLogger(__name__)

#: The spool's folder under the archive root.
SPOOL_DIR = "_spool"
WORKER_DIR = re.compile(r"^worker-(?P<worker>\d+)$")
SEGMENT_DIR = re.compile(r"^seg-(?P<n>\d+)$")
LOCK_FILE = "lock"


class ArchiveWriteError(SisecError):
    """The archive could not be written (the message names the file and why)."""


class SpoolError(ArchiveWriteError):
    """The spool could not be written or read (the message names the file)."""


class SpoolBusyError(SpoolError):
    """Another live process holds this worker's spool."""


@dataclass
class Segment:
    """One spool segment: a folder of per-source line files.

    Attributes:
        path: The segment's folder.
        rows: Rows (complete lines) per source written to it and not yet archived.
    """

    path: Path
    rows: dict[str, int] = field(default_factory=dict)

    def file(self, source: str) -> Path:
        """The segment's file of one source."""
        return self.path / f"{source}.ndjson"

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def spool_workers(root: Path) -> list[int]:
    """The worker indices that have a spool folder under the archive ``root``."""
    folder = Path(root) / SPOOL_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = WORKER_DIR.match(p.name)
        if m is not None and p.is_dir():
            found.append(int(m["worker"]))
    return sorted(found)


def read_lines(path: Path, *, warn: bool = True, count: bool = True) -> tuple[bytes, int, int]:
    """A spool file's complete lines: ``(data, rows, torn_bytes)`` (rows 0 unless
    ``count``).

    ``data`` ends at the last newline; what follows it (a line cut by a crash in
    the middle of an append: it was never acknowledged, so its input is replayed)
    is left out and its length returned, and logged with the file (``warn``).
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SpoolError(f"archive: cannot read the spool file {path}: {e.strerror}") from e
    cut = data.rfind(b"\n") + 1
    torn = len(data) - cut
    if torn and warn:
        log.warning(
            "archive: dropped a torn last line of %d bytes in %s (cut by a crash in the "
            "middle of an append, never acknowledged: its events are read again)",
            torn,
            path,
        )
    if torn:
        data = data[:cut]
    return data, data.count(b"\n") if count else 0, torn


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WorkerSpool:
    """One worker's spool folder (not thread-safe: the writer locks).

    Args:
        root: The archive folder.
        worker: The worker index.
        fsync_interval_s: ``fsync`` appended lines at most this long after they
            were written (:meth:`sync_due`, called by the sink's timer); 0: after
            every append.
    """

    def __init__(self, root: Path, worker: int, fsync_interval_s: float = 1.0) -> None:
        if fsync_interval_s < 0:
            raise ValueError("fsync_interval_s must be 0 or more")
        self.dir = Path(root) / SPOOL_DIR / f"worker-{worker}"
        self.worker = worker
        self.fsync_interval_s = fsync_interval_s
        self.active: Segment | None = None
        self.torn_bytes = 0  # dropped from leftovers
        self._lock_fd: int | None = None
        self._fds: dict[str, int] = {}
        self._next = 0
        self._dirty = False
        self._synced = time.monotonic()

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def lock(self) -> None:
        """Own the folder (created when missing).

        Raises:
            SpoolBusyError: another live process owns it.
            SpoolError: it cannot be created.
        """
        if self._lock_fd is not None:
            return
        path = self.dir / LOCK_FILE
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise SpoolError(
                f"archive: cannot write the spool folder {self.dir}: {e.strerror or e}; "
                "fix the archive path (space, permissions) and restart"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise SpoolBusyError(
                    f"archive: the spool {self.dir} is in use by another running process "
                    f"(worker {self.worker}): two runs must not write one archive with the "
                    "same worker index"
                ) from e
            raise SpoolError(f"archive: cannot lock {path}: {e.strerror}") from e
        self._lock_fd = fd

    def leftovers(self) -> list[Segment]:
        """Segments on disk that are not the active one (a crash left them),
        oldest first, with their complete lines counted (torn ones dropped)."""
        if not self.dir.is_dir():
            return []
        found: list[tuple[int, Path]] = []
        for p in self.dir.iterdir():
            m = SEGMENT_DIR.match(p.name)
            if m is not None and p.is_dir():
                found.append((int(m["n"]), p))
        found.sort()
        if found:
            self._next = max(self._next, found[-1][0] + 1)
        segments = []
        for _, p in found:
            if self.active is not None and p == self.active.path:
                continue
            seg = Segment(p)
            for source in SOURCES:
                f = seg.file(source)
                if f.exists():
                    _, rows, torn = read_lines(f)
                    self.torn_bytes += torn
                    seg.rows[source] = rows
            segments.append(seg)
        return segments

    def append(self, source: str, data: bytes, rows: int) -> None:
        """Append whole lines to the active segment (opened when there is none);
        in the OS when this returns.

        Raises:
            SpoolError: the file cannot be written (the lines may be partly in
                it: the caller must not acknowledge them).
        """
        if not data:
            return
        self.lock()
        fd = self._fds.get(source)
        if fd is None:
            fd = self._open(source)
        view = memoryview(data)
        try:
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError as e:
            raise SpoolError(
                f"archive: cannot write the spool file {self._path(source)}: {e.strerror}; "
                "fix the archive path (space, permissions) and restart"
            ) from e
        assert self.active is not None
        self.active.rows[source] = self.active.rows.get(source, 0) + rows
        self._dirty = True
        if self.fsync_interval_s == 0:
            self.sync()

    def _path(self, source: str) -> Path:
        assert self.active is not None
        return self.active.file(source)

    def _open(self, source: str) -> int:
        new = self.active is None
        if self.active is None:
            self.active = Segment(self.dir / f"seg-{self._next:08d}")
            self._next += 1
        path = self.active.file(source)
        try:
            if new:
                self.active.path.mkdir()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # The new names survive a power loss once their folders are synced.
            if new:
                _fsync_dir(self.dir)
            _fsync_dir(self.active.path)
        except OSError as e:
            raise SpoolError(
                f"archive: cannot write the spool file {path}: {e.strerror}; "
                "fix the archive path (space, permissions) and restart"
            ) from e
        self._fds[source] = fd
        return fd

    def sync(self) -> None:
        """``fsync`` the active segment's files."""
        if not self._dirty:
            return
        for source, fd in self._fds.items():
            try:
                os.fsync(fd)
            except OSError as e:
                raise SpoolError(
                    f"archive: cannot sync the spool file {self._path(source)}: {e.strerror}"
                ) from e
        self._dirty = False
        self._synced = time.monotonic()

    def sync_due(self) -> None:
        """``fsync`` when lines have waited ``fsync_interval_s`` unsynced."""
        if self._dirty and time.monotonic() - self._synced >= self.fsync_interval_s:
            self.sync()

    def rotate(self) -> Segment | None:
        """Close the active segment (synced) and hand it over for its flush; the
        next append opens a new one. None when nothing was appended."""
        seg = self.active
        if seg is None:
            return None
        try:
            self.sync()
        finally:
            for fd in self._fds.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fds = {}
            self.active = None
        return seg

    def drop(self, seg: Segment, source: str) -> None:
        """Delete one source's file of a segment (its rows are archived)."""
        seg.file(source).unlink(missing_ok=True)
        seg.rows.pop(source, None)

    def remove(self, seg: Segment) -> None:
        """Delete a segment whose files are all archived."""
        with contextlib.suppress(OSError):
            for p in seg.path.iterdir():  # only a stray file of no known source
                log.warning("archive: %s in the spool is not a spool file; left there", p)
                return
            seg.path.rmdir()

    def release(self) -> None:
        """Close the files and give up the folder; remove it when it is empty."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        self.active = None
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            (self.dir / LOCK_FILE).unlink()
        os.close(self._lock_fd)
        self._lock_fd = None
        with contextlib.suppress(OSError):
            self.dir.rmdir()  # fails while segments are left: they stay for the next start
            self.dir.parent.rmdir()
