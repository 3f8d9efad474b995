"""The archive's on-disk contract: partition layout and column schemas.

``<root>/source=<source>/date=<YYYY-MM-DD>/part-<worker>-<unix_ms>-<seq>.parquet``
(Hive style; ``date`` is the UTC date of the event time ``ts``, alerts by their
``event_time``). ``sisec-stream search`` reads this layout: change it only
together with it (docs/archive.md).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

__all__ = [
    "ALERT_SCHEMA",
    "DATE_DIR",
    "EVENT_SOURCES",
    "RAW_SCHEMAS",
    "SCHEMAS",
    "SOURCES",
    "SOURCE_DIR",
    "SPOOL_SCHEMAS",
    "TS",
    "file_name",
    "partition_dir",
]

#: Event sources, in the engine's order (the blobs of ``process_routed``).
EVENT_SOURCES: tuple[str, ...] = ("plate_read", "button_press", "call")
#: Every archived source: the events and the alerts.
SOURCES: tuple[str, ...] = (*EVENT_SOURCES, "alert")

#: Folder names of the two partition levels.
SOURCE_DIR = re.compile(r"^source=(?P<source>[a-z_]+)$")
DATE_DIR = re.compile(r"^date=(?P<date>\d{4}-\d{2}-\d{2})$")

TS = pl.Datetime("ms", "UTC")
_S: pl.DataType = pl.String()
_F: pl.DataType = pl.Float64()

#: A candidate plate of a read: normalised plate (null when pseudonymised),
#: keyed token (null without a key), confidence.
CANDIDATE = pl.Struct({"plate": _S, "token": _S, "confidence": _F})

#: The columns of each source's files, in order.
SCHEMAS: dict[str, pl.Schema] = {
    "plate_read": pl.Schema(
        {
            "event_id": _S,
            "ts": TS,
            "camera_id": _S,
            "plate": _S,
            "plate_token": _S,
            "plate_raw": _S,
            "confidence": _F,
            "lat": _F,
            "lon": _F,
            "heading_deg": _F,
            "vehicle_class": _S,
            "vehicle_make": _S,
            "vehicle_color": _S,
            "image_ref": _S,
            "candidates": pl.List(CANDIDATE),
            "hit": pl.Boolean(),
        }
    ),
    "button_press": pl.Schema(
        {
            "event_id": _S,
            "ts": TS,
            "device_id": _S,
            "device_kind": _S,
            "action": _S,
            "lat": _F,
            "lon": _F,
        }
    ),
    "call": pl.Schema(
        {
            "event_id": _S,
            "ts": TS,
            "call_id": _S,
            "line": _S,
            "status": _S,
            "incident_type": _S,
            "lat": _F,
            "lon": _F,
            "accuracy_m": _F,
            "caller_hash": _S,
        }
    ),
    "alert": pl.Schema(
        {
            "alert_id": _S,
            "update": pl.Int32(),
            "kind": _S,
            "priority": pl.Int8(),
            "event_time": TS,
            "plate": _S,
            "document": _S,
            "schema_version": pl.Int32(),
        }
    ),
}
ALERT_SCHEMA = SCHEMAS["alert"]


def _raw(schema: pl.Schema) -> pl.Schema:
    """What the engine's JSON lines hold: ``ts`` as epoch ms, no token columns."""
    raw = {k: (pl.Int64() if k == "ts" else v) for k, v in schema.items() if k != "plate_token"}
    return pl.Schema(raw)


#: The schema ``polars.read_ndjson`` reads the engine's lines with (per event source).
RAW_SCHEMAS: dict[str, pl.Schema] = {s: _raw(SCHEMAS[s]) for s in EVENT_SOURCES}

#: The schema of the write-ahead spool's lines (:mod:`.spool`), per source: the
#: engine's lines, plate reads with ``plate_token`` when they were pseudonymised
#: before spooling (absent: not yet), and alerts as the fields of
#: :class:`~sisec_stream.engine.Alert` with ``event_time`` in epoch ms.
SPOOL_SCHEMAS: dict[str, pl.Schema] = {
    "plate_read": pl.Schema({**RAW_SCHEMAS["plate_read"], "plate_token": _S}),
    "button_press": RAW_SCHEMAS["button_press"],
    "call": RAW_SCHEMAS["call"],
    "alert": pl.Schema(
        {
            "alert_id": _S,
            "update": pl.Int32(),
            "kind": _S,
            "priority": pl.Int64(),  # read_ndjson takes no Int8 (polars 2.1): cast after
            "event_time": pl.Int64(),
            "document": _S,
        }
    ),
}


def partition_dir(root: Path, source: str, day: date) -> Path:
    """The folder of one source's files of one UTC date."""
    return root / f"source={source}" / f"date={day.isoformat()}"


def file_name(worker: int, unix_ms: int, seq: int) -> str:
    """A data file's name: unique per worker, flush time and sequence number."""
    return f"part-{worker}-{unix_ms}-{seq}.parquet"
