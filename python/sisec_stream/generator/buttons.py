"""The alarm-device stream: heartbeats, presses, tamper and low-battery reports.

Every device heartbeats every ``heartbeat_interval_s`` (jittered, random phase). Presses
arrive as one Poisson process over all devices; some are false and some are repeated by
an anxious hand a few seconds apart (same activation). Devices marked offline stop
sending altogether part-way through, often after a low-battery report, which is what
heartbeat supervision must catch.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from sisec_stream.generator.config import derive_rng
from sisec_stream.generator.malformed import corrupt
from sisec_stream.generator.timefmt import TsFormatter

if TYPE_CHECKING:
    from sisec_stream.generator.scenario import Scenario

__all__ = ["BUTTON_TRUTH_COLUMNS", "button_events"]

#: Columns of a button truth record (truth_button_presses.csv); all values are strings.
BUTTON_TRUTH_COLUMNS: Final = (
    "event_id",
    "device_id",
    "action",
    "activation_id",
    "false_press",
    "malformed_reason",
    "malformed_field",
    "ts_ms",
)

_ACTIONS: Final = ("heartbeat", "press", "tamper", "low_battery")
_HEARTBEAT, _PRESS, _TAMPER, _LOW_BATTERY = 0, 1, 2, 3
_NEXT_PRESS, _NEXT_RARE = 8, 9  # markers of the two Poisson processes
_TAMPER_PER_DEVICE_DAY: Final = 1 / 60
_LOW_BATTERY_PER_DEVICE_DAY: Final = 1 / 30
_REPEAT_SHARE: Final = 0.2
_JITTER: Final = 0.03  # heartbeat period jitter, as a share of the interval


def button_events(sc: Scenario) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
    """Yield ``(ts_ms, event, truth)`` for every device event, in time order."""
    cfg = sc.config
    devices = sc.devices
    n = len(devices)
    if n == 0:
        return
    rng = derive_rng(cfg.seed, "button_presses")
    rnd = rng.random
    mal_share = cfg.malformed_share
    mrng = derive_rng(cfg.seed, "button_presses/malformed")
    tsf = TsFormatter(cfg.preset.offset_minutes)
    t0, t_end = cfg.start_ms, cfg.end_ms
    interval_ms = cfg.heartbeat_interval_s * 1000
    offline_at = sc.offline_at

    # Per device: JSON fragments and timestamp form (panel vendors differ).
    heads: list[str] = []
    tails: list[str] = []
    ts_forms: list[int] = []  # 0: city offset + ms, 1: UTC whole seconds, 2: epoch ms
    for d in devices:
        heads.append(f'"device_id":"{d.device_id}","device_kind":"{d.device_kind}"')
        located = d.device_kind != "panic" or rnd() < 0.8
        tails.append(f',"lat":{d.lat:.6f},"lon":{d.lon:.6f}' if located else "")
        r = rnd()
        ts_forms.append(0 if r < 0.6 else (1 if r < 0.8 else 2))

    def snap(dev: int, t: int) -> int:
        # Panels with whole-second clocks: schedule on the second (rounding up keeps
        # t >= t0), so the event's own ts equals its ts_ms and the stream stays ordered.
        return t + (-t % 1000) if ts_forms[dev] == 1 else t

    # Heap items: (ts, seq, action or marker, device, activation no, false press 0/1).
    heap: list[tuple[int, int, int, int, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    for i in range(n):
        push(heap, (snap(i, t0 + int(rnd() * interval_ms)), seq, _HEARTBEAT, i, 0, 0))
        seq += 1
        off = offline_at.get(i)
        if off is not None and rnd() < 0.5:  # battery dying before the device goes silent
            t = off - int((5 + 25 * rnd()) * 60_000)
            if t >= t0:
                push(heap, (snap(i, t), seq, _LOW_BATTERY, i, 0, 0))
                seq += 1
    press_gap_ms = 86_400_000 / (n * cfg.presses_per_device_per_day or 1e-300)
    rare_gap_ms = 86_400_000 / (n * (_TAMPER_PER_DEVICE_DAY + _LOW_BATTERY_PER_DEVICE_DAY))
    push(heap, (t0 + int(rng.expovariate(1.0) * press_gap_ms), seq, _NEXT_PRESS, -1, 0, 0))
    push(heap, (t0 + int(rng.expovariate(1.0) * rare_gap_ms), seq + 1, _NEXT_RARE, -1, 0, 0))
    seq += 2

    activation = 0
    n_out = 0
    code = cfg.preset.code
    eid_prefix = f"{code}-{cfg.seed}-BP-"
    while heap:
        ts, _, action, dev, act_no, false_press = pop(heap)
        if ts >= t_end:
            return
        if action == _NEXT_PRESS:
            activation += 1
            dev = int(rnd() * n)
            false_flag = int(rnd() < cfg.false_press_share)
            push(heap, (snap(dev, ts), seq, _PRESS, dev, activation, false_flag))
            seq += 1
            if rnd() < _REPEAT_SHARE:
                t = ts
                for _ in range(1 + int(rnd() * 3)):
                    t += int((2 + 18 * rnd()) * 1000)
                    push(heap, (snap(dev, t), seq, _PRESS, dev, activation, false_flag))
                    seq += 1
            push(heap, (ts + int(rng.expovariate(1.0) * press_gap_ms), seq, _NEXT_PRESS, -1, 0, 0))
            seq += 1
            continue
        if action == _NEXT_RARE:
            dev = int(rnd() * n)
            share_tamper = _TAMPER_PER_DEVICE_DAY / (
                _TAMPER_PER_DEVICE_DAY + _LOW_BATTERY_PER_DEVICE_DAY
            )
            kind = _TAMPER if rnd() < share_tamper else _LOW_BATTERY
            push(heap, (snap(dev, ts), seq, kind, dev, 0, 0))
            push(
                heap, (ts + int(rng.expovariate(1.0) * rare_gap_ms), seq + 1, _NEXT_RARE, -1, 0, 0)
            )
            seq += 2
            continue
        off = offline_at.get(dev)
        if off is not None and ts >= off:
            continue  # a dead device sends nothing, and its heartbeat is not rescheduled
        if action == _HEARTBEAT:
            jitter = int((rnd() * 2.0 - 1.0) * _JITTER * interval_ms)
            push(heap, (snap(dev, ts + interval_ms + jitter), seq, _HEARTBEAT, dev, 0, 0))
            seq += 1
        n_out += 1
        eid = f"{eid_prefix}{n_out:08d}"
        form = ts_forms[dev]
        if form == 0:
            ts_txt = f'"{tsf.local_ms(ts)}"'
        elif form == 1:
            ts_txt = f'"{tsf.utc_seconds(ts)}"'
        else:
            ts_txt = str(ts)
        name = _ACTIONS[action]
        line = (
            f'{{"type":"button_press","event_id":"{eid}","ts":{ts_txt},{heads[dev]},'
            f'"action":"{name}"{tails[dev]}}}'
        ).encode()
        reason = field = ""
        if mal_share and mrng.random() < mal_share:
            line, reason, field = corrupt(line, "button_press", mrng)
        yield (
            ts,
            line,
            (
                eid,
                devices[dev].device_id,
                name,
                f"{code}-ACT-{act_no:06d}" if action == _PRESS else "",
                str(false_press) if action == _PRESS else "",
                reason,
                field,
                str(ts),
            ),
        )
