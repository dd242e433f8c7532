"""The camera agent without a broker: what a scripted detector reports lands in the outbox."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envgrid_common.clock import SHANGHAI
from envgrid_common.outbox import Kind
from envgrid_common.validation import validate
from envgrid_edge.camera import agent as agent_module
from envgrid_edge.camera.agent import CameraAgent, Outcome
from envgrid_edge.camera.config import CameraConfig, parse_camera_config
from envgrid_edge.camera.events import CameraEvent, Mask
from envgrid_edge.camera.handoff import FrameSlot, Grabbed
from envgrid_edge.camera.publish import FrameClock
from envgrid_edge.camera.sources import open_source
from tests.camera_fakes import EVENT_ID, DetectorMaker, write_folder, write_video

NODE = "cam-unit"


@pytest.fixture(autouse=True)
def no_broker_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody listens: do not wait for a first connection."""
    monkeypatch.setattr(agent_module, "FIRST_CONNECT_WAIT_S", 0.0)


def config(tmp_path: Path, **extra: Any) -> CameraConfig:
    stills = write_folder(tmp_path / "stills", 12, size=(320, 240))
    data: dict[str, Any] = {
        "node_id": NODE,
        "mqtt_url": "mqtt://127.0.0.1:9",  # nobody listens: everything stays in the outbox
        "topic_root": "t-unit/envgrid",
        "progress_interval_s": 0.2,
        "source": {"type": "folder", "path": str(stills), "rate_fps": 10, "realtime": False},
        "analysis": {"rate_fps": 10, "width": 160},
        "masks": {"ignore": [{"name": "sky", "points": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]]}]},
        "outbox": {"path": str(tmp_path / f"{NODE}.sqlite"), "durability": "normal"},
        **extra,
    }
    return parse_camera_config(data)


def run(agent: CameraAgent) -> Outcome:
    return agent.run(threading.Event())


def queued(path: Path, cfg: CameraConfig) -> list[tuple[Kind, str, bytes]]:
    from envgrid_common.outbox import Outbox

    with Outbox(path) as box:
        rows = box.take(1000)
    for row in rows:
        validate(cfg.topics, row.topic, row.payload)  # the contract, as the gateway sees it
    return [(row.kind, row.topic, row.payload) for row in rows]


