"""The plate-read stream: vehicles driving trips past the cameras of one lane.

A trip starts at a random camera (so busy lanes get more trips), goes on to the next
camera of the lane with probability ``_CONTINUE`` and drives each segment at a plausible
speed, so one vehicle is read by several cameras in order, with the lane's heading. A
vehicle rests between trips and never starts a trip it could not have driven to, so the
data holds no accidental cloned plates. Trips put their reads in per-second buckets
that are sorted and emitted once complete: memory is bounded by the trips in flight,
not by the scenario.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sisec_stream.generator.city import City
from sisec_stream.generator.config import derive_rng
from sisec_stream.generator.malformed import corrupt
from sisec_stream.generator.plates import (
    LOOKALIKES,
    STYLE_COMPACT,
    STYLE_DASH,
    STYLE_LOWER,
    STYLE_SPACE,
    STYLES,
    PlateFormat,
    misread,
    style_plate,
)
from sisec_stream.generator.timefmt import TsFormatter

if TYPE_CHECKING:
    from sisec_stream.generator.scenario import Scenario

__all__ = [
    "PLATE_TRUTH_COLUMNS",
    "READS_CHUNK",
    "CameraProfile",
    "ReadFormatter",
    "build_camera_profiles",
    "expected_reads_per_trip",
    "format_reads",
    "plate_read_events",
    "traffic",
]

#: Columns of a plate-read truth record (truth_plate_reads.csv); all values are strings.
PLATE_TRUTH_COLUMNS: Final = (
    "event_id",
    "vehicle_id",
    "true_plate",
    "read_plate_normalised",
    "misread",
    "listed_entry_id",
    "malformed_reason",
    "malformed_field",
    "camera_id",
    "trip_id",
    "ts_ms",
)

_CONTINUE: Final = 0.72  # chance a trip goes on to the next camera of its lane
_MAX_READS: Final = 12
WARMUP_S: Final = 600  # trips start this early so the first minutes are not empty
_REST_MS: Final = 300_000  # a vehicle parks at least this long between trips
_MS_PER_M_REPOSITION: Final = 60.0  # 60 km/h between the end of a trip and the next
_VEHICLE_TRIES: Final = 8
# ~30 % of reads carry candidates: a read tries at 45 % and succeeds when the character
# drawn has look-alikes (about two characters in three).
_CANDIDATES_TRY: Final = 0.45
# Style weights: as printed, compact, lower case, spaces, dashes (per camera vendor).
_STYLE_WEIGHTS: Final = (0.55, 0.15, 0.10, 0.12, 0.08)


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """What a camera's vendor puts in its events, as precomputed JSON fragments."""

    head: str  # '"camera_id":"MDE-LPR-0001"'
    tail: str  # optional lat/lon/heading_deg
    epoch_ms: bool  # highway arches send integer epoch milliseconds
    style: int  # plates.STYLE_*
    confidence: bool
    mmr: int  # make/model recognition: 0 none, 1 class+colour, 2 class+make+colour
    image_base: str  # '' or the evidence-store prefix


def build_camera_profiles(city: City, rng: random.Random) -> list[CameraProfile]:
    """Per-camera vendor settings: which optional fields it sends and how."""
    profiles: list[CameraProfile] = []
    code = city.preset.code.lower()
    for cam in city.cameras:
        arch = cam.kind == "arch"
        tail = ""
        if rng.random() < (0.95 if arch else 0.75):
            tail += f',"lat":{cam.lat:.6f},"lon":{cam.lon:.6f}'
        if rng.random() < (0.90 if arch else 0.60):
            tail += f',"heading_deg":{cam.heading_deg:.1f}'
        r = rng.random()
        mmr = 2 if r < 0.45 else (1 if r < 0.60 else 0)
        style = 0
        acc = rng.random() * sum(_STYLE_WEIGHTS)
        for i, w in enumerate(_STYLE_WEIGHTS):
            acc -= w
            if acc < 0:
                style = i
                break
        image = rng.random() < 0.5
        profiles.append(
            CameraProfile(
                head=f'"camera_id":"{cam.camera_id}"',
                tail=tail,
                epoch_ms=arch,
                style=style,
                confidence=rng.random() < 0.95,
                mmr=mmr,
                image_base=f"s3://{code}-lpr-evidence/{cam.camera_id}/" if image else "",
            )
        )
    return profiles


