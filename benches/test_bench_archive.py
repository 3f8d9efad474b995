"""Archive throughput: events to Parquet, beside a plain-Python baseline.

Run: ``.venv/bin/python -m pytest benches/test_bench_archive.py --benchmark-only``
(``SISEC_BENCH_ARCHIVE_EVENTS`` sets the size; default 20,000 plate reads of the
default simulated city, so ``--benchmark-disable`` runs stay quick).

Group ``archive_write``, every benchmark from the same raw reads to Parquet files:

- ``test_archive_engine_and_writer``: what the flow does, ``Engine.process_routed(
  archive=True)`` per batch of 5,000 (parse, validate, match, the normalised JSON
  lines), then :class:`ArchiveWriter` (each batch appended to the write-ahead spool
  file, then at the flush ``polars.read_ndjson`` of the spool per source,
  partitioned by date, zstd, files fsynced, spool deleted);
- ``test_archive_engine_and_writer_pseudonymised``: the same with a key, as the
  flow does it: the engine writes the tokens (``archive_key``), the writer spools
  its lines as they are;
- ``test_archive_writer_only`` / ``..._pseudonymised``: the writer alone, from the
  engine's lines (``_pseudonymised``: clear lines, the writer's Python path adds
  tokens and hides non-hit plates per batch before the spool, as for batches not
  pseudonymised by the engine; ``_pseudonymised_by_engine``: the engine's keyed
  lines, spooled as they are);
- ``test_baseline_json_loads_polars_write``: ``json.loads`` of each raw event,
  ``polars.DataFrame`` of the dicts, one ``write_parquet`` (zstd): no validation,
  no normalisation, no partitions, nested fields as polars infers them.

Group ``archive_spool``: the writer's appends alone (no flush), without and with a
key (Python path, and the engine's keyed lines): what the sink costs the worker per
batch before it returns.

Group ``engine_routed_archive``: ``Engine.process_routed`` on the same reads with and
without the archive output (the baseline), and with ``archive_key``: what
``archive=True`` and the tokens cost the engine.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sisec_stream import Engine
from sisec_stream.archive import ArchiveBatch, ArchiveWriter, Pseudonymizer
from sisec_stream.generator import Scenario, ScenarioConfig

N_EVENTS = int(os.environ.get("SISEC_BENCH_ARCHIVE_EVENTS", "20000"))
BATCH = 5000
KEY = bytes(range(32))
GROUP = "archive_write"


@pytest.fixture(scope="module")
def city() -> Scenario:
    return Scenario(ScenarioConfig(seed=7, duration_s=7200, watchlist_size=20_000))


@pytest.fixture(scope="module")
def reads(city: Scenario) -> list[bytes]:
    events = [line for _, line, _ in itertools.islice(city.events("plate_reads"), N_EVENTS)]
    assert len(events) == N_EVENTS
    return events


@pytest.fixture(scope="module")
def engine(city: Scenario) -> Engine:
    from sisec_stream import Watchlist

    return Engine(watchlist=Watchlist.from_rows(city.watchlist_rows()))


def _batches(reads: list[bytes]) -> list[list[bytes]]:
    return [reads[i : i + BATCH] for i in range(0, len(reads), BATCH)]


@pytest.fixture(scope="module")
def blobs(engine: Engine, reads: list[bytes]) -> list[ArchiveBatch]:
    out = []
    for batch in _batches(reads):
        result, _, archived = engine.process_routed(batch, archive=True)
        out.append(ArchiveBatch("plate_read", archived["plate_read"], result.accepted))
    assert sum(b.rows for b in out) == N_EVENTS
    return out


@pytest.fixture(scope="module")
def keyed_blobs(engine: Engine, reads: list[bytes]) -> list[ArchiveBatch]:
    out = []
    for batch in _batches(reads):
        result, _, archived = engine.process_routed(batch, archive=True, archive_key=KEY)
        out.append(ArchiveBatch("plate_read", archived["plate_read"], result.accepted, True))
    return out


def _fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _rows_written(folder: Path) -> int:
    return sum(pl.read_parquet(f).height for f in folder.rglob("*.parquet"))


def _run(benchmark: Any, folder: Path, fn: Any) -> None:
    benchmark.pedantic(fn, setup=lambda: _fresh(folder), rounds=5, iterations=1)
    assert _rows_written(folder) == N_EVENTS
    assert not (folder / "_spool").exists(), "the spool is deleted once archived"


@pytest.mark.benchmark(group=GROUP)
def test_archive_engine_and_writer(
    benchmark: Any, events_info: Any, engine: Engine, reads: list[bytes], tmp_path: Path
) -> None:
    events_info(N_EVENTS)
    batches = _batches(reads)

    def run() -> None:
        with ArchiveWriter(tmp_path) as writer:
            for batch in batches:
                result, _, archived = engine.process_routed(batch, archive=True)
                for source, data in archived.items():
                    if data:
                        writer.add(ArchiveBatch(source, data, result.accepted_by_source[source]))

    _run(benchmark, tmp_path, run)


@pytest.mark.benchmark(group=GROUP)
def test_archive_engine_and_writer_pseudonymised(
    benchmark: Any, events_info: Any, engine: Engine, reads: list[bytes], tmp_path: Path
) -> None:
    events_info(N_EVENTS)
    batches = _batches(reads)
    pseudonymizer = Pseudonymizer(KEY)

    def run() -> None:
        with ArchiveWriter(tmp_path, pseudonymizer=pseudonymizer) as writer:
            for batch in batches:
                result, _, archived = engine.process_routed(batch, archive=True, archive_key=KEY)
                for source, data in archived.items():
                    if data:
                        n = result.accepted_by_source[source]
                        writer.add(ArchiveBatch(source, data, n, pseudonymised=True))

    _run(benchmark, tmp_path, run)


@pytest.mark.benchmark(group=GROUP)
def test_archive_writer_only(
    benchmark: Any, events_info: Any, blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    events_info(N_EVENTS)

    def run() -> None:
        with ArchiveWriter(tmp_path) as writer:
            for b in blobs:
                writer.add(b)

    _run(benchmark, tmp_path, run)


@pytest.mark.benchmark(group=GROUP)
def test_archive_writer_pseudonymised(
    benchmark: Any, events_info: Any, blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    events_info(N_EVENTS)
    pseudonymizer = Pseudonymizer(KEY)

    def run() -> None:
        with ArchiveWriter(tmp_path, pseudonymizer=pseudonymizer) as writer:
            for b in blobs:
                writer.add(b)

    _run(benchmark, tmp_path, run)


@pytest.mark.benchmark(group=GROUP)
def test_archive_writer_pseudonymised_by_engine(
    benchmark: Any, events_info: Any, keyed_blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    events_info(N_EVENTS)
    pseudonymizer = Pseudonymizer(KEY)

    def run() -> None:
        with ArchiveWriter(tmp_path, pseudonymizer=pseudonymizer) as writer:
            for b in keyed_blobs:
                writer.add(b)

    _run(benchmark, tmp_path, run)


SPOOL = "archive_spool"


def _spool_only(benchmark: Any, folder: Path, blobs: list[ArchiveBatch], key: bytes | None) -> None:
    pseudonymizer = None if key is None else Pseudonymizer(key)

    def run() -> None:
        writer = ArchiveWriter(folder, pseudonymizer=pseudonymizer)
        for b in blobs:
            writer.add(b)
        writer.release()  # no flush: what the worker pays per batch

    benchmark.pedantic(run, setup=lambda: _fresh(folder), rounds=5, iterations=1)
    lines = sum(f.read_bytes().count(b"\n") for f in folder.rglob("*.ndjson"))
    assert lines == N_EVENTS


@pytest.mark.benchmark(group=SPOOL)
def test_spool_append_only(
    benchmark: Any, events_info: Any, blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    """The sink's part of every batch: append to the spool file (os.write)."""
    events_info(N_EVENTS)
    _spool_only(benchmark, tmp_path, blobs, None)


