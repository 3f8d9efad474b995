"""Measured call clustering: ``sisec-stream eval calls``.

Generates a scenario (:class:`~sisec_stream.generator.Scenario`), runs its call events
through the whole pipeline without Bytewax (:func:`sisec_stream.incidents.fold`, one
batch), takes the final membership of every ``call_incident`` (``details.call_ids`` of
the last message of each ``alert_id``) and compares it with the generator's truth
(``truth_calls``: each call's ``incident_id``, empty for invalid calls).

The measure is pairwise over calls: a pair is *predicted together* when both calls are
in the same incident, *truly together* when both carry the same non-empty truth
``incident_id``. Precision = TP / (TP + FP), recall = TP / (TP + FN). Only the calls
the engine could cluster count: calls with a malformed ``received``, ``classified`` or
``abandoned`` event are left out, and so are real calls whose classification falls
after the end of the scenario (the engine saw them ring but never learnt their type);
both are counted in the report. A measure with no pairs at all is 1.0 (no false
pair, no missed pair).

Seeded and deterministic: the same arguments give the same counts. ``docs/incidents.md``
records the figures and what limits them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sisec_stream.engine import Engine, EngineConfig
from sisec_stream.evaluation import _table
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.generator.calls import CALL_TRUTH_COLUMNS
from sisec_stream.incidents import fold

__all__ = [
    "PRECISION_TARGET",
    "RECALL_TARGET",
    "CallClusterReport",
    "PairCounts",
    "evaluate_calls",
    "pair_counts",
    "run_eval_calls",
]

#: The issue's targets for the default scenario.
PRECISION_TARGET: Final = 0.95
RECALL_TARGET: Final = 0.95

#: Defaults of the incident stage (``IncidentConfig``), for labelling error causes.
_DEFAULT_RADIUS_M: Final = 100.0
_DEFAULT_WINDOW_S: Final = 600
_DEFAULT_COMPATIBLE: Final = (("riña", "disparos"),)
#: Events whose loss changes what the clustering sees (``closed`` does not).
_DECISIVE: Final = frozenset({"received", "classified", "abandoned"})

_COL: Final = {name: i for i, name in enumerate(CALL_TRUTH_COLUMNS)}


@dataclass(frozen=True)
class PairCounts:
    """Pairwise agreement of a predicted clustering with the truth.

    Attributes:
        true_pairs: Pairs predicted together and truly together (TP).
        predicted_pairs: Pairs predicted together (TP + FP).
        truth_pairs: Pairs truly together (TP + FN).
    """

    true_pairs: int
    predicted_pairs: int
    truth_pairs: int

    @property
    def false_pairs(self) -> int:
        """Pairs predicted together that are not (FP)."""
        return self.predicted_pairs - self.true_pairs

    @property
    def missed_pairs(self) -> int:
        """Pairs truly together that were not predicted together (FN)."""
        return self.truth_pairs - self.true_pairs

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was predicted together."""
        return self.true_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when nothing is truly together."""
        return self.true_pairs / self.truth_pairs if self.truth_pairs else 1.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pair_counts(
    predicted: Mapping[str, str], truth: Mapping[str, str], calls: Iterable[str]
) -> PairCounts:
    """Count pairs of ``calls`` predicted together, truly together and both.

    Args:
        predicted: Call id -> predicted cluster; a missing or empty label is no cluster.
        truth: Call id -> true cluster; a missing or empty label is no cluster.
        calls: The calls to compare (each once); labels of other calls are ignored.
    """
    by_pred: Counter[str] = Counter()
    by_truth: Counter[str] = Counter()
    both: Counter[tuple[str, str]] = Counter()
    for c in calls:
        p, t = predicted.get(c, ""), truth.get(c, "")
        if p:
            by_pred[p] += 1
        if t:
            by_truth[t] += 1
        if p and t:
            both[p, t] += 1
    return PairCounts(
        sum(map(_pairs, both.values())),
        sum(map(_pairs, by_pred.values())),
        sum(map(_pairs, by_truth.values())),
    )


@dataclass(frozen=True)
class CallClusterReport:
    """What :func:`evaluate_calls` measured.

    Attributes:
        city: The city preset.
        seed: The scenario seed.
        duration_s: Simulated seconds.
        calls: Distinct calls in the stream.
        events: Call events in the stream.
        excluded_malformed: Calls left out: a decisive event was malformed.
        excluded_unclassified: Real calls left out: classified after the end.
        compared: Calls compared (``calls`` minus the two above).
        truth_incidents: Real incidents among the compared calls.
        truth_multi: ... with two calls or more (the ones pairs can split).
        predicted_incidents: Call incidents the engine paged (distinct final
            ``alert_id``s holding calls).
        renamed_incidents: ``alert_id``s whose calls were later carried on under a
            new ``alert_id`` (an incident renamed mid-way: a defect of the stage,
            counted apart; the newest name is the one compared).
        pairs: Pairwise counts over the compared calls (each call in its incident's
            newest ``alert_id``).
        pairs_by_alert_id: The same with each call in the ``alert_id`` of the
            message that announced it, as a consumer keyed on ``alert_id`` groups
            them: renamed incidents count as split.
        missed_calls: Calls of real incidents in no incident, by why (most first;
            counts the excluded calls too).
        invalid_clustered: Invalid calls put in an incident.
        split_incidents: Real incidents spread over more than one incident.
        merged_incidents: Predicted incidents holding calls of several real
            incidents (or invalid calls).
        split_causes: Missed pairs by the rule that split them (most first).
        merge_causes: False pairs by what brought them together (most first).
        examples: Splits and merges, described with distances, types and times.
        seconds: Time to generate and fold.
    """

    city: str
    seed: int
    duration_s: int
    calls: int
    events: int
    excluded_malformed: int
    excluded_unclassified: int
    compared: int
    truth_incidents: int
    truth_multi: int
    predicted_incidents: int
    renamed_incidents: int
    pairs: PairCounts
    pairs_by_alert_id: PairCounts
    missed_calls: tuple[tuple[str, int], ...]
    invalid_clustered: int
    split_incidents: int
    merged_incidents: int
    split_causes: tuple[tuple[str, int], ...] = ()
    merge_causes: tuple[tuple[str, int], ...] = ()
    examples: tuple[str, ...] = field(default=(), repr=False)
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        """Pairwise precision over the compared calls."""
        return self.pairs.precision

    @property
    def recall(self) -> float:
        """Pairwise recall over the compared calls."""
        return self.pairs.recall

    def failures(self) -> list[str]:
        """The targets missed, one line each (empty: both met)."""
        out = []
        if self.precision < PRECISION_TARGET:
            out.append(f"precision {_pct(self.precision)} < {_pct(PRECISION_TARGET)}")
        if self.recall < RECALL_TARGET:
            out.append(f"recall {_pct(self.recall)} < {_pct(RECALL_TARGET)}")
        return out

    def render(self, *, markdown: bool = False, examples: int = 10) -> str:
        """The report as an aligned text table (Markdown with ``markdown``), then the
        error causes and up to ``examples`` described splits and merges."""
        h = "### " if markdown else ""
        p = self.pairs
        hours = self.duration_s / 3600
        rows = [
            ["calls in the stream", f"{self.calls:,} ({self.events:,} events)"],
            ["excluded: malformed event", f"{self.excluded_malformed:,}"],
            ["excluded: classified after the end", f"{self.excluded_unclassified:,}"],
            ["calls compared", f"{self.compared:,}"],
            [
                "truth incidents (2+ calls)",
                f"{self.truth_incidents:,} ({self.truth_multi:,})",
            ],
            ["predicted incidents", f"{self.predicted_incidents:,}"],
            ["alert_ids superseded (renamed incidents)", f"{self.renamed_incidents:,}"],
            ["pairs truly together", f"{p.truth_pairs:,}"],
            ["pairs predicted together", f"{p.predicted_pairs:,}"],
            ["pairs both (TP)", f"{p.true_pairs:,}"],
            ["false pairs (FP)", f"{p.false_pairs:,}"],
            ["missed pairs (FN)", f"{p.missed_pairs:,}"],
            ["pairwise precision", _pct(self.precision)],
            ["pairwise recall", _pct(self.recall)],
            [
                "precision / recall by announcing alert_id",
                f"{_pct(self.pairs_by_alert_id.precision)} / {_pct(self.pairs_by_alert_id.recall)}",
            ],
            ["real incidents split", f"{self.split_incidents:,}"],
            ["predicted incidents merging several", f"{self.merged_incidents:,}"],
            ["invalid calls clustered", f"{self.invalid_clustered:,}"],
            [
                "real calls in no incident",
                ", ".join(f"{why} {n:,}" for why, n in self.missed_calls) or "0",
            ],
        ]
        out = [
            f"Call clustering: city {self.city}, seed {self.seed}, {hours:g} h.",
            "",
            *_table(["measure", "value"], rows, markdown),
            "",
        ]
        causes = [("missed pairs", c) for c in self.split_causes]
        causes += [("false pairs", c) for c in self.merge_causes]
        if causes:
            crows = [[what, why, f"{n:,}"] for what, (why, n) in causes]
            out += [f"{h}Error causes", "", *_table(["error", "cause", "pairs"], crows, markdown)]
            out.append("")
        failures = self.failures()
        out.append(
            f"Targets: precision >= {_pct(PRECISION_TARGET)}, recall >= {_pct(RECALL_TARGET)}: "
            + ("MISSED: " + "; ".join(failures) if failures else "met.")
        )
        shown = self.examples[:examples]
        if shown:
            out += ["", f"{h}Examples", ""]
            out += [f"- {e}" for e in shown] if markdown else shown
        out += ["", f"Generated and folded in {self.seconds:.1f} s."]
        return "\n".join(out) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


@dataclass
class _Call:
    """What the stream says about one call."""

    call_id: str
    incident_id: str
    valid: bool
    kind: str  # incident type, or the invalid kind
    malformed: bool = False
    classified_ms: int | None = None
    lat: float | None = None
    lon: float | None = None


def _distance_m(a: _Call, b_lat: float, b_lon: float) -> float:
    """Great-circle distance as the engine measures it (haversine)."""
    assert a.lat is not None and a.lon is not None
    p1, p2 = math.radians(a.lat), math.radians(b_lat)
    dl = math.radians(b_lon - a.lon)
    hv = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(hv)))


def _read_calls(scenario: Scenario) -> tuple[list[bytes], dict[str, _Call]]:
    """The call lines in time order, and each call's truth and what it says."""
    lines: list[bytes] = []
    calls: dict[str, _Call] = {}
    for ts, line, truth in scenario.events("calls"):
        lines.append(line)
        assert truth is not None
        call_id = truth[_COL["call_id"]]
        c = calls.get(call_id)
        if c is None:
            valid = truth[_COL["valid"]] == "1"
            kind = truth[_COL["incident_type"]] if valid else truth[_COL["invalid_kind"]]
            c = calls[call_id] = _Call(call_id, truth[_COL["incident_id"]], valid, kind)
        status = truth[_COL["status"]]
        if truth[_COL["malformed_reason"]]:
            c.malformed |= status in _DECISIVE
            continue
        if status == "classified":
            c.classified_ms = ts
        doc: dict[str, Any] = json.loads(line)
        if "lat" in doc and "lon" in doc:
            c.lat, c.lon = float(doc["lat"]), float(doc["lon"])
    return lines, calls


