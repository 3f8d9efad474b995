"""Writing a scenario to disk: event files, registries, ground truth and a summary.

Plate reads are ~90 % of the events. Where ``fork`` exists they are made by a small
pipeline of processes: one drives the traffic (:func:`~.plate_reads.traffic`) and deals
chunks of records to two formatters (:class:`~.plate_reads.ReadFormatter`), which write
them in order into the final files; this process meanwhile writes the watchlist, the
registries and the two small streams. Every stage and chunk has its own RNG, so the
files are byte-identical to those of a serial run.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import sys
import threading
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from itertools import islice
from multiprocessing.connection import Connection, wait
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
from tqdm import tqdm

from sisec_stream.generator.config import ScenarioConfig, derive_rng
from sisec_stream.generator.plate_reads import READS_CHUNK, ReadFormatter, traffic
from sisec_stream.generator.scenario import SOURCES, TRUTH_COLUMNS, Event, Scenario, Source
from sisec_stream.generator.timefmt import TsFormatter
from sisec_stream.generator.zones import allow_list_names, write_zones

__all__ = [
    "ALLOW_LISTS_FILE",
    "EVENT_FILES",
    "TRUTH_FILES",
    "ZONES_FILE",
    "write_allow_lists",
    "write_scenario",
    "write_static_files",
    "write_watchlist",
]

#: Event file of each source (JSON Lines, one event per line).
EVENT_FILES: Final[dict[Source, str]] = {
    "plate_reads": "plate_reads.jsonl",
    "button_presses": "button_presses.jsonl",
    "calls": "calls.jsonl",
}
#: Ground-truth file of each source (CSV, one row per event, same order).
TRUTH_FILES: Final[dict[Source, str]] = {
    "plate_reads": "truth_plate_reads.csv",
    "button_presses": "truth_button_presses.csv",
    "calls": "truth_calls.csv",
}
_CHUNK: Final = 8192
_BUFFER: Final = 1 << 20
_FORMATTERS: Final = 2  # formatter processes of the plate-read pipeline
_COL: Final = [itemgetter(i) for i in range(12)]  # column getters (C-level loops)
#: Zones of the city (GeoJSON) and the allow lists its restricted zones refer to.
ZONES_FILE: Final = "zones.geojson"
ALLOW_LISTS_FILE: Final = "allow_lists.csv"
_ALLOW_LIST_SIZE: Final = 36  # authorised vehicles per allow list


def write_watchlist(sc: Scenario, path: Path) -> None:
    """Write the scenario's watchlist as CSV (entry_id, plate, list, priority)."""
    # Watchlist values are ids, normalised plates and list names: no CSV quoting needed.
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("entry_id,plate,list,priority\n")
        f.write("".join([",".join(row) + "\n" for row in sc.watchlist]))


def write_allow_lists(sc: Scenario, names: Sequence[str], path: Path) -> int:
    """Write ``plate,list`` rows: for each allow list in ``names``, a few dozen plates of
    the circulating fleet (none on the watchlist), so some reads in the restricted zones
    are authorised. Deterministic per seed; returns the number of rows."""
    fleet = sc.fleet
    unlisted = [plate for v, plate in enumerate(fleet.plates) if v not in fleet.listed]
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("plate,list\n")  # normalised plates and list names: no CSV quoting needed
        for name in names:
            rng = derive_rng(sc.config.seed, f"allow_lists/{name}")
            plates = sorted(rng.sample(unlisted, min(_ALLOW_LIST_SIZE, len(unlisted))))
            f.write("".join(f"{plate},{name}\n" for plate in plates))
            rows += len(plates)
    return rows