def test_a_finished_folder_leaves_its_incident_in_the_outbox(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    maker = DetectorMaker(new_at=3, update_at=5, end_at=8)
    agent = CameraAgent(cfg, open_source(cfg.source), maker)
    assert run(agent) is Outcome.ENDED
    rows = queued(cfg.outbox_path, cfg)
    detections = [json.loads(p) for k, _, p in rows if k is Kind.DETECTION]
    snapshots = [(t, p) for k, t, p in rows if k is Kind.SNAPSHOT]
    assert [d["phase"] for d in detections] == ["new", "update", "end"]
    assert [d["seq"] for d in detections] == [1, 2, 3]
    assert {d["event_id"] for d in detections} == {EVENT_ID}
    assert [d.get("has_snapshot", False) for d in detections] == [True, True, False]
    assert detections[0]["bbox"] == [4, 5, 20, 10]
    assert all("historical" not in d for d in detections), "added when sent, not when stored"
    assert [t for t, _ in snapshots] == [cfg.topics.snapshot(NODE, EVENT_ID)] * 2
    assert all(p.startswith(b"\xff\xd8") for _, p in snapshots)
    statuses = [json.loads(p) for k, _, p in rows if k is Kind.STATUS]
    assert statuses[-1] == {"state": "offline", "ts": statuses[-1]["ts"], "kind": "camera"}


def test_the_detector_sees_the_analysed_size_and_the_mask(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    maker = DetectorMaker()
    run(CameraAgent(cfg, open_source(cfg.source), maker))
    detector = maker.made[0]
    assert len(maker.made) == 1
    assert {shape for shape, _ in detector.frames} == {(120, 160, 3)}
    assert detector.mask.shape == (120, 160)
    assert (detector.mask[:55] == 0).all()
    assert (detector.mask[65:] == 255).all()
    times = [at for _, at in detector.frames]
    assert len(times) == 12
    assert times == sorted(times)


def test_the_analysis_rate_skips_frames(tmp_path: Path) -> None:
    cfg = config(tmp_path, analysis={"rate_fps": 2.5, "width": 160})
    maker = DetectorMaker(new_at=99)
    agent = CameraAgent(cfg, open_source(cfg.source), maker)
    run(agent)
    assert [round(at, 2) for _, at in maker.made[0].frames] == [0.0, 0.4, 0.8]
    assert agent.source.counters.grabbed == 12


def test_stopping_ends_the_open_incident_and_sequence_numbers_continue(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        source={
            "type": "folder",
            "path": str(tmp_path / "stills"),
            "rate_fps": 50,
            "loop": True,
        },
    )
    maker = DetectorMaker(new_at=2, update_at=3, end_at=None)
    agent = CameraAgent(cfg, open_source(cfg.source), maker)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert agent.run(stop) is Outcome.STOPPED
    phases = [
        json.loads(p)["phase"] for k, _, p in queued(cfg.outbox_path, cfg) if k is Kind.DETECTION
    ]
    assert phases == ["new", "update", "end"], "the open incident ends when the agent stops"
    again = CameraAgent(cfg, open_source(cfg.source), DetectorMaker())
    try:
        assert again.link.next_seq == 4
    finally:
        again.link.close()


def test_without_a_detector_the_agent_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    def missing(config: CameraConfig, mask: Mask) -> Any:
        raise NotImplementedError("no detector here")

    assert run(CameraAgent(cfg, open_source(cfg.source), missing)) is Outcome.FAILED


def test_a_missing_source_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path, source={"type": "folder", "path": str(tmp_path / "nowhere")})
    assert run(CameraAgent(cfg, open_source(cfg.source), DetectorMaker())) is Outcome.FAILED


class Unruly:
    """A detector that fails on one frame and reports numpy numbers and a bad confidence."""

    def __init__(self) -> None:
        self.count = 0

    def process(self, frame: Any, at: float) -> list[CameraEvent]:
        self.count += 1
        if self.count == 1:
            raise RuntimeError("bad frame")
        if self.count == 2:
            box = tuple(np.array([1, 2, 3, 4], dtype=np.int64))
            return [CameraEvent("ev-n", "flame", "new", np.float32(0.5), box, at)]  # type: ignore[arg-type]
        if self.count == 3:
            return [CameraEvent("ev-n", "flame", "update", 1.5, None, at)]  # type: ignore[arg-type]
        return []

    def finish(self, at: float) -> list[CameraEvent]:
        return []


def test_a_failing_or_sloppy_detector_does_not_stop_the_agent(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    agent = CameraAgent(cfg, open_source(cfg.source), lambda c, m: Unruly())
    assert run(agent) is Outcome.ENDED
    assert agent.counters.detector_errors == 1
    detections = [json.loads(p) for k, _, p in queued(cfg.outbox_path, cfg) if k is Kind.DETECTION]
    assert [(d["phase"], d["bbox"], d["confidence"]) for d in detections] == [
        ("new", [1, 2, 3, 4], 0.5)
    ], "numpy numbers are sent as plain ones; an invalid confidence is not sent"


def test_a_frame_time_maps_to_the_wall_clock_of_its_reading() -> None:
    read = datetime(2026, 10, 20, 17, 31, 5, 250_000, tzinfo=SHANGHAI)
    clock = FrameClock()
    assert clock.wall(3.0, read) == read, "before any frame: the fallback"
    clock.mark(100.0, read)
    assert clock.wall(100.0, read) == read
    assert clock.wall(98.5, read) == read - timedelta(seconds=1.5), "an earlier frame"
    assert clock.wall(100.0004, read) == read, "to the millisecond"


def grabbed(at: float) -> Grabbed:
    return Grabbed(np.zeros((2, 2, 3), dtype=np.uint8), at, datetime(2026, 5, 1, tzinfo=SHANGHAI))


def test_a_live_slot_keeps_the_newest_frame_and_counts_the_dropped() -> None:
    slot = FrameSlot(drop=True)
    halt = threading.Event()
    for at in (1.0, 2.0, 3.0):
        assert slot.put(grabbed(at), halt)
    taken = slot.take(0.1)
    assert taken is not None
    assert taken.at == 3.0
    assert slot.dropped == 2
    assert slot.take(0.01) is None


def test_a_file_slot_waits_for_the_analyser_and_gives_up_on_halt() -> None:
    slot = FrameSlot(drop=False)
    halt = threading.Event()
    assert slot.put(grabbed(1.0), halt)
    threading.Timer(0.2, halt.set).start()
    assert not slot.put(grabbed(2.0), halt), "no room, then halted"
    taken = slot.take(0.1)
    assert taken is not None
    assert taken.at == 1.0
    assert slot.dropped == 0
    slot.end()
    assert slot.ended


def test_a_video_file_runs_through_the_agent(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.avi", 20, fps=10, size=(320, 240))
    cfg = config(tmp_path, source={"type": "file", "path": str(clip), "realtime": False})
    maker = DetectorMaker(new_at=2, update_at=4, end_at=None)
    assert run(CameraAgent(cfg, open_source(cfg.source), maker)) is Outcome.ENDED
    assert len(maker.made[0].frames) == 20
    assert {shape for shape, _ in maker.made[0].frames} == {(120, 160, 3)}
    phases = [
        json.loads(p)["phase"] for k, _, p in queued(cfg.outbox_path, cfg) if k is Kind.DETECTION
    ]
    assert phases == ["new", "update", "end"], "the clip's end closes the incident"
