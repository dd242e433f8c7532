"""A simulated camera node's burn, through the real parts: camera agent → township broker →
gateway → uplink broker → cloud ingest → PostgreSQL → the case file and its snapshot.

The agent reads a synthetic burn clip (the simulator's) as a video file with the real detector
and verifier. Live, the burn becomes one detection case whose file shows one snapshot. With
the uplink cut for the whole burn (the uplink broker down), the gateway keeps it on disk and,
once the uplink is back, the cloud still gets one case and one snapshot: nothing lost, nothing
doubled.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_sim.clips import render, write_clip
from tests.e2e.support import (
    admin_token,
    clean_env,
    credentials,
    get,
    start,
    stop,
    use_token,
    wait_for,
)

pytestmark = pytest.mark.slow

FIELD, CAMERA = "luxi-field-e2e", "luxi-field-e2e-cam"
CLIP = "burn-smoke-day"


@dataclass
class Stack:
    """The running system of one test."""

    base: str
    database_url: str
    uplink: MosquittoBroker
    tmp: Path
    env: dict[str, str]
    logs: list[Path]

    def run_camera(self, video: Path) -> None:
        """Run the camera agent on ``video`` until the clip ends (it then closes the incident)."""
        config = self.tmp / "camera.yaml"
        config.write_text(
            f"node_id: {CAMERA}\nkind: camera\n"
            f"source: {{type: file, path: {video}, loop: false, realtime: false}}\n"
            "analysis: {rate_fps: 10, width: 640}\n"
            f"outbox: {{path: {self.tmp / 'camera-outbox.sqlite'}}}\n"
        )
        log = self.tmp / "camera.log"
        self.logs.append(log)
        agent = start(["edge", "camera", "--config", str(config)], self.env, log)
        try:
            code = agent.wait(timeout=300)
        except subprocess.TimeoutExpired:
            stop(agent)
            raise AssertionError("the camera agent did not finish the clip") from None
        assert code == 0, log.read_text()[-3000:]

    def detections(self) -> list[tuple[str, str]]:
        """(event id, phase) of every detection the cloud stored for the camera."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT event_id, phase FROM detections WHERE node_id = %s ORDER BY seq",
                (CAMERA,),
            ).fetchall()
        return [(str(e), str(p)) for e, p in rows]

    def burning_cases(self) -> list[dict[str, Any]]:
        """The field's cases raised by the straw-burning rule (not, say, the camera offline)."""
        cases = get(self.base, "/api/v1/cases", site_id=FIELD)["items"]
        return [c for c in cases if c["rule_id"] == "burning"]

    def case_file(self) -> dict[str, Any] | None:
        """The field's detection case file once it shows a snapshot and the incident ended."""
        cases = self.burning_cases()
        if not cases:
            return None
        file: dict[str, Any] = get(self.base, f"/api/v1/cases/{cases[0]['id']}")
        ended = any(phase == "end" for _, phase in self.detections())
        return file if file["snapshots"] and ended else None


@pytest.fixture
def burn_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's smoke burn as an MJPG video file."""
    path = tmp_path_factory.mktemp("clips") / f"{CLIP}.avi"
    write_clip(render(CLIP, seed=1, size=(640, 480), fps=10.0), path)
    return path


@pytest.fixture
def stack(tmp_path: Path, migrated_url: str, mqtt_url: str, topic_root: str) -> Iterator[Stack]:
    """Cloud and gateway as processes; the uplink on a broker of the test's own."""
    run = uuid.uuid4().hex[:8]
    uplink = MosquittoBroker(tmp_path / "uplink").start()
    cloud_root = f"{topic_root}-cloud"
    port = free_port()
    base = clean_env(ENVGRID_LOG_LEVEL="INFO")
    cloud_env = {
        **base,
        "ENVGRID_TOPIC_ROOT": cloud_root,
        "ENVGRID_DATABASE_URL": migrated_url,
        "ENVGRID_MQTT_URL": uplink.url,
        "ENVGRID_API_PORT": str(port),
        "ENVGRID_INGEST_CLIENT_ID": f"ingest-{run}",
        "ENVGRID_INGEST_SHARE_GROUP": f"ingest-{run}",
    }
    loaded = subprocess.run(
        [*_envgrid(), "scenario", "load", "luxi"], env=cloud_env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "INSERT INTO sites (id, name, category, cell_id) "
            "VALUES (%s, '东阳村秸秆禁烧区', 'farmland', 'luxi-dongyang-g1')",
            (FIELD,),
        )
        conn.execute(
            "INSERT INTO nodes (id, site_id, kind) VALUES (%s, %s, 'camera')", (CAMERA, FIELD)
        )
    logs = [tmp_path / "cloud.log", tmp_path / "gateway.log"]
    processes = [
        start(["cloud"], cloud_env, logs[0]),
        start(
            ["gateway"],
            {
                **base,
                "ENVGRID_TOPIC_ROOT": topic_root,
                "ENVGRID_MQTT_URL": mqtt_url,
                "ENVGRID_UPLINK_MQTT_URL": uplink.url,
                "ENVGRID_UPLINK_TOPIC_ROOT": cloud_root,
                "ENVGRID_GATEWAY_ID": f"gw-{run}",
                "ENVGRID_GATEWAY_BUFFER_PATH": str(tmp_path / "gateway.sqlite"),
            },
            logs[1],
        ),
    ]
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        api = f"http://127.0.0.1:{port}"
        use_token(api, admin_token(migrated_url))
        wait_for("the cloud to be healthy", lambda: _healthy(api), 60, tuple(logs))
        camera_env = {**base, "ENVGRID_TOPIC_ROOT": topic_root, "ENVGRID_MQTT_URL": mqtt_url}
        yield Stack(api, migrated_url, uplink, tmp_path, camera_env, logs)
    finally:
        for process in reversed(processes):
            stop(process)
        uplink.stop()


def _healthy(base: str) -> bool:
    return httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def _envgrid() -> list[str]:
    return [sys.executable, "-m", "envgrid_cli"]


def _one_case_one_snapshot(stack: Stack) -> None:
    file = wait_for("a case with its snapshot", stack.case_file, 120, tuple(stack.logs))
    cases = stack.burning_cases()
    assert len(cases) == 1, cases
    case = file["case"]
    assert case["node_id"] == CAMERA, case
    assert case["cleared_at"] is not None, "the incident ended: the condition cleared"
    detections = stack.detections()
    events = {event for event, _ in detections}
    phases = [phase for _, phase in detections]
    assert len(events) == 1, f"one burn, one incident: {detections}"
    assert phases.count("new") == 1, detections
    assert phases.count("end") == 1, detections
    assert len(file["snapshots"]) == 1, file["snapshots"]
    snapshot = file["snapshots"][0]
    assert snapshot["event_id"] in events
    image = httpx.get(f"{stack.base}{snapshot['url']}", headers=credentials(stack.base), timeout=10)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert len(image.content) == snapshot["size"]


def test_a_burn_becomes_one_case_with_its_snapshot(stack: Stack, burn_clip: Path) -> None:
    stack.run_camera(burn_clip)
    _one_case_one_snapshot(stack)


def test_a_burn_during_an_uplink_cut_still_gives_one_case_and_one_snapshot(
    stack: Stack, burn_clip: Path
) -> None:
    stack.uplink.stop()
    stack.run_camera(burn_clip)  # the gateway holds the incident and its snapshot on disk
    assert stack.detections() == [], "the uplink was cut: nothing could reach the cloud"
    stack.uplink.start()
    _one_case_one_snapshot(stack)
