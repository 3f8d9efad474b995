"""The Grafana dashboard (``dashboards/sisec-stream.json``) is importable, every
query selects metrics that a real scrape exposes, and every query is PromQL that
Prometheus's own ``promtool check rules`` accepts."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource

from conftest import button, call, plate_read
from promcheck import metric_names, promtool, scrape
from sisec_stream import Alert, Engine, Reject
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.metrics import EngineMetrics

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "sisec-stream.json"
RULES = DASHBOARD.with_name("sisec-stream.rules.yml")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

#: PromQL words that look like identifiers but are not metric names.
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "start", "end", "inf", "nan", "atan2"}
)

#: What the issue asks the dashboard to show: each must be queried by a panel.
REQUIRED = frozenset(
    {
        "sisec_events_total",
        "sisec_rejects_total",
        "sisec_alerts_total",
        "sisec_suppressed_duplicates_total",
        "sisec_batch_duration_seconds_bucket",
        "sisec_event_to_alert_seconds_bucket",
        "sisec_consumer_lag_messages",
        "sisec_delivery_failures_total",
        "sisec_incident_state_bytes",
        "sisec_incident_state_entries",
        "sisec_watchlist_entries",
        "sisec_watchlist_reloads_total",
        "sisec_places_reloads_total",
    }
)

#: Families the dashboard leaves out on purpose (sisec_batches_total is
#: sisec_batch_duration_seconds_count).
NOT_ON_THE_DASHBOARD = frozenset({"sisec_batches_total"})

#: Grafana's interval variables, as promtool gets them.
GRAFANA_INTERVALS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

Dashboard = dict[str, Any]


def load() -> Dashboard:
    doc: Dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return doc


def panels(dashboard: Dashboard) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: Dashboard) -> list[tuple[str, str]]:
    """(panel title and refId, expr) of every query."""
    return [
        (f"{p['title']} [{t['refId']}]", t["expr"])
        for p in panels(dashboard)
        for t in p.get("targets", [])
    ]


def variable_selectors(dashboard: Dashboard) -> list[tuple[str, str]]:
    """(variable, series selector) of every ``label_values(selector, label)``
    variable query (a Grafana function, not PromQL)."""
    out = []
    for v in dashboard["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q)
        assert m, f"variable {v['name']}: not a label_values(selector, label) query: {q}"
        out.append((f"variable {v['name']}", m.group(1)))
    return out


def metrics_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers followed by ``{`` or
    standing alone as selectors; not functions or aggregations (followed by
    ``(``), label names (``by (...)``, ``on (...)``, inside ``{...}``), keywords,
    durations, numbers, strings or Grafana variables."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\[[^\]]*\]", "", s)  # ranges and subqueries
    s = re.sub(r"\{[^}]*\}", "{}", s)  # label matchers
    s = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s, flags=re.I
    )
    names = set()
    for m in re.finditer(r"(?<![\w$.:])[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        if s[m.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def missing_metrics(dashboard: Dashboard, exposed: set[str]) -> list[tuple[str, str]]:
    """(where, metric) for every metric a query or variable selects that the
    exposition does not have."""
    return [
        (where, name)
        for where, expr in queries(dashboard) + variable_selectors(dashboard)
        for name in sorted(metrics_in(expr))
        if name not in exposed
    ]


def as_promql(expr: str) -> str:
    """The query with Grafana's variables replaced as Prometheus would see them:
    intervals by durations, template variables (inside label matchers) by ``.*``."""
    for name, value in GRAFANA_INTERVALS.items():
        expr = re.sub(rf"\$\{{?{name}\}}?(?!\w)", value, expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def check_rules(exprs: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on the queries as recording rules (JSON is YAML)."""
    rules = [{"record": f"dashboard:query_{i}", "expr": as_promql(e)} for i, e in enumerate(exprs)]
    path = tmp / "dashboard.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}, indent=1))
    return subprocess.run(
        [str(promtool()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Metric names in a real scrape: a flow over HTTP, as Prometheus sees it."""
    engine = Engine()
    metrics = EngineMetrics()
    metrics.set_watchlist(engine.watchlist.counts_by_list(), engine.watchlist.memory_bytes())
    server = metrics.serve(0)
    try:
        events = [plate_read("r1", "ABC123"), button("b1"), call("c1"), b"{oops"]
        alerts: list[Alert] = []
        rejects: list[Reject] = []
        flow = build_alerts_flow(
            TestingSource(events),
            engine,
            TestingSink(alerts),
            TestingSink(rejects),
            metrics=metrics,
        )
        run_flow(flow)
        text = scrape(server.url)
    finally:
        server.close()
    names = metric_names(text)
    assert "sisec_events_total" in names and "sisec_event_to_alert_seconds_bucket" in names
    return names


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    d = load()
    assert d["schemaVersion"] >= 36
    assert d["uid"] == "sisec-stream" and d["title"] and d.get("id") is None
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables["DS_PROMETHEUS"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == DATASOURCE, v["name"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: dict[tuple[int, int], str] = {}
    for p in panels(d):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"] and p.get("description"), p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, p["title"]
            # Every query follows the job and instance pickers.
            for selector in re.findall(r"sisec_\w+\{[^}]*\}", t["expr"]):
                assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, selector
            assert metrics_in(t["expr"]), (p["title"], "a query without a metric")


def test_every_query_selects_an_exposed_metric(exposed: set[str]) -> None:
    d = load()
    assert missing_metrics(d, exposed) == []
    used = {name for _, expr in queries(d) for name in metrics_in(expr)}
    assert used >= REQUIRED, REQUIRED - used
    families = {n for n in exposed if n.startswith("sisec_") and not n.endswith("_created")}
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    left_out = {n for n in families if re.sub(r"_(bucket|sum|count)$", "", n) not in shown}
    assert left_out == NOT_ON_THE_DASHBOARD, "a metric no panel shows: add one, or say why not"


def test_a_query_of_a_metric_that_does_not_exist_fails(exposed: set[str]) -> None:
    """The negative case: renamed, misspelt or wrongly suffixed metrics are caught,
    in panels nested in collapsed rows and in variables too."""
    d = copy.deepcopy(load())
    target = next(p for p in panels(d) if p["type"] != "row")["targets"][0]
    target["expr"] = target["expr"].replace("sisec_events_total", "sisec_events_in_total")
    d["panels"].append(
        {
            "id": 999,
            "type": "row",
            "title": "collapsed",
            "panels": [
                {
                    "title": "latency",
                    "targets": [
                        {
                            "refId": "A",
                            "expr": "histogram_quantile(0.99, sum by (le) "
                            '(rate(sisec_event_to_alert_seconds{job=~"$job"}[5m])))',
                        }
                    ],
                }
            ],
        }
    )
    d["templating"]["list"].append(
        {"name": "topic", "type": "query", "query": "label_values(sisec_consumer_lag, topic)"}
    )
    missing = {name for _, name in missing_metrics(d, exposed)}
    assert missing == {
        "sisec_events_in_total",
        "sisec_event_to_alert_seconds",
        "sisec_consumer_lag",
    }


def test_metric_names_are_told_from_functions_labels_and_keywords() -> None:
    expr = (
        'sum by (kind, le) (rate(a_total{kind="x", le!~"b_total"}[$__rate_interval] offset 5m))'
        " / on (kind) group_left (priority) b:ratio_5m"
        ' + ignoring(instance) c unless d{} > bool 1e3 and count_values without (x) ("v", e)'
        ' or histogram_quantile(0.5, f_bucket) * inf + label_replace(g, "dst", "$1", "src", "(.*)")'
    )
    assert metrics_in(expr) == {"a_total", "b:ratio_5m", "c", "d", "e", "f_bucket", "g"}
    assert metrics_in("max_over_time(h[1h:5m]) - vector(1) + time()") == {"h"}


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    exprs = [e for _, e in queries(load())]
    result = check_rules(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_invalid_promql_fails_the_check(tmp_path: Path) -> None:
    """The negative case of the syntax check: promtool refuses a broken query."""
    for broken in (
        'sum by (kind) (rate(sisec_alerts_total{job=~"$job"}[$__rate_interval])',  # a ( left open
        "rate(sisec_alerts_total)",  # rate of an instant vector
        "histogram_quantile(0.99, sisec_event_to_alert_seconds_bucket[5m] by (le))",
    ):
        result = check_rules([broken], tmp_path)
        assert result.returncode != 0, broken


def rule_exprs(text: str) -> list[tuple[str, str]]:
    """(alert, expr) of a rules file written as ours is: ``expr:`` on one line, or
    ``expr: >-`` followed by more indented lines (promtool confirms the count)."""
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    alert = ""
    for i, line in enumerate(lines):
        key = line.strip()
        if key.startswith("- alert:"):
            alert = key.split(":", 1)[1].strip()
        elif key.startswith("expr:"):
            value = key.split(":", 1)[1].strip()
            if value in (">-", ">", "|", "|-"):
                indent = len(line) - len(line.lstrip())
                body = []
                for more in lines[i + 1 :]:
                    if more.strip() and len(more) - len(more.lstrip()) <= indent:
                        break
                    body.append(more.strip())
                value = " ".join(b for b in body if b)
            out.append((alert, value))
    return out


def test_alerting_rules_are_valid_and_select_exposed_metrics(exposed: set[str]) -> None:
    text = RULES.read_text(encoding="utf-8")
    rules = rule_exprs(text)
    assert len(rules) == text.count("- alert:") >= 10
    result = subprocess.run(
        [str(promtool()), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
    missing = [(a, n) for a, e in rules for n in sorted(metrics_in(e)) if n not in exposed]
    assert missing == []
    assert all(metrics_in(e) for _, e in rules)
    documented = (DASHBOARD.parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for alert, _ in rules:
        assert f"`{alert}`" in documented, f"{alert} is not described in docs/metrics.md"