def _final_membership(
    engine: Engine, lines: list[bytes]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """alert_id -> call ids of the last message of each call incident, in the order
    of those last messages (oldest first); and call id -> alert_id of the first
    message that listed it (the page or update its classification caused)."""
    last: dict[str, tuple[int, list[str]]] = {}
    announced: dict[str, str] = {}
    for a in fold(engine, [lines]):
        if a.kind != "call_incident":
            continue
        ids: list[str] = list(a.to_dict()["details"]["call_ids"])
        for cid in ids:
            announced.setdefault(cid, a.alert_id)
        prev = last.get(a.alert_id)
        if prev is None or a.update >= prev[0]:
            last.pop(a.alert_id, None)  # re-inserted: keeps the order of last messages
            last[a.alert_id] = (a.update, ids)
    return {k: ids for k, (_, ids) in last.items()}, announced


class _Reach:
    """The incident stage's radius, window and compatible types, from its settings."""

    def __init__(self, config: EngineConfig | None) -> None:
        inc: Mapping[str, Any] = config.incidents if config is not None else {}
        self.radius_m = float(inc.get("call_radius_m", _DEFAULT_RADIUS_M))
        self.window_s = int(inc.get("call_window_s", _DEFAULT_WINDOW_S))
        self.types: Mapping[str, Mapping[str, Any]] = inc.get("call_types", {})
        groups = inc.get("compatible_types", _DEFAULT_COMPATIBLE)
        self.groups = [set(g) for g in groups]

    def of(self, itype: str) -> tuple[float, int]:
        t = self.types.get(itype, {})
        radius = t.get("radius_m")
        window = t.get("window_s")
        return (
            self.radius_m if radius is None else float(radius),
            self.window_s if window is None else int(window),
        )

    def compatible(self, a: str, b: str) -> bool:
        return a == b or any(a in g and b in g for g in self.groups)


def _centre(calls: list[_Call]) -> tuple[float, float] | None:
    located = [c for c in calls if c.lat is not None and c.lon is not None]
    if not located:
        return None
    lat = sum(c.lat for c in located if c.lat is not None) / len(located)
    lon = sum(c.lon for c in located if c.lon is not None) / len(located)
    return lat, lon


def _explain_split(
    incident_id: str,
    members: list[_Call],
    label: Mapping[str, str],
    mixed: set[str],
    reach: _Reach,
) -> tuple[list[tuple[str, int]], str]:
    """Why a real incident's calls ended in several incidents: (cause, missed pairs)
    per later part, and a description."""
    members = sorted(members, key=lambda c: (c.classified_ms or 0, c.call_id))
    parts: dict[str, list[_Call]] = defaultdict(list)
    for c in members:
        parts[label.get(c.call_id, "") or f"none:{c.call_id}"].append(c)
    radius, window_s = reach.of(members[0].kind)
    causes: list[tuple[str, int]] = []
    texts: list[str] = []
    seen: list[_Call] = []
    for i, part in enumerate(parts.values()):
        if i > 0:
            first = part[0]
            earlier = [c for c in seen if (c.classified_ms or 0) <= (first.classified_ms or 0)]
            gap_s = ((first.classified_ms or 0) - max(c.classified_ms or 0 for c in seen)) / 1000
            centre = _centre(earlier or seen)
            dist = (
                _distance_m(first, *centre)
                if centre is not None and first.lat is not None
                else math.nan
            )
            if label.get(first.call_id) in mixed or label.get(seen[0].call_id) in mixed:
                cause = "joined a neighbouring incident"
            elif gap_s > window_s:
                cause = f"over the {window_s // 60} min window"
            elif math.isnan(dist):
                cause = "no location"
            elif dist > radius:
                cause = f"over the {radius:.0f} m radius"
            else:
                cause = "other"
            causes.append((cause, len(part) * len(seen)))
            texts.append(f"part {i + 1}: {len(part)} call(s), {gap_s / 60:.1f} min, {dist:.0f} m")
        seen += part
    text = (
        f"{incident_id} ({members[0].kind}, {len(members)} calls) split in {len(parts)}: "
        + "; ".join(texts)
    )
    return causes, text


def _explain_merge(
    alert_id: str, members: list[_Call], reach: _Reach
) -> tuple[list[tuple[str, int]], str]:
    """What brought calls of different real incidents (or invalid calls) together."""
    groups: dict[str, list[_Call]] = defaultdict(list)
    for c in members:
        groups[c.incident_id or f"invalid:{c.call_id}"].append(c)
    keys = list(groups)
    causes: list[tuple[str, int]] = []
    texts: list[str] = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            ga, gb = groups[a], groups[b]
            dists = [
                _distance_m(x, y.lat, y.lon)
                for x in ga
                for y in gb
                if x.lat is not None and y.lat is not None and y.lon is not None
            ]
            gaps = [
                abs((x.classified_ms or 0) - (y.classified_ms or 0)) / 1000 for x in ga for y in gb
            ]
            dist = min(dists) if dists else math.nan
            ta, tb = ga[0].kind, gb[0].kind
            if not (ga[0].valid and gb[0].valid):
                cause = "an invalid call"
            elif ta == tb:
                cause = "two incidents of one type near in space and time"
            elif reach.compatible(ta, tb):
                cause = f"compatible types {ta}/{tb} near in space and time"
            else:
                cause = "other"
            causes.append((cause, len(ga) * len(gb)))
            texts.append(
                f"{a} ({ta}, {len(ga)}) + {b} ({tb}, {len(gb)}): nearest calls {dist:.0f} m, "
                f"{min(gaps) / 60:.1f} min apart"
            )
    return causes, f"{alert_id} merges " + "; ".join(texts)


def evaluate_calls(
    config: ScenarioConfig, engine_config: EngineConfig | None = None
) -> CallClusterReport:
    """Measure call clustering against the generator's ground truth.

    Args:
        config: The scenario (city, seed, duration, call rates, malformed share).
        engine_config: The engine's settings (``incidents`` holds the clustering's
            radius, window and compatible types); default: the defaults.

    Returns:
        The counts; :meth:`CallClusterReport.failures` checks the targets.
    """
    t0 = time.perf_counter()
    scenario = Scenario(config)
    lines, calls = _read_calls(scenario)
    membership, announced = _final_membership(Engine(engine_config), lines)
    # A call's incident is the one whose last message came last: when the stage
    # renames an incident (a new alert_id carrying the old one's calls), the newest
    # name holds them all; the superseded names are counted, not compared.
    label: dict[str, str] = {}
    for alert_id, ids in membership.items():
        for cid in ids:
            label[cid] = alert_id
    live = set(label.values())
    renamed = len(membership) - len(live)

    malformed = {cid for cid, c in calls.items() if c.malformed}
    unclassified = {
        cid for cid, c in calls.items() if c.valid and not c.malformed and c.classified_ms is None
    }
    compared = [cid for cid in calls if cid not in malformed and cid not in unclassified]
    truth = {cid: c.incident_id for cid, c in calls.items()}
    pairs = pair_counts(label, truth, compared)
    pairs_announced = pair_counts(announced, truth, compared)

    missed: Counter[str] = Counter()
    for cid, c in calls.items():
        if not c.valid or cid in label:
            continue
        if cid in malformed:
            missed["malformed event"] += 1
        elif cid in unclassified:
            missed["classified after the end"] += 1
        elif c.lat is None:
            missed["no location"] += 1
        else:
            missed["other"] += 1

    reach = _Reach(engine_config)
    by_truth: dict[str, list[_Call]] = defaultdict(list)
    by_pred: dict[str, list[_Call]] = defaultdict(list)
    for cid in compared:
        c = calls[cid]
        if c.incident_id:
            by_truth[c.incident_id].append(c)
        if cid in label:
            by_pred[label[cid]].append(c)
    split_causes: Counter[str] = Counter()
    merge_causes: Counter[str] = Counter()
    examples: list[str] = []
    n_split = n_merged = 0
    mixed = {
        alert_id
        for alert_id, members in by_pred.items()
        if len({c.incident_id or c.call_id for c in members}) > 1
    }
    for incident_id, members in by_truth.items():
        if len({label.get(c.call_id) or c.call_id for c in members}) > 1:
            n_split += 1
            causes, text = _explain_split(incident_id, members, label, mixed, reach)
            for why, n in causes:
                split_causes[why] += n
            examples.append(text)
    for alert_id, members in by_pred.items():
        if alert_id in mixed:
            n_merged += 1
            causes, text = _explain_merge(alert_id, members, reach)
            for why, n in causes:
                merge_causes[why] += n
            examples.append(text)

    return CallClusterReport(
        city=config.city,
        seed=config.seed,
        duration_s=config.duration_s,
        calls=len(calls),
        events=len(lines),
        excluded_malformed=len(malformed),
        excluded_unclassified=len(unclassified),
        compared=len(compared),
        truth_incidents=len(by_truth),
        truth_multi=sum(1 for m in by_truth.values() if len(m) > 1),
        predicted_incidents=len(live),
        renamed_incidents=renamed,
        pairs=pairs,
        pairs_by_alert_id=pairs_announced,
        missed_calls=tuple(missed.most_common()),
        invalid_clustered=sum(1 for cid in compared if cid in label and not calls[cid].valid),
        split_incidents=n_split,
        merged_incidents=n_merged,
        split_causes=tuple(split_causes.most_common()),
        merge_causes=tuple(merge_causes.most_common()),
        examples=tuple(examples),
        seconds=time.perf_counter() - t0,
    )


def run_eval_calls(args: argparse.Namespace) -> int:
    """Run ``sisec-stream eval calls``; print the report. Returns the exit status.

    Reads ``args.hours``, ``args.seed``, ``args.city``, ``args.markdown`` and
    ``args.check``.
    """
    prog = "sisec-stream eval calls"
    try:
        config = ScenarioConfig(
            seed=args.seed, city=args.city, duration_s=max(1, round(args.hours * 3600))
        )
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    report = evaluate_calls(config)
    print(report.render(markdown=args.markdown), end="")
    return 1 if args.check and report.failures() else 0
