"""A check run every few seconds on a background thread (file reloaders)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

__all__ = ["PeriodicCheck"]

log = logging.getLogger(__name__)


class PeriodicCheck(ABC):
    """Calls :meth:`check` every ``interval_s`` on a daemon thread, from
    :meth:`start` until :meth:`stop`. A check that raises is logged and the next
    one runs: a reload problem must never take a stream worker down."""

    #: Names the thread and the log lines.
    name = "periodic-check"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def check(self) -> object:
        """One check; what it returns is the subclass's business."""

    def start(self) -> None:
        """Start checking every ``interval_s``."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop checking; waits (bounded) for a check in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.exception("%s: check failed", self.name)
