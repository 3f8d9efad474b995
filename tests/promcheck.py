"""Helpers of the metrics tests: find Prometheus's ``promtool``, scrape ``/metrics``
over HTTP, read series and metric names out of the exposition."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

#: Where ``make tools`` unpacks promtool (Debian's ``prometheus`` package).
PROJECT_PROMTOOL = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "promtool"

#: Sample names a family of each type exposes, as suffixes of its ``# TYPE`` name
#: (a counter's already ends in ``_total`` in the text format).
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
}

Series = frozenset[tuple[str, frozenset[tuple[str, str]]]]


def promtool() -> Path:
    """promtool: ``$PROMTOOL``, else the project's ``.tools/bin/promtool``, else the
    PATH's. Fails the test (never skips it) when there is none."""
    env = os.environ.get("PROMTOOL")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"PROMTOOL={env} is not an executable file", pytrace=False)
        return path
    if PROJECT_PROMTOOL.is_file():
        return PROJECT_PROMTOOL
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool (Prometheus's own linter) not found: run `make tools` (unpacks it "
            "from Debian's prometheus package into .tools/bin), install Debian's "
            "prometheus package, or set PROMTOOL=/path/to/promtool",
            pytrace=False,
        )
    return Path(found)


def scrape(url: str) -> str:
    """The exposition text served at ``url``."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        text: str = resp.read().decode("utf-8")
        return text


def check_metrics(tool: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` on ``text`` (its lint findings go to stdout or
    stderr, depending on the version)."""
    return subprocess.run(
        [str(tool), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def series(text: str) -> Series:
    """Every sample's name and labels."""
    return frozenset(
        (s.name, frozenset(s.labels.items()))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


def families(text: str) -> dict[str, str]:
    """Declared metric families, name -> type (``# TYPE`` lines), with or without
    samples."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out[name] = kind.strip()
    return out


def metric_names(text: str) -> set[str]:
    """Names a PromQL query can select in this exposition: every sample's name, and
    the sample names of every declared family (a labelled family may have no series
    yet, e.g. delivery failures before the first failure)."""
    names = {name for name, _ in series(text)}
    for family, kind in families(text).items():
        if kind == "counter" and not family.endswith("_total"):
            family += "_total"
        names |= {family + suffix for suffix in _SUFFIXES.get(kind, ("",))}
    return names


def values(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and want <= set(s.labels.items())
    )
