"""``sisec-stream search``: past sightings of a plate in the Parquet archive.

A generated month (300k reads, 300 cameras, 30 ``date=`` partitions of 8 files each)
with planted reads of a target plate: exact, a one-look-alike misread, a dropped
edge, a two-look-alike misread (found only with ``--max-substitutions 2``), and
decoys that must not come back (another plate, the target outside the time range,
and just before its start in an opened partition). The generated reads never hold
a variant of the target (``MonthSpec.avoid``), so a search must return exactly the
planted reads, through the Python API and the real command. The same for a
pseudonymized archive (plates null, tokens set), with the right key, a wrong key and
none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest

from sisec_stream import Watchlist, WatchlistConfig
from sisec_stream.search import (
    SearchError,
    archive_files,
    parse_time,
    plate_token,
    search,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
from archive_month import MonthSpec, write_month, write_rows

TARGET: Final = "HBX472"
KEY: Final = bytes(range(7, 39))  # 32 bytes
SINCE: Final = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
UNTIL: Final = datetime(2026, 10, 20, tzinfo=UTC)
EXE: Final = Path(sys.executable).with_name("sisec-stream")


def at(day: int, hour: int, minute: int = 0, ms: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC) + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Planted:
    event_id: str
    ts: datetime
    read: str
    #: Expected kind when found (None: a decoy, never returned).
    kind: str | None
    edge: str | None = None
    substitutions: tuple[tuple[int, str, str], ...] = ()
    #: Found only at max_substitutions 2.
    max2: bool = False


PLANTED: Final = (
    Planted("P-exact", at(10, 8), TARGET, "exact"),
    Planted("P-look", at(12, 17, 30), "H8X472", "lookalike", substitutions=((2, "8", "B"),)),
    Planted("P-drop", at(14, 6, 5), "HBX47", "edge", edge="dropped_last"),
    Planted("P-extra", at(19, 23, 59, 59_999), "HBX4727", "edge", edge="extra_last"),
    Planted(
        "P-two",
        at(15, 9),
        "H8X47Z",
        "lookalike",
        substitutions=((2, "8", "B"), (6, "Z", "2")),
        max2=True,
    ),
    # Decoys: another plate (3 is no look-alike of 2), then the target out of range:
    # just before SINCE (its partition is read), a day after UNTIL, and exactly at UNTIL.
    Planted("D-other", at(11, 9), "HBX473", None),
    Planted("D-before", at(5, 11, 59, 59_999), TARGET, None),
    Planted("D-after", at(21, 10), TARGET, None),
    Planted("D-until", at(20, 0), TARGET, None),
)


def expected(max2: bool = False) -> list[Planted]:
    found = [p for p in PLANTED if p.kind is not None and (max2 or not p.max2)]
    return sorted(found, key=lambda p: p.ts)


def _rows(pseudonymized: bool, key: bytes | None) -> list[dict[str, Any]]:
    rows = []
    for i, p in enumerate(PLANTED):
        rows.append(
            {
                "event_id": p.event_id,
                "ts": p.ts,
                "camera_id": f"MDE-LPR-{9000 + i}",
                "plate": None if pseudonymized else p.read,
                "plate_token": plate_token(p.read, key) if key is not None else None,
                "plate_raw": None if pseudonymized else p.read.lower(),
                "confidence": 0.62,
                "lat": 6.25,
                "lon": -75.58,
                "candidates": [],
                "hit": False,
            }
        )
    return rows


def _avoid() -> frozenset[str]:
    """Every read that could match the target at max 2: kept out of the generated month."""
    return frozenset(Watchlist(WatchlistConfig(max_substitutions=2)).read_variants(TARGET))


@pytest.fixture(scope="module")
def clear_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    info = write_month(root, MonthSpec(reads=300_000, avoid=_avoid()))
    assert info.rows == 300_000 and info.files == 240
    write_rows(root, _rows(pseudonymized=False, key=None))
    return root


@pytest.fixture(scope="module")
def pseudo_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pseudo")
    spec = MonthSpec(reads=60_000, key=KEY, pseudonymize=True, avoid=_avoid(), seed=11)
    write_month(root, spec)
    write_rows(root, _rows(pseudonymized=True, key=KEY))
    return root


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("key") / "archive.key"
    p.write_bytes(KEY)
    return p


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), "search", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def cli_json(*args: str | Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = run_cli(*args, "--json")
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


RANGE: Final = ("--since", "2026-10-05T07:00:00-05:00", "--until", "2026-10-20")


def _check_api(found: list[Any], max2: bool = False) -> None:
    want = expected(max2)
    assert [s.event_id for s in found] == [p.event_id for p in want]
    for s, p in zip(found, want, strict=True):
        assert (s.ts, s.read, s.kind, s.edge, s.substitutions) == (
            p.ts,
            p.read,
            p.kind,
            p.edge,
            p.substitutions,
        ), p.event_id
        assert 0 < s.score <= 1


def _check_json(docs: list[dict[str, Any]], pseudonymized: bool = False) -> None:
    want = expected()
    assert [d["event_id"] for d in docs] == [p.event_id for p in want]
    for d, p in zip(docs, want, strict=True):
        assert d["kind"] == p.kind and d["read"] == p.read and d["edge"] == p.edge
        assert d["ts"] == p.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert [tuple(s) for s in d["substitutions"]] == list(p.substitutions)
        assert d["plate"] == (None if pseudonymized else p.read)
        assert (d["token"] is not None) == pseudonymized
        assert d["camera_id"].startswith("MDE-LPR-9") and d["lat"] == 6.25


# -- clear archive -------------------------------------------------------------------------


def test_api_finds_exactly_the_planted_reads(clear_archive: Path) -> None:
    r = search(clear_archive, "hbx-472", since=SINCE, until=UNTIL)
    _check_api(r.sightings)
    # H-K/M/N, B-8, X none, 4-A, 7-T, 2-Z: 7 look-alikes, 2 dropped and 72 extra edges.
    assert r.plate == TARGET and r.variants[0] == TARGET and len(r.variants) == 82
    # Partitions 2026-10-05 .. 2026-10-19: 15 days of 8 generated files, plus the
    # planted files of the days that have one (5, 10, 11, 12, 14, 15, 19).
    assert r.partitions == 15 and r.files == 15 * 8 + 7
    assert r.candidates == len(expected())
    # The exact hit is strong; a dropped edge is weak evidence (docs/watchlist.md).
    scores = {s.event_id: s.score for s in r.sightings}
    assert scores["P-exact"] == 0.99 and scores["P-drop"] < 0.5


def test_two_substitutions_find_the_double_misread(clear_archive: Path) -> None:
    r = search(clear_archive, TARGET, since=SINCE, until=UNTIL, max_substitutions=2)
    _check_api(r.sightings, max2=True)
    assert len(r.variants) == 1 + 7 + 18 + 2 + 72
    r0 = search(clear_archive, TARGET, since=SINCE, until=UNTIL, max_substitutions=0)
    assert [s.kind for s in r0.sightings] == ["exact", "edge", "edge"]


def test_cli_json_and_table(clear_archive: Path) -> None:
    code, docs, err = cli_json("--plate", "hbx 472", *RANGE, "--archive", clear_archive)
    assert code == 0, err
    _check_json(docs)
    assert "4 sightings of HBX472" in err and "15 partitions" in err
    table = run_cli("--plate", "HBX472", *RANGE, "--archive", clear_archive)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "camera", "read", "kind", "score", "lat", "lon"]
    assert len(lines) == 5
    assert "H8X472" in lines[2] and "lookalike 8@2 for B" in lines[2]
    assert "HBX47 " in lines[3] and "edge dropped_last" in lines[3]


def test_min_score_hides_weak_sightings(clear_archive: Path) -> None:
    code, docs, _ = cli_json(
        "--plate", TARGET, *RANGE, "--archive", clear_archive, "--min-score", "0.5"
    )
    assert code == 0
    assert [d["event_id"] for d in docs] == [
        p.event_id for p in expected() if p.event_id in ("P-exact", "P-look")
    ]
    proc = run_cli("--plate", TARGET, *RANGE, "--archive", clear_archive, "--min-score", "2")
    assert proc.returncode == 2 and "between 0 and 1" in proc.stderr


def test_nothing_found_exits_1(clear_archive: Path) -> None:
    proc = run_cli("--plate", "ZZZ999", *RANGE, "--archive", clear_archive)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no sightings of ZZZ999" in proc.stderr


def test_partitions_outside_the_range_are_never_opened(clear_archive: Path, tmp_path: Path) -> None:
    # A copy of the archive's folder tree with a broken file outside the range and
    # the real files linked inside it.
    root = tmp_path / "archive"
    for f in sorted(clear_archive.rglob("*.parquet")):
        dest = root / f.relative_to(clear_archive)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(f)
    broken = root / "source=plate_read" / "date=2026-10-21" / "part-0-1-0.parquet"
    broken.write_bytes(b"not parquet")
    (root / "source=plate_read" / "date=2026-10-04" / "part-0-2-0.parquet").write_bytes(b"")
    (root / "source=alert").mkdir()
    r = search(root, TARGET, since=SINCE, until=UNTIL)
    _check_api(r.sightings)
    # ... and one inside the range is an archive error, exit 2, naming the problem.
    (root / "source=plate_read" / "date=2026-10-06" / "part-0-3-0.parquet").write_bytes(b"x")
    proc = run_cli("--plate", TARGET, *RANGE, "--archive", root)
    assert proc.returncode == 2 and "cannot read the archive" in proc.stderr


def test_archive_files_prunes_by_date(clear_archive: Path) -> None:
    one_ms = timedelta(milliseconds=1)
    parts, files = archive_files(clear_archive, at(3, 23, 59, 59_999), at(4, 0) + one_ms)
    assert parts == 2 and {f.parent.name for f in files} == {"date=2026-10-03", "date=2026-10-04"}
    parts, files = archive_files(clear_archive, at(3, 0), at(4, 0))
    assert parts == 1 and len(files) == 8
    assert archive_files(clear_archive, at(3, 0), at(3, 0) + one_ms)[0] == 1
    outside = datetime(2027, 1, 1, tzinfo=UTC)
    assert archive_files(clear_archive, outside, outside + timedelta(days=9)) == (0, [])


def test_config_gives_the_archive_and_the_rules(clear_archive: Path, tmp_path: Path) -> None:
    (tmp_path / "archive").symlink_to(clear_archive)
    cfg = tmp_path / "sisec.toml"
    cfg.write_text('[archive]\npath = "archive"\n\n[watchlist]\nmax_substitutions = 2\n')
    code, docs, err = cli_json("--plate", TARGET, *RANGE, "--config", cfg)
    assert code == 0, err
    assert [d["event_id"] for d in docs] == [p.event_id for p in expected(max2=True)]
    # The option overrides the file.
    code, docs, _ = cli_json("--plate", TARGET, *RANGE, "-c", cfg, "--max-substitutions", "1")
    assert [d["event_id"] for d in docs] == [p.event_id for p in expected()]
    cfg.write_text("[watchlist]\nmax_substitutions = 2\n")
    proc = run_cli("--plate", TARGET, *RANGE, "--config", cfg)
    assert proc.returncode == 2 and "--archive" in proc.stderr


def test_relative_since(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    rows = [
        {"event_id": "recent", "ts": now - timedelta(hours=30), "plate": TARGET},
        {"event_id": "old", "ts": now - timedelta(days=8), "plate": TARGET},
    ]
    write_rows(tmp_path, rows)
    code, docs, err = cli_json("--plate", TARGET, "--since", "7d", "--archive", tmp_path)
    assert code == 0, err
    assert [d["event_id"] for d in docs] == ["recent"]
    code, docs, _ = cli_json("--plate", TARGET, "--since", "36h", "--archive", tmp_path)
    assert [d["event_id"] for d in docs] == ["recent"]
    code, docs, _ = cli_json("--plate", TARGET, "--since", "1d", "--archive", tmp_path)
    assert code == 1 and docs == []
    code, docs, _ = cli_json(
        "--plate", TARGET, "--since", "2w", "--until", "2d", "--archive", tmp_path
    )
    assert [d["event_id"] for d in docs] == ["old"]


# -- pseudonymized archive -----------------------------------------------------------------


def test_pseudonymized_with_the_key(pseudo_archive: Path, key_file: Path) -> None:
    r = search(pseudo_archive, TARGET, since=SINCE, until=UNTIL, key=KEY)
    _check_api(r.sightings)
    assert all(s.plate is None and s.pseudonymized for s in r.sightings)
    assert r.sightings[0].token == plate_token(TARGET, KEY)
    code, docs, err = cli_json(
        "--plate", TARGET, *RANGE, "--archive", pseudo_archive, "--key-file", key_file
    )
    assert code == 0, err
    _check_json(docs, pseudonymized=True)
    table = run_cli("--plate", TARGET, *RANGE, "--archive", pseudo_archive, "--key-file", key_file)
    assert "H8X472 (token)" in table.stdout


def test_pseudonymized_with_a_wrong_key_finds_nothing(pseudo_archive: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(KEY[:-1] + b"\x00")
    proc = run_cli("--plate", TARGET, *RANGE, "--archive", pseudo_archive, "--key-file", wrong)
    assert proc.returncode == 1 and proc.stdout == ""
    assert search(pseudo_archive, TARGET, since=SINCE, until=UNTIL, key=b"x").sightings == []


def test_pseudonymized_without_a_key_says_so(pseudo_archive: Path) -> None:
    proc = run_cli("--plate", TARGET, *RANGE, "--archive", pseudo_archive)
    assert proc.returncode == 2
    assert "pseudonymized" in proc.stderr and "--key-file" in proc.stderr


def test_bad_key_files(pseudo_archive: Path, tmp_path: Path) -> None:
    too_long = tmp_path / "long.key"
    too_long.write_bytes(b"k" * 65)
    for key, why in ((tmp_path / "missing.key", "cannot read the key file"), (too_long, "64")):
        proc = run_cli("--plate", TARGET, *RANGE, "--archive", pseudo_archive, "--key-file", key)
        assert proc.returncode == 2 and why in proc.stderr


# -- usage errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "write a duration back from now (90m, 36h, 7d, 2w)"),
        (("--since", "2026-13-01"), "is not a time"),
        (("--since", "2026-10-20", "--until", "2026-10-05"), "the time range is empty"),
        (("--plate", "H"), "2 to 10 letters and digits"),
        (("--plate", "HB*472"), "wildcard pattern"),
        (("--plate", "HBX#72"), "letters, digits"),
    ],
)
def test_usage_errors_exit_2(clear_archive: Path, args: tuple[str, ...], message: str) -> None:
    base = {"--plate": TARGET, "--since": "2026-10-05"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for k, v in {**base, **given}.items() for x in (k, v)]
    proc = run_cli(*argv, "--archive", clear_archive)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_archive_errors_exit_2(clear_archive: Path, tmp_path: Path) -> None:
    cases = [
        (tmp_path / "nowhere", "does not exist; pass --archive DIR"),
        (tmp_path, "is not an archive: it has no source=plate_read/ folder"),
        (clear_archive / "source=plate_read", "is inside an archive; pass the archive's root"),
    ]
    for folder, message in cases:
        proc = run_cli("--plate", TARGET, "--since", "7d", "--archive", folder)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    proc = run_cli("--plate", TARGET, "--since", "7d")
    assert proc.returncode == 2 and "no archive to search" in proc.stderr


def test_an_archive_without_plate_reads_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "source=call" / "date=2026-10-05").mkdir(parents=True)
    r = search(tmp_path, TARGET, since=SINCE, until=UNTIL)
    assert r.sightings == [] and r.files == 0


def test_parse_time() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_time("7d", now) == datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
    assert parse_time("36h", now) == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert parse_time("1.5h", now) == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    assert parse_time("now", now) == now
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T07:00") == datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert parse_time("2026-11-01T07:00:00-05:00") == datetime(2026, 11, 1, 12, tzinfo=UTC)
    for bad in ("7", "7 days", "", "2026-11-01X", "-3d"):
        with pytest.raises(SearchError):
            parse_time(bad, now)


# -- read variants -------------------------------------------------------------------------


def test_read_variants_sizes_and_agreement_with_the_matcher() -> None:
    sizes = {
        (plate, m): len(Watchlist(WatchlistConfig(max_substitutions=m)).read_variants(plate))
        for plate in ("ABC123", "ABC123A")
        for m in (1, 2)
    }
    assert sizes == {("ABC123", 1): 81, ("ABC123", 2): 95, ("ABC123A", 1): 82, ("ABC123A", 2): 102}
    wl = Watchlist.from_rows([{"plate": "abc-123", "list": "search"}])
    variants = wl.read_variants("abc-123")
    assert variants[0] == "ABC123" and len(set(variants)) == len(variants)
    hits = wl.match_batch(variants)
    assert all(len(h) == 1 and h[0].kind in ("exact", "lookalike", "edge") for h in hits)
    with pytest.raises(ValueError, match="2 to 10"):
        wl.read_variants("A")
    assert Watchlist(WatchlistConfig(default_match="exact")).read_variants("ABC123") == ["ABC123"]
