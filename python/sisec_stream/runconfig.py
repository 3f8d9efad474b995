"""The configuration file of ``sisec-stream run`` (TOML).

Every key has a default, so an empty file is a working configuration for a
broker on 127.0.0.1:9092. Unknown keys and wrong types fail at load with the
file, the key and what to write instead: a typo must not silently fall back to a
default in a 24/7 worker. Relative paths are relative to the file's folder.
See ``docs/run.md`` for an annotated example.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from sisec_stream import _core
from sisec_stream.archive.pseudonym import load_key
from sisec_stream.archive.writer import COMPRESSIONS, Compression
from sisec_stream.engine import EngineConfig
from sisec_stream.errors import ConfigError
from sisec_stream.watchlist import ListSettings, Watchlist, WatchlistConfig

__all__ = ["ArchiveConfig", "ClientSettings", "RunConfig", "Topics"]

Scalar = str | int | bool


@dataclass(frozen=True)
class Topics:
    """Topic names; the defaults are those ``sisec-stream kafka topics`` creates."""

    plate_reads: str = "sisec.plate-reads"
    button_presses: str = "sisec.button-presses"
    calls: str = "sisec.calls"
    alerts: str = "sisec.alerts"
    rejects: str = "sisec.rejects"
    watchlist: str = "sisec.watchlist"

    @property
    def inputs(self) -> list[str]:
        """The topics events are read from."""
        return [self.plate_reads, self.button_presses, self.calls]

    def for_source(self, source: str) -> str:
        """Input topic of a generated file's source (``plate_reads``, ...)."""
        topic: str = getattr(self, source)
        return topic


@dataclass(frozen=True)
class ClientSettings:
    """librdkafka settings: ``client`` goes to every client (security settings),
    ``consumer`` / ``producer`` to one kind; they override the tuned defaults."""

    client: Mapping[str, Scalar] = field(default_factory=dict)
    consumer: Mapping[str, Scalar] = field(default_factory=dict)
    producer: Mapping[str, Scalar] = field(default_factory=dict)

    def consumer_config(self) -> dict[str, Scalar]:
        """Overrides for consumers."""
        return {**self.client, **self.consumer}

    def producer_config(self) -> dict[str, Scalar]:
        """Overrides for producers."""
        return {**self.client, **self.producer}


@dataclass(frozen=True)
class ArchiveConfig:
    """The event archive (``[archive]``; docs/archive.md).

    Attributes:
        path: The archive folder (``source=.../date=.../*.parquet`` under it).
        flush_rows: A worker writes its buffer when it holds this many rows.
        flush_interval_s: ... or when its oldest row has waited this long.
        key_file: Key of the plate pseudonyms (16 to 64 bytes); set: plates of
            reads that are not hits are archived as tokens only. None: in clear.
        retention_days: Default ``--days`` of ``sisec-stream archive prune``.
        compression: Parquet compression.
        fsync_interval_s: ``fsync`` the write-ahead spool at most this long after
            a batch was appended (0: after every batch); bounds what a power loss
            may take of acknowledged rows.
    """

    path: Path
    flush_rows: int = 100_000
    flush_interval_s: float = 60.0
    key_file: Path | None = None
    retention_days: int | None = None
    compression: Compression = "zstd"
    fsync_interval_s: float = 1.0


