"""Keyed pseudonyms of plates: reads of innocent drivers are personal data.

A plate's token is ``blake2b(normalised_plate, key=key, digest_size=16)`` in hex:
the same plate gives the same token under one key (a token search finds every
sighting), and without the key a token cannot be turned back into a plate or
checked against a guessed one. Keep the key file secret and out of the archive;
a new key starts new tokens (old files keep the old ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from sisec_stream.errors import ConfigError

__all__ = ["KEY_FILE_KEY", "MAX_KEY_BYTES", "MIN_KEY_BYTES", "Pseudonymizer", "load_key", "token"]

#: Shortest key accepted (blake2b takes up to 64 bytes).
MIN_KEY_BYTES = 16
#: Longest key accepted (blake2b's limit).
MAX_KEY_BYTES = 64
#: Where the key file is configured (named in errors).
KEY_FILE_KEY = "archive.key_file"

_HOW = (
    "write at least 16 random bytes to it, e.g. "
    "`head -c 32 /dev/urandom > {p} && chmod 600 {p}`, or remove [archive] key_file "
    "to archive plates in clear"
)


def load_key(path: Path) -> bytes:
    """The pseudonymisation key: the file's bytes (16 to 64 of them).

    Raises:
        ConfigError: the file is missing, unreadable, too short or too long (the
            message names the file and what to do).
    """
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{KEY_FILE_KEY}: the key file {path} does not exist; " + _HOW.format(p=path),
            key=KEY_FILE_KEY,
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{KEY_FILE_KEY}: cannot read the key file {path} ({e.strerror}); make it "
            "readable by this user",
            key=KEY_FILE_KEY,
        ) from e
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{KEY_FILE_KEY}: the key file {path} holds {len(key)} bytes, fewer than "
            f"{MIN_KEY_BYTES}; " + _HOW.format(p=path),
            key=KEY_FILE_KEY,
        )
    if len(key) > MAX_KEY_BYTES:
        raise ConfigError(
            f"{KEY_FILE_KEY}: the key file {path} holds {len(key)} bytes, more than "
            f"{MAX_KEY_BYTES} (blake2b's limit); write 16 to 64 random bytes to it",
            key=KEY_FILE_KEY,
        )
    return key


def token(plate: str, key: bytes) -> str:
    """The token of one normalised plate under ``key``."""
    return hashlib.blake2b(plate.encode(), key=key, digest_size=16).hexdigest()


class Pseudonymizer:
    """Turns normalised plates into keyed tokens."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValueError(f"a key has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}")
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> Pseudonymizer:
        """A pseudonymizer with the key in ``path`` (see :func:`load_key`)."""
        return cls(load_key(path))

    @property
    def key(self) -> bytes:
        """The key (for the engine, which writes the tokens of the archive's
        lines itself: ``Engine.process_routed(archive_key=...)``). Keep it secret."""
        return self._key

    def token(self, plate: str) -> str:
        """The token of one normalised plate."""
        return token(plate, self._key)

    def tokens(self, plates: Iterable[str]) -> list[str]:
        """Tokens of several plates (pass unique ones: each is hashed)."""
        key = self._key
        blake2b = hashlib.blake2b
        return [blake2b(p.encode(), key=key, digest_size=16).hexdigest() for p in plates]

    def __repr__(self) -> str:
        return "Pseudonymizer(<key>)"