@pytest.mark.benchmark(group=SPOOL)
def test_spool_append_only_pseudonymised(
    benchmark: Any, events_info: Any, blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    """The same with a key, the writer's Python path: tokens and hidden plates
    before the append."""
    events_info(N_EVENTS)
    _spool_only(benchmark, tmp_path, blobs, KEY)


@pytest.mark.benchmark(group=SPOOL)
def test_spool_append_only_pseudonymised_by_engine(
    benchmark: Any, events_info: Any, keyed_blobs: list[ArchiveBatch], tmp_path: Path
) -> None:
    """With a key, the engine's keyed lines: appended as they are."""
    events_info(N_EVENTS)
    _spool_only(benchmark, tmp_path, keyed_blobs, KEY)


@pytest.mark.benchmark(group=GROUP)
def test_baseline_json_loads_polars_write(
    benchmark: Any, events_info: Any, reads: list[bytes], tmp_path: Path
) -> None:
    events_info(N_EVENTS)

    def run() -> None:
        rows = [json.loads(r) for r in reads]
        pl.DataFrame(rows, infer_schema_length=None).write_parquet(
            tmp_path / "events.parquet", compression="zstd"
        )

    _run(benchmark, tmp_path, run)


ROUTED = "engine_routed_archive"


@pytest.mark.benchmark(group=ROUTED)
def test_process_routed_baseline_no_archive(
    benchmark: Any, events_info: Any, engine: Engine, reads: list[bytes]
) -> None:
    events_info(N_EVENTS)
    batches = _batches(reads)
    benchmark(lambda: [engine.process_routed(b) for b in batches])


@pytest.mark.benchmark(group=ROUTED)
def test_process_routed_with_archive(
    benchmark: Any, events_info: Any, engine: Engine, reads: list[bytes]
) -> None:
    events_info(N_EVENTS)
    batches = _batches(reads)
    out = benchmark(lambda: [engine.process_routed(b, archive=True) for b in batches])
    assert sum(len(o[2]["plate_read"]) for o in out) > 100 * N_EVENTS


@pytest.mark.benchmark(group=ROUTED)
def test_process_routed_with_archive_key(
    benchmark: Any, events_info: Any, engine: Engine, reads: list[bytes]
) -> None:
    events_info(N_EVENTS)
    batches = _batches(reads)
    out = benchmark(
        lambda: [engine.process_routed(b, archive=True, archive_key=KEY) for b in batches]
    )
    assert sum(o[2]["plate_read"].count(b'"plate_token":"') for o in out) == N_EVENTS