@dataclass(frozen=True)
class RunConfig:
    """Everything ``sisec-stream run`` needs besides Bytewax's own options.

    Attributes:
        source: The file it was read from (``None``: defaults).
        brokers: ``bootstrap.servers``.
        kafka: librdkafka overrides.
        topics: Topic names.
        batch_size: Most messages per consume call (one engine batch).
        on_missing_offset: ``earliest`` or ``fail`` when retention deleted a saved offset.
        stop_at_end: End when every input partition is read (replays); False for 24/7.
        watchlist_file: CSV or Parquet watchlist; ``None`` runs with an empty list.
        watchlist: Matching rules (look-alike table, templates, per-list settings).
        skip_bad_rows: Load the watchlist without its bad rows (logged) instead of failing.
        watchlist_updates: Follow the compacted watchlist topic for live updates
            (streaming runs only; replays never do).
        watchlist_reload_interval_s: Seconds between checks of the watchlist file for
            changes (reloaded, replacing the file's entries, when it changed); 0: off.
        metrics_host, metrics_port: Where ``/metrics`` is served; process ``i`` of a
            multi-process run serves on ``metrics_port + i``; ``None`` serves nothing.
        recovery_dir: Bytewax recovery folder (offsets survive restarts); ``None``: off.
        snapshot_interval_s: Seconds between recovery snapshots.
        zones_file: GeoJSON zones; ``None``: no zones.
        cameras_file, devices_file: Registry CSVs; ``None``: events are placed by
            their own coordinates.
        places_reload_interval_s: Seconds between checks of the zones and registry
            files (all reloaded together when one changed); 0: off.
        engine: Engine settings (priorities, size limit, time zone, unknown
            sensors, restricted zones, per-list geofences).
        archive: The event archive; ``None``: no archive.
    """

    source: Path | None = None
    brokers: str = "127.0.0.1:9092"
    kafka: ClientSettings = field(default_factory=ClientSettings)
    topics: Topics = field(default_factory=Topics)
    batch_size: int = 5000
    on_missing_offset: Literal["earliest", "fail"] = "earliest"
    stop_at_end: bool = False
    watchlist_file: Path | None = None
    watchlist: WatchlistConfig = field(default_factory=WatchlistConfig)
    skip_bad_rows: bool = False
    watchlist_updates: bool = True
    watchlist_reload_interval_s: float = 0.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    recovery_dir: Path | None = None
    snapshot_interval_s: float = 10.0
    zones_file: Path | None = None
    cameras_file: Path | None = None
    devices_file: Path | None = None
    places_reload_interval_s: float = 0.0
    engine: EngineConfig = field(default_factory=EngineConfig)
    archive: ArchiveConfig | None = None

    @property
    def places_files(self) -> list[Path]:
        """The configured zones and registry files."""
        files = (self.zones_file, self.cameras_file, self.devices_file)
        return [f for f in files if f is not None]

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a TOML file; :class:`ConfigError` names the file, key and fix."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{p}: cannot read the configuration ({e.strerror})") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e}); save it as UTF-8") from e
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from e
        return cls.from_dict(doc, source=p)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: Path | None = None) -> RunConfig:
        """Build from a parsed document (the TOML layout)."""
        r = _Reader(doc, source)
        kafka = r.table("kafka", {"brokers", "client", "consumer", "producer"})
        source_t = r.table("source", {"batch_size", "on_missing_offset", "stop_at_end"})
        watchlist = r.table(
            "watchlist",
            {
                "file",
                "skip_bad_rows",
                "updates",
                "reload_interval_s",
                "confusion",
                "templates",
                "max_substitutions",
                "edges",
                "plate_density",
                "default_match",
                "lists",
            },
        )
        metrics = r.table("metrics", {"host", "port", "enabled"})
        recovery = r.table("recovery", {"dir", "snapshot_interval_s"})
        topics_t = r.table("topics", set(Topics.__dataclass_fields__))
        # The core names unknown, moved and nested engine keys itself (r.engine).
        engine_t = r.table("engine", set(r.doc.get("engine", {}) or {}))
        places = r.table("places", {"zones", "cameras", "devices", "reload_interval_s"})
        archive = r.archive()
        r.no_other_tables(
            {
                "kafka",
                "source",
                "watchlist",
                "metrics",
                "recovery",
                "topics",
                "engine",
                "places",
                "archive",
            }
        )

        on_missing = r.choice(source_t, "source", "on_missing_offset", ("earliest", "fail"))
        watchlist_file = r.path(watchlist, "watchlist", "file")
        reload_s = r.integer(watchlist, "watchlist", "reload_interval_s", 0, 0, 86_400)
        if reload_s and watchlist_file is None:
            raise r.fail(
                "watchlist.reload_interval_s",
                "there is no file to reload; set [watchlist] file, or remove "
                "reload_interval_s (0 turns reloading off)",
            )
        metrics_on = r.boolean(metrics, "metrics", "enabled", True)
        zones_file = r.path(places, "places", "zones")
        places_files = [zones_file, r.path(places, "places", "cameras")]
        places_files.append(r.path(places, "places", "devices"))
        places_reload_s = r.integer(places, "places", "reload_interval_s", 0, 0, 86_400)
        if places_reload_s and not any(places_files):
            raise r.fail(
                "places.reload_interval_s",
                "there is no file to reload; set [places] zones, cameras or devices",
            )
        engine = r.engine(engine_t)
        if engine.list_zones and zones_file is None:
            raise r.fail(
                "engine.list_zones",
                "geofences need zones: set [places] zones to a GeoJSON file, or remove list_zones",
            )
        return cls(
            source=source,
            brokers=r.string(kafka, "kafka", "brokers", cls.brokers),
            kafka=ClientSettings(
                client=r.client_table(kafka, "client"),
                consumer=r.client_table(kafka, "consumer"),
                producer=r.client_table(kafka, "producer"),
            ),
            topics=Topics(**{k: r.string(topics_t, "topics", k, "") for k in topics_t}),
            batch_size=r.integer(source_t, "source", "batch_size", cls.batch_size, 1, 1_000_000),
            on_missing_offset=cast(Literal["earliest", "fail"], on_missing or "earliest"),
            stop_at_end=r.boolean(source_t, "source", "stop_at_end", False),
            watchlist_file=watchlist_file,
            watchlist=r.watchlist_config(watchlist),
            skip_bad_rows=r.boolean(watchlist, "watchlist", "skip_bad_rows", False),
            watchlist_updates=r.boolean(watchlist, "watchlist", "updates", True),
            watchlist_reload_interval_s=float(reload_s),
            metrics_host=r.string(metrics, "metrics", "host", cls.metrics_host),
            metrics_port=(
                r.integer(metrics, "metrics", "port", 9464, 0, 65535) if metrics_on else None
            ),
            recovery_dir=r.path(recovery, "recovery", "dir"),
            snapshot_interval_s=float(
                r.integer(recovery, "recovery", "snapshot_interval_s", 10, 1, 86_400)
            ),
            zones_file=zones_file,
            cameras_file=places_files[1],
            devices_file=places_files[2],
            places_reload_interval_s=float(places_reload_s),
            engine=engine,
            archive=archive,
        )


