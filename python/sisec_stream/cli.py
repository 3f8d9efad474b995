"""The ``sisec-stream`` command line."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sisec_stream import __version__

if TYPE_CHECKING:
    from sisec_stream.runconfig import ArchiveConfig, RunConfig

__all__ = ["main", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``1h``, ``7d`` -> seconds (argparse type)."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 90s, 30m, 1h or 7d"
        )
    seconds = int(float(m.group(1)) * _UNIT_S[m.group(2) or "s"])
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be positive")
    return seconds


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = -1.0
    if x <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return x


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the alerts flow on a simulated city (no Kafka needed)",
        description="Plays a seeded simulated city through the alerts dataflow: alerts "
        "print live, most urgent first, and go to OUT/alerts.jsonl; rejects to "
        "OUT/rejects.jsonl; Prometheus metrics are served on 127.0.0.1.",
    )
    p.add_argument("--city", default="medellin", help="city preset (default: medellin)")
    p.add_argument("--seed", type=int, default=7, help="scenario seed (default: 7)")
    p.add_argument(
        "--duration",
        type=parse_duration,
        default=3600,
        help="simulated time to play, e.g. 30m, 1h (default: 1h)",
    )
    p.add_argument(
        "--speed",
        type=_positive_float,
        default=120.0,
        help="simulated seconds per second (default: 120, an hour in 30 s)",
    )
    p.add_argument("--fast", action="store_true", help="no pacing: as fast as the flow goes")
    p.add_argument("--workers", "-w", type=int, default=1, help="Bytewax worker threads")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    p.add_argument(
        "--metrics-port", type=int, default=9464, help="metrics port on 127.0.0.1 (0: any free)"
    )
    p.add_argument("--quiet", action="store_true", help="do not print each alert")
    p.add_argument("--no-color", action="store_true", help="no colours")
    p.add_argument(
        "--malformed-share",
        type=float,
        default=0.001,
        help="share of deliberately malformed events, to show rejects (default: 0.001)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from sisec_stream.demo import DemoOptions, run_demo
    from sisec_stream.generator import ScenarioConfig

    if args.workers < 1:
        print("sisec-stream demo: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        scenario = ScenarioConfig(
            seed=args.seed,
            city=args.city,
            duration_s=args.duration,
            malformed_share=args.malformed_share,
        )
    except ValueError as e:
        print(f"sisec-stream demo: {e}", file=sys.stderr)
        return 2
    options = DemoOptions(
        scenario=scenario,
        speed=None if args.fast else args.speed,
        workers=args.workers,
        out_dir=args.out,
        metrics_port=args.metrics_port,
        print_alerts=not args.quiet,
        colour=False if args.no_color else None,
    )
    run_demo(options)
    return 0


def _add_kafka(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "kafka",
        help="run a local Apache Kafka broker (KRaft, 127.0.0.1) for this machine",
        description="start: fetch the broker jars with Maven (first time), start a "
        "single-node KRaft broker and wait until it answers; stop: end it by its pid; "
        "status: is it running and answering; topics: create the default topics.",
    )
    p.add_argument("action", choices=["start", "stop", "status", "topics"])
    p.add_argument(
        "--home",
        type=Path,
        default=Path(".kafka"),
        help="folder for jars, data, config and log (default: .kafka)",
    )
    p.add_argument("--port", type=int, default=9092, help="client port (default: 9092)")
    _add_config_option(p)


def _run_kafka(args: argparse.Namespace) -> int:
    from sisec_stream.errors import ConfigError
    from sisec_stream.kafka import BrokerError, BrokerSettings, create_topics, start, status, stop
    from sisec_stream.kafka.topics import topic_specs

    settings = BrokerSettings(home=args.home, port=args.port)
    try:
        if args.action == "start":
            print(start(settings).describe())
        elif args.action == "stop":
            stopped = stop(settings)
            print("kafka: stopped" if stopped else "kafka: was not running")
        elif args.action == "status":
            st = status(settings)
            print(st.describe())
            return 0 if st.answering else 1
        else:
            config = _load_config(args.config)
            brokers = config.brokers if args.config else settings.bootstrap
            created = create_topics(brokers, topic_specs(config.topics))
            print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    except BrokerError as e:
        print(f"sisec-stream kafka {args.action}: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"sisec-stream kafka {args.action}: {e}", file=sys.stderr)
        return 2
    return 0


def _add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        "-c",
        type=Path,
        help="TOML configuration (brokers, topics, watchlist, metrics, client "
        "overrides; docs/run.md); default: the built-in defaults",
    )


def _load_config(path: Path | None) -> RunConfig:
    from sisec_stream.runconfig import RunConfig

    return RunConfig() if path is None else RunConfig.load(path)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the alerts flow against Kafka (or replay JSON-lines files)",
        description="Reads the input topics, writes alerts and rejects to their topics "
        "and serves Prometheus metrics, until stopped (SIGINT/SIGTERM) or, with "
        "[source] stop_at_end, until the topics are read. Scale out with Bytewax's "
        "own options: -w threads, or -i/-a processes over the Kafka partitions. "
        "With --input, replays files instead (no broker), to OUT/alerts.jsonl and "
        "OUT/rejects.jsonl.",
    )
    _add_config_option(p)
    p.add_argument(
        "--input", nargs="+", type=Path, metavar="FILE", help="replay these JSON-lines files"
    )
    p.add_argument("--out", type=Path, default=Path("out"), help="replay output folder")
    p.add_argument("-w", "--workers-per-process", type=int, default=1, help="worker threads")
    p.add_argument("-i", "--process-id", type=int, help="this process's id (with -a)")
    p.add_argument(
        "-a",
        "--addresses",
        help='every process\'s host:port, separated by ";", e.g. "127.0.0.1:2101;127.0.0.1:2102"',
    )


def _run_run(args: argparse.Namespace) -> int:
    import logging

    from sisec_stream.errors import ConfigError
    from sisec_stream.runner import RunOptions, run

    prog = "sisec-stream run"
    if args.workers_per_process < 1:
        print(f"{prog}: -w must be at least 1", file=sys.stderr)
        return 2
    addresses = [a.strip() for a in (args.addresses or "").split(";") if a.strip()]
    if (args.process_id is None) != (not addresses):
        print(f"{prog}: -i and -a go together (a process id and every address)", file=sys.stderr)
        return 2
    if args.process_id is not None and not 0 <= args.process_id < len(addresses):
        print(
            f"{prog}: -i {args.process_id} is not an index into the {len(addresses)} addresses",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = RunOptions(
        workers=args.workers_per_process,
        process_id=args.process_id,
        addresses=addresses,
        inputs=args.input or [],
        out_dir=args.out,
    )
    try:
        config = _load_config(args.config)
        return run(config, options)
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2


def _add_produce(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "produce",
        help="replay JSON-lines files (e.g. from generate) into the input topics",
        description="Each file goes to its source's topic (plate_reads.jsonl -> the plate "
        "reads topic, ...), or to --topic. Messages are keyed by camera/device/call id; "
        "every delivery is checked.",
    )
    _add_config_option(p)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--topic", help="send every file to this topic")
    p.add_argument(
        "--rate", type=_positive_float, help="events per second overall (default: flat out)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_produce(args: argparse.Namespace) -> int:
    from sisec_stream.errors import ConfigError, SisecError
    from sisec_stream.kafka.produce import SOURCES, produce_files

    try:
        config = _load_config(args.config)
        topics = {s: config.topics.for_source(s) for s in SOURCES}
        report = produce_files(
            args.files,
            config.brokers,
            topics,
            topic=args.topic,
            rate=args.rate,
            progress=not args.no_progress,
            config=config.kafka.producer_config(),
        )
    except ConfigError as e:
        print(f"sisec-stream produce: {e}", file=sys.stderr)
        return 2
    except SisecError as e:
        print(f"sisec-stream produce: {e}", file=sys.stderr)
        return 1
    rate = report.total / report.seconds if report.seconds > 0 else 0.0
    for topic, n in report.sent.items():
        print(f"{topic:<28}{n:>12,}")
    print(f"produced {report.total:,} events in {report.seconds:.2f} s ({rate:,.0f}/s)")
    return 0


def _csv_set(text: str) -> frozenset[str]:
    return frozenset(x.strip() for x in text.split(",") if x.strip())


def _priorities(text: str) -> frozenset[int]:
    try:
        out = frozenset(int(x) for x in _csv_set(text))
    except ValueError:
        out = frozenset({0})
    if not out or not out <= {1, 2, 3, 4}:
        raise argparse.ArgumentTypeError(f"{text!r}: priorities are 1..4, e.g. 1,2")
    return out


def _add_alerts(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts",
        help="follow the alert topic: most urgent first, updates folded into their alert",
        description="Reads the alert topic of the configuration and shows each alert once, "
        "at its newest update, coloured by priority. With --once: read to the end, print "
        "the board most urgent first, exit.",
    )
    _add_config_option(p)
    p.add_argument("--priority", type=_priorities, help="only these priorities, e.g. 1,2")
    p.add_argument("--kind", type=_csv_set, help="only these kinds, e.g. plate_hit,call_incident")
    p.add_argument(
        "--zone", type=_csv_set, help="only alerts in these zones (ids, names or kind:<kind>)"
    )
    p.add_argument("--from-beginning", action="store_true", help="start with what the topic holds")
    p.add_argument("--once", action="store_true", help="print the board and exit")
    p.add_argument("--utc-offset", type=int, default=0, help="clock of the times shown, minutes")
    p.add_argument("--no-color", action="store_true", help="no colours")


def _run_alerts(args: argparse.Namespace) -> int:
    from sisec_stream.errors import ConfigError
    from sisec_stream.tail import AlertFilter, follow_alerts

    try:
        config = _load_config(args.config)
        follow_alerts(
            config.brokers,
            config.topics.alerts,
            out=sys.stdout,
            alert_filter=AlertFilter(args.priority, args.kind, args.zone),
            from_beginning=args.from_beginning,
            once=args.once,
            colour=False if args.no_color else None,
            utc_offset_minutes=args.utc_offset,
            consumer_config=config.kafka.consumer_config(),
        )
    except ConfigError as e:
        print(f"sisec-stream alerts: {e}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as e:
        print(f"sisec-stream alerts: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _add_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sisec_stream.evaluation import add_eval_arguments

    p = sub.add_parser(
        "eval",
        help="measure matching and clustering quality against generated ground truth",
        description="watchlist: recall per misread kind and false hits on unlisted "
        "reads per priority, at several list sizes (docs/watchlist.md). calls: pairwise "
        "precision and recall of emergency-call clustering on a generated scenario "
        "(--hours, --seed, --city; docs/incidents.md).",
    )
    add_eval_arguments(p)
    what = next(a for a in p._actions if a.dest == "what")
    what.choices = [*(what.choices or ()), "calls"]
    city = next(a for a in p._actions if a.dest == "city")
    city.help = "the city preset (watchlist: its plate mix; calls: its scenario; default: medellin)"
    p.add_argument(
        "--hours",
        type=_positive_float,
        default=1.0,
        help="calls: simulated hours of the scenario (default: 1)",
    )


def _add_eido(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eido",
        help="export incidents as NENA EIDO JSON for CAD systems (one per incident)",
        description="Reads alert JSON lines (pages and updates), folds them by alert_id "
        "(the newest update wins) and writes one EIDO (NENA Emergency Incident Data "
        "Object, JSON) per incident and line. Use - for stdin/stdout. What maps and what "
        "does not: docs/eido.md.",
    )
    p.add_argument("--input", "-i", required=True, help="alerts JSON-lines file, or - for stdin")
    p.add_argument("--output", "-o", default="-", help="EIDO JSON-lines file (default: - stdout)")
    p.add_argument(
        "--sending-system",
        default="sisec-stream",
        help="issuingElementIdentification of the EIDOs (default: sisec-stream)",
    )
    p.add_argument(
        "--agency",
        help="agency identifier, e.g. c4.medellin.gov.co (default: the sending system)",
    )
    p.add_argument(
        "--type-codes",
        type=Path,
        metavar="FILE",
        help="JSON object overriding incident type codes, e.g. "
        '{"plate_hit:wanted": "PERWANT", "call_incident:ruido": "DISORD"}',
    )


def _add_search(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "search",
        help="past sightings of a plate in the Parquet archive (look-alikes included)",
        description="Finds archived plate reads of a plate with the watchlist's own "
        "matching rules: the plate, its OCR look-alikes and its dropped/extra edge "
        "characters, each confirmed and scored by the matcher (docs/search.md). Only the "
        "date= partitions of the time range are read. Exit status: 0 found, 1 nothing "
        "found, 2 usage or archive error.",
    )
    p.add_argument("--plate", required=True, help="the plate, any spelling (abc-123 = ABC123)")
    p.add_argument(
        "--since",
        required=True,
        help="start: a duration back from now (7d, 36h, 90m), a UTC date (2026-11-01) "
        "or a time (2026-11-01T07:00:00-05:00; UTC without an offset)",
    )
    p.add_argument("--until", help="end, excluded (same forms; default: now)")
    p.add_argument(
        "--archive",
        type=Path,
        help="the archive's root folder (holding source=plate_read/); default: "
        "[archive] path of --config",
    )
    _add_config_option(p)
    p.add_argument(
        "--key-file",
        type=Path,
        help="the pseudonymization key the archive was written with (needed for "
        "archives that hold tokens instead of plates)",
    )
    p.add_argument(
        "--max-substitutions",
        type=int,
        choices=[0, 1, 2],
        help="look-alike substitutions per read (default: the config's, else 1)",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=0.0,
        help="only sightings the matcher scores at least this (0-1; default 0: all, "
        "including weak look-alikes that are likely other cars)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines, one per sighting")


def _run_search(args: argparse.Namespace) -> int:
    import json
    import os

    from sisec_stream.search import (
        SearchError,
        archive_from_config,
        format_table,
        load_key,
        parse_time,
        search,
        summary,
    )
    from sisec_stream.watchlist import WatchlistConfig

    prog = "sisec-stream search"
    try:
        archive: Path | None = args.archive
        key_file: Path | None = args.key_file
        config: WatchlistConfig | None = None
        if args.config is not None:
            settings = archive_from_config(args.config)
            archive = archive or settings.path
            key_file = key_file or settings.key_file
            config = settings.watchlist
        if archive is None:
            raise SearchError(
                "no archive to search: pass --archive DIR (the folder that holds "
                "source=plate_read/), or --config with an [archive] path"
            )
        result = search(
            archive,
            args.plate,
            since=parse_time(args.since),
            until=parse_time(args.until) if args.until else None,
            key=load_key(key_file) if key_file else None,
            max_substitutions=args.max_substitutions,
            config=config,
            min_score=args.min_score,
        )
    except SearchError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"{prog}: note: {note}", file=sys.stderr)
    try:
        if args.json:
            for s in result.sightings:
                print(json.dumps(s.to_dict(), default=str))
        elif result.sightings:
            print(format_table(result))
        sys.stdout.flush()
    except BrokenPipeError:  # piped into head: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print(summary(result), file=sys.stderr)
    return 0 if result.sightings else 1


def _add_archive(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "archive",
        help="manage the event archive (Parquet by source and date; docs/archive.md)",
        description="prune: delete the archive's date partitions older than --days days "
        "before today (UTC), for every source. recover: write to Parquet what crashed "
        "runs left in the archive's write-ahead spool.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    prune = actions.add_parser(
        "prune",
        help="delete date partitions older than N days",
        description="Deletes <path>/source=*/date=<YYYY-MM-DD> folders whose date is more "
        "than --days days before today (UTC) and prints each one; touches nothing else, "
        "and refuses a folder that is not an archive (no source=... folders).",
    )
    prune.add_argument(
        "--days",
        type=int,
        help="keep this many days before today (default: [archive] retention_days)",
    )
    prune.add_argument(
        "--path", type=Path, help="the archive folder (default: [archive] path of --config)"
    )
    prune.add_argument("--dry-run", action="store_true", help="only list what would go")
    _add_config_option(prune)
    recover = actions.add_parser(
        "recover",
        help="archive what crashed runs left in the spool (<path>/_spool)",
        description="Writes to Parquet the spool segments that runs killed before their "
        "flush left under <path>/_spool, for every worker index whose spool no running "
        "process holds, then deletes them. A run does this itself when it starts again; "
        "use this when it will not (fewer workers on another machine, a retired "
        "archive). Plates of reads that are not hits are pseudonymised with the key of "
        "--config's [archive] key_file when the spool holds them in clear.",
    )
    recover.add_argument(
        "--path", type=Path, help="the archive folder (default: [archive] path of --config)"
    )
    _add_config_option(recover)


def _run_archive(args: argparse.Namespace) -> int:
    from sisec_stream.errors import ConfigError

    prog = f"sisec-stream archive {args.action}"
    try:
        config = _load_config(args.config) if args.config else None
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    archive = config.archive if config is not None else None
    if args.action == "recover":
        return _run_archive_recover(args, prog, archive)
    return _run_archive_prune(args, prog, archive)


def _run_archive_recover(args: argparse.Namespace, prog: str, archive: ArchiveConfig | None) -> int:
    from sisec_stream.archive import ArchiveWriteError, Pseudonymizer, recover_spools
    from sisec_stream.archive.spool import SPOOL_DIR

    path: Path | None = args.path or (archive.path if archive is not None else None)
    if path is None:
        print(
            f"{prog}: which archive? give --path DIR, or -c with an [archive] path", file=sys.stderr
        )
        return 2
    if not path.is_dir():
        print(f"{prog}: {path}: no such folder; give the archive's folder", file=sys.stderr)
        return 2
    key = archive.key_file if archive is not None else None
    try:
        done = recover_spools(
            path,
            pseudonymizer=None if key is None else Pseudonymizer.from_file(key),
            compression=archive.compression if archive is not None else "zstd",
        )
    except ArchiveWriteError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    for worker, rows in done.items():
        if rows is None:
            print(f"worker {worker}: in use by a running process, left alone")
        else:
            print(f"worker {worker}: archived {rows:,} rows")
    total = sum(r for r in done.values() if r is not None)
    print(f"{total:,} rows archived from {len(done)} worker spool(s) in {path / SPOOL_DIR}")
    return 0


def _run_archive_prune(args: argparse.Namespace, prog: str, archive: ArchiveConfig | None) -> int:
    from datetime import UTC, datetime, timedelta

    from sisec_stream.archive.retention import NotAnArchiveError, prune

    path = args.path or (archive.path if archive is not None else None)
    days: int | None = args.days
    if days is None and archive is not None:
        days = archive.retention_days
    if path is None:
        print(
            f"{prog}: which archive? give --path DIR, or -c with an [archive] path", file=sys.stderr
        )
        return 2
    if days is None:
        print(
            f"{prog}: how many days to keep? give --days N, or set [archive] retention_days",
            file=sys.stderr,
        )
        return 2
    if days < 1:
        print(f"{prog}: --days must be at least 1 (got {days})", file=sys.stderr)
        return 2
    today = datetime.now(UTC).date()
    try:
        gone = prune(path, days, dry_run=args.dry_run, today=today)
    except NotAnArchiveError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    verb = "would delete" if args.dry_run else "deleted"
    for part in gone:
        print(f"{verb} {part.path}")
    cutoff = today - timedelta(days=days)
    done = "to delete (dry run: nothing deleted)" if args.dry_run else "deleted"
    print(
        f"{len(gone)} partition(s) {done}: dates before {cutoff.isoformat()}, "
        f"keeping {days} day(s) before {today.isoformat()} UTC, in {path}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sisec-stream``."""
    from sisec_stream.generator import add_generate_arguments

    parser = argparse.ArgumentParser(
        prog="sisec-stream",
        description="Real-time alerting for integrated security and emergency centres.",
    )
    parser.add_argument("--version", action="version", version=f"sisec-stream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    gen = sub.add_parser(
        "generate",
        help="write a seeded simulated city (events, watchlist, registries, truth) to a folder",
    )
    add_generate_arguments(gen)
    _add_kafka(sub)
    _add_run(sub)
    _add_produce(sub)
    _add_alerts(sub)
    _add_eval(sub)
    _add_eido(sub)
    _add_search(sub)
    _add_archive(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sisec-stream`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    if args.command == "generate":
        from sisec_stream.generator import run_generate

        return run_generate(args)
    if args.command == "kafka":
        return _run_kafka(args)
    if args.command == "alerts":
        return _run_alerts(args)
    if args.command == "run":
        return _run_run(args)
    if args.command == "produce":
        return _run_produce(args)
    if args.command == "eido":
        from sisec_stream.eido import run_eido

        return run_eido(args)
    if args.command == "search":
        return _run_search(args)
    if args.command == "archive":
        return _run_archive(args)
    if args.command == "eval":
        if args.what == "calls":
            from sisec_stream.evaluation_calls import run_eval_calls

            return run_eval_calls(args)
        from sisec_stream.evaluation import run_eval

        return run_eval(args)
    parser.error(f"unknown command {args.command}")  # argparse exits


if __name__ == "__main__":
    sys.exit(main())
