"""The archive writer: buffers accepted events and alerts, writes Parquet.

The engine hands over each batch's accepted events as JSON lines per source
(:meth:`Engine.process_routed` with ``archive=True``); the flow wraps them in
:class:`ArchiveBatch` and sends them, with the alerts, to :class:`ArchiveSink`.
Each worker's :class:`ArchiveWriter` keeps them as they came (bytes, no parsing)
until ``flush_rows`` rows or ``flush_interval_s`` seconds have gathered, or the
flow ends; a flush reads each source's lines at once with ``polars.read_ndjson``,
pseudonymises plates when a key is configured (:mod:`.pseudonym`), and writes one
Parquet file per source and UTC date under the layout of :mod:`.schema`, each to
a temporary name first and then renamed (readers never see a partial file).

A write that fails raises :class:`ArchiveWriteError` (the worker, and so the
flow, stops) and what was not written stays buffered: nothing is dropped
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
from typing import Literal, TypeAlias

import polars as pl
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from sisec_stream.archive.pseudonym import Pseudonymizer
from sisec_stream.archive.schema import (
    EVENT_SOURCES,
    RAW_SCHEMAS,
    SCHEMAS,
    TS,
    file_name,
    partition_dir,
)
from sisec_stream.engine import Alert
from sisec_stream.errors import SisecError

__all__ = [
    "ArchiveBatch",
    "ArchiveItem",
    "ArchiveSink",
    "ArchiveWriteError",
    "ArchiveWriter",
    "Compression",
    "alerts_frame",
    "events_frame",
]

log = logging.getLogger(__name__)

Compression: TypeAlias = Literal["zstd", "lz4", "snappy", "gzip", "uncompressed"]
COMPRESSIONS: tuple[str, ...] = ("zstd", "lz4", "snappy", "gzip", "uncompressed")


class ArchiveWriteError(SisecError):
    """The archive could not be written (the message names the file and why)."""


@dataclass(frozen=True, slots=True)
class ArchiveBatch:
    """One engine batch's accepted events of one source, as the engine's JSON lines.

    Attributes:
        source: ``plate_read``, ``button_press`` or ``call``.
        data: One JSON line per event (see :mod:`sisec_stream.archive`).
        rows: How many lines (events) ``data`` holds.
    """

    source: str
    data: bytes
    rows: int


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


def alerts_frame(alerts: Iterable[Alert]) -> pl.DataFrame:
    """Alerts (pages and updates) as a frame of the archive's alert schema:
    ``document`` is the alert JSON exactly as sent; ``plate`` its normalised
    plate (``details.normalized_plate``) when it has one."""
    rows = list(alerts)
    df = pl.DataFrame(
        {
            "alert_id": [a.alert_id for a in rows],
            "update": [a.update for a in rows],
            "kind": [a.kind for a in rows],
            "priority": [a.priority for a in rows],
            "event_time": [a.event_time_ms for a in rows],
            "document": [a.json.decode() for a in rows],
        },
        schema={
            "alert_id": pl.Utf8,
            "update": pl.Int32,
            "kind": pl.Utf8,
            "priority": pl.Int8,
            "event_time": pl.Int64,
            "document": pl.Utf8,
        },
    )
    doc = pl.col("document").str
    return df.with_columns(
        event_time=pl.col("event_time").cast(TS),
        plate=doc.json_path_match("$.details.normalized_plate"),
        schema_version=doc.json_path_match("$.schema_version").cast(pl.Int32),
    ).select(SCHEMAS["alert"].names())


_TIME_COLUMN = {"alert": "event_time"}


class ArchiveWriter:
    """One worker's buffer and Parquet writer (not thread-safe: the sink locks).

    Args:
        root: The archive folder.
        worker: The worker index (part of every file name).
        pseudonymizer: Pseudonymise plates of reads that are not hits; None: clear.
        compression: Parquet compression.
        clock: Seconds since the epoch (file names).
    """

    def __init__(
        self,
        root: Path,
        *,
        worker: int = 0,
        pseudonymizer: Pseudonymizer | None = None,
        compression: Compression = "zstd",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.worker = worker
        self.pseudonymizer = pseudonymizer
        self.compression = compression
        self.clock = clock
        self._blobs: dict[str, list[bytes]] = {}
        self._alerts: list[Alert] = []
        self._pending: list[tuple[str, date, pl.DataFrame]] = []  # one file each
        self._rows = 0
        self._seq = 0
        self.rows_written = 0
        self.files_written = 0

    @property
    def pending_rows(self) -> int:
        """Rows buffered and not yet written."""
        return self._rows

    def add(self, item: ArchiveItem) -> None:
        """Buffer one engine batch or alert."""
        if isinstance(item, ArchiveBatch):
            if item.source not in EVENT_SOURCES:
                raise ValueError(f"no archive source {item.source!r}")
            if item.rows:
                self._blobs.setdefault(item.source, []).append(item.data)
                self._rows += item.rows
        else:
            self._alerts.append(item)
            self._rows += 1

    def flush(self) -> list[Path]:
        """Write everything buffered; the files written.

        Raises:
            ArchiveWriteError: a file could not be written; it and what was not
                yet written stay buffered (a later flush tries them again).
        """
        self._convert()
        written: list[Path] = []
        while self._pending:
            source, day, frame = self._pending[0]
            written.append(self._write(source, day, frame))
            self._pending.pop(0)
            self._rows -= frame.height
            self.rows_written += frame.height
        return written

    def _convert(self) -> None:
        """Turn the buffered bytes and alerts into one frame per source and date."""
        for source in list(self._blobs):
            try:
                frame = events_frame(source, b"".join(self._blobs[source]), self.pseudonymizer)
            except Exception as e:  # a bug, not bad data: the engine wrote the lines
                raise ArchiveWriteError(f"archive: cannot read the {source} lines: {e}") from e
            self._split(source, frame)
            del self._blobs[source]
        if self._alerts:
            self._split("alert", alerts_frame(self._alerts))
            self._alerts = []

    def _split(self, source: str, frame: pl.DataFrame) -> None:
        day = pl.col(_TIME_COLUMN.get(source, "ts")).dt.date().alias("__date")
        parts = frame.with_columns(day).partition_by("__date", as_dict=True, include_key=False)
        for (d,), part in sorted(parts.items(), key=lambda kv: str(kv[0])):
            assert isinstance(d, date)
            self._pending.append((source, d, part))

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
            os.replace(tmp, path)
        except Exception as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ArchiveWriteError(
                f"archive: cannot write {path} ({frame.height} {source} rows): {why}; "
                "they stay buffered and the worker stops: fix the archive path "
                "(space, permissions) and restart"
            ) from e
        self.files_written += 1
        log.debug("archive: wrote %s (%d rows)", path, frame.height)
        return path


class _Partition(StatelessSinkPartition[ArchiveItem]):
    """One worker's writer, flushed by size on write and by age on a timer."""

    def __init__(self, sink: ArchiveSink, writer: ArchiveWriter) -> None:
        self.sink = sink
        self.writer = writer
        self.lock = threading.Lock()
        self.oldest: float | None = None  # monotonic time of the oldest buffered row
        self.error: ArchiveWriteError | None = None
        self.closed = False

    def write_batch(self, items: list[ArchiveItem]) -> None:
        with self.lock:
            self._raise_failed()
            for item in items:
                self.writer.add(item)
            if self.writer.pending_rows and self.oldest is None:
                self.oldest = time.monotonic()
            if self.writer.pending_rows >= self.sink.flush_rows or self._due():
                self._flush()

    def _due(self) -> bool:
        return (
            self.oldest is not None and time.monotonic() - self.oldest >= self.sink.flush_interval_s
        )

    def _flush(self) -> None:
        try:
            self.writer.flush()
        except ArchiveWriteError as e:
            self.error = e
            raise
        self.oldest = None

    def _raise_failed(self) -> None:
        if self.error is not None:
            raise ArchiveWriteError(f"an earlier archive write failed: {self.error}")

    def tick(self) -> None:
        """The timer: flush a buffer that has waited ``flush_interval_s``."""
        with self.lock:
            if self.closed or self.error is not None or not self._due():
                return
            try:
                self._flush()
            except ArchiveWriteError as e:
                log.error("%s", e)  # raised again by the worker's next write or close

    def close(self) -> None:
        try:
            with self.lock:
                self.closed = True
                self._raise_failed()
                self._flush()
        finally:
            self.sink._closed(self)


