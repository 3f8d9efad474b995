"""The incident stage: one page per incident, then updates.

The engine routes alert candidates, device events and calls to shards
(:meth:`Engine.process_routed`); each shard's state lives in the Rust core
(:class:`IncidentState`) and is driven by a Bytewax ``stateful_batch`` operator
(:class:`IncidentLogic`), which snapshots it as compact bytes for recovery. See
docs/incidents.md for what the stage does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from bytewax.operators import StatefulBatchLogic

from sisec_stream import _core
from sisec_stream.engine import Alert, Engine, EngineConfig

__all__ = [
    "NON_EMERGENCY_CALL_TYPES",
    "IncidentLogic",
    "IncidentState",
    "StateSize",
    "fold",
    "shard_key",
]

#: Call types that are not emergencies: such calls never open an incident.
NON_EMERGENCY_CALL_TYPES: tuple[str, ...] = tuple(_core.NON_EMERGENCY_CALL_TYPES)


def shard_key(index: int) -> str:
    """The Bytewax key of shard ``index``."""
    return f"s{index}"


class StateSize(NamedTuple):
    """How much a shard remembers."""

    plates: int
    devices: int
    calls: int
    bytes: int


class IncidentState:
    """One shard's state (open plate incidents, devices, call incidents)."""

    __slots__ = ("_inner",)

    def __init__(
        self, config: EngineConfig | None = None, *, _inner: _core.ShardState | None = None
    ) -> None:
        self._inner = _inner if _inner is not None else _core.ShardState(_config_json(config))

    @classmethod
    def restore(cls, data: bytes, config: EngineConfig | None = None) -> IncidentState:
        """A state from :meth:`snapshot` bytes.

        Raises:
            ValueError: the bytes are not a snapshot of this version (the message says
                what to do).
        """
        return cls(_inner=_core.ShardState.restore(data, _config_json(config)))

    def apply(self, batches: list[bytes], now_ms: int | None = None) -> list[Alert]:
        """Apply signal batches; the pages and updates they cause, in order."""
        return [Alert(*a) for a in self._inner.apply(batches, now_ms)]

    def snapshot(self) -> bytes:
        """The state as compact bytes."""
        return self._inner.snapshot()

    def size(self) -> StateSize:
        """Open incidents and devices, and the bytes they take."""
        return StateSize(*self._inner.size())

    def watermarks(self) -> tuple[int | None, int | None, int | None]:
        """Event times (plate reads, device events, calls) up to which the shard has
        closed windows and supervised devices; None before any event of the kind."""
        return self._inner.watermarks()


def _config_json(config: EngineConfig | None) -> str | None:
    return None if config is None else config.to_json()


class IncidentLogic(StatefulBatchLogic[bytes, Alert, bytes]):
    """Bytewax logic of one shard: signal batches in, alerts out; the state is
    snapshotted as bytes at every epoch and restored after a restart."""

    def __init__(
        self,
        config: EngineConfig,
        resume: bytes | None,
        on_alerts: Callable[[list[Alert], IncidentState], None] | None = None,
    ) -> None:
        self.state = (
            IncidentState(config) if resume is None else IncidentState.restore(resume, config)
        )
        self.on_alerts = on_alerts

    def on_batch(self, values: list[bytes]) -> tuple[Iterable[Alert], bool]:
        alerts = self.state.apply(values)
        if self.on_alerts is not None:
            self.on_alerts(alerts, self.state)
        return alerts, StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return self.state.snapshot()


def fold(engine: Engine, batches: Iterable[list[bytes]], now_ms: int | None = None) -> list[Alert]:
    """The whole pipeline without Bytewax, one batch after another: what the flow
    emits for the same events (up to ``emitted_at`` and the order across shards).
    A reference for tests and a way to run small replays in a script."""
    states: dict[int, IncidentState] = {}
    out: list[Alert] = []
    for batch in batches:
        _, shards = engine.process_routed(batch, now_ms)
        for i, blob in enumerate(shards):
            state = states.get(i)
            if state is None:
                state = states[i] = IncidentState(engine.config)
            out += state.apply([blob], now_ms)
    return out