class _Reader:
    """Typed access to the parsed TOML with errors that name file and key."""

    def __init__(self, doc: Mapping[str, Any], source: Path | None) -> None:
        self.doc = doc
        self.where = str(source) if source is not None else "<config>"
        self.base = source.parent if source is not None else Path()

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}", key=key)

    def table(self, name: str, known: set[str]) -> dict[str, Any]:
        t = self.doc.get(name, {})
        if not isinstance(t, dict):
            raise self.fail(name, f"must be a table ([{name}]), got {type(t).__name__}")
        unknown = sorted(set(t) - known)
        if unknown:
            raise self.fail(
                f"{name}.{unknown[0]}",
                f"unknown key; known keys of [{name}]: {', '.join(sorted(known))}",
            )
        return t

    def no_other_tables(self, known: set[str]) -> None:
        unknown = sorted(set(self.doc) - known)
        if unknown:
            raise self.fail(
                unknown[0], f"unknown section; known sections: {', '.join(sorted(known))}"
            )

    def string(self, t: Mapping[str, Any], name: str, key: str, default: str) -> str:
        v = t.get(key, default)
        if not isinstance(v, str) or (key in t and not v.strip()):
            raise self.fail(f"{name}.{key}", f"must be a non-empty string, got {v!r}")
        return v

    def integer(
        self, t: Mapping[str, Any], name: str, key: str, default: int, lo: int, hi: int
    ) -> int:
        v = t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(f"{name}.{key}", f"must be a whole number {lo}..{hi}, got {v!r}")
        return v

    def boolean(self, t: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
        v = t.get(key, default)
        if not isinstance(v, bool):
            raise self.fail(f"{name}.{key}", f"must be true or false, got {v!r}")
        return v

    def choice(
        self, t: Mapping[str, Any], name: str, key: str, options: tuple[str, ...]
    ) -> str | None:
        v = t.get(key)
        if v is not None and v not in options:
            raise self.fail(f"{name}.{key}", f"must be one of {', '.join(options)}; got {v!r}")
        return v

    def path(self, t: Mapping[str, Any], name: str, key: str) -> Path | None:
        if key not in t:
            return None
        v = self.string(t, name, key, "")
        return self.base / Path(v).expanduser()

    def client_table(self, kafka: Mapping[str, Any], key: str) -> dict[str, Scalar]:
        t = kafka.get(key, {})
        if not isinstance(t, dict):
            raise self.fail(f"kafka.{key}", "must be a table of librdkafka settings")
        for k, v in t.items():
            if not isinstance(v, str | int | bool):
                raise self.fail(
                    f"kafka.{key}.{k}",
                    f"librdkafka settings are strings, numbers or booleans; got {v!r}",
                )
        return dict(t)

    def archive(self) -> ArchiveConfig | None:
        """``[archive]``: None when the table is absent."""
        if "archive" not in self.doc:
            return None
        known = {
            "path",
            "flush_rows",
            "flush_interval_s",
            "key_file",
            "retention_days",
            "compression",
            "fsync_interval_s",
        }
        t = self.table("archive", known)
        path = self.path(t, "archive", "path")
        if path is None:
            raise self.fail(
                "archive.path",
                'missing: the archive folder, e.g. path = "archive" (or remove [archive])',
            )
        interval = t.get("flush_interval_s", 60)
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            interval = None
        if interval is None or not 0 < interval <= 86_400:
            raise self.fail(
                "archive.flush_interval_s",
                f"must be a number of seconds above 0 and at most 86400, got "
                f"{t.get('flush_interval_s')!r}",
            )
        fsync = t.get("fsync_interval_s", 1.0)
        if isinstance(fsync, bool) or not isinstance(fsync, int | float) or not 0 <= fsync <= 3600:
            raise self.fail(
                "archive.fsync_interval_s",
                "must be a number of seconds from 0 (sync after every batch) to 3600, got "
                f"{t.get('fsync_interval_s')!r}",
            )
        key_file = self.path(t, "archive", "key_file")
        if key_file is not None:
            try:
                load_key(key_file)  # fail at load, naming the file and the fix
            except ConfigError as e:
                raise ConfigError(f"{self.where}: {e}", key=e.key) from None
        retention = t.get("retention_days")
        compression = self.choice(t, "archive", "compression", COMPRESSIONS) or "zstd"
        return ArchiveConfig(
            path=path,
            flush_rows=self.integer(t, "archive", "flush_rows", 100_000, 1, 100_000_000),
            flush_interval_s=float(interval),
            key_file=key_file,
            retention_days=(
                None
                if retention is None
                else self.integer(t, "archive", "retention_days", 0, 1, 36_500)
            ),
            compression=cast(Compression, compression),
            fsync_interval_s=float(fsync),
        )

    def fraction(self, t: Mapping[str, Any], name: str, key: str, default: float) -> float:
        v = t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise self.fail(f"{name}.{key}", f"must be a number from 0 to 1, got {v!r}")
        return float(v)

    def strings(self, t: Mapping[str, Any], name: str, key: str) -> list[str] | None:
        v = t.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(f"{name}.{key}", f"must be a list of strings, got {v!r}")
        return list(v)

    def watchlist_config(self, t: Mapping[str, Any]) -> WatchlistConfig:
        lists: dict[str, ListSettings] = {}
        raw_lists = t.get("lists", {})
        if not isinstance(raw_lists, dict):
            raise self.fail(
                "watchlist.lists", "must be a table of lists, e.g. [watchlist.lists.flota]"
            )
        for name, settings in raw_lists.items():
            key = f"watchlist.lists.{name}"
            if not isinstance(settings, dict):
                raise self.fail(key, "must be a table with kind, priority, match")
            unknown = sorted(set(settings) - {"kind", "priority", "match"})
            if unknown:
                raise self.fail(f"{key}.{unknown[0]}", "unknown key; known: kind, priority, match")
            kind = self.choice(settings, key, "kind", ("alert", "allow")) or "alert"
            match = self.choice(settings, key, "match", ("exact", "lookalike"))
            priority = settings.get("priority")
            if priority is not None:
                priority = self.integer(settings, key, "priority", 3, 1, 4)
            lists[name] = ListSettings(
                kind=cast(Literal["alert", "allow"], kind),
                priority=priority,
                match=cast(Literal["exact", "lookalike"] | None, match),
            )
        default_match = self.choice(t, "watchlist", "default_match", ("exact", "lookalike"))
        config = WatchlistConfig(
            confusion=self.strings(t, "watchlist", "confusion"),
            templates=self.strings(t, "watchlist", "templates"),
            max_substitutions=self.integer(t, "watchlist", "max_substitutions", 1, 0, 2),
            edges=self.boolean(t, "watchlist", "edges", True),
            plate_density=self.fraction(t, "watchlist", "plate_density", 0.3),
            default_match=cast(Literal["exact", "lookalike"], default_match or "lookalike"),
            lists=lists,
        )
        try:
            Watchlist(config)  # the core checks the table and templates: fail at load
        except ValueError as e:
            raise self.fail("watchlist", str(e)) from e
        return config

    def engine(self, t: Mapping[str, Any]) -> EngineConfig:
        self.choice(t, "engine", "unknown_sensor", ("reject", "accept"))
        fences = t.get("list_zones", {})
        if not isinstance(fences, dict) or not all(
            isinstance(v, list) and all(isinstance(z, str) for z in v) for v in fences.values()
        ):
            raise self.fail(
                "engine.list_zones",
                'must be a table of lists of zone ids, e.g. stolen_plate = ["kind:school"]',
            )
        try:
            # The core checks every key and value, nested ones (priority.lists.x) and
            # keys that moved included: fail at load, not at run. Geofences are
            # checked against the zones when they are loaded.
            _core.Engine(json.dumps({k: v for k, v in t.items() if k != "list_zones"}))
        except ConfigError as e:
            key = f"engine.{e.key}" if e.key else "engine"
            problem = str(e).removeprefix(f"config key `{e.key}`: ")
            raise self.fail(key, problem) from e
        except TypeError as e:  # a TOML date or time: JSON has none
            raise self.fail("engine", f"{e}; write times as numbers or strings") from e
        return EngineConfig(**t)
