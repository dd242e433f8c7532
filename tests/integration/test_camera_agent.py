"""The camera agent against a real Mosquitto: incidents and snapshots arrive, survive an
outage and a restart, and SIGTERM stops the process cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import Detection, DetectionPhase, NodeState, NodeStatus
from envgrid_common.outbox import Outbox
from envgrid_common.topics import Topics
from envgrid_edge.camera import agent as agent_module
from envgrid_edge.camera.agent import CameraAgent, Outcome
from envgrid_edge.camera.config import load_camera_config
from envgrid_edge.camera.sources import open_source
from tests.camera_fakes import EVENT_ID, DetectorMaker, jpeg, write_folder
from tests.integration.test_edge_support import clear_retained
from tests.mjpeg_server import MjpegServer
from tests.mqtt_clients import Collector
from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
STOP_BOUND_S = 15.0  # what the agent may take to stop: drain, join its threads, disconnect


def camera_file(
    folder: Path, node: str, url: str, topics: Topics, source: dict[str, Any], **extra: Any
) -> Path:
    """Write a camera node's YAML file next to its outbox; return the file."""
    data: dict[str, Any] = {
        "node_id": node,
        "mqtt_url": url,
        "topic_root": topics.root,
        "progress_interval_s": 1.0,
        "source": source,
        "analysis": {"rate_fps": 10, "width": 80},
        "outbox": {"path": f"{node}.sqlite", "durability": "normal"},
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{node}.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def stills(tmp_path: Path, *, loop: bool = False, realtime: bool = False) -> dict[str, Any]:
    path = write_folder(tmp_path / "stills", 12)
    return {"type": "folder", "path": str(path), "rate_fps": 20, "loop": loop, "realtime": realtime}


class AgentThread:
    """A camera agent with a scripted detector in a thread of this process."""

    def __init__(self, file: Path, maker: DetectorMaker) -> None:
        config = load_camera_config(file)
        self.agent = CameraAgent(config, open_source(config.source), maker)
        self.stop_event = threading.Event()
        self.outcome: Outcome | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.outcome = self.agent.run(self.stop_event)

    def start(self) -> AgentThread:
        self.thread.start()
        return self

    def join(self) -> Outcome | None:
        self.thread.join(STOP_BOUND_S)
        assert not self.thread.is_alive(), "the agent did not stop"
        return self.outcome

    def stop(self) -> Outcome | None:
        self.stop_event.set()
        return self.join()


class Seen:
    """What a collector got from one camera node, decoded."""

    def __init__(self, collector: Collector, node: str) -> None:
        self.collector = collector
        self.topics = collector.topics
        self.node = node

    def detections(self) -> list[Detection]:
        topic = self.topics.detections(self.node)
        return [Detection.model_validate_json(m.payload) for m in self.collector.on(topic)]

    def phases(self) -> list[DetectionPhase]:
        return [d.phase for d in self.detections()]

    def snapshots(self, event_id: str = EVENT_ID) -> list[bytes]:
        return [m.payload for m in self.collector.on(self.topics.snapshot(self.node, event_id))]

    def statuses(self) -> list[NodeStatus]:
        topic = self.topics.status(self.node)
        return [
            NodeStatus.model_validate_json(m.payload) for m in self.collector.on(topic) if m.payload
        ]


@pytest.fixture
def collector(mqtt_url: str, topics: Topics) -> Iterator[Collector]:
    made = Collector(mqtt_url, topics, filters=[topics.all_nodes()]).start()
    yield made
    made.stop()


def test_incidents_and_snapshots_arrive_on_their_topics(
    tmp_path: Path, mqtt_url: str, topics: Topics, collector: Collector
) -> None:
    node = "cam-int-1"
    file = camera_file(tmp_path, node, mqtt_url, topics, stills(tmp_path))
    seen = Seen(collector, node)
    try:
        agent = AgentThread(file, DetectorMaker(new_at=3, update_at=5, end_at=8)).start()
        assert agent.join() is Outcome.ENDED, "a folder without loop ends the agent"
        wait_until(lambda: len(seen.detections()) >= 3 and len(seen.snapshots()) >= 2, 10, "all")
        detections = seen.detections()
        assert [d.phase for d in detections] == ["new", "update", "end"]
        assert [d.seq for d in detections] == [1, 2, 3]
        assert {d.event_id for d in detections} == {EVENT_ID}
        assert [d.has_snapshot for d in detections] == [True, True, False]
        assert not any(d.historical for d in detections), "sent live"
        assert detections[0].ts <= detections[1].ts <= detections[2].ts
        snapshots = seen.snapshots()
        assert len(snapshots) == 2
        for payload in snapshots:
            image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, "the snapshot is a JPEG"
        assert snapshots == [jpeg(90), jpeg(120)], "the detector's JPEGs, byte for byte"
        wait_until(lambda: bool(seen.statuses()) and seen.statuses()[-1].state is NodeState.OFFLINE)
        states = seen.statuses()
        assert states[0].state is NodeState.ONLINE
        assert {s.kind for s in states} == {"camera"}
    finally:
        clear_retained(mqtt_url, topics, node)


@pytest.fixture
def no_connect_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker is away on purpose: do not wait for it before reading frames."""
    monkeypatch.setattr(agent_module, "FIRST_CONNECT_WAIT_S", 0.0)


def queued(file: Path, node: str) -> int:
    with Outbox(file.parent / f"{node}.sqlite") as box:
        return len(box)


@pytest.mark.usefixtures("no_connect_wait")
def test_an_incident_seen_while_the_broker_is_away_arrives_once_marked_historical(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    node = "cam-int-2"
    file = camera_file(
        tmp_path, node, own_broker.url, topics, stills(tmp_path, loop=True, realtime=True)
    )
    collector = Collector(own_broker.url, topics, 300, filters=[topics.all_nodes()]).start()
    seen = Seen(collector, node)
    own_broker.stop()  # the collector's session is kept for when the broker is back
    agent = AgentThread(file, DetectorMaker(new_at=3, update_at=5, end_at=8)).start()
    try:
        wait_until(lambda: agent.agent.publisher.events[DetectionPhase.END] == 1, 15, "the end")
        assert agent.agent.link.sender.stats().connects == 0, "the broker was away"
        own_broker.start()
        wait_until(lambda: len(seen.phases()) >= 3 and len(seen.snapshots()) >= 2, 30, "backlog")
        wait_until(lambda: agent.agent.outbox.stats().rows == 0, 10, "an empty outbox")
        assert agent.stop() is Outcome.STOPPED
    finally:
        agent.stop_event.set()
        collector.stop()
    detections = seen.detections()
    assert [d.phase for d in detections] == ["new", "update", "end"], "each once, in order"
    assert all(d.historical for d in detections), "held back, so marked historical"
    assert Counter(seen.snapshots()).most_common(1)[0][1] == 1, "no snapshot twice"
    assert len(seen.snapshots()) == 2


@pytest.mark.usefixtures("no_connect_wait")
def test_what_a_stopped_agent_left_behind_goes_out_with_the_next_start(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    node = "cam-int-3"
    file = camera_file(tmp_path, node, own_broker.url, topics, stills(tmp_path))
    collector = Collector(own_broker.url, topics, 300, filters=[topics.all_nodes()]).start()
    seen = Seen(collector, node)
    own_broker.stop()
    try:
        first = AgentThread(file, DetectorMaker(new_at=3, update_at=5, end_at=8)).start()
        assert first.join() is Outcome.ENDED
        assert queued(file, node) >= 5, "three detections and two snapshots wait on disk"
        own_broker.start()
        second = AgentThread(file, DetectorMaker(new_at=99)).start()  # sees nothing new
        assert second.join() is Outcome.ENDED
        wait_until(lambda: len(seen.phases()) >= 3 and len(seen.snapshots()) >= 2, 15, "backlog")
        assert queued(file, node) == 0
    finally:
        collector.stop()
    detections = seen.detections()
    assert [(d.seq, d.phase) for d in detections] == [(1, "new"), (2, "update"), (3, "end")]
    assert all(d.historical for d in detections)
    assert len(set(seen.snapshots())) == len(seen.snapshots()) == 2


def spawn_fake_node(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``envgrid edge camera --config FILE`` with the scripted detector, as a real process."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.camera_fake_node", "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_sigterm_ends_the_incident_says_offline_and_stops_within_its_bound(
    tmp_path: Path, mqtt_url: str, topics: Topics, collector: Collector
) -> None:
    node = "cam-int-4"
    camera = MjpegServer(fps=25).start()
    seen = Seen(collector, node)
    source = {"type": "stream", "url": camera.url, "reconnect_min_s": 0.2}
    file = camera_file(tmp_path, node, mqtt_url, topics, source)
    log = tmp_path / "agent.log"
    process = spawn_fake_node(file, log)
    try:
        wait_until(lambda: seen.phases() == ["new", "update"], 30, "new and update over MJPEG")
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_BOUND_S) == 0, log.read_text()
        wait_until(lambda: len(seen.phases()) == 3, 10, "the end sent on the way out")
        assert seen.phases()[-1] == "end"
        wait_until(lambda: seen.statuses()[-1].state is NodeState.OFFLINE, 10, "offline")
        assert seen.statuses()[-1].ts is not None, "said on the way out, not the Will"
        text = log.read_text()
        assert "SIGTERM: stopping" in text
        assert "frames/s" in text, "the health line"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        camera.stop()
        clear_retained(mqtt_url, topics, node)
