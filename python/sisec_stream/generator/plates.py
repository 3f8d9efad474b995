"""Licence plates: Colombian and Mexican formats, read formatting variants, OCR misreads.

Plates are handled as their normalised form (upper-case letters and digits) plus the
segment lengths of their format, which is all that is needed to print them the way a
camera vendor would (``ABC-123-A``, ``abc 123 a``...) even after a dropped character.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "FORMATS",
    "LOOKALIKES",
    "LOOKALIKE_GROUPS",
    "STYLES",
    "STYLE_ASIS",
    "STYLE_COMPACT",
    "STYLE_DASH",
    "STYLE_LOWER",
    "STYLE_SPACE",
    "PlateFactory",
    "PlateFormat",
    "lookalike_variant",
    "misread",
    "style_plate",
]

_L: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_M: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"  # Mexico (NOM-001-SCT-2-2016): never I, O or Q
_D: Final = "0123456789"


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """A plate format: per segment, the alphabet of each character."""

    name: str
    segments: tuple[tuple[str, ...], ...]
    native_sep: str  # how the plate is printed: "" (ABC123) or "-" (ABC-123-A)
    country: str
    motorcycle: bool = False

    @property
    def lens(self) -> tuple[int, ...]:
        """Segment lengths, e.g. (3, 3, 1) for ``ABC-123-A``."""
        return tuple(len(s) for s in self.segments)

    @property
    def capacity(self) -> int:
        """Number of distinct plates of this format."""
        n = 1
        for segment in self.segments:
            for alphabet in segment:
                n *= len(alphabet)
        return n


FORMATS: Final[dict[str, PlateFormat]] = {
    f.name: f
    for f in (
        PlateFormat("co_car", ((_L, _L, _L), (_D, _D, _D)), "", "CO"),  # ABC123
        PlateFormat("co_moto", ((_L, _L, _L), (_D, _D, _L)), "", "CO", True),  # ABC12D
        PlateFormat("co_cargo", (("T",), (_D,) * 4), "", "CO"),  # T1234
        PlateFormat("co_trailer", (("RS",), (_D,) * 5), "", "CO"),  # R12345
        PlateFormat("co_diplomatic", (("CDM",), (_D,) * 4), "", "CO"),  # C1234
        PlateFormat("ve", ((_L, _L), (_D, _D, _D), (_L, _L)), "", "VE"),  # AB123CD
        PlateFormat("ec", ((_L, _L, _L), (_D,) * 4), "-", "EC"),  # ABC-1234
        PlateFormat("mx_private", ((_M,) * 3, (_D,) * 3, (_M,)), "-", "MX"),  # ABC-123-A
        PlateFormat("mx_public", ((_M,), (_D,) * 3, (_M,) * 3), "-", "MX"),  # A-123-ABC
        PlateFormat("mx_old", ((_M,) * 3, (_D,) * 2, (_D,) * 2), "-", "MX"),  # ABC-12-34
        PlateFormat("us", ((_D,), (_L,) * 3, (_D,) * 3), "", "US"),  # 7ABC123
    )
}

# Read formatting styles (one per camera vendor configuration); all valid per the contract.
STYLE_ASIS: Final = 0  # as printed on the plate
STYLE_COMPACT: Final = 1  # letters and digits only
STYLE_LOWER: Final = 2  # as printed, lower case
STYLE_SPACE: Final = 3  # segments separated by spaces
STYLE_DASH: Final = 4  # segments separated by dashes
STYLES: Final = ("asis", "compact", "lower", "space", "dash")

#: OCR look-alike groups (DOMAIN.md): a read may swap a character for another of its group.
LOOKALIKE_GROUPS: Final = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G", "EF", "PR", "VY", "HKMN")
#: Character -> the characters it can be misread as.
LOOKALIKES: Final[dict[str, str]] = {
    c: group.replace(c, "") for group in LOOKALIKE_GROUPS for c in group
}


class PlateFactory:
    """Draws random plates of a format from precomputed per-segment tables.

    A segment has at most 10^5 combinations, so one table lookup per segment replaces
    one random choice per character: the 100k-entry watchlist is built in ~0.1 s.
    """

    _tables: ClassVar[dict[tuple[str, ...], list[str]]] = {}  # shared: pure functions

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def _table(self, segment: tuple[str, ...]) -> list[str]:
        table = self._tables.get(segment)
        if table is None:
            table = [""]
            for alphabet in segment:  # the product, one character position at a time
                table = [t + ch for t in table for ch in alphabet]
            self._tables[segment] = table
        return table

    def bulk(self, fmt: PlateFormat, k: int) -> list[str]:
        """``k`` random normalised plates of format ``fmt`` (may repeat)."""
        rnd = self._rng.random
        tables = [self._table(seg) for seg in fmt.segments]
        if len(tables) == 2:
            a, b = tables
            na, nb = len(a), len(b)
            return [a[int(rnd() * na)] + b[int(rnd() * nb)] for _ in range(k)]
        if len(tables) == 3:
            a, b, c = tables
            na, nb, nc = len(a), len(b), len(c)
            return [a[int(rnd() * na)] + b[int(rnd() * nb)] + c[int(rnd() * nc)] for _ in range(k)]
        return ["".join(t[int(rnd() * len(t))] for t in tables) for _ in range(k)]

    def unique(self, fmt: PlateFormat, k: int, seen: set[str]) -> list[str]:
        """``k`` plates of ``fmt`` not in ``seen`` and distinct; adds them to ``seen``."""
        out: list[str] = []
        while len(out) < k:
            # Order-preserving de-duplication (dicts keep insertion order): deterministic.
            drawn = self.bulk(fmt, k - len(out) + 8)
            fresh = [p for p in dict.fromkeys(drawn) if p not in seen]
            fresh = fresh[: k - len(out)]
            seen.update(fresh)
            out += fresh
        return out


def style_plate(norm: str, lens: tuple[int, ...], native_sep: str, style: int) -> str:
    """Print normalised plate ``norm`` (segments ``lens``) in a vendor ``style``."""
    if style == STYLE_COMPACT:
        return norm
    if style == STYLE_SPACE:
        sep = " "
    elif style == STYLE_DASH:
        sep = "-"
    else:
        sep = native_sep
    if sep:
        parts: list[str] = []
        i = 0
        for n in lens:
            if n:
                parts.append(norm[i : i + n])
            i += n
        out = sep.join(parts)
    else:
        out = norm
    return out.lower() if style == STYLE_LOWER else out


def lookalike_variant(norm: str, rng: random.Random) -> str | None:
    """``norm`` with one character swapped for a look-alike, or None if none has one.

    Starts at a random position and takes the first character (cyclically) that has
    look-alikes: one random draw for the position in the common case.
    """
    n = len(norm)
    i = int(rng.random() * n)
    get = LOOKALIKES.get
    for _ in range(n):
        alts = get(norm[i])
        if alts:
            return norm[:i] + alts[int(rng.random() * len(alts))] + norm[i + 1 :]
        i = i + 1 if i + 1 < n else 0
    return None


def misread(
    norm: str, lens: tuple[int, ...], rng: random.Random
) -> tuple[str, str, tuple[int, ...]]:
    """One OCR misread of ``norm``: ``(read, kind, read_lens)``.

    Kinds: ``lookalike`` (one look-alike substitution, ~3/4 of misreads), ``drop_first``
    or ``drop_last`` (a character at an edge of the plate not captured).
    """
    r = rng.random()
    if r < 0.76:
        variant = lookalike_variant(norm, rng)
        if variant is not None:
            return variant, "lookalike", lens
    if r < 0.88:
        first = next(i for i, n in enumerate(lens) if n)
        new_lens = (*lens[:first], lens[first] - 1, *lens[first + 1 :])
        return norm[1:], "drop_first", new_lens
    last = max(i for i, n in enumerate(lens) if n)
    new_lens = (*lens[:last], lens[last] - 1, *lens[last + 1 :])
    return norm[:-1], "drop_last", new_lens
