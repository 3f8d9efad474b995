"""The circulating vehicles and the watchlist (hot list).

``listed_share`` of the circulating vehicles are on the watchlist; the rest of the
watchlist is plates that never circulate during the scenario. About half of the listed
stolen vehicles are motorcycles, as in Mexico City's figures.
"""

from __future__ import annotations

import bisect
import random
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final, Generic, TypeVar

import orjson

from sisec_stream.generator.config import CityPreset
from sisec_stream.generator.plates import FORMATS, PlateFactory, PlateFormat

__all__ = [
    "LISTS",
    "LIST_PRIORITY",
    "Fleet",
    "Picker",
    "build_fleet",
    "build_watchlist",
]

T = TypeVar("T")

#: Watchlist categories: (name, share of entries, priority "1" most urgent .. "4").
LISTS: Final = (
    ("stolen_vehicle", 0.70, "2"),
    ("stolen_plate", 0.15, "3"),
    ("wanted", 0.12, "2"),
    ("amber_alert", 0.03, "1"),
)
LIST_PRIORITY: Final[dict[str, str]] = {name: prio for name, _, prio in LISTS}
_STOLEN_MOTO_SHARE: Final = 0.5

_MAKES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("CO", "motorcycle"): ("AKT", "Yamaha", "Bajaj", "Suzuki", "Honda", "Victory", "TVS", "Hero"),
    ("MX", "motorcycle"): ("Italika", "Honda", "Yamaha", "Suzuki", "Vento", "Bajaj"),
    ("CO", "car"): (
        "Renault",
        "Chevrolet",
        "Mazda",
        "Kia",
        "Nissan",
        "Toyota",
        "Suzuki",
        "Volkswagen",
        "Hyundai",
        "Ford",
    ),
    ("MX", "car"): (
        "Nissan",
        "Volkswagen",
        "Chevrolet",
        "Toyota",
        "Kia",
        "Honda",
        "Mazda",
        "Hyundai",
        "MG",
        "Ford",
    ),
    ("CO", "taxi"): ("Hyundai", "Kia", "Chevrolet"),
    ("MX", "taxi"): ("Nissan", "Chevrolet", "Toyota"),
    ("CO", "pickup"): ("Toyota", "Nissan", "Chevrolet", "Ford", "Mitsubishi"),
    ("MX", "pickup"): ("Nissan", "Toyota", "Chevrolet", "Ford", "RAM"),
    ("CO", "van"): ("Renault", "Chevrolet", "Nissan", "Mercedes-Benz"),
    ("MX", "van"): ("Nissan", "Volkswagen", "Chevrolet", "Mercedes-Benz"),
    ("CO", "bus"): ("Chevrolet", "Hino", "Mercedes-Benz", "Foton"),
    ("MX", "bus"): ("Mercedes-Benz", "Volvo", "International", "Dina"),
    ("CO", "truck"): ("Chevrolet", "International", "Kenworth", "Hino", "Foton"),
    ("MX", "truck"): ("Kenworth", "Freightliner", "International", "Isuzu"),
}
_COLOURS: Final = (
    ("blanco", 0.26),
    ("gris", 0.18),
    ("plata", 0.14),
    ("negro", 0.16),
    ("rojo", 0.10),
    ("azul", 0.09),
    ("gris plata", 0.03),
    ("beige", 0.02),
    ("verde", 0.02),
)
_TAXI_COLOUR: Final = {"CO": "amarillo", "MX": "rosa y blanco"}

# Vehicle classes for each plate format (cargo and trailer plates are on trucks).
_CLASSES_BY_FORMAT: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "co_car": (("car", 0.72), ("taxi", 0.12), ("pickup", 0.08), ("van", 0.04), ("bus", 0.04)),
    "co_moto": (("motorcycle", 1.0),),
    "co_cargo": (("truck", 1.0),),
    "co_trailer": (("truck", 1.0),),
    "co_diplomatic": (("car", 0.6), ("pickup", 0.4)),
    "ve": (("car", 0.7), ("pickup", 0.3)),
    "ec": (("car", 0.7), ("pickup", 0.3)),
    "mx_private": (("car", 0.8), ("pickup", 0.14), ("van", 0.06)),
    "mx_public": (("taxi", 0.6), ("bus", 0.2), ("van", 0.2)),
    "mx_old": (("car", 0.75), ("pickup", 0.2), ("truck", 0.05)),
    "us": (("car", 0.6), ("pickup", 0.4)),
}


