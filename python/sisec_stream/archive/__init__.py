"""The event archive: every accepted event and every alert as Parquet files,
partitioned by source and UTC date (docs/archive.md).

- :mod:`.schema`: the on-disk layout and the columns of each source;
- :mod:`.writer`: the flow's sink (spools, flushes, partitioned writes);
- :mod:`.spool`: the write-ahead spool (what is acknowledged and not yet in Parquet);
- :mod:`.pseudonym`: keyed tokens of plates of reads that are not hits;
- :mod:`.retention`: ``sisec-stream archive prune``.
"""

from __future__ import annotations

from sisec_stream.archive.pseudonym import Pseudonymizer, load_key
from sisec_stream.archive.retention import NotAnArchiveError, prune
from sisec_stream.archive.schema import SCHEMAS, SOURCES, partition_dir
from sisec_stream.archive.writer import (
    ArchiveBatch,
    ArchiveItem,
    ArchiveSink,
    ArchiveWriteError,
    ArchiveWriter,
    recover_spools,
)

__all__ = [
    "SCHEMAS",
    "SOURCES",
    "ArchiveBatch",
    "ArchiveItem",
    "ArchiveSink",
    "ArchiveWriteError",
    "ArchiveWriter",
    "NotAnArchiveError",
    "Pseudonymizer",
    "load_key",
    "partition_dir",
    "prune",
    "recover_spools",
]
