"""JSON-lines capture files as a Bytewax source (replays without a broker).

One partition per file; each hands the engine raw line bytes in batches, and its
resume state is the byte offset after the last line handed out, so a replay
with Bytewax recovery continues where it stopped. Lines are split on ``\\n``
only; empty or whitespace-only lines separate nothing and are skipped (the same
rule ``sisec-stream produce`` uses), every other line is one event, however
malformed (the engine turns it into a reject).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from sisec_stream.errors import ConfigError

__all__ = ["JsonLinesSource", "iter_lines"]

_BLOCK = 1 << 22  # 4 MiB reads


def iter_lines(f: BinaryIO, start: int = 0) -> Iterator[tuple[bytes, int]]:
    """Non-blank lines of ``f`` from byte ``start``, each with the offset after it."""
    f.seek(start)
    pos = start
    rest = b""
    while True:
        block = f.read(_BLOCK)
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            pos += len(line) + 1
            if line.strip():
                yield line, pos
    if rest.strip():
        yield rest, pos + len(rest)


class _FilePartition(StatefulSourcePartition[bytes, int]):
    def __init__(
        self, path: Path, resume_at: int, batch_size: int, stop: threading.Event | None
    ) -> None:
        self._stop = stop
        self._file = path.open("rb")
        self._lines = iter_lines(self._file, resume_at)
        self._offset = resume_at
        self._batch_size = batch_size

    def next_batch(self) -> list[bytes]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        batch: list[bytes] = []
        for line, end in self._lines:
            batch.append(line)
            self._offset = end
            if len(batch) >= self._batch_size:
                break
        if not batch:
            raise StopIteration
        return batch

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._file.close()


class JsonLinesSource(FixedPartitionedSource[bytes, int]):
    """Raw events from JSON-lines files, one partition per file.

    ``stop``, when set, ends every partition at its next batch (graceful shutdown).

    Raises:
        ConfigError: a file is missing or unreadable (checked at construction,
            so a typo fails before the flow starts).
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        batch_size: int = 5000,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ConfigError("no input files given", key="input")
        for p in self.paths:
            if not p.is_file():
                raise ConfigError(f"{p}: no such input file; check the path", key="input")
        if len({p.resolve() for p in self.paths}) != len(self.paths):
            raise ConfigError("an input file is given twice; its events would repeat", key="input")
        self.batch_size = batch_size

    def list_parts(self) -> list[str]:
        """Bytewax hook: one partition per file (index-prefixed: names may repeat)."""
        return [f"{i}:{p}" for i, p in enumerate(self.paths)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        """Bytewax hook: open one file at its saved offset."""
        index = int(for_part.split(":", 1)[0])
        return _FilePartition(self.paths[index], resume_state or 0, self.batch_size, self.stop)
