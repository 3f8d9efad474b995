"""Scenario configuration, city presets and seed derivation.

Everything that differs between Medellín and Mexico City lives in :data:`CITY_PRESETS`,
one dict, so a new city is one entry. Coordinates are approximate but real (avenues,
comunas, alcaldías), so maps of generated data look like the city.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal

__all__ = [
    "CITY_PRESETS",
    "CityPreset",
    "GeneratorConfigError",
    "RoadSpec",
    "ScenarioConfig",
    "Zone",
    "derive_rng",
]

RoadKind = Literal["highway", "avenue"]


@dataclass(frozen=True, slots=True)
class RoadSpec:
    """A main road as a polyline of (lat, lon) control points, in driving order."""

    name: str
    kind: RoadKind
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Zone:
    """A named area (comuna, municipality, alcaldía) given by its approximate centroid."""

    name: str
    municipality: str
    lat: float
    lon: float
    weight: float  # relative population: where devices and incidents concentrate


@dataclass(frozen=True, slots=True)
class CityPreset:
    """Static description of one city: box, clock, phone lines, plates, roads, zones."""

    code: str  # id prefix: MDE-LPR-0001
    name: str
    country: Literal["CO", "MX"]
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    utc_offset: str  # "-05:00"
    timezone: str  # IANA name of the same clock, for zone time windows
    lines: tuple[tuple[str, float], ...]  # emergency line and its share of calls
    plate_formats: tuple[tuple[str, float], ...]  # plates.FORMATS name and weight
    # Share of Mexican private-format plates on motorcycles; Colombian motorcycles have
    # their own plate format (co_moto) whose weight is in plate_formats.
    motorcycle_share: float
    west_word: str  # "occidente" (CO) / "poniente" (MX) for site names
    device_kinds: tuple[tuple[str, float], ...]
    incident_types: tuple[tuple[str, float], ...]
    roads: tuple[RoadSpec, ...]
    zones: tuple[Zone, ...]

    @property
    def offset_minutes(self) -> int:
        """UTC offset of the city clock in minutes (-300 for -05:00)."""
        sign = -1 if self.utc_offset[0] == "-" else 1
        return sign * (int(self.utc_offset[1:3]) * 60 + int(self.utc_offset[4:6]))


def _hw(name: str, *pts: tuple[float, float]) -> RoadSpec:
    return RoadSpec(name, "highway", pts)


def _av(name: str, *pts: tuple[float, float]) -> RoadSpec:
    return RoadSpec(name, "avenue", pts)


_MDE_ZONES: Final = (
    Zone("Popular", "Medellín", 6.295, -75.546, 1.3),
    Zone("Santa Cruz", "Medellín", 6.297, -75.557, 1.1),
    Zone("Manrique", "Medellín", 6.277, -75.548, 1.6),
    Zone("Aranjuez", "Medellín", 6.281, -75.561, 1.6),
    Zone("Castilla", "Medellín", 6.293, -75.575, 1.5),
    Zone("Doce de Octubre", "Medellín", 6.303, -75.586, 1.9),
    Zone("Robledo", "Medellín", 6.279, -75.595, 1.7),
    Zone("Villa Hermosa", "Medellín", 6.257, -75.551, 1.4),
    Zone("Buenos Aires", "Medellín", 6.237, -75.556, 1.4),
    Zone("La Candelaria", "Medellín", 6.250, -75.568, 1.0),
    Zone("Laureles-Estadio", "Medellín", 6.248, -75.590, 1.2),
    Zone("La América", "Medellín", 6.255, -75.606, 1.0),
    Zone("San Javier", "Medellín", 6.257, -75.619, 1.4),
    Zone("El Poblado", "Medellín", 6.210, -75.569, 1.3),
    Zone("Guayabal", "Medellín", 6.216, -75.586, 0.9),
    Zone("Belén", "Medellín", 6.231, -75.601, 2.0),
    Zone("Bello", "Bello", 6.336, -75.558, 2.5),
    Zone("Itagüí", "Itagüí", 6.172, -75.611, 1.7),
    Zone("Envigado", "Envigado", 6.171, -75.586, 1.3),
    Zone("Sabaneta", "Sabaneta", 6.151, -75.616, 0.6),
    Zone("La Estrella", "La Estrella", 6.158, -75.643, 0.4),
)

_MDE_ROADS: Final = (
    _hw("Autopista Sur", (6.152, -75.625), (6.185, -75.601), (6.215, -75.584), (6.246, -75.576)),
    _hw("Autopista Norte", (6.262, -75.572), (6.290, -75.566), (6.316, -75.560), (6.346, -75.549)),
    _hw("Avenida Regional", (6.200, -75.581), (6.240, -75.573), (6.280, -75.567), (6.322, -75.557)),
    _hw("Avenida Las Palmas", (6.216, -75.569), (6.207, -75.550), (6.196, -75.527)),
    _hw("Vía al Túnel de Occidente", (6.272, -75.655), (6.276, -75.626), (6.262, -75.602)),
    _hw("Autopista Medellín-Bogotá", (6.300, -75.561), (6.318, -75.538), (6.334, -75.522)),
    _av("Avenida Las Vegas", (6.163, -75.597), (6.199, -75.576), (6.226, -75.571)),
    _av("Avenida El Poblado", (6.164, -75.585), (6.200, -75.570), (6.240, -75.567)),
    _av("Carrera 80", (6.210, -75.601), (6.250, -75.598), (6.280, -75.592), (6.302, -75.585)),
    _av("Carrera 65", (6.220, -75.587), (6.260, -75.585), (6.291, -75.576)),
    _av("Avenida Oriental", (6.237, -75.568), (6.255, -75.567), (6.268, -75.563)),
    _av("Calle 10", (6.208, -75.601), (6.210, -75.581), (6.208, -75.560)),
    _av("Calle 30", (6.225, -75.616), (6.226, -75.591), (6.226, -75.571)),
    _av("Calle 33", (6.240, -75.613), (6.242, -75.591), (6.242, -75.571)),
    _av("Avenida San Juan", (6.255, -75.621), (6.253, -75.595), (6.251, -75.570)),
    _av("Avenida Colombia", (6.261, -75.613), (6.258, -75.590), (6.253, -75.566)),
    _av("Carrera 43A Envigado", (6.152, -75.606), (6.168, -75.590), (6.178, -75.580)),
    _av("Diagonal 50 Bello", (6.318, -75.574), (6.335, -75.562), (6.348, -75.545)),
)

_CDMX_ZONES: Final = (
    Zone("Gustavo A. Madero", "Gustavo A. Madero", 19.490, -99.110, 2.6),
    Zone("Azcapotzalco", "Azcapotzalco", 19.485, -99.185, 0.9),
    Zone("Miguel Hidalgo", "Miguel Hidalgo", 19.430, -99.200, 0.9),
    Zone("Cuauhtémoc", "Cuauhtémoc", 19.430, -99.150, 1.2),
    Zone("Venustiano Carranza", "Venustiano Carranza", 19.430, -99.100, 1.0),
    Zone("Iztacalco", "Iztacalco", 19.395, -99.090, 0.9),
    Zone("Benito Juárez", "Benito Juárez", 19.372, -99.160, 1.0),
    Zone("Coyoacán", "Coyoacán", 19.330, -99.150, 1.3),
    Zone("Iztapalapa", "Iztapalapa", 19.355, -99.060, 3.8),
    Zone("Álvaro Obregón", "Álvaro Obregón", 19.360, -99.220, 1.6),
    Zone("Cuajimalpa", "Cuajimalpa de Morelos", 19.360, -99.290, 0.5),
    Zone("Magdalena Contreras", "La Magdalena Contreras", 19.310, -99.240, 0.5),
    Zone("Tlalpan", "Tlalpan", 19.280, -99.170, 1.4),
    Zone("Xochimilco", "Xochimilco", 19.262, -99.105, 0.9),
    Zone("Tláhuac", "Tláhuac", 19.280, -99.005, 0.8),
    Zone("Naucalpan", "Naucalpan de Juárez", 19.470, -99.240, 1.8),
    Zone("Tlalnepantla", "Tlalnepantla de Baz", 19.535, -99.190, 1.4),
    Zone("Ecatepec", "Ecatepec de Morelos", 19.540, -99.050, 3.3),
    Zone("Nezahualcóyotl", "Nezahualcóyotl", 19.400, -99.015, 2.2),
)

_CDMX_ROADS: Final = (
    _av(
        "Avenida Insurgentes",
        (19.530, -99.130),
        (19.480, -99.140),
        (19.430, -99.160),
        (19.370, -99.178),
        (19.300, -99.185),
        (19.258, -99.190),
    ),
    _av("Calzada de Tlalpan", (19.430, -99.135), (19.380, -99.140), (19.330, -99.145)),
    _av("Eje Central Lázaro Cárdenas", (19.490, -99.145), (19.440, -99.142), (19.345, -99.152)),
    _hw(
        "Anillo Periférico",
        (19.525, -99.205),
        (19.460, -99.215),
        (19.400, -99.192),
        (19.340, -99.215),
        (19.300, -99.180),
        (19.300, -99.120),
        (19.315, -99.080),
    ),
    _hw(
        "Circuito Interior",
        (19.460, -99.170),
        (19.470, -99.120),
        (19.430, -99.090),
        (19.380, -99.100),
        (19.360, -99.140),
        (19.362, -99.180),
        (19.410, -99.190),
        (19.458, -99.172),
    ),
    _av(
        "Paseo de la Reforma",
        (19.400, -99.250),
        (19.425, -99.190),
        (19.433, -99.155),
        (19.450, -99.130),
        (19.480, -99.115),
    ),
    _hw("Viaducto Miguel Alemán", (19.400, -99.180), (19.400, -99.140), (19.402, -99.100)),
    _hw("Calzada Ignacio Zaragoza", (19.420, -99.100), (19.400, -99.050), (19.370, -98.990)),
    _av(
        "Río Churubusco", (19.358, -99.180), (19.355, -99.140), (19.360, -99.100), (19.380, -99.080)
    ),
    _av("Ermita Iztapalapa", (19.360, -99.135), (19.355, -99.080), (19.345, -99.020)),
    _av("Eje 5 Norte Montevideo", (19.490, -99.190), (19.490, -99.130), (19.485, -99.080)),
    _hw("Autopista México-Pachuca", (19.480, -99.120), (19.515, -99.090), (19.548, -99.070)),
    _hw("Autopista México-Cuernavaca", (19.295, -99.170), (19.272, -99.180), (19.252, -99.190)),
    _hw("Autopista México-Toluca", (19.390, -99.200), (19.372, -99.250), (19.360, -99.298)),
)

#: City presets, the one place where city-specific facts live.
CITY_PRESETS: Final[dict[str, CityPreset]] = {
    "medellin": CityPreset(
        code="MDE",
        name="Medellín",
        country="CO",
        lat_min=6.15,
        lat_max=6.35,
        lon_min=-75.66,
        lon_max=-75.52,
        utc_offset="-05:00",
        timezone="America/Bogota",
        lines=(("123", 1.0),),
        # ~85 % standard Colombian car/motorcycle plates, the rest cargo, trailer,
        # diplomatic and foreign (Venezuela, Ecuador).
        plate_formats=(
            ("co_car", 0.47),
            ("co_moto", 0.38),
            ("co_cargo", 0.04),
            ("co_trailer", 0.03),
            ("co_diplomatic", 0.02),
            ("ve", 0.04),
            ("ec", 0.02),
        ),
        motorcycle_share=0.0,
        west_word="occidente",
        # SIES-M: 200 community alarms + 300 buttons.
        device_kinds=(
            ("community_alarm", 0.40),
            ("panic", 0.30),
            ("school_link", 0.15),
            ("business_aid", 0.15),
        ),
        incident_types=(
            ("riña", 0.20),
            ("hurto", 0.22),
            ("violencia_intrafamiliar", 0.15),
            ("accidente_transito", 0.14),
            ("emergencia_medica", 0.10),
            ("persona_sospechosa", 0.08),
            ("disparos", 0.04),
            ("ruido", 0.04),
            ("incendio", 0.03),
        ),
        roads=_MDE_ROADS,
        zones=_MDE_ZONES,
    ),
    "cdmx": CityPreset(
        code="CDMX",
        name="Ciudad de México",
        country="MX",
        lat_min=19.25,
        lat_max=19.55,
        lon_min=-99.30,
        lon_max=-98.95,
        utc_offset="-06:00",
        timezone="America/Mexico_City",
        lines=(("911", 0.92), ("089", 0.08)),
        plate_formats=(("mx_private", 0.64), ("mx_old", 0.18), ("mx_public", 0.15), ("us", 0.03)),
        motorcycle_share=0.18,
        west_word="poniente",
        device_kinds=(
            ("panic", 0.35),
            ("community_alarm", 0.30),
            ("business_aid", 0.25),
            ("school_link", 0.10),
        ),
        incident_types=(
            ("hurto", 0.24),
            ("riña", 0.17),
            ("violencia_intrafamiliar", 0.17),
            ("accidente_transito", 0.13),
            ("emergencia_medica", 0.11),
            ("persona_sospechosa", 0.07),
            ("disparos", 0.05),
            ("incendio", 0.03),
            ("ruido", 0.03),
        ),
        roads=_CDMX_ROADS,
        zones=_CDMX_ZONES,
    ),
}


class GeneratorConfigError(ValueError):
    """A :class:`ScenarioConfig` field has a value the generator cannot use.

    ``field`` names the dataclass field, so a CLI can name its flag.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Accepted Python types per annotation (``from __future__ import annotations``: strings).
