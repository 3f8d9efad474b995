"""The emergency-call stream (123 / 911 / 089): incidents and the calls they draw.

A real incident (riña, hurto...) draws a geometric number of calls (mean ~3) from people
within ~40 m of it (so any two are within 80 m) over its first 9 minutes: the pattern
duplicate-call detection groups. Invalid calls (pranks, silent, abandoned, information
requests) come on their own, from anywhere. Each call goes ``received``, then
``classified`` (with ``incident_type``) or ``abandoned``, then ``closed``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from sisec_stream.generator.config import derive_rng
from sisec_stream.generator.fleet import Picker
from sisec_stream.generator.malformed import corrupt
from sisec_stream.generator.timefmt import TsFormatter

if TYPE_CHECKING:
    from sisec_stream.generator.scenario import Scenario

__all__ = [
    "CALL_TRUTH_COLUMNS",
    "INVALID_KINDS",
    "MEAN_CALLS_PER_INCIDENT",
    "call_events",
    "calls_per_incident_mean",
]

#: Columns of a call-event truth record (truth_calls.csv); all values are strings.
CALL_TRUTH_COLUMNS: Final = (
    "event_id",
    "call_id",
    "status",
    "incident_id",
    "valid",
    "invalid_kind",
    "incident_type",
    "malformed_reason",
    "malformed_field",
    "ts_ms",
)

#: Invalid ("improcedente") calls: kind, share, status after ``received``.
INVALID_KINDS: Final = (
    ("broma", 0.35, "classified"),
    ("llamada_silenciosa", 0.25, "classified"),
    ("abandonada", 0.30, "abandoned"),
    ("informativa", 0.10, "classified"),
)
MEAN_CALLS_PER_INCIDENT: Final = 3.0
_MAX_CALLS: Final = 12
_CALL_RADIUS_M: Final = 40.0  # callers within 40 m of the incident: pairwise <= 80 m
_CALL_WINDOW_S: Final = 540.0  # calls within 9 min of the first: inside the 10-min window
_WARMUP_S: Final = 1200
_INCIDENT_SPREAD_M: Final = 900.0
_PRANK_POOL: Final = 25  # serial prank callers behind many pranks


def calls_per_incident_mean() -> float:
    """Exact mean of the capped geometric number of calls per incident."""
    p = 1.0 / MEAN_CALLS_PER_INCIDENT
    return sum(k * p * (1 - p) ** (k - 1) for k in range(1, _MAX_CALLS)) + _MAX_CALLS * (1 - p) ** (
        _MAX_CALLS - 1
    )


def call_events(sc: Scenario) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
    """Yield ``(ts_ms, event, truth)`` for every call event, in time order."""
    cfg = sc.config
    preset = cfg.preset
    city = sc.city
    proj = city.projection
    rng = derive_rng(cfg.seed, "calls")
    rnd = rng.random
    mal_share = cfg.malformed_share
    mrng = derive_rng(cfg.seed, "calls/malformed")
    fmt_ts = TsFormatter(preset.offset_minutes).local_ms
    t0, t_end = cfg.start_ms, cfg.end_ms
    valid_per_h = cfg.calls_per_hour * (1.0 - cfg.invalid_call_share)
    invalid_per_h = cfg.calls_per_hour * cfg.invalid_call_share
    inc_gap_ms = 3.6e6 * calls_per_incident_mean() / valid_per_h if valid_per_h > 0 else 0.0
    inv_gap_ms = 3.6e6 / invalid_per_h if invalid_per_h > 0 else 0.0
    pick_line = Picker(list(preset.lines))
    pick_type = Picker(list(preset.incident_types))
    pick_invalid = Picker([(k, w) for k, w, _ in INVALID_KINDS])
    after_invalid = {k: status for k, _, status in INVALID_KINDS}
    pranksters = [f"{rng.getrandbits(128):032x}" for _ in range(_PRANK_POOL)]
    code = preset.code

    # Heap items: (ts, seq, event body after "ts", truth fields between event_id and ts).
    heap: list[tuple[int, int, str, tuple[str, ...]]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    n_calls = 0
    n_incidents = 0

    def add_call(
        t_recv: int,
        lat: float,
        lon: float,
        located: bool,
        caller: str,
        second: str,
        incident_type: str,
        truth: tuple[str, str, str, str],
    ) -> None:
        """Queue the three events of one call; truth = incident_id, valid, kind, type."""
        nonlocal seq, n_calls
        n_calls += 1
        line = pick_line(rnd)
        call_id = f"{code}-{line}-{n_calls:07d}"
        base = f'"call_id":"{call_id}","line":"{line}","status":'
        where = f',"lat":{lat:.6f},"lon":{lon:.6f}'
        recv = f'{base}"received"'
        if located:
            accuracy = min(5.0 + rng.expovariate(1.0 / 15.0), 95.0)
            recv += f'{where},"accuracy_m":{accuracy:.1f}'
        if line != "089":  # the anonymous-report line never identifies the caller
            recv += f',"caller_hash":"{caller}"'
        events = [(t_recv, recv, "received")]
        if second == "classified":
            t2 = t_recv + int((20 + 130 * rnd()) * 1000)
            body = f'{base}"classified","incident_type":"{incident_type}"'
            if truth[1] == "1":
                body += where  # the operator confirms the address of a real incident
            events.append((t2, body, "classified"))
        else:
            t2 = t_recv + int((3 + 30 * rnd()) * 1000)
            events.append((t2, f'{base}"abandoned"', "abandoned"))
        t3 = t2 + int((60 + 900 * rnd()) * 1000)
        events.append((t3, f'{base}"closed"', "closed"))
        for t, body, status in events:
            push(heap, (t, seq, body, (call_id, status, *truth)))
            seq += 1

    def add_incident(t: int) -> None:
        nonlocal n_incidents
        n_incidents += 1
        incident_id = f"{code}-INC-{n_incidents:06d}"
        kind = pick_type(rnd)
        ilat, ilon = city.populated_point(rng, _INCIDENT_SPREAD_M)
        ix, iy = proj.to_xy(ilat, ilon)
        n = 1
        while n < _MAX_CALLS and rnd() >= 1.0 / MEAN_CALLS_PER_INCIDENT:
            n += 1
        first = t + int((10 + 80 * rnd()) * 1000)
        for k in range(n):
            t_recv = first if k == 0 else first + int(_CALL_WINDOW_S * 1000 * rnd())
            r = _CALL_RADIUS_M * math.sqrt(rnd())
            a = 2 * math.pi * rnd()
            lat, lon = proj.to_latlon(ix + r * math.cos(a), iy + r * math.sin(a))
            located = rnd() < 0.85
            caller = f"{rng.getrandbits(128):032x}"
            if t_recv >= t0:
                truth = (incident_id, "1", "", kind)
                add_call(t_recv, lat, lon, located, caller, "classified", kind, truth)

    def add_invalid(t: int) -> None:
        kind = pick_invalid(rnd)
        lat, lon = city.box_point(rng) if rnd() < 0.5 else city.populated_point(rng, 2000.0)
        located = rnd() < 0.7
        if kind == "broma" and rnd() < 0.4:
            caller = pranksters[int(rnd() * _PRANK_POOL)]
        else:
            caller = f"{rng.getrandbits(128):032x}"
        second = after_invalid[kind]
        itype = kind if second == "classified" else ""
        if t >= t0:
            add_call(t, lat, lon, located, caller, second, itype, ("", "0", kind, itype))

    big = float("inf")
    warm = t0 - _WARMUP_S * 1000
    t_inc = warm + rng.expovariate(1.0) * inc_gap_ms if inc_gap_ms else big
    t_inv = warm + rng.expovariate(1.0) * inv_gap_ms if inv_gap_ms else big
    n_out = 0
    eid_prefix = f"{code}-{cfg.seed}-CE-"
    while True:
        # Expand every incident / invalid call that starts before the earliest pending
        # event: their events are all at or after their start.
        while True:
            t_next = min(t_inc, t_inv)
            if t_next >= t_end or (heap and t_next > heap[0][0]):
                break
            if t_inc <= t_inv:
                add_incident(int(t_inc))
                t_inc += rng.expovariate(1.0) * inc_gap_ms
            else:
                add_invalid(int(t_inv))
                t_inv += rng.expovariate(1.0) * inv_gap_ms
        if not heap:
            return
        ts, _, body, truth = pop(heap)
        if ts >= t_end:
            return
        n_out += 1
        eid = f"{eid_prefix}{n_out:08d}"
        line = f'{{"type":"call","event_id":"{eid}","ts":"{fmt_ts(ts)}",{body}}}'.encode()
        reason = field = ""
        if mal_share and mrng.random() < mal_share:
            line, reason, field = corrupt(line, "call", mrng)
        yield ts, line, (eid, *truth, reason, field, str(ts))