class Picker(Generic[T]):
    """Weighted choice with precomputed cumulative weights (``random.choices`` recomputes)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._items = [item for item, _ in pairs]
        cum: list[float] = []
        acc = 0.0
        for _, w in pairs:
            acc += w
            cum.append(acc)
        self._cum = cum
        self._total = acc

    def __call__(self, rnd: Callable[[], float]) -> T:
        i = bisect.bisect_right(self._cum, rnd() * self._total)
        return self._items[min(i, len(self._items) - 1)]


@dataclass(slots=True)
class Fleet:
    """Circulating vehicles (parallel arrays by vehicle index) and their watchlist rows."""

    plates: list[str]  # normalised plate
    fmt: array[int]  # index into ``formats``
    attrs: array[int]  # index into the vehicle JSON fragments
    formats: list[PlateFormat]
    frag_full: list[str]  # ',"vehicle":{"class":..,"make":..,"color":..}'
    frag_partial: list[str]  # class and colour only (cameras without make recognition)
    listed: dict[int, str]  # vehicle index -> watchlist entry_id
    listed_rows: dict[int, tuple[int, str]]  # watchlist row -> (vehicle index, list)
    watchlist_size: int


def _vehicle_fragments(klass: str, make: str, colour: str) -> tuple[str, str]:
    full = orjson.dumps({"class": klass, "make": make, "color": colour}).decode()
    partial = orjson.dumps({"class": klass, "color": colour}).decode()
    return ',"vehicle":' + full, ',"vehicle":' + partial


def _entry_id(code: str, row: int) -> str:
    # Keep in step with the bulk ids of build_watchlist.
    return f"{code}-WL-{row + 1:06d}"


class _PlateDrawer:
    """Formats and unique plates for rows of vehicles or watchlist entries."""

    def __init__(self, preset: CityPreset, rng: random.Random, seen: set[str]) -> None:
        self.preset = preset
        self.rng = rng
        self.factory = PlateFactory(rng)
        self.seen = seen
        self.fmt_names = [name for name, _ in preset.plate_formats]
        self.fmt_cum = list(accumulate(w for _, w in preset.plate_formats))
        self.moto_fmt = "co_moto" if preset.country == "CO" else "mx_private"
        self.main_fmt = self.fmt_names[0]  # the largest plate space: overflow goes there

    def formats(self, lists: Sequence[str | None]) -> tuple[list[str], list[int]]:
        """Plate format per row, and the rows forced onto a motorcycle (about half of the
        stolen vehicles are motorcycles)."""
        rnd = self.rng.random
        names = self.rng.choices(self.fmt_names, cum_weights=self.fmt_cum, k=len(lists))
        stolen = [i for i, list_name in enumerate(lists) if list_name == "stolen_vehicle"]
        forced = [i for i in stolen if rnd() < _STOLEN_MOTO_SHARE]
        moto_fmt = self.moto_fmt
        for i in forced:
            names[i] = moto_fmt
        return names, forced

    def plates(self, names: list[str]) -> list[str]:
        """A unique plate per row, drawn format by format in a fixed order (``names`` is
        updated where a small plate space overflowed into the main format)."""
        counts = Counter(names)
        if all(
            n <= FORMATS[name].capacity // 2 or name == self.main_fmt for name, n in counts.items()
        ):
            # One pool of unique plates per format, dealt to the rows in order (C loops).
            pools = {
                name: iter(self.factory.unique(FORMATS[name], counts[name], self.seen))
                for name in sorted(counts)
            }
            return list(map(next, map(pools.__getitem__, names)))
        # A small plate space (cargo, diplomatic) would run out: excess rows to main_fmt.
        rows_by_fmt: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            rows_by_fmt.setdefault(name, []).append(i)
        for name in sorted(rows_by_fmt):
            rows = rows_by_fmt[name]
            cap = FORMATS[name].capacity // 2
            if name != self.main_fmt and len(rows) > cap:
                rows_by_fmt.setdefault(self.main_fmt, []).extend(rows[cap:])
                del rows[cap:]
        out = [""] * len(names)
        for name in sorted(rows_by_fmt):
            rows = rows_by_fmt[name]
            drawn = self.factory.unique(FORMATS[name], len(rows), self.seen)
            for i, plate in zip(rows, drawn, strict=True):
                out[i] = plate
            if name == self.main_fmt:
                for i in rows:
                    names[i] = name
        return out


def build_fleet(
    preset: CityPreset,
    n_vehicles: int,
    listed_share: float,
    watchlist_size: int,
    rng: random.Random,
) -> Fleet:
    """Draw ``n_vehicles`` circulating vehicles and choose the listed ones.

    Listed vehicles get random rows of the watchlist; the other rows are drawn later by
    :func:`build_watchlist`, so streaming plate reads never waits for them.
    """
    rnd = rng.random
    formats = list(FORMATS.values())
    fmt_index = {f.name: i for i, f in enumerate(formats)}
    list_names = [name for name, _, _ in LISTS]
    list_cum = list(accumulate(share for _, share, _ in LISTS))
    class_pickers = {name: Picker(list(pairs)) for name, pairs in _CLASSES_BY_FORMAT.items()}
    country = preset.country
    drawer = _PlateDrawer(preset, rng, set())

    n_listed = min(round(listed_share * n_vehicles), watchlist_size)
    listed_vehicles = rng.sample(range(n_vehicles), n_listed)
    listed_lists = dict(
        zip(listed_vehicles, rng.choices(list_names, cum_weights=list_cum, k=n_listed), strict=True)
    )
    names, forced = drawer.formats([listed_lists.get(v) for v in range(n_vehicles)])
    plates = drawer.plates(names)
    motos = [FORMATS[name].motorcycle for name in names]
    for v, name in enumerate(names):
        if name == "mx_private":
            motos[v] = rnd() < preset.motorcycle_share
    for v in forced:
        motos[v] = True
    attr_index: dict[tuple[str, str, str], int] = {}
    frag_full: list[str] = []
    frag_partial: list[str] = []
    attrs = array("I")
    makes_of = {klass: _MAKES[(country, klass)] for _, klass in _MAKES}
    colours = rng.choices(
        [c for c, _ in _COLOURS], cum_weights=list(accumulate(w for _, w in _COLOURS)), k=n_vehicles
    )
    taxi_colour = _TAXI_COLOUR[country]
    for v in range(n_vehicles):
        klass = "motorcycle" if motos[v] else class_pickers[names[v]](rnd)
        makes = makes_of[klass]
        make = makes[int(rnd() * len(makes))]
        key = (klass, make, taxi_colour if klass == "taxi" else colours[v])
        ai = attr_index.get(key)
        if ai is None:
            ai = attr_index[key] = len(frag_full)
            full, partial = _vehicle_fragments(*key)
            frag_full.append(full)
            frag_partial.append(partial)
        attrs.append(ai)
    fmts = array("B", [fmt_index[name] for name in names])
    rows = sorted(rng.sample(range(watchlist_size), n_listed))
    listed_rows = {row: (v, listed_lists[v]) for row, v in zip(rows, listed_vehicles, strict=True)}
    listed = {v: _entry_id(preset.code, row) for row, (v, _) in listed_rows.items()}
    return Fleet(
        plates, fmts, attrs, formats, frag_full, frag_partial, listed, listed_rows, watchlist_size
    )


def build_watchlist(
    fleet: Fleet, preset: CityPreset, rng: random.Random
) -> list[tuple[str, str, str, str]]:
    """The whole watchlist: ``(entry_id, plate, list, priority)`` rows.

    Rows not taken by listed circulating vehicles get plates that no circulating vehicle
    carries.
    """
    list_names = [name for name, _, _ in LISTS]
    list_cum = list(accumulate(share for _, share, _ in LISTS))
    drawer = _PlateDrawer(preset, rng, set(fleet.plates))
    n_other = fleet.watchlist_size - len(fleet.listed_rows)
    o_lists: list[str] = rng.choices(list_names, cum_weights=list_cum, k=n_other)
    o_names, _ = drawer.formats(o_lists)
    o_plates = drawer.plates(o_names)
    # Listed circulating vehicles take their rows; the other rows fill the gaps in order.
    lists: list[str] = []
    plates: list[str] = []
    k = 0  # next unused "other" row
    for row, (v, list_name) in sorted(fleet.listed_rows.items()):
        gap = row - len(lists)
        lists += o_lists[k : k + gap]
        plates += o_plates[k : k + gap]
        k += gap
        lists.append(list_name)
        plates.append(fleet.plates[v])
    lists += o_lists[k:]
    plates += o_plates[k:]
    code = preset.code
    ids = [f"{code}-WL-{i:06d}" for i in range(1, fleet.watchlist_size + 1)]
    return list(zip(ids, plates, lists, map(LIST_PRIORITY.__getitem__, lists), strict=True))
