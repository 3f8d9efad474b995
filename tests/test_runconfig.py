"""The run configuration file: defaults, every section, and errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from sisec_stream.cli import main
from sisec_stream.engine import EngineConfig
from sisec_stream.errors import ConfigError
from sisec_stream.runconfig import RunConfig, Topics


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sisec.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    c = RunConfig.load(write(tmp_path, ""))
    assert c.brokers == "127.0.0.1:9092"
    assert c.topics == Topics()
    assert c.topics.inputs == ["sisec.plate-reads", "sisec.button-presses", "sisec.calls"]
    assert c.metrics_port == 9464 and c.watchlist_file is None and c.recovery_dir is None
    assert c.engine == EngineConfig() and not c.stop_at_end


def test_every_section(tmp_path: Path) -> None:
    c = RunConfig.load(
        write(
            tmp_path,
            """
[kafka]
brokers = "10.0.0.1:9093,10.0.0.2:9093"
[kafka.client]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "PLAIN"
[kafka.consumer]
"fetch.wait.max.ms" = 5
[kafka.producer]
"linger.ms" = 1
[topics]
plate_reads = "mde.lpr"
alerts = "mde.alertas"
[source]
batch_size = 1000
on_missing_offset = "fail"
stop_at_end = true
[watchlist]
file = "lists/hot.csv"
[metrics]
port = 9500
[recovery]
dir = "state"
snapshot_interval_s = 5
[engine.priority]
kinds = { plate_hit = 2 }
lists = { stolen_vehicle = 1 }
""",
        )
    )
    assert c.brokers == "10.0.0.1:9093,10.0.0.2:9093"
    assert c.kafka.consumer_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "fetch.wait.max.ms": 5,
    }
    assert c.kafka.producer_config()["linger.ms"] == 1
    assert "fetch.wait.max.ms" not in c.kafka.producer_config()
    assert c.topics.plate_reads == "mde.lpr" and c.topics.calls == "sisec.calls"
    assert c.topics.alerts == "mde.alertas"
    assert (c.batch_size, c.on_missing_offset, c.stop_at_end) == (1000, "fail", True)
    assert c.watchlist_file == tmp_path / "lists" / "hot.csv", "relative to the file"
    assert c.metrics_port == 9500
    assert c.recovery_dir == tmp_path / "state" and c.snapshot_interval_s == 5.0
    assert c.engine.priority == {"kinds": {"plate_hit": 2}, "lists": {"stolen_vehicle": 1}}


def test_metrics_can_be_off(tmp_path: Path) -> None:
    assert RunConfig.load(write(tmp_path, "[metrics]\nenabled = false\n")).metrics_port is None


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("[kafka]\nbroker = 'x:1'\n", "kafka.broker", "known keys of [kafka]: brokers"),
        ("[metric]\nport = 1\n", "metric", "unknown section"),
        ("[metrics]\nport = 70000\n", "metrics.port", "whole number 0..65535"),
        ("[metrics]\nport = '9464'\n", "metrics.port", "whole number"),
        ("[source]\nbatch_size = true\n", "source.batch_size", "whole number"),
        ("[source]\non_missing_offset = 'latest'\n", "source.on_missing_offset", "earliest, fail"),
        ("[source]\nstop_at_end = 'yes'\n", "source.stop_at_end", "true or false"),
        ("[topics]\nalerts = ''\n", "topics.alerts", "non-empty string"),
        ("[topics]\nalert = 'a'\n", "topics.alert", "unknown key"),
        ("kafka = 3\n", "kafka", "must be a table"),
        ("[kafka.client]\n'sasl.x' = [1]\n", "kafka.client.sasl.x", "strings, numbers"),
        ("[engine]\ndefault_list_priority = 2\n", "engine.default_list_priority", "kinds"),
        ("[engine]\npriority = 1\n", "engine.priority", "expected struct"),
        ("[engine]\nprio = 1\n", "engine.prio", "unknown field"),
        ("[engine.priority.lists]\nwanted = 9\n", "engine.priority.lists.wanted", "1, 2, 3"),
        ("[engine]\ntimezone = 'Bogota'\n", "engine.timezone", "IANA"),
        ("[engine]\nunknown_sensor = 'drop'\n", "engine.unknown_sensor", "reject, accept"),
        ("[engine.list_zones]\nwanted = 'S1'\n", "engine.list_zones", "lists of zone ids"),
        ("[engine.list_zones]\nwanted = ['S1']\n", "engine.list_zones", "set [places] zones"),
        ("[places]\nreload_interval_s = 5\n", "places.reload_interval_s", "no file to reload"),
        ("[places]\nzone = 'z.geojson'\n", "places.zone", "known keys of [places]"),
    ],
)
def test_bad_values_name_file_key_and_fix(tmp_path: Path, text: str, key: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        RunConfig.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}"), message
    assert says in message
    assert info.value.key == key


def test_not_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka]\nbrokers = \n")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid TOML: .*line 2"):
        RunConfig.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        RunConfig.load(tmp_path / "nope.toml")


def test_cli_reports_bad_config_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[metrics]\nport = -1\n")
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sisec-stream run: {path}: metrics.port") and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-w", "0"], "-w must be at least 1"),
        (["-i", "0"], "-i and -a go together"),
        (["-a", "127.0.0.1:1;127.0.0.1:2"], "-i and -a go together"),
        (["-i", "2", "-a", "127.0.0.1:1;127.0.0.1:2"], "not an index"),
    ],
)
def test_cli_rejects_bad_scaling_options(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *args]) == 2
    assert says in capsys.readouterr().err


def test_watchlist_rules(tmp_path: Path) -> None:
    c = RunConfig.load(
        write(
            tmp_path,
            """
