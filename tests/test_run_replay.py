"""``sisec-stream run --input``: replaying capture files without a broker."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import WATCHLIST_CSV, button, call, plate_read
from sisec_stream import Engine, Watchlist
from sisec_stream.cli import main
from sisec_stream.errors import ConfigError
from sisec_stream.files import JsonLinesSource, iter_lines
from sisec_stream.incidents import fold


def test_iter_lines_skips_blank_lines_and_reports_offsets(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a":1}\n\n  \n{"b":2}\r\n{"c"')
    with p.open("rb") as f:
        got = list(iter_lines(f))
    assert got == [(b'{"a":1}', 8), (b'{"b":2}\r', 21), (b'{"c"', 25)]
    with p.open("rb") as f:
        assert list(iter_lines(f, 8)) == got[1:], "resumes at a saved offset"


def test_file_source_resumes_at_its_snapshot(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"".join(b"line%d\n" % i for i in range(10)))
    source = JsonLinesSource([p], batch_size=4)
    (key,) = source.list_parts()
    part = source.build_part("in", key, None)
    assert part.next_batch() == [b"line0", b"line1", b"line2", b"line3"]
    saved = part.snapshot()
    part.close()
    resumed = source.build_part("in", key, saved)
    assert resumed.next_batch() == [b"line4", b"line5", b"line6", b"line7"]
    assert resumed.next_batch() == [b"line8", b"line9"]
    with pytest.raises(StopIteration):
        resumed.next_batch()
    resumed.close()


def test_file_source_checks_its_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such input file"):
        JsonLinesSource([tmp_path / "missing.jsonl"])
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"{}\n")
    with pytest.raises(ConfigError, match="given twice"):
        JsonLinesSource([p, tmp_path / "." / "a.jsonl"])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_replay_writes_what_the_engine_gives(
    tmp_path: Path, workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "watchlist.csv").write_bytes(WATCHLIST_CSV)
    config = tmp_path / "sisec.toml"
    config.write_text('[watchlist]\nfile = "watchlist.csv"\n[metrics]\nport = 0\n')
    reads = [plate_read(f"pr-{i}", "ABC-123" if i % 7 == 0 else f"QQQ{i:03d}") for i in range(300)]
    presses = [button(f"b-{i}", "press" if i % 3 == 0 else "heartbeat") for i in range(60)]
    bad = [b'{"type":"call"', b"[1,2]", call("c-1", status="answered")]
    files = {"plate_reads.jsonl": reads, "button_presses.jsonl": presses, "calls.jsonl": bad}
    for name, lines in files.items():
        (tmp_path / name).write_bytes(b"\n".join(lines) + b"\n\n")
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--config",
            str(config),
            "-w",
            workers,
            "--out",
            str(out),
            "--input",
            *(str(tmp_path / n) for n in files),
        ]
    )
    assert code == 0
    engine = Engine(watchlist=Watchlist.from_csv(tmp_path / "watchlist.csv"))
    folded = fold(engine, [reads, presses, bad])
    alerts = [orjson.loads(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    rejects = [orjson.loads(x) for x in (out / "rejects.jsonl").read_bytes().splitlines()]
    assert Counter((a["alert_id"], a["update"]) for a in alerts) == Counter(
        (a.alert_id, a.update) for a in folded
    )
    assert len(alerts) == 2 * 43 + 20, "ABC123 is on two lists; every third button presses"
    assert sum(1 for a in alerts if a["update"] == 0) == 2 + 1, "one page per list, one press"
    assert Counter(r["reason"] for r in rejects) == Counter(
        {"invalid_json": 1, "not_object": 1, "bad_value": 1}
    )
    summary = capsys.readouterr().err
    assert "events in 363" in summary and "rejected 3" in summary


def test_replay_of_a_missing_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)])
    assert code == 2
    assert "nope.jsonl: no such input file" in capsys.readouterr().err


def test_busy_metrics_port_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "e.jsonl").write_bytes(button("b-1") + b"\n")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = tmp_path / "sisec.toml"
        config.write_text(f"[metrics]\nport = {port}\n")
        code = main(
            ["run", "-c", str(config), "--input", str(tmp_path / "e.jsonl"), "--out", str(tmp_path)]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot serve metrics on 127.0.0.1:{port}" in err and "[metrics] port" in err