def expected_reads_per_trip(city: City) -> float:
    """Mean reads per trip, exactly, for the trip model (sizes the trip rate)."""
    total = 0.0
    for lane in city.lanes:
        m = len(lane)
        for i in range(m):
            n = min(m - i, _MAX_READS)
            total += (1.0 - _CONTINUE**n) / (1.0 - _CONTINUE)
    return total / max(len(city.cameras), 1)


def _style_plans(formats: list[PlateFormat]) -> list[list[tuple[str, int, int, bool]]]:
    """Per format and style: (separator, first cut, second cut or 0, lower case)."""
    plans: list[list[tuple[str, int, int, bool]]] = []
    for fmt in formats:
        lens = fmt.lens
        cut1 = lens[0]
        cut2 = lens[0] + lens[1] if len(lens) > 2 else 0
        row = []
        for style in range(len(STYLES)):
            if style == STYLE_COMPACT:
                sep = ""
            elif style == STYLE_SPACE:
                sep = " "
            elif style == STYLE_DASH:
                sep = "-"
            else:
                sep = fmt.native_sep
            row.append((sep, cut1, cut2, style == STYLE_LOWER))
        plans.append(row)
    return plans


def traffic(sc: Scenario) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(ts_ms, camera, vehicle, trip)`` for every read, in time order.

    The first stage of the plate-read stream: where and when vehicles pass cameras. It
    has its own RNG, so it can run in another process than the formatting stage.
    """
    cfg = sc.config
    city = sc.city
    n_cams = len(city.cameras)
    n_vehicles = len(sc.fleet.plates)
    if sc.trip_rate_per_s <= 0 or n_vehicles == 0:
        return
    rng = derive_rng(cfg.seed, "plate_reads/traffic")
    rnd = rng.random
    log = math.log
    hypot = math.hypot
    t0, t_end = cfg.start_ms, cfg.end_ms
    mean_gap_ms = 1000.0 / sc.trip_rate_per_s
    lanes, lane_pos = city.lanes, city.lane_pos
    cam_lane, cam_lane_idx = city.cam_lane, city.cam_lane_idx
    cam_x, cam_y, cam_hw = city.cam_x, city.cam_y, city.cam_highway
    last_end = [-(1 << 62)] * n_vehicles
    last_cam = [-1] * n_vehicles
    # Pending reads in per-second buckets (cheaper than a heap): second S is complete once
    # no trip starting later can read before the end of S; it is then sorted and emitted.
    buckets: dict[int, list[tuple[int, int, int, int, int]]] = {}
    seq = 0
    trip_no = 0
    t_next = t0 - WARMUP_S * 1000 - log(1.0 - rnd()) * mean_gap_ms
    max_speed = 100 / 3.6 / 1000.0  # 100 km/h in m/ms
    for second in range(t0 // 1000, (t_end - 1) // 1000 + 1):
        horizon = min((second + 1) * 1000, t_end)
        # Start every trip whose first read comes before the end of this second.
        while t_next < horizon:
            t_start = int(t_next)
            t_next -= log(1.0 - rnd()) * mean_gap_ms  # exponential gaps: Poisson starts
            c0 = int(rnd() * n_cams)
            v = -1
            for _ in range(_VEHICLE_TRIES):
                cand = int(rnd() * n_vehicles)
                lc = last_cam[cand]
                if lc < 0:
                    v = cand
                    break
                dist = hypot(cam_x[c0] - cam_x[lc], cam_y[c0] - cam_y[lc])
                if t_start - last_end[cand] >= _REST_MS + dist * _MS_PER_M_REPOSITION:
                    v = cand
                    break
            if v < 0:
                continue  # every vehicle tried is still driving: the city is saturated
            lane = cam_lane[c0]
            i = cam_lane_idx[c0]
            lane_cams, pos = lanes[lane], lane_pos[lane]
            m = len(lane_cams)
            highway = cam_hw[c0]
            # Trip speed 50-90 km/h on highways, 22-55 km/h on avenues, in m/ms.
            base = (13.89 + 11.11 * rnd() if highway else 6.11 + 9.17 * rnd()) / 1000.0
            trip_no += 1
            t = float(t_start)
            if t_start >= t0:  # warm-up reads before t0 are never emitted
                bucket = buckets.get(t_start // 1000)
                if bucket is None:
                    bucket = buckets[t_start // 1000] = []
                bucket.append((t_start, seq, c0, v, trip_no))
                seq += 1
            j = i + 1
            while j < m and j - i < _MAX_READS and rnd() < _CONTINUE:
                speed = base * (0.85 + 0.3 * rnd())  # +-15 % per segment, <= 100 km/h
                t += (pos[j] - pos[j - 1]) / (speed if speed < max_speed else max_speed)
                if not highway and rnd() < 0.5:  # a red light: ~25 s, at most 90 s
                    t += min(-25_000.0 * log(1.0 - rnd()), 90_000.0)
                if t_end > t >= t0:
                    ts = int(t)
                    bucket = buckets.get(ts // 1000)
                    if bucket is None:
                        bucket = buckets[ts // 1000] = []
                    bucket.append((ts, seq, lane_cams[j], v, trip_no))
                    seq += 1
                j += 1
            last_end[v] = int(t)
            last_cam[v] = lane_cams[j - 1]
        done = buckets.pop(second, None)
        if done:
            done.sort()  # by (ts, seq): seq breaks ties in creation order
            for ts, _, c, v, trip in done:
                yield ts, c, v, trip


#: Records formatted with one RNG: the reads RNG is re-derived per chunk, so chunks can be
#: formatted in parallel processes and still give the bytes of a serial run.
READS_CHUNK: Final = 4096


class ReadFormatter:
    """The second stage of the plate-read stream: what cameras make of each pass.

    Turns :func:`traffic` records into ``(ts_ms, event, truth)``, drawing misreads,
    confidences and candidates from an RNG derived per chunk of :data:`READS_CHUNK`
    records (by the record's position in the stream). Chunks can thus be formatted in
    separate processes and still give the bytes of a serial run. Tables are built once
    here; :meth:`run` is cheap to call per chunk.
    """

    def __init__(self, sc: Scenario) -> None:
        cfg = sc.config
        fleet = sc.fleet
        self.seed = cfg.seed
        self.misread_rate = cfg.misread_rate
        self.malformed_share = cfg.malformed_share
        self.tsf = TsFormatter(cfg.preset.offset_minutes)
        self.plates = fleet.plates
        self.fmts = fleet.fmt
        self.attrs = fleet.attrs
        self.fmt_lens = [f.lens for f in fleet.formats]
        self.fmt_sep = [f.native_sep for f in fleet.formats]
        plans = _style_plans(fleet.formats)
        vehicle_frags = ([""] * len(fleet.frag_full), fleet.frag_partial, fleet.frag_full)
        # Per camera, one tuple of everything the loop needs (attribute access costs).
        self.profiles = [
            (
                p.head,
                p.tail,
                p.epoch_ms,
                p.style,
                p.confidence,
                vehicle_frags[p.mmr],
                p.image_base,
                cam.camera_id,
                [row[p.style] for row in plans],
            )
            for p, cam in zip(sc.camera_profiles, sc.city.cameras, strict=True)
        ]
        self.conf_txts = [f',"confidence":0.{m:03d}' for m in range(1000)]
        # Watchlist entry of each vehicle ("" if not listed): a list beats dict.get here.
        self.listed = [""] * len(fleet.plates)
        for v, entry in fleet.listed.items():
            self.listed[v] = entry
        self.vehicle_ids = [f"V{v:07d}" for v in range(len(fleet.plates))]
        self.eid_prefix = f"{cfg.preset.code}-{cfg.seed}-PR-"

    def run(
        self, records: Iterable[tuple[int, int, int, int]], start: int = 0
    ) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
        """Format ``records``, the first being record number ``start`` of the stream."""
        seed = self.seed
        misread_rate = self.misread_rate
        mal_share = self.malformed_share
        tsf = self.tsf
        # Reads come in time order: a one-slot cache of the minute prefix always hits
        # but once a minute (inlined: this loop runs ~10^5 times a second).
        sec_ms = tsf.sec_ms_table
        offset_ms = tsf.offset_ms
        suffix = tsf.suffix + '"'
        cur_minute = -1
        cur_prefix = ""
        plates, fmts, attrs = self.plates, self.fmts, self.attrs
        fmt_lens, fmt_sep, profiles = self.fmt_lens, self.fmt_sep, self.profiles
        conf_txts, listed, vehicle_ids = self.conf_txts, self.listed, self.vehicle_ids
        lookalikes = LOOKALIKES
        eid_prefix = self.eid_prefix
        n_out = start
        chunk_end = start
        rng = mrng = random.Random(0)  # replaced at the first record
        rnd = rng.random
        for ts, c, v, trip in records:
            if n_out == chunk_end:
                chunk = n_out // READS_CHUNK
                chunk_end = (chunk + 1) * READS_CHUNK
                rng = derive_rng(seed, f"plate_reads/reads/{chunk}")
                mrng = derive_rng(seed, f"plate_reads/malformed/{chunk}")
                rnd = rng.random
            n_out += 1
            head, tail, epoch_ms, style, with_conf, vfrag, image_base, cam_id, cam_plans = profiles[
                c
            ]
            true = plates[v]
            fi = fmts[v]
            if rnd() < misread_rate:
                read, kind, lens = misread(true, fmt_lens[fi], rng)
                plate_txt = style_plate(read, lens, fmt_sep[fi], style)
                conf_milli = 400 + int(450 * rnd())
            else:
                read, kind = true, ""
                sep, cut1, cut2, lower = cam_plans[fi]
                if not sep:
                    plate_txt = read
                elif cut2:
                    plate_txt = read[:cut1] + sep + read[cut1:cut2] + sep + read[cut2:]
                else:
                    plate_txt = read[:cut1] + sep + read[cut1:]
                if lower:
                    plate_txt = plate_txt.lower()
                r = rnd()
                conf_milli = 999 - int(200 * r * r)
            eid = f"{eid_prefix}{n_out:08d}"
            if epoch_ms:
                ts_txt = str(ts)
            else:
                local = ts + offset_ms
                minute = local // 60_000
                if minute != cur_minute:
                    cur_minute = minute
                    cur_prefix = '"' + tsf.minute_prefix(minute)
                ts_txt = cur_prefix + sec_ms[local - minute * 60_000] + suffix
            cands = ""
            if rnd() < _CANDIDATES_TRY:
                # Alternatives differ from the read by one look-alike; for a misread the
                # true plate is sometimes among them. Confidences decrease along the list
                # (thousandths, below the read's). Inlined: ~3 reads in 10 get here.
                i = int(rnd() * len(read))
                alts = lookalikes.get(read[i])
                if alts:
                    alt = read[:i] + alts[int(rnd() * len(alts))] + read[i + 1 :]
                    c1 = int(conf_milli * (0.45 + 0.45 * rnd()))
                    c2 = int(c1 * (0.45 + 0.45 * rnd()))
                    if kind and alt != true and rnd() < 0.5:
                        cands = (
                            f',"candidates":[{{"plate":"{true}","confidence":0.{c1:03d}}},'
                            f'{{"plate":"{alt}","confidence":0.{c2:03d}}}]'
                        )
                    elif rnd() < 0.4:
                        j = int(rnd() * len(read))
                        alts2 = lookalikes.get(read[j])
                        alt2 = (
                            read[:j] + alts2[int(rnd() * len(alts2))] + read[j + 1 :]
                            if alts2
                            else alt
                        )
                        cands = f',"candidates":[{{"plate":"{alt}","confidence":0.{c1:03d}}}' + (
                            f',{{"plate":"{alt2}","confidence":0.{c2:03d}}}]'
                            if alt2 != alt
                            else "]"
                        )
                    else:
                        cands = f',"candidates":[{{"plate":"{alt}","confidence":0.{c1:03d}}}]'
            img = f',"image_ref":"{image_base}{eid}.jpg"' if image_base else ""
            line = (
                f'{{"type":"plate_read","event_id":"{eid}","ts":{ts_txt},{head},'
                f'"plate":"{plate_txt}"{conf_txts[conf_milli] if with_conf else ""}{tail}'
                f"{vfrag[attrs[v]]}{cands}{img}}}"
            ).encode()
            reason = field = ""
            if mal_share and mrng.random() < mal_share:
                line, reason, field = corrupt(line, "plate_read", mrng)
            yield (
                ts,
                line,
                (
                    eid,
                    vehicle_ids[v],
                    true,
                    read,
                    kind,
                    listed[v],
                    reason,
                    field,
                    cam_id,
                    str(trip),
                    ts_txt if epoch_ms else str(ts),
                ),
            )


def format_reads(
    sc: Scenario, records: Iterable[tuple[int, int, int, int]]
) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
    """Format a whole :func:`traffic` stream (see :class:`ReadFormatter`)."""
    return ReadFormatter(sc).run(records)


def plate_read_events(sc: Scenario) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
    """Yield ``(ts_ms, event, truth)`` for every plate read, in time order."""
    return format_reads(sc, traffic(sc))