[watchlist]
file = "hot.parquet"
skip_bad_rows = true
max_substitutions = 2
edges = false
plate_density = 0.5
default_match = "exact"
confusion = ["0ODQ", "8B", "A4:0.5"]
templates = ["co_car=LLLDDD"]
[watchlist.lists.flota]
kind = "allow"
[watchlist.lists.stolen_plate]
priority = 3
match = "lookalike"
""",
        )
    )
    w = c.watchlist
    assert c.watchlist_file == tmp_path / "hot.parquet" and c.skip_bad_rows
    assert (w.max_substitutions, w.edges, w.default_match) == (2, False, "exact")
    assert w.plate_density == 0.5
    assert list(w.confusion or []) == ["0ODQ", "8B", "A4:0.5"]
    assert w.lists["flota"].kind == "allow"
    assert (w.lists["stolen_plate"].priority, w.lists["stolen_plate"].match) == (3, "lookalike")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("[watchlist]\nmax_substitutions = 3\n", "watchlist.max_substitutions", "0..2"),
        ("[watchlist]\nconfusion = '0O'\n", "watchlist.confusion", "list of strings"),
        ("[watchlist]\nplate_density = 2\n", "watchlist.plate_density", "from 0 to 1"),
        ("[watchlist]\nconfusion = ['0']\n", "watchlist", "2 or more"),
        ("[watchlist]\ntemplates = ['co=LLX']\n", "watchlist", "unknown symbol"),
        ("[watchlist.lists.x]\nkind = 'deny'\n", "watchlist.lists.x.kind", "alert, allow"),
        ("[watchlist.lists.x]\npriority = 0\n", "watchlist.lists.x.priority", "1..4"),
        ("[watchlist.lists.x]\nmode = 'exact'\n", "watchlist.lists.x.mode", "unknown key"),
    ],
)
def test_bad_watchlist_rules(tmp_path: Path, text: str, key: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        RunConfig.load(path)
    assert str(info.value).startswith(f"{path}: {key}"), str(info.value)
    assert says in str(info.value)


def test_places_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[places]\nzones = 'zones.geojson'\ncameras = 'reg/cameras.csv'\n"
        "reload_interval_s = 30\n"
        "[engine]\ntimezone = 'America/Bogota'\nunknown_sensor = 'accept'\n"
        "[engine.list_zones]\nstolen_plate = ['kind:school', 'Q-1']\n",
    )
    c = RunConfig.load(path)
    assert c.zones_file == tmp_path / "zones.geojson"
    assert c.cameras_file == tmp_path / "reg" / "cameras.csv"
    assert c.devices_file is None
    assert c.places_files == [c.zones_file, c.cameras_file]
    assert c.places_reload_interval_s == 30.0
    assert c.engine.timezone == "America/Bogota" and c.engine.unknown_sensor == "accept"
    assert c.engine.list_zones == {"stolen_plate": ["kind:school", "Q-1"]}