class ArchiveSink(DynamicSink[ArchiveItem]):
    """Bytewax sink of the archive: one :class:`ArchiveWriter` per worker.

    Args:
        root: The archive folder (created when missing).
        flush_rows: Write when a worker has buffered this many rows.
        flush_interval_s: Write rows that have waited this long (checked on
            every write and once a second by a timer, so an idle stream is
            written too).
        pseudonymizer: Pseudonymise plates of reads that are not hits.
        compression: Parquet compression of the files.
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_rows: int = 100_000,
        flush_interval_s: float = 60.0,
        pseudonymizer: Pseudonymizer | None = None,
        compression: Compression = "zstd",
    ) -> None:
        if flush_rows < 1 or flush_interval_s <= 0:
            raise ValueError("flush_rows and flush_interval_s must be positive")
        self.root = Path(root)
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.pseudonymizer = pseudonymizer
        self.compression = compression
        self._parts: list[_Partition] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.rows_written = 0
        self.files_written = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        """Bytewax hook: this worker's writer."""
        writer = ArchiveWriter(
            self.root,
            worker=worker_index,
            pseudonymizer=self.pseudonymizer,
            compression=self.compression,
        )
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

    def _run_timer(self) -> None:
        step = min(1.0, self.flush_interval_s / 4)
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
            if not self._parts and self._timer is not None:
                self._stop.set()
                self._timer = None

    def close(self) -> int:
        """After the flow has stopped: write what workers still hold.

        Bytewax closes each worker's partition (writing its buffer) when a flow
        ends, normally or because a step raised; this is the safety net for an end
        where it did not (an interrupt), so buffers are not lost with the process.
        A buffer that cannot be written is logged (file and reason), not raised,
        so the flow's own error stays the one reported. Returns the rows left
        unwritten.
        """
        with self._lock:
            parts = list(self._parts)
        lost = 0
        for part in parts:
            with part.lock:
                part.closed = True
                try:
                    part.writer.flush()
                except ArchiveWriteError as e:
                    lost += part.writer.pending_rows
                    log.error("%s (%d rows not archived)", e, part.writer.pending_rows)
            self._closed(part)
        return lost