_FIELD_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "int": int,
    "float": (int, float),
    "str": str,
}
# Bounds of the contract's epoch-ms timestamps: year 1970..9999.
_TS_MAX_MS: Final = 253_402_300_799_999
_MAX_DURATION_S: Final = 31 * 86_400


@dataclass(frozen=True)
class ScenarioConfig:
    """Every knob of a synthetic scenario; the same config and seed give the same bytes.

    Defaults give one morning hour of Medellín: 400 LPR cameras (~100k reads), 500
    alarm devices, ~1,100 emergency calls and a 100k-entry watchlist. Values are
    checked on construction (:class:`GeneratorConfigError` names the bad field).
    """

    seed: int = 7
    city: str = "medellin"
    start: str = "2026-11-23T07:00:00-05:00"
    duration_s: int = 3600
    cameras: int = 400
    reads_per_camera_per_day: int = 6000
    listed_share: float = 0.002
    watchlist_size: int = 100_000
    misread_rate: float = 0.03
    devices: int = 500
    heartbeat_interval_s: int = 300
    presses_per_device_per_day: float = 1.5
    false_press_share: float = 0.12
    offline_device_share: float = 0.01
    calls_per_hour: int = 1100
    invalid_call_share: float = 0.76
    malformed_share: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            want = _FIELD_TYPES[str(f.type)]
            if isinstance(value, bool) or not isinstance(value, want):
                raise GeneratorConfigError(
                    f.name, f"expected {f.type}, got {type(value).__name__} {value!r}"
                )
        if self.seed < 0:
            raise GeneratorConfigError("seed", f"must be >= 0 (got {self.seed})")
        if self.city not in CITY_PRESETS:
            raise GeneratorConfigError(
                "city", f"unknown city {self.city!r}; choose one of {', '.join(CITY_PRESETS)}"
            )
        start = self.start_ms  # raises on a bad start
        if not 1 <= self.duration_s <= _MAX_DURATION_S:
            raise GeneratorConfigError(
                "duration_s", f"must be 1..{_MAX_DURATION_S} seconds (got {self.duration_s})"
            )
        if start + self.duration_s * 1000 > _TS_MAX_MS:
            raise GeneratorConfigError("start", "start + duration goes past year 9999")
        for name, low in (
            ("cameras", 1),
            ("reads_per_camera_per_day", 0),
            ("watchlist_size", 0),
            ("devices", 0),
            ("heartbeat_interval_s", 10),
            ("calls_per_hour", 0),
            ("presses_per_device_per_day", 0),
        ):
            if getattr(self, name) < low:
                raise GeneratorConfigError(name, f"must be >= {low} (got {getattr(self, name)})")
        for name in (
            "listed_share",
            "misread_rate",
            "false_press_share",
            "offline_device_share",
            "invalid_call_share",
            "malformed_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GeneratorConfigError(name, f"must be a share in 0..1 (got {value})")

    @property
    def preset(self) -> CityPreset:
        """The city preset selected by :attr:`city`."""
        return CITY_PRESETS[self.city]

    @property
    def start_datetime(self) -> datetime:
        """Simulated start in the city's clock.

        The wall-clock time of :attr:`start` is kept and its offset replaced by the
        preset's, so "07:00" stays the morning rush hour whatever the city.
        """
        try:
            parsed = datetime.fromisoformat(self.start)
        except ValueError:
            raise GeneratorConfigError(
                "start",
                f"not an RFC 3339 date-time: {self.start!r} (e.g. 2026-11-23T07:00:00-05:00)",
            ) from None
        if parsed.tzinfo is None:
            raise GeneratorConfigError(
                "start", f"needs an explicit UTC offset: {self.start!r} (e.g. ...T07:00:00-05:00)"
            )
        if parsed.year < 1970:
            raise GeneratorConfigError("start", f"year must be >= 1970 (got {parsed.year})")
        tz = timezone(timedelta(minutes=self.preset.offset_minutes))
        return parsed.replace(tzinfo=tz)

    @property
    def start_ms(self) -> int:
        """Simulated start as epoch milliseconds."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return (self.start_datetime - epoch) // timedelta(milliseconds=1)

    @property
    def end_ms(self) -> int:
        """Simulated end (exclusive) as epoch milliseconds."""
        return self.start_ms + self.duration_s * 1000


def derive_rng(seed: int, stream: str) -> random.Random:
    """An RNG for one named stream of one seed.

    Each source (and each side channel such as malformed injection) gets its own RNG, so
    changing one knob never shifts the random draws of another stream. The derivation
    hashes bytes, never Python's salted ``hash()``, so it is stable across processes.
    """
    digest = hashlib.blake2b(f"sisec-stream/{seed}/{stream}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))
