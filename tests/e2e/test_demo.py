"""``envgrid demo`` with nothing configured: embedded PostgreSQL, its own brokers, all sites
reporting within a minute, and the data still there after a stop and a start; the stop leaves
nothing running, a component that dies is restarted, and one demo runs per data directory."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from envgrid_cli.demo import DEMO_BURN_AT_S
from envgrid_cli.demo_lock import OWNER_VARIABLE
from envgrid_cli.services.mosquitto import mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cli.services.processes import carrying, command_line, is_running
from envgrid_common.clock import SHANGHAI
from tests.e2e.support import (
    clean_env,
    credentials,
    get,
    sign_in,
    sites_without_data,
    start,
    stop,
    wait_for,
)

SITE = "luxi-river-02"
STOP_TIMEOUT_S = 5.0
# A normal stop takes each part far less than the bound; the whole demo stays within it plus this.
STOP_MARGIN_S = 3.0
# What every demo starts, by a word of its command line.
KINDS = {
    "township and cloud brokers": ("mosquitto -c", 2),
    "PostgreSQL": ("postgres -D", 1),
    "PostgreSQL's guard": ("postgres_guard", 1),
    "cloud": ("envgrid_cli cloud", 1),
    "ingest worker": ("spawn_main", 1),
    "gateway": ("envgrid_cli gateway", 1),
    "sim": ("envgrid_cli sim", 1),
}
needs_mosquitto = pytest.mark.skipif(
    mosquitto_binary() is None, reason="the demo's own brokers need mosquitto"
)


def demo_data_dir() -> Path:
    """A data directory outside pytest's base temp, removed at the end of the run."""
    # Run as root, the embedded PostgreSQL runs as another user, and any other pytest run on
    # the machine resets pytest's base temp to mode 0700 under it.
    path = Path(tempfile.mkdtemp(prefix="envgrid-demo-test-"))
    path.chmod(0o755)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path / "demo-data"


def demo_env() -> dict[str, str]:
    return clean_env(ENVGRID_STOP_TIMEOUT_S=str(STOP_TIMEOUT_S))


def started_by(demo: subprocess.Popen[bytes]) -> dict[int, str]:
    """Every process the demo started (pid → command line), found by the mark they inherit."""
    return {
        pid: command_line(pid)
        for pid, owner in carrying(OWNER_VARIABLE).items()
        if owner.startswith(f"{demo.pid}:")
    }


def assert_every_kind(processes: dict[int, str]) -> None:
    for kind, (word, count) in KINDS.items():
        found = [c for c in processes.values() if word in c]
        assert len(found) >= count, f"no {kind} among {sorted(processes.values())}"


