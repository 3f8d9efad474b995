"""The archive writer: spools accepted events and alerts, writes Parquet.

The engine hands over each batch's accepted events as JSON lines per source
(:meth:`Engine.process_routed` with ``archive=True``); the flow wraps them in
:class:`ArchiveBatch` and sends them, with the alerts, to :class:`ArchiveSink`.
Each worker's :class:`ArchiveWriter` appends every batch to its write-ahead spool
on disk (:mod:`.spool`) before the sink returns, so what Bytewax has been told
is written survives a killed process: plate reads pseudonymised first when a key
is configured (the spool holds no clear plate of a read that is not a hit),
alerts as their fields and document. When ``flush_rows`` rows or
``flush_interval_s`` seconds have gathered, or the flow ends, the spool's
segment is closed (new batches go to a new one), each source's lines are read at
once with ``polars.read_ndjson``, and one Parquet file per source and UTC date is
written under the layout of :mod:`.schema`, each to a temporary name first,
synced, then renamed (readers never see a partial file); then the segment is
deleted. Segments a crash left are written when the worker starts again.

A write that fails raises :class:`ArchiveWriteError` (the worker, and so the
flow, stops) and what was not written stays in the spool: nothing is dropped
silently.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeAlias

import orjson
import polars as pl
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from sisec_stream.archive.pseudonym import Pseudonymizer
from sisec_stream.archive.schema import (
    EVENT_SOURCES,
    RAW_SCHEMAS,
    SCHEMAS,
    SOURCES,
    SPOOL_SCHEMAS,
    TS,
    file_name,
    partition_dir,
)
from sisec_stream.archive.spool import (
    ArchiveWriteError,
    Segment,
    SpoolBusyError,
    WorkerSpool,
    read_lines,
    spool_workers,
)
from sisec_stream.engine import Alert

__all__ = [
    "ArchiveBatch",
    "ArchiveItem",
    "ArchiveSink",
    "ArchiveWriteError",
    "ArchiveWriter",
    "Compression",
    "alerts_frame",
    "events_frame",
    "recover_spools",
]

log = logging.getLogger(__name__)

Compression: TypeAlias = Literal["zstd", "lz4", "snappy", "gzip", "uncompressed"]
COMPRESSIONS: tuple[str, ...] = ("zstd", "lz4", "snappy", "gzip", "uncompressed")


@dataclass(frozen=True, slots=True)
class ArchiveBatch:
    """One engine batch's accepted events of one source, as the engine's JSON lines.

    Attributes:
        source: ``plate_read``, ``button_press`` or ``call``.
        data: One JSON line per event (see :mod:`sisec_stream.archive`).
        rows: How many lines (events) ``data`` holds.
        pseudonymised: The engine pseudonymised the plate reads already
            (``Engine.process_routed(archive_key=...)`` with the writer's key):
            the writer spools them as they are. False: a writer with a key
            pseudonymises them before the spool.
    """

    source: str
    data: bytes
    rows: int
    pseudonymised: bool = False


#: What the archive sink takes: engine batches and alerts.
ArchiveItem: TypeAlias = ArchiveBatch | Alert


def events_frame(
    source: str, data: bytes, pseudonymizer: Pseudonymizer | None = None
) -> pl.DataFrame:
    """The engine's JSON lines of one source as a frame of the archive's schema.

    Plate reads get their tokens when a ``pseudonymizer`` is given (computed once
    per distinct plate), and reads that are not hits lose their clear plates
    (``plate``, ``plate_raw`` and the candidates' ``plate`` become null).
    """
    df = pl.read_ndjson(io.BytesIO(data), schema=RAW_SCHEMAS[source])
    df = df.with_columns(pl.col("ts").cast(TS))
    if source == "plate_read":
        df = _plates(df, pseudonymizer)
    return df.select(SCHEMAS[source].names())


def _plates(df: pl.DataFrame, pseudonymizer: Pseudonymizer | None) -> pl.DataFrame:
    if pseudonymizer is None:
        return df.with_columns(plate_token=pl.lit(None, pl.Utf8))
    candidates = df.get_column("candidates").explode().struct.field("plate")
    plates = pl.concat([df.get_column("plate"), candidates]).drop_nulls().unique()
    tokens = pl.Series(pseudonymizer.tokens(plates.to_list()), dtype=pl.Utf8)

    def token(plate: pl.Expr) -> pl.Expr:
        return plate.replace_strict(plates, tokens, return_dtype=pl.Utf8)

    element = pl.element().struct
    with_tokens = pl.col("candidates").list.eval(
        pl.struct(
            plate=element.field("plate"),
            token=token(element.field("plate")),
            confidence=element.field("confidence"),
        )
    )
    hidden = with_tokens.list.eval(pl.element().struct.with_fields(plate=pl.lit(None, pl.Utf8)))
    # Hits and the rest apart, then back in order: a when/then over the list
    # column costs ~40x more (polars 2.1).
    df = df.with_row_index("__row").with_columns(plate_token=token(pl.col("plate")))
    hit = pl.col("hit")
    shown = df.filter(hit).with_columns(candidates=with_tokens)
    hide = df.filter(~hit).with_columns(
        plate=pl.lit(None, pl.Utf8), plate_raw=pl.lit(None, pl.Utf8), candidates=hidden
    )
    return pl.concat([shown, hide]).sort("__row").drop("__row")


def pseudonymised_lines(
    data: bytes, pseudonymizer: Pseudonymizer, cache: dict[str, str] | None = None
) -> bytes:
    """The engine's plate-read lines with tokens (``plate_token``, candidates'
    ``token``) and the plates of reads that are not hits hidden, as JSON lines
    again: what the spool holds with a key (the rows :func:`events_frame` gives).

    Line by line with orjson: no fixed cost per call, so small batches stay cheap
    (a polars round trip costs ~2 ms a call). ``cache`` keeps tokens across
    calls (plates repeat).
    """
    tokens = cache if cache is not None else {}
    token = pseudonymizer.token
    loads, dumps = orjson.loads, orjson.dumps
    out = bytearray()  # one buffer: keeping each line's bytes costs ~5x the dumps
    for line in data.split(b"\n"):
        if not line:
            continue
        e = loads(line)
        plate = e["plate"]
        t = tokens.get(plate)
        if t is None:
            t = tokens[plate] = token(plate)
        e["plate_token"] = t
        hit = e["hit"]
        for c in e.get("candidates") or ():
            plate = c["plate"]
            t = tokens.get(plate)
            if t is None:
                t = tokens[plate] = token(plate)
            c["token"] = t
            if not hit:
                c["plate"] = None
        if not hit:
            e["plate"] = e["plate_raw"] = None
        out += dumps(e)
        out += b"\n"
    return bytes(out)


def alert_line(alert: Alert) -> bytes:
    """An alert as one spool line (its fields and the document as sent)."""
    return (
        orjson.dumps(
            {
                "alert_id": alert.alert_id,
                "update": alert.update,
                "kind": alert.kind,
                "priority": alert.priority,
                "event_time": alert.event_time_ms,
                "document": alert.json.decode(),
            }
        )
        + b"\n"
    )


def alerts_frame(alerts: Iterable[Alert]) -> pl.DataFrame:
    """Alerts (pages and updates) as a frame of the archive's alert schema:
    ``document`` is the alert JSON exactly as sent; ``plate`` its normalised
    plate (``details.normalized_plate``) when it has one."""
    return spool_frame("alert", b"".join(alert_line(a) for a in alerts))


def spool_frame(
    source: str, data: bytes, pseudonymizer: Pseudonymizer | None = None
) -> pl.DataFrame:
    """Spool lines of one source as a frame of the archive's schema.

    Plate reads spooled without tokens (no key then) get them now when a
    ``pseudonymizer`` is given; those spooled with tokens are kept as they are.
    """
    df = pl.read_ndjson(io.BytesIO(data), schema=SPOOL_SCHEMAS[source])
    if source == "alert":
        doc = pl.col("document").str
        return df.with_columns(
            priority=pl.col("priority").cast(pl.Int8),
            event_time=pl.col("event_time").cast(TS),
            plate=doc.json_path_match("$.details.normalized_plate"),
            schema_version=doc.json_path_match("$.schema_version").cast(pl.Int32),
        ).select(SCHEMAS["alert"].names())
    df = df.with_columns(pl.col("ts").cast(TS))
    if source == "plate_read" and pseudonymizer is not None:
        todo = pl.col("plate_token").is_null()
        if df.select(todo.any()).item():
            df = df.with_row_index("__spool_row")
            fresh = _plates(df.filter(todo), pseudonymizer)
            df = pl.concat([df.filter(~todo), fresh]).sort("__spool_row").drop("__spool_row")
    return df.select(SCHEMAS[source].names())


_TIME_COLUMN = {"alert": "event_time"}
_TOKEN_CACHE = 200_000  # plates whose tokens a writer keeps


class ArchiveWriter:
    """One worker's spool and Parquet writer.

    :meth:`add` / :meth:`add_many` append to the spool (in the OS when they
    return); :meth:`flush` writes what was spooled to Parquet. A flush may run
    on another thread than the appends (the sink's timer): the spool's segment is
    swapped under a short lock, and appends go on into the new one meanwhile.

    Args:
        root: The archive folder.
        worker: The worker index (part of every file name and of the spool's folder).
        pseudonymizer: Pseudonymise plates of reads that are not hits (before
            they are spooled); None: clear.
        compression: Parquet compression.
        clock: Seconds since the epoch (file names).
        fsync_interval_s: Spooled lines are ``fsync``\\ ed at most this long after
            they were appended (:meth:`sync_due`); 0: on every append.
    """

    def __init__(
        self,
        root: Path,
        *,
        worker: int = 0,
        pseudonymizer: Pseudonymizer | None = None,
        compression: Compression = "zstd",
        clock: Callable[[], float] = time.time,
        fsync_interval_s: float = 1.0,
    ) -> None:
        self.root = Path(root)
        self.worker = worker
        self.pseudonymizer = pseudonymizer
        self.compression = compression
        self.clock = clock
        self.spool = WorkerSpool(self.root, worker, fsync_interval_s)
        self._append_lock = threading.Lock()  # the spool's active segment
        self._flush_lock = threading.Lock()  # one flush at a time
        self._closed: list[Segment] = []  # segments waiting for (or in) their flush
        self._frames: dict[Path, list[tuple[date, pl.DataFrame]]] = {}  # read, not all written
        self._since: float | None = None  # monotonic time of the active segment's first row
        self._tokens: dict[str, str] = {}  # plate -> token, for the spool
        self._seq = 0
        self.rows_written = 0
        self.files_written = 0
        self.rows_recovered = 0

    @property
    def pending_rows(self) -> int:
        """Rows spooled and not yet written to Parquet."""
        active = self.spool.active
        return sum(s.total for s in self._closed) + (active.total if active else 0)

    @property
    def active_rows(self) -> int:
        """Rows in the spool's active segment (not yet handed to a flush)."""
        active = self.spool.active
        return active.total if active else 0

    @property
    def waiting_since(self) -> float | None:
        """``time.monotonic()`` when the oldest row not yet handed to a flush came."""
        return self._since

    def add(self, item: ArchiveItem) -> None:
        """Spool one engine batch or alert."""
        self.add_many([item])

    def add_many(self, items: Iterable[ArchiveItem]) -> None:
        """Spool engine batches and alerts: one append per source, in the OS (not
        necessarily on disk: :meth:`sync_due`) when this returns.

        Raises:
            ArchiveWriteError: the spool cannot be written; the items may be
                partly in it (a later start archives them: duplicates, not loss).
        """
        chunks: dict[str, list[bytes]] = {}
        rows: dict[str, int] = {}
        pseudonymizer = self.pseudonymizer
        for item in items:
            if isinstance(item, ArchiveBatch):
                if item.source not in EVENT_SOURCES:
                    raise ValueError(f"no archive source {item.source!r}")
                if not item.rows:
                    continue
                data = item.data if item.data.endswith(b"\n") else item.data + b"\n"
                source, n = item.source, item.rows
                if source != "plate_read":
                    pass
                elif not item.pseudonymised:
                    if pseudonymizer is not None:
                        # Before the spool: it never holds a clear plate of a read
                        # that is not a hit (the engine does this itself with the key).
                        if len(self._tokens) > _TOKEN_CACHE:
                            self._tokens.clear()
                        data = pseudonymised_lines(data, pseudonymizer, self._tokens)
                elif data.count(b'"plate_token":"') != n:
                    # A cheap guard (C speed): a batch said pseudonymised holds a
                    # token on every line, or it is not spooled.
                    raise ValueError(
                        "an ArchiveBatch marked pseudonymised has lines without plate_token"
                    )
            else:
                data, source, n = alert_line(item), "alert", 1
            chunks.setdefault(source, []).append(data)
            rows[source] = rows.get(source, 0) + n
        if not chunks:
            return
        joined = {source: b"".join(parts) for source, parts in chunks.items()}
        with self._append_lock:
            for source, data in joined.items():
                self.spool.append(source, data, rows[source])
            if self._since is None:
                self._since = time.monotonic()

    def sync_due(self) -> None:
        """``fsync`` the spool when its lines have waited ``fsync_interval_s``."""
        with self._append_lock:
            self.spool.sync_due()

    def recover(self) -> int:
        """Write what an earlier process left in this worker's spool (a crash);
        the rows written.

        Raises:
            SpoolBusyError: a live process owns this worker's spool.
            ArchiveWriteError: it cannot be written (it stays in the spool).
        """
        if not self.spool.dir.is_dir():
            return 0
        with self._append_lock:
            self.spool.lock()
            left = self.spool.leftovers()
            if not left:
                return 0
            self._closed[:0] = left
        rows = sum(s.total for s in left)
        log.warning(
            "archive: %d rows in %d spool segment(s) of worker %d left by an earlier run "
            "(%s); archiving them now (rows the restart reads again are archived twice: "
            "de-duplicate on read)",
            rows,
            len(left),
            self.worker,
            self.spool.dir,
        )
        before = self.rows_written
        self.flush()
        self.rows_recovered += self.rows_written - before
        return self.rows_written - before

    def flush(self) -> list[Path]:
        """Write everything spooled; the files written.

        Raises:
            ArchiveWriteError: a file could not be written; it and what was not
                yet written stay in the spool (a later flush, or the next start,
                tries them again).
        """
        with self._append_lock:
            seg = self.spool.active
            self._since = None
            try:
                self.spool.rotate()
            finally:
                if seg is not None:
                    self._closed.append(seg)
        written: list[Path] = []
        with self._flush_lock:
            while self._closed:
                seg = self._closed[0]
                written += self._flush_segment(seg)
                with self._append_lock:
                    self._closed.pop(0)
        return written

    def close(self) -> None:
        """Write everything spooled and give up the spool folder (removed when
        empty); what cannot be written stays there for the next start."""
        try:
            self.flush()
        finally:
            self.release()

    def release(self) -> None:
        """Give up the spool folder without writing (what it holds stays)."""
        with self._append_lock:
            self.spool.release()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.release()

    def _flush_segment(self, seg: Segment) -> list[Path]:
        written: list[Path] = []
        for source in SOURCES:
            f = seg.file(source)
            frames = self._frames.get(f)
            if frames is None:
                if not f.exists():
                    seg.rows.pop(source, None)
                    continue
                data, _, _ = read_lines(f, warn=False, count=False)
                frames = self._frames[f] = self._split(source, f, data)
            while frames:
                day, frame = frames[0]
                written.append(self._write(source, day, frame))
                frames.pop(0)
                seg.rows[source] = max(0, seg.rows.get(source, 0) - frame.height)
                self.rows_written += frame.height
            try:
                self.spool.drop(seg, source)
            except OSError as e:
                raise ArchiveWriteError(
                    f"archive: cannot delete the archived spool file {f}: {e.strerror}"
                ) from e
            del self._frames[f]
        self.spool.remove(seg)
        return written

    def _split(self, source: str, path: Path, data: bytes) -> list[tuple[date, pl.DataFrame]]:
        """Spool lines as one frame per UTC date."""
        if not data:
            return []
        try:
            frame = spool_frame(source, data, self.pseudonymizer)
        except Exception as e:  # the engine and this writer wrote the lines
            raise ArchiveWriteError(
                f"archive: cannot read the spool file {path}: {e}; move it out of the "
                "archive to start (its rows are not archived)"
            ) from e
        day = pl.col(_TIME_COLUMN.get(source, "ts")).dt.date().alias("__date")
        parts = frame.with_columns(day).partition_by("__date", as_dict=True, include_key=False)
        out = []
        for (d,), part in sorted(parts.items(), key=lambda kv: str(kv[0])):
            assert isinstance(d, date)
            out.append((d, part))
        return out

    def _write(self, source: str, day: date, frame: pl.DataFrame) -> Path:
        folder = partition_dir(self.root, source, day)
        now_ms = int(self.clock() * 1000)
        while True:
            path = folder / file_name(self.worker, now_ms, self._seq)
            self._seq += 1
            if not path.exists():
                break
        tmp = folder / f".{path.name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(tmp, compression=self.compression, statistics=True)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # on disk before the spool lines it holds are deleted
            finally:
                os.close(fd)
            os.replace(tmp, path)
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)  # and so is its name
            finally:
                os.close(fd)
        except Exception as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ArchiveWriteError(
                f"archive: cannot write {path} ({frame.height} {source} rows): {why}; "
                f"they stay in the spool ({self.spool.dir}) and the worker stops: fix the "
                "archive path (space, permissions) and restart"
            ) from e
        self.files_written += 1
        log.debug("archive: wrote %s (%d rows)", path, frame.height)
        return path


def recover_spools(
    root: Path,
    workers: Iterable[int] | None = None,
    *,
    pseudonymizer: Pseudonymizer | None = None,
    compression: Compression = "zstd",
) -> dict[int, int | None]:
    """Archive what crashed runs left in the spools of ``workers`` (default: every
    worker folder found). Returns rows written per worker, None for a worker whose
    spool a live process holds (left alone).

    Raises:
        ArchiveWriteError: a spool cannot be written (it stays).
    """
    done: dict[int, int | None] = {}
    for w in spool_workers(root) if workers is None else workers:
        writer = ArchiveWriter(root, worker=w, pseudonymizer=pseudonymizer, compression=compression)
        try:
            done[w] = writer.recover()
        except SpoolBusyError as e:
            log.warning("%s; left alone", e)
            done[w] = None
        finally:
            writer.release()
    return done


class _Partition(StatelessSinkPartition[ArchiveItem]):
    """One worker's writer, flushed by size on write and by age on a timer."""

    def __init__(self, sink: ArchiveSink, writer: ArchiveWriter) -> None:
        self.sink = sink
        self.writer = writer
        self.lock = threading.Lock()  # the timer against close
        self.error: ArchiveWriteError | None = None
        self.raised = False  # the error has reached Bytewax
        self.closed = False

    def write_batch(self, items: list[ArchiveItem]) -> None:
        self._raise_failed()
        try:
            self.writer.add_many(items)
        except ArchiveWriteError as e:
            self.error = e
            self.raised = True
            raise
        if self.writer.active_rows >= self.sink.flush_rows or self._due():
            try:
                self._flush()
            except ArchiveWriteError:
                self.raised = True
                raise

    def _due(self) -> bool:
        since = self.writer.waiting_since
        return since is not None and time.monotonic() - since >= self.sink.flush_interval_s

    def _flush(self) -> None:
        try:
            self.writer.flush()
        except ArchiveWriteError as e:
            self.error = e
            raise

    def _raise_failed(self) -> None:
        if self.error is not None:
            self.raised = True
            raise ArchiveWriteError(f"an earlier archive write failed: {self.error}")

    def tick(self) -> None:
        """The timer: sync the spool when due; flush rows that have waited
        ``flush_interval_s``."""
        with self.lock:
            if self.closed or self.error is not None:
                return
            try:
                self.writer.sync_due()
                if self._due():
                    self.writer.flush()
            except ArchiveWriteError as e:
                self.error = e
                log.error("%s", e)  # raised by the worker's next write, or its close

    def close(self) -> None:
        """Bytewax hook: write what is spooled. An error Bytewax has already seen
        is not raised again (Bytewax 0.21 aborts the process on a second one)."""
        try:
            with self.lock:
                self.closed = True
                if self.error is not None:
                    self.writer.release()
                    if not self.raised:
                        self._raise_failed()
                    return
                try:
                    self.writer.close()
                except ArchiveWriteError as e:
                    self.error = e
                    self.raised = True
                    raise
        finally:
            self.sink._closed(self)


class ArchiveSink(DynamicSink[ArchiveItem]):
    """Bytewax sink of the archive: one :class:`ArchiveWriter` per worker.

    On start each worker first archives what a crashed run left in its spool;
    worker 0 also archives the spools of worker indices at or above the worker
    count (a run restarted with fewer workers).

    Args:
        root: The archive folder (created when missing).
        flush_rows: Write when a worker has spooled this many rows.
        flush_interval_s: Write rows that have waited this long (checked on
            every write and once a second by a timer, so an idle stream is
            written too).
        pseudonymizer: Pseudonymise plates of reads that are not hits.
        compression: Parquet compression of the files.
        fsync_interval_s: ``fsync`` the spool at most this long after an append
            (0: on every batch): what a power loss (not a killed process) may
            take of the spooled rows.
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_rows: int = 100_000,
        flush_interval_s: float = 60.0,
        pseudonymizer: Pseudonymizer | None = None,
        compression: Compression = "zstd",
        fsync_interval_s: float = 1.0,
    ) -> None:
        if flush_rows < 1 or flush_interval_s <= 0:
            raise ValueError("flush_rows and flush_interval_s must be positive")
        if fsync_interval_s < 0:
            raise ValueError("fsync_interval_s must be 0 or more")
        self.root = Path(root)
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.pseudonymizer = pseudonymizer
        self.compression = compression
        self.fsync_interval_s = fsync_interval_s
        self._parts: list[_Partition] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.rows_written = 0
        self.files_written = 0
        self.rows_recovered = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        """Bytewax hook: this worker's writer, after archiving what a crash left."""
        writer = ArchiveWriter(
            self.root,
            worker=worker_index,
            pseudonymizer=self.pseudonymizer,
            compression=self.compression,
            fsync_interval_s=self.fsync_interval_s,
        )
        try:
            writer.recover()
            if worker_index == 0:
                self._recover_orphans(worker_count)
        except ArchiveWriteError:
            writer.release()
            raise
        part = _Partition(self, writer)
        with self._lock:
            self._parts.append(part)
            if self._timer is None:
                self._stop.clear()
                self._timer = threading.Thread(
                    target=self._run_timer, name="archive-flush", daemon=True
                )
                self._timer.start()
        return part

    def _recover_orphans(self, worker_count: int) -> None:
        for w in spool_workers(self.root):
            if w < worker_count:
                continue
            writer = ArchiveWriter(
                self.root,
                worker=w,
                pseudonymizer=self.pseudonymizer,
                compression=self.compression,
            )
            try:
                writer.recover()
            except SpoolBusyError as e:
                log.warning("%s; left alone", e)
            finally:
                writer.release()
            with self._lock:
                self.rows_written += writer.rows_written
                self.files_written += writer.files_written
                self.rows_recovered += writer.rows_recovered

    def _run_timer(self) -> None:
        step = min(1.0, self.flush_interval_s / 4)
        if self.fsync_interval_s > 0:
            step = min(step, self.fsync_interval_s)
        while not self._stop.wait(step):
            with self._lock:
                parts = list(self._parts)
            for part in parts:
                part.tick()

    def _closed(self, part: _Partition) -> None:
        with self._lock:
            if part not in self._parts:
                return
            self._parts.remove(part)
            self.rows_written += part.writer.rows_written
            self.files_written += part.writer.files_written
            self.rows_recovered += part.writer.rows_recovered
            if not self._parts and self._timer is not None:
                self._stop.set()
                self._timer = None

    def close(self) -> int:
        """After the flow has stopped: write what workers still hold.

        Bytewax closes each worker's partition (writing its spool) when a flow
        ends, normally or because a step raised; this is the safety net for an end
        where it did not (an interrupt). A spool that cannot be written is logged
        (file and reason), not raised, so the flow's own error stays the one
        reported; its rows stay in the spool, archived at the next start (or by
        ``sisec-stream archive recover``). Returns the rows left unwritten.
        """
        with self._lock:
            parts = list(self._parts)
        left = 0
        for part in parts:
            with part.lock:
                part.closed = True
                try:
                    part.writer.close()
                except ArchiveWriteError as e:
                    left += part.writer.pending_rows
                    log.error(
                        "%s (%d rows not archived yet: they stay in the spool %s, archived "
                        "at the next start or by `sisec-stream archive recover`)",
                        e,
                        part.writer.pending_rows,
                        part.writer.spool.dir,
                    )
            self._closed(part)
        return left
