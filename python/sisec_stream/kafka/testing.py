"""A throw-away local broker for tests and benchmarks (loopback, free ports)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sisec_stream.kafka.broker import BrokerSettings, start, stop

__all__ = ["free_port_pair", "temporary_broker"]


def free_port_pair() -> int:
    """A loopback port p with p+1 free too (client and controller listeners)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of loopback ports")


@contextmanager
def temporary_broker(home: Path, lib_dir: Path | None = None) -> Iterator[BrokerSettings]:
    """A broker in ``home`` on free ports, stopped (by pid) on exit.

    ``lib_dir`` shares one folder of Maven-fetched jars between brokers.
    """
    settings = BrokerSettings(home=home, port=free_port_pair(), lib_dir=lib_dir)
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)