def stop_and_time(demo: subprocess.Popen[bytes], log: Path) -> None:
    """SIGINT the demo; everything it started must be gone within the stop bound (+ margin)."""
    processes = started_by(demo)
    assert_every_kind(processes)
    began = time.monotonic()
    demo.send_signal(signal.SIGINT)
    deadline = began + 60
    while demo.poll() is None or any(map(is_running, processes)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    took = time.monotonic() - began
    left = {pid: command for pid, command in processes.items() if is_running(pid)}
    status = stop(demo)
    print(f"the demo and its {len(processes)} processes stopped in {took:.2f} s")
    assert status == 0, log.read_text()[-3000:]
    assert not left, f"still running after the demo stopped: {left}"
    assert took <= STOP_TIMEOUT_S + STOP_MARGIN_S, f"the stop took {took:.1f} s"


def seqs_stored(base: str, since: datetime) -> set[int]:
    series = get(
        base,
        f"/api/v1/sites/{SITE}/readings",
        metric="ph",
        start=since.isoformat(),
        end=(datetime.now(SHANGHAI) + timedelta(minutes=1)).isoformat(),
    )
    return {p["seq"] for p in series["points"]}


def sign_in_as_demo_admin(base: str, data: Path) -> None:
    """Sign in with the password the demo printed (and keeps in its data directory)."""
    passwords = json.loads((data / "accounts.json").read_text())
    sign_in(base, "admin", passwords["admin"])


def _at_least(count: int, base: str, since: datetime) -> set[int] | None:
    seqs = seqs_stored(base, since)
    return seqs if len(seqs) >= count else None


@pytest.mark.slow
@pytest.mark.skipif(mosquitto_binary() is None, reason="the demo's own brokers need mosquitto")
def test_demo_comes_up_with_every_site_reporting_and_keeps_data(tmp_path: Path) -> None:
    data, port = demo_data_dir(), free_port()
    base = f"http://127.0.0.1:{port}"
    since = datetime.now(SHANGHAI) - timedelta(minutes=1)
    argv = ["demo", "--data-dir", str(data), "--api-port", str(port), "--interval", "2"]
    log = tmp_path / "demo.log"

    demo = start(argv, demo_env(), log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        sign_in_as_demo_admin(base, data)
        wait_for("every site reporting", lambda: not sites_without_data(base), 60, (log,))
        first: set[int] = wait_for("a few readings", lambda: _at_least(3, base, since), 30)
        # The address the demo prints leads a newcomer to the desk's sign-in, not to a 404.
        home = httpx.get(f"{base}/", follow_redirects=True, timeout=10)
        assert home.status_code == 200
        assert home.url.path == "/login"
        assert "网格环保值班台" in home.text
    finally:
        stop_and_time(demo, log)
    assert "duty desk" in log.read_text()
    assert "web API" in log.read_text()
    printed = log.read_text()
    assert "sign in (demo accounts" in printed
    for login in ("admin", "luxi-reviewer", "luxi-dongyang-officer", "luxi-shiqiao-officer"):
        assert f"    {login} " in printed, login

    demo = start(argv, demo_env(), log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        sign_in_as_demo_admin(base, data)
        again = wait_for("the API after a restart", lambda: seqs_stored(base, since), 30, (log,))
        assert first <= again, "readings stored before the restart are gone"
        wait_for(
            "new readings after the restart", lambda: seqs_stored(base, since) - first, 30, (log,)
        )
    finally:
        stop_and_time(demo, log)
    assert (data / "postgres").is_dir()
    # Nothing of the first run was left to take the second run's MQTT sessions over.
    cloud_broker_log = (data / "broker-cloud" / "mosquitto.log").read_text(errors="replace")
    assert "already connected" not in cloud_broker_log


@dataclass
class RunningDemo:
    """A demo the tests of this module share, and where to find it."""

    process: subprocess.Popen[bytes]
    data: Path
    base: str
    log: Path


@pytest.fixture(scope="module")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """A demo with every site reporting, stopped after the module's last test."""
    if mosquitto_binary() is None:
        pytest.skip("the demo's own brokers need mosquitto")
    tmp = tmp_path_factory.mktemp("running-demo")
    data, port, log = demo_data_dir(), free_port(), tmp / "demo.log"
    argv = ["demo", "--data-dir", str(data), "--api-port", str(port), "--interval", "2"]
    demo = start(argv, demo_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        sign_in_as_demo_admin(base, data)
        wait_for("every site reporting", lambda: not sites_without_data(base), 60, (log,))
        yield RunningDemo(demo, data, base, log)
    finally:
        stop_and_time(demo, log)


@pytest.mark.slow
def test_the_farmland_camera_sees_the_straw_fire_and_its_case_shows_the_snapshot(
    running_demo: RunningDemo,
) -> None:
    # The simulator's virtual camera shows the burn DEMO_BURN_AT_S after start; the camera
    # agent reads its MJPEG stream, the detector reports it, the gateway forwards it.
    def burning_case() -> dict[str, Any] | None:
        cases = get(running_demo.base, "/api/v1/cases", site_id="luxi-field-01")["items"]
        burning = [c for c in cases if c["rule_id"] == "burning"]
        if not burning:
            return None
        file: dict[str, Any] = get(running_demo.base, f"/api/v1/cases/{burning[0]['id']}")
        return file if file["snapshots"] else None

    file = wait_for(
        "the straw fire's case", burning_case, DEMO_BURN_AT_S + 150, (running_demo.log,)
    )
    assert file["case"]["node_id"] == "luxi-field-01-cam"
    snapshot = file["snapshots"][0]
    image = httpx.get(
        f"{running_demo.base}{snapshot['url']}", headers=credentials(running_demo.base), timeout=10
    )
    assert image.status_code == 200
    assert image.content[:2] == b"\xff\xd8"


@pytest.mark.slow
def test_a_second_demo_on_the_same_data_refuses_to_start(running_demo: RunningDemo) -> None:
    pid, data, port = running_demo.process.pid, str(running_demo.data), str(free_port())
    second = subprocess.run(
        [sys.executable, "-m", "envgrid_cli", "demo", "--data-dir", data, "--api-port", port],
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"another demo (pid {pid})" in second.stderr
    assert f"stop it with: kill {pid}" in second.stderr
    assert running_demo.process.poll() is None, "the first demo must not be disturbed"


@pytest.mark.slow
def test_a_cloud_killed_inside_the_demo_is_restarted_and_readings_are_stored_again(
    running_demo: RunningDemo,
) -> None:
    [cloud] = [p for p, c in started_by(running_demo.process).items() if "envgrid_cli cloud" in c]
    killed_at = datetime.now(SHANGHAI)
    os.kill(cloud, signal.SIGKILL)

    def console_says_restarted() -> bool:
        text = running_demo.log.read_text()
        return f"cloud (pid {cloud}) died (killed by SIGKILL)" in text and "cloud restarted" in text

    wait_for("the demo to restart the cloud", console_says_restarted, 30, (running_demo.log,))
    wait_for(
        "readings stored after the restart",
        lambda: seqs_stored(running_demo.base, killed_at),
        30,
        (running_demo.log,),
    )
    assert running_demo.process.poll() is None
