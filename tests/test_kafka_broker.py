"""The local broker: a real Apache Kafka (KRaft) the project starts and stops itself.

Jars are fetched by Maven into the repository's ``.kafka/lib`` once per machine;
each test session runs its broker in a temporary folder on a free loopback port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from conftest import SHARED_KAFKA_LIB as SHARED_LIB
from sisec_stream.kafka import (
    DEFAULT_TOPICS,
    BrokerError,
    BrokerSettings,
    create_topics,
    start,
    status,
    stop,
)
from sisec_stream.kafka.testing import free_port_pair


def test_start_is_idempotent_and_answers(broker: BrokerSettings) -> None:
    first = status(broker)
    assert first.running and first.answering
    again = start(broker)
    assert again.pid == first.pid
    assert "answering" in again.describe()
    assert broker.log_file.stat().st_size > 0  # Log4j2 writes through the shipped config


def test_topics_and_a_message_round_trip(broker: BrokerSettings) -> None:
    created = create_topics(broker.bootstrap)
    assert set(created) == {t.name for t in DEFAULT_TOPICS}
    assert create_topics(broker.bootstrap) == []  # idempotent too

    delivered: list[str] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    payload = b'{"type":"button_press"}'
    producer.produce(
        "sisec.button-presses",
        payload,
        key=b"D1",
        on_delivery=lambda err, msg: delivered.append("ok" if err is None else str(err)),
    )
    assert producer.flush(30) == 0
    assert delivered == ["ok"]

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["sisec.button-presses"])
    got = None
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            got = msg.value()
    consumer.close()
    assert got == payload


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    settings = BrokerSettings(home=tmp_path, port=free_port_pair(), lib_dir=SHARED_LIB)
    pid = start(settings).pid
    assert pid is not None
    assert stop(settings) is True
    assert not Path(f"/proc/{pid}").exists()
    assert not status(settings).running
    assert not settings.pid_file.exists()
    assert stop(settings) is False


def test_port_in_use_fails_with_the_log(tmp_path: Path) -> None:
    port = free_port_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        settings = BrokerSettings(home=tmp_path, port=port, lib_dir=SHARED_LIB)
        with pytest.raises(BrokerError, match="exited during start-up") as info:
            start(settings, timeout=60)
    assert "last lines of" in str(info.value)
    assert not status(settings).running


def test_cli_status_of_a_stopped_broker(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("sisec-stream")
    proc = subprocess.run(
        [str(exe), "kafka", "status", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "not running" in proc.stdout


def test_cli_start_then_stop_from_another_process(tmp_path: Path) -> None:
    """The user's path: `kafka start` returns with the broker detached and answering;
    a later `kafka stop` ends exactly that process."""
    exe = str(Path(sys.executable).with_name("sisec-stream"))
    port = free_port_pair()
    args = ["--home", str(tmp_path), "--port", str(port)]
    SHARED_LIB.mkdir(parents=True, exist_ok=True)
    (tmp_path / "lib").symlink_to(SHARED_LIB)  # reuse the fetched jars
    started = subprocess.run(
        [exe, "kafka", "start", *args], capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, started.stderr
    assert f"answering on 127.0.0.1:{port}" in started.stdout
    pid = int((tmp_path / "broker.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    st = subprocess.run([exe, "kafka", "status", *args], capture_output=True, text=True, timeout=60)
    assert st.returncode == 0 and "answering" in st.stdout
    stopped = subprocess.run(
        [exe, "kafka", "stop", *args], capture_output=True, text=True, timeout=120
    )
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    deadline = time.monotonic() + 10  # init reaps the detached broker
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()


def test_cluster_ids_never_start_with_a_dash() -> None:
    from sisec_stream.kafka.broker import _cluster_id

    ids = [_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
