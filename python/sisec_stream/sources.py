"""Local sources: the simulated city, in process.

:class:`ScenarioSource` streams a :class:`~sisec_stream.generator.Scenario` into a
flow as raw event bytes, one partition per event source (like one Kafka topic
each), paced in simulated time: ``speed=120`` plays an hour in 30 seconds,
``speed=None`` as fast as the flow can take it. Its resume state is the number of
events emitted, so it works with Bytewax recovery.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from sisec_stream.generator import Scenario

__all__ = ["SCENARIO_SOURCES", "ScenarioSource"]

#: The scenario's event streams, one partition each.
SCENARIO_SOURCES: tuple[str, ...] = ("plate_reads", "button_presses", "calls")

_POLL = timedelta(milliseconds=50)

Item = tuple[int, bytes, Any]


class _ScenarioPartition(StatefulSourcePartition[bytes, int]):
    def __init__(
        self,
        events: Iterator[Item],
        resume_at: int,
        start_ms: int,
        speed: float | None,
        batch_size: int,
        clock: Callable[[], float],
    ) -> None:
        self._events = events
        self._emitted = resume_at
        # Skip what an earlier run already emitted (the generator is deterministic).
        self._pending: Item | None = next(itertools.islice(events, resume_at, None), None)
        self._speed = speed
        self._batch_size = batch_size
        self._clock = clock
        self._wall0 = clock()
        self._sim0 = start_ms if resume_at == 0 or self._pending is None else self._pending[0]
        self._backlog = False

    def next_batch(self) -> list[bytes]:
        if self._pending is None:
            raise StopIteration
        if self._speed is None:
            horizon = None
        else:
            horizon = self._sim0 + (self._clock() - self._wall0) * 1000.0 * self._speed
        batch: list[bytes] = []
        item: Item | None = self._pending
        while item is not None and len(batch) < self._batch_size:
            if horizon is not None and item[0] > horizon:
                break
            batch.append(item[1])
            item = next(self._events, None)
        self._pending = item
        self._emitted += len(batch)
        self._backlog = len(batch) == self._batch_size
        return batch

    def next_awake(self) -> datetime | None:
        if self._speed is None or self._backlog:
            return None
        return datetime.now(UTC) + _POLL

    def snapshot(self) -> int:
        return self._emitted


class ScenarioSource(FixedPartitionedSource[bytes, int]):
    """Streams a simulated city's events into a flow.

    Args:
        scenario: The simulated city.
        speed: Simulated seconds per wall-clock second, or None for no pacing.
        batch_size: Most events handed to the flow per poll.
        sources: Which event streams to play (default: all three).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float | None = 120.0,
        batch_size: int = 2000,
        sources: Sequence[str] = SCENARIO_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = set(sources) - set(SCENARIO_SOURCES)
        if unknown:
            raise ValueError(f"unknown scenario sources {sorted(unknown)}; use {SCENARIO_SOURCES}")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (got {speed}); use None for no pacing")
        self.scenario = scenario
        self.speed = speed
        self.batch_size = batch_size
        self.sources = tuple(sources)
        self.clock = clock

    def list_parts(self) -> list[str]:
        """Bytewax hook: every worker can generate every stream."""
        return list(self.sources)

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _ScenarioPartition:
        """Bytewax hook: start (or resume) one stream."""
        return _ScenarioPartition(
            self.scenario.events(for_part),  # type: ignore[arg-type]
            resume_state or 0,
            self.scenario.config.start_ms,
            self.speed,
            self.batch_size,
            self.clock,
        )
