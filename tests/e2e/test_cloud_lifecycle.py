"""`envgrid cloud`'s workers: none outlives it, a dead one is restarted, a stop keeps its bound."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker, mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cli.services.processes import children, command_line, is_running
from tests.conftest import PG_ADMIN_URL
from tests.e2e.support import clean_env, start, stop, wait_for

pytestmark = pytest.mark.skipif(
    mosquitto_binary() is None, reason="the cloud's own broker needs mosquitto"
)


def cloud_env(database_url: str, broker: MosquittoBroker, **extra: str) -> dict[str, str]:
    """The cloud on this test's database and broker, with client ids of its own."""
    return clean_env(
        ENVGRID_DATABASE_URL=database_url,
        ENVGRID_MQTT_URL=broker.url,
        ENVGRID_INGEST_CLIENT_ID=f"lc-{uuid.uuid4().hex[:8]}",
        **extra,
    )


def workers_of(cloud: subprocess.Popen[bytes]) -> list[int]:
    """The ingest worker processes of a running ``envgrid cloud``."""
    return [pid for pid in children(cloud.pid) if "spawn_main" in command_line(pid)]


def survivors_after(pids: list[int], seconds: float) -> dict[int, str]:
    """Those of ``pids`` still running after ``seconds`` (pid → command line)."""
    deadline = time.monotonic() + seconds
    while any(map(is_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {pid: command_line(pid) for pid in pids if is_running(pid)}


def wait_connected(broker: MosquittoBroker, client_id: str, times: int, log: Path) -> None:
    """Wait until workers with ids ``client_id-N`` have connected ``times`` times in all."""

    def count() -> bool:
        text = (broker.data_dir / "mosquitto.log").read_text(errors="replace")
        return text.count(f" as {client_id}-") >= times

    wait_for(f"{times} worker connection(s)", count, 60, (log,))


def ingest_only_cloud(
    database_url: str, broker: MosquittoBroker, workers: int, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``envgrid cloud --ingest-only`` once its ``workers`` have connected, and their client id."""
    env = cloud_env(database_url, broker, ENVGRID_INGEST_WORKERS=str(workers))
    cloud = start(["cloud", "--ingest-only"], env, log)
    try:
        wait_connected(broker, env["ENVGRID_INGEST_CLIENT_ID"], workers, log)
    except BaseException:
        stop(cloud)  # the test's own finally is not reached: stop it here
        raise
    return cloud, env["ENVGRID_INGEST_CLIENT_ID"]


def test_no_ingest_worker_survives_a_sigkilled_cloud(
    migrated_url: str, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    log = tmp_path / "cloud.log"
    cloud, _ = ingest_only_cloud(migrated_url, own_broker, 2, log)
    try:
        workers = workers_of(cloud)
        assert len(workers) == 2, [command_line(pid) for pid in children(cloud.pid)]
        # Its other child, multiprocessing's resource tracker, must not stay either.
        every_child = children(cloud.pid)
        cloud.send_signal(signal.SIGKILL)
        cloud.wait(10)
        survivors = survivors_after(every_child, 5.0)
        assert not survivors, f"alive 5 s after the cloud's SIGKILL: {survivors}"
    finally:
        stop(cloud)


def test_a_worker_that_dies_is_restarted_and_the_log_says_so(
    migrated_url: str, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    log = tmp_path / "cloud.log"
    cloud, client_id = ingest_only_cloud(migrated_url, own_broker, 1, log)
    try:
        [worker] = workers_of(cloud)
        os.kill(worker, signal.SIGKILL)
        wait_connected(own_broker, client_id, 2, log)
        text = log.read_text()
        assert f"ingest-0 (pid {worker}) exited unexpectedly (killed by SIGKILL)" in text
        assert "ingest-0 restarted" in text
        assert cloud.poll() is None
    finally:
        assert stop(cloud) == 0, log.read_text()[-3000:]


def test_the_cloud_stops_within_its_bound_with_its_broker_hung_and_database_dropped(
    migrated_url: str, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    bound_s, port = 2.0, free_port()
    env = cloud_env(
        migrated_url,
        own_broker,
        ENVGRID_INGEST_WORKERS="2",
        ENVGRID_STOP_TIMEOUT_S=str(bound_s),
        ENVGRID_API_PORT=str(port),
    )
    log = tmp_path / "cloud.log"
    cloud = start(["cloud"], env, log)
    assert own_broker.process is not None
    try:
        wait_connected(own_broker, env["ENVGRID_INGEST_CLIENT_ID"], 2, log)
        wait_for_port("127.0.0.1", port, timeout_s=30)
        every_child = children(cloud.pid)
        os.kill(own_broker.process.pid, signal.SIGSTOP)  # answers nothing, closes nothing
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            name = migrated_url.rpartition("/")[2]
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        began = time.monotonic()
        cloud.send_signal(signal.SIGTERM)
        cloud.wait(bound_s + 10)
        took = time.monotonic() - began
        assert took <= bound_s + 1.0, f"the stop took {took:.1f} s\n{log.read_text()[-3000:]}"
        # multiprocessing's resource tracker ends by itself once the last of them has gone.
        assert not survivors_after(every_child, 2.0)
        print(f"stopped in {took:.2f} s (bound {bound_s:g} s), exit status {cloud.returncode}")
    finally:
        os.kill(own_broker.process.pid, signal.SIGCONT)
        stop(cloud)
