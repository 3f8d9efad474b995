"""The one exception tree of sisec-stream.

Bad *data* in a stream is never an exception: it becomes a reject with a reason
code. Exceptions are for bad configuration and files, and they say what to do.
The Rust extension raises these classes; they are declared here so that they can
subclass what users already catch (`ValueError`).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FileLineError",
    "RegistryError",
    "SisecError",
    "WatchlistError",
    "ZonesError",
]


class SisecError(Exception):
    """Root of every error raised by sisec-stream."""


class ConfigError(SisecError, ValueError):
    """Invalid configuration: names the key and the fix.

    Attributes:
        key: The offending configuration key (dotted), or "" when not about one key.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class FileLineError(ConfigError):
    """A file that cannot be loaded because of one of its lines: names the file,
    the line and the fix.

    Attributes:
        source: The file (or source) name.
        line: 1-based line of the problem, or None when it concerns the whole file.
        reason: The problem without the location prefix.
    """

    #: The configuration key the file is set under.
    KEY = ""

    def __init__(
        self, message: str, source: str = "", line: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message, key=self.KEY)
        self.source = source
        self.line = line
        self.reason = reason or message


class WatchlistError(FileLineError):
    """A watchlist file that cannot be loaded (see :class:`FileLineError`)."""

    KEY = "watchlist"


class ZonesError(ConfigError):
    """A zones file that cannot be loaded: names the file, the feature and the fix.

    Attributes:
        source: The file (or source) name.
        feature: Index of the offending feature in the collection, or None.
        zone_id: Its ``zone_id``, when it has one.
    """

    def __init__(
        self,
        message: str,
        source: str = "",
        feature: int | None = None,
        zone_id: str | None = None,
    ) -> None:
        super().__init__(message, key="zones")
        self.source = source
        self.feature = feature
        self.zone_id = zone_id


class RegistryError(FileLineError):
    """A camera or device registry that cannot be loaded (see :class:`FileLineError`)."""

    KEY = "registry"