def write_static_files(sc: Scenario, out_dir: Path) -> dict[str, int]:
    """Write the watchlist, the camera and device registries, the devices' truth, the
    zones (:data:`ZONES_FILE`) and allow lists (:data:`ALLOW_LISTS_FILE`); counts of
    zones and allow-list rows (``allow_list_entries`` only if an allow list is
    referenced)."""
    write_watchlist(sc, out_dir / "watchlist.csv")
    with (out_dir / "cameras.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ("camera_id", "lat", "lon", "heading_deg", "site", "municipality", "kind", "road")
        )
        for c in sc.cameras:
            w.writerow(
                (
                    c.camera_id,
                    f"{c.lat:.6f}",
                    f"{c.lon:.6f}",
                    f"{c.heading_deg:.1f}",
                    c.site,
                    c.municipality,
                    c.kind,
                    c.road,
                )
            )
    with (out_dir / "devices.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("device_id", "device_kind", "lat", "lon", "site", "municipality"))
        for d in sc.devices:
            w.writerow(
                (d.device_id, d.device_kind, f"{d.lat:.6f}", f"{d.lon:.6f}", d.site, d.municipality)
            )
    tsf = TsFormatter(sc.config.preset.offset_minutes)
    with (out_dir / "truth_devices.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("device_id,device_kind,offline_at_ms,offline_at\n")
        for i, d in enumerate(sc.devices):
            off = sc.offline_at.get(i)
            when = f"{off},{tsf.local_ms(off)}" if off is not None else ","
            f.write(f"{d.device_id},{d.device_kind},{when}\n")
    zones = write_zones(sc.config, out_dir / ZONES_FILE, sc.city)
    written = {"zones": len(zones["features"])}
    names = allow_list_names(zones)
    if names:
        written["allow_list_entries"] = write_allow_lists(sc, names, out_dir / ALLOW_LISTS_FILE)
    return written


_SUMMARY_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "plate_reads": (
        "malformed",
        "misreads",
        "listed_reads",
        "listed_vehicles_seen",
        "vehicles_seen",
        "trips",
    ),
    "button_presses": (
        "malformed",
        "heartbeat",
        "press",
        "tamper",
        "low_battery",
        "false_presses",
        "activations",
    ),
    "calls": ("malformed", "calls", "valid_calls", "invalid_calls", "incidents"),
}


class _Stats:
    """Counts of one source, updated a chunk of truth records at a time."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.events = 0
        self.counter: Counter[str] = Counter()
        self.ids: dict[str, set[str]] = {}

    def _distinct(self, name: str, values: Any) -> None:
        self.ids.setdefault(name, set()).update(values)

    def update(self, chunk: list[tuple[Any, ...]]) -> None:
        self.events += len(chunk)
        c = self.counter
        if self.source == "plate_reads":
            # Column-wise with itemgetter (C loops): this runs for ~10^5 reads a second.
            c["malformed"] += len(chunk) - list(map(_COL[6], chunk)).count("")
            kinds = list(map(_COL[4], chunk))
            c.update(f"misread_{k}" for k in kinds if k)
            listed = [t for t in chunk if t[5]]
            c["listed_reads"] += len(listed)
            self._distinct("listed_vehicles_seen", map(_COL[1], listed))
            self._distinct("vehicles_seen", map(_COL[1], chunk))
            self._distinct("trips", map(_COL[9], chunk))
        elif self.source == "button_presses":
            c["malformed"] += sum(1 for t in chunk if t[5])
            c.update(t[2] for t in chunk)
            c["false_presses"] += sum(1 for t in chunk if t[4] == "1")
            self._distinct("activations", (t[3] for t in chunk if t[3]))
        else:
            c["malformed"] += sum(1 for t in chunk if t[7])
            received = [t for t in chunk if t[2] == "received"]
            c["calls"] += len(received)
            c["valid_calls"] += sum(1 for t in received if t[4] == "1")
            c.update(f"invalid_{t[5]}" for t in received if t[5])
            self._distinct("incidents", (t[3] for t in received if t[3]))

    def merge(self, other: _Stats) -> None:
        """Add the counts of ``other`` (same source)."""
        self.events += other.events
        self.counter.update(other.counter)
        for name, values in other.ids.items():
            self._distinct(name, values)

    def summary(self) -> dict[str, int]:
        """Counts by name (the keys of :data:`_SUMMARY_KEYS` always, zero if none)."""
        out = {"events": self.events}
        out.update(dict.fromkeys(_SUMMARY_KEYS[self.source], 0))
        out.update(self.counter)
        if self.source == "plate_reads":
            out["misreads"] = sum(v for k, v in self.counter.items() if k.startswith("misread_"))
        if self.source == "calls":
            out["invalid_calls"] = self.counter["calls"] - self.counter["valid_calls"]
        out.update((name, len(values)) for name, values in self.ids.items())
        return {"events": out.pop("events"), **dict(sorted(out.items()))}


class _Sink(Protocol):
    def update(self, n: int) -> object: ...


class _Progress:
    """Feeds the tqdm bar (if any) with this process's events and the formatters' counts."""

    def __init__(self, bar: tqdm[Any] | None, shared: Any = None) -> None:
        self.bar = bar
        self.shared = shared  # multiprocessing Array of per-formatter counts, or None
        self.seen = 0

    def _forked_delta(self) -> int:
        if self.shared is None:
            return 0
        now = sum(self.shared[:])
        delta, self.seen = now - self.seen, now
        return int(delta)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n + self._forked_delta())

    def poll(self) -> None:
        if self.bar is not None:
            delta = self._forked_delta()
            if delta:
                self.bar.update(delta)


def _encode_chunk(chunk: Sequence[Event]) -> tuple[bytes, bytes, list[tuple[Any, ...]]]:
    """A chunk of events as JSON Lines, its truth as CSV rows, and the truth records."""
    lines = list(map(_COL[1], chunk))
    lines.append(b"")  # so the join ends with a newline
    truths: list[tuple[Any, ...]] = [t or () for t in map(_COL[2], chunk)]
    # Truth values are strings without commas or quotes (ids, plates, codes, numbers):
    # plain joins, all in C.
    rows = "\n".join(map(",".join, truths)) + "\n"
    return b"\n".join(lines), rows.encode(), truths


def _write_source(
    sc: Scenario,
    source: Source,
    out_dir: Path,
    bar: _Sink,
    events: Iterable[Event] | None = None,
) -> _Stats:
    """Write one source's event and truth files; its stats."""
    stats = _Stats(source)
    stream = iter(sc.events(source) if events is None else events)
    with (
        (out_dir / EVENT_FILES[source]).open("wb", buffering=_BUFFER) as ef,
        (out_dir / TRUTH_FILES[source]).open("wb", buffering=_BUFFER) as tf,
    ):
        tf.write((",".join(TRUTH_COLUMNS[source]) + "\n").encode())
        while chunk := list(islice(stream, _CHUNK)):
            event_bytes, truth_bytes, truths = _encode_chunk(chunk)
            ef.write(event_bytes)
            tf.write(truth_bytes)
            stats.update(truths)
            bar.update(len(truths))
    return stats


# ------------------------------------------------------------- forked plate-read pipeline


def _deal_traffic(sc: Scenario, sends: list[Connection], unused: list[Connection]) -> None:
    """Traffic process: chunk k of records (int64 array) goes to formatter k % n."""
    for conn in unused:
        conn.close()
    try:
        flat = array("q")
        per_chunk = 4 * READS_CHUNK
        k = 0
        for record in traffic(sc):
            flat.extend(record)
            if len(flat) == per_chunk:
                sends[k % len(sends)].send_bytes(flat.tobytes())
                k += 1
                del flat[:]
        if flat:
            sends[k % len(sends)].send_bytes(flat.tobytes())
        for conn in sends:
            conn.send_bytes(b"")  # end of stream
    except BaseException:
        message = b"!" + traceback.format_exc().encode()
        for conn in sends:
            with contextlib.suppress(OSError):
                conn.send_bytes(message)
    finally:
        for conn in sends:
            conn.close()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _format_part(
    formatter: ReadFormatter,
    index: int,
    recv: Connection,
    token_in: Connection,
    token_out: Connection,
    result: Connection,
    counts: Any,
    paths: tuple[Path, Path],
    unused: list[Connection],
) -> None:
    """Formatter process ``index``: formats chunks index, index + n, ... and writes each
    into the final files at its place. The write offsets travel round the formatters
    as a token: chunk k is written once chunk k - 1 has been."""
    for conn in unused:
        conn.close()
    try:
        stats = _Stats("plate_reads")
        k = index
        with paths[0].open("r+b") as ef, paths[1].open("r+b") as tf:
            while data := recv.recv_bytes():
                if data[:1] == b"!":
                    raise RuntimeError("traffic process failed:\n" + data[1:].decode())
                flat = array("q")
                flat.frombytes(data)
                records = zip(flat[0::4], flat[1::4], flat[2::4], flat[3::4], strict=True)
                events, truth_rows, truths = _encode_chunk(
                    list(formatter.run(records, k * READS_CHUNK))
                )
                stats.update(truths)
                event_at, truth_at = token_in.recv()
                _pwrite_all(ef.fileno(), events, event_at)
                _pwrite_all(tf.fileno(), truth_rows, truth_at)
                token_out.send((event_at + len(events), truth_at + len(truth_rows)))
                counts[index] += len(truths)
                k += _FORMATTERS
        result.send(("ok", stats))
    except BaseException:
        result.send(("error", traceback.format_exc()))
    finally:
        result.close()


class _PlatePipeline:
    """The forked traffic and formatter processes of the plate-read stream."""

    def __init__(self, sc: Scenario, out_dir: Path) -> None:
        ctx = multiprocessing.get_context("fork")
        self.counts = ctx.Array("q", _FORMATTERS, lock=False)
        paths = (out_dir / EVENT_FILES["plate_reads"], out_dir / TRUTH_FILES["plate_reads"])
        header = (",".join(TRUTH_COLUMNS["plate_reads"]) + "\n").encode()
        paths[0].write_bytes(b"")
        paths[1].write_bytes(header)
        pipes = [ctx.Pipe(duplex=False) for _ in range(_FORMATTERS)]
        tokens = [ctx.Pipe(duplex=False) for _ in range(_FORMATTERS)]
        results = [ctx.Pipe(duplex=False) for _ in range(_FORMATTERS)]
        recvs = [r for r, _ in pipes]
        sends = [s for _, s in pipes]
        self.results = [r for r, _ in results]
        self.procs = [ctx.Process(target=_deal_traffic, args=(sc, sends, recvs), daemon=True)]
        # Built once here, inherited by the forked formatters (tables of ~10^5 strings).
        formatter = ReadFormatter(sc)
        for i in range(_FORMATTERS):
            # Formatter i takes the token from pipe i and passes it on to pipe i + 1.
            args = (
                formatter,
                i,
                recvs[i],
                tokens[i][0],
                tokens[(i + 1) % _FORMATTERS][1],
                results[i][1],
                self.counts,
                paths,
                sends,
            )
            self.procs.append(ctx.Process(target=_format_part, args=args, daemon=True))
        for proc in self.procs:
            proc.start()
        tokens[0][1].send((0, len(header)))  # chunk 0 goes at the start
        # The children hold their own ends: close ours, so that EOF reaches them.
        ours = [*recvs, *sends, *(end for pair in tokens for end in pair)]
        ours += [result_send for _, result_send in results]
        for conn in ours:
            conn.close()

    def finish(self, progress: _Progress) -> _Stats:
        """Wait for the formatters (failing fast if one fails); the merged stats."""
        stats = _Stats("plate_reads")
        pending = dict(enumerate(self.results))
        try:
            while pending:
                ready = wait(list(pending.values()), timeout=0.05)
                progress.poll()
                for i, conn in list(pending.items()):
                    if conn not in ready:
                        continue
                    try:
                        status, payload = conn.recv()
                    except EOFError:
                        status, payload = "error", "formatter exited without a result"
                    if status != "ok":
                        raise RuntimeError(f"writing plate reads failed:\n{payload}")
                    stats.merge(payload)
                    del pending[i]
                if any(p.exitcode not in (None, 0) for p in self.procs):
                    codes = [p.exitcode for p in self.procs]
                    raise RuntimeError(f"a plate-read process died (exit codes {codes})")
            for proc in self.procs:
                proc.join()
            progress.poll()
            return stats
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop the children still running (after a failure they may wait forever)."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _fork_is_safe() -> bool:
    """Whether this process runs no thread but tqdm's progress monitor.

    Forking a multi-threaded process can leave the child waiting on a lock another thread
    held: a threaded caller (a live demo, a server) gets the serial path. tqdm's monitor
    only touches tqdm's own lock, which the children never use.
    """
    main = threading.main_thread()
    return threading.current_thread() is main and all(
        t is main or t.name == "tqdm_monitor" for t in threading.enumerate()
    )


def write_scenario(
    config: ScenarioConfig, out_dir: Path, *, progress: bool = True, parallel: bool = True
) -> dict[str, Any]:
    """Generate the scenario of ``config`` into ``out_dir`` and return its summary.

    Writes ``plate_reads.jsonl``, ``button_presses.jsonl``, ``calls.jsonl`` (one JSON event
    per line), ``watchlist.csv``, ``cameras.csv``, ``devices.csv``, ``zones.geojson`` (the
    city's zones, see :mod:`~sisec_stream.generator.zones`), ``allow_lists.csv`` (if a zone
    refers to an allow list), the ground truth (``truth_plate_reads.csv``,
    ``truth_button_presses.csv``, ``truth_calls.csv``, ``truth_devices.csv``) and
    ``scenario.json`` (config, counts, timing). Every file but ``scenario.json`` (which
    records the generation time) is byte-identical for the same config. ``progress``
    shows a tqdm bar on stderr. ``parallel`` makes the plate reads in forked processes
    (where ``fork`` exists and the caller runs a single thread); the files are the same
    either way.
    """
    t_begin = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sc = Scenario(config)
    t_world = time.perf_counter() - t_begin
    expected = sc.expected_events()
    pipeline = None
    if parallel and "fork" in multiprocessing.get_all_start_methods() and _fork_is_safe():
        pipeline = _PlatePipeline(sc, out_dir)
    processes = 1 + len(pipeline.procs) if pipeline else 1
    counts: dict[str, dict[str, int]] = {}
    static: dict[str, int] = {}
    try:
        with (
            tqdm(
                total=sum(expected.values()),
                unit="ev",
                unit_scale=True,
                desc="generating",
                file=sys.stderr,
                disable=not progress,
            )
            if progress
            else contextlib.nullcontext(None) as bar
        ):
            sink = _Progress(bar, pipeline.counts if pipeline else None)
            static = write_static_files(sc, out_dir)
            for source in SOURCES:
                if pipeline is None or source != "plate_reads":
                    counts[source] = _write_source(sc, source, out_dir, sink).summary()
            if pipeline is not None:
                counts["plate_reads"] = pipeline.finish(sink).summary()
                pipeline = None
            if bar is not None:  # the total was an estimate: end the bar at 100 %
                bar.total = bar.n
                bar.refresh()
    finally:
        if pipeline is not None:  # an error in this process: stop the children
            pipeline.abort()
    counts = {source: counts[source] for source in SOURCES}
    seconds = time.perf_counter() - t_begin
    total = sum(c["events"] for c in counts.values())
    preset = config.preset
    tsf = TsFormatter(preset.offset_minutes)
    summary: dict[str, Any] = {
        "generator": "sisec_stream.generator",
        "config": asdict(config),
        "city": {
            "name": preset.name,
            "code": preset.code,
            "utc_offset": preset.utc_offset,
            "bbox": [preset.lat_min, preset.lon_min, preset.lat_max, preset.lon_max],
        },
        "start": tsf.local_ms(config.start_ms),
        "end": tsf.local_ms(config.end_ms),
        "start_ms": config.start_ms,
        "end_ms": config.end_ms,
        "world": {
            "roads": len(sc.city.roads),
            "cameras": len(sc.cameras),
            "arches": sum(1 for c in sc.cameras if c.kind == "arch"),
            "devices": len(sc.devices),
            "offline_devices": len(sc.offline_at),
            "vehicles": len(sc.fleet.plates),
            "listed_vehicles": len(sc.fleet.listed),
            "watchlist_entries": len(sc.watchlist),
            **static,
        },
        "files": {
            "events": dict(EVENT_FILES),
            "truth": {**TRUTH_FILES, "devices": "truth_devices.csv"},
            "watchlist": "watchlist.csv",
            "cameras": "cameras.csv",
            "devices": "devices.csv",
            "zones": ZONES_FILE,
            **({"allow_lists": ALLOW_LISTS_FILE} if "allow_list_entries" in static else {}),
        },
        "counts": counts,
        "events": total,
        "processes": processes,
        "world_seconds": round(t_world, 4),
        "generation_seconds": round(seconds, 4),
        "events_per_s": round(total / seconds) if seconds > 0 else 0,
    }
    (out_dir / "scenario.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary
