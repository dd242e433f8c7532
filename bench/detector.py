"""The camera pipeline's frames per second on one core, and the camera agent's memory.

    .venv/bin/python -m bench.detector [--seconds 30] [--agent-seconds 20]

For 640×480 and 1280×720 sources, the whole analysis path the agent runs on a frame — resize
to the analysed size (the node file's ``analysis.width``, 640 by default; and the source's own
size), the temporal detector (motion gate, flame and smoke cues, tracks, persistence) and the
learned verifier as the detector calls it (its cost amortised over the frames, as it runs) —
on a synthetic burn clip followed by a negative one, so the cues and the verifier are busy:
- decode excluded: frames already in memory;
- decode included: the same frames read from an MJPG file with ``cv2.VideoCapture``;
- baseline, in the same run: decoding the file alone.
Rates are frames per CPU second of this process with OpenCV on one thread (a shared machine's
waits do not count). Then the agent itself (``envgrid edge camera``) runs on the 1280×720 file
for ``--agent-seconds`` and its resident memory (now and peak) is read from /proc.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the goal counts

import cv2

from envgrid_edge.camera.analysis import resize
from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.pipeline import TemporalDetector
from envgrid_edge.camera.events import Frame
from envgrid_edge.camera.verifier import default_verifier
from envgrid_sim.clips import render

SIZES = ((640, 480), (1280, 720))
CLIPS = ("burn-smoke-day", "neg-red-vehicle")
FPS = 10.0
GOAL_FPS = 30.0
GOAL_RSS_MIB = 150.0


def clip_frames(size: tuple[int, int], seconds: float) -> Iterator[Frame]:
    """``seconds`` of each clip in :data:`CLIPS` at ``size``, one after the other."""
    for name in CLIPS:
        clip = render(name, seed=3, size=size, fps=FPS)
        count = min(clip.frame_count, int(seconds * FPS))
        for i in range(count):
            yield clip.frame(i)


def run_detector(frames: Iterator[Frame], width: int) -> tuple[int, float, int, int]:
    """(frames, CPU seconds, verifier calls, events) for the agent's analysis of ``frames``."""
    detector = TemporalDetector(DetectorConfig(), scorer=default_verifier())
    count = events = 0
    cpu = 0.0
    at = 0.0
    for frame in frames:
        start = time.process_time()
        height, source_width = frame.shape[:2]
        size = (width, round(width * height / source_width)) if width < source_width else None
        analysed = resize(frame, size) if size else frame
        events += len(detector.process(analysed, at))
        cpu += time.process_time() - start
        count += 1
        at += 1 / FPS
    events += len(detector.finish(at))
    return count, cpu, detector.scorer_calls, events


def decoded(path: Path, cpu: list[float]) -> Iterator[Frame]:
    """Frames of ``path`` read with OpenCV, adding the decoding CPU time to ``cpu[0]``."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            start = time.process_time()
            ok, frame = capture.read()
            cpu[0] += time.process_time() - start
            if not ok:
                return
            yield cast(Frame, frame)
    finally:
        capture.release()


def decode_only(path: Path) -> tuple[int, float]:
    """(frames, CPU seconds) of decoding ``path`` alone: the baseline."""
    cpu = [0.0]
    count = sum(1 for _ in decoded(path, cpu))
    return count, cpu[0]


def with_decode(path: Path, width: int) -> tuple[int, float, int, int]:
    """The analysis of ``path``'s frames, their decoding counted in."""
    cpu = [0.0]
    count, analysis_cpu, calls, events = run_detector(decoded(path, cpu), width)
    return count, analysis_cpu + cpu[0], calls, events


def rate(count: int, cpu: float) -> float:
    """Frames per CPU second."""
    return count / cpu if cpu > 0 else float("inf")


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def agent_memory(video: Path, folder: Path, seconds: float) -> tuple[int, int, str]:
    """Run the camera agent on ``video`` for ``seconds``: (RSS, peak RSS in KiB, log tail)."""
    config = folder / "camera.yaml"
    config.write_text(
        "node_id: bench-camera\nkind: camera\n"
        f"source: {{type: file, path: {video}, loop: true, realtime: true}}\n"
        "analysis: {rate_fps: 5, width: 640}\n"
        f"outbox: {{path: {folder / 'outbox.sqlite'}}}\n"
        f"mqtt_url: mqtt://127.0.0.1:1883\ntopic_root: bench-detector-{os.getpid()}\n"
    )
    log = folder / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "envgrid_edge", "camera", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ENVGRID_LOG_LEVEL": "INFO"},
        )
        try:
            deadline = time.monotonic() + seconds
            rss = peak = 0
            while time.monotonic() < deadline and agent.poll() is None:
                time.sleep(1)
                if agent.poll() is None:
                    rss, peak = memory_kib(agent.pid)
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-3:])
    return rss, peak, tail


def report(name: str, measured: tuple[int, float, int, int], baseline: float) -> float:
    """Print one case's line; its frames per CPU second."""
    count, cpu, calls, events = measured
    fps = rate(count, cpu)
    verdict = "meets" if fps >= GOAL_FPS else "BELOW"
    print(
        f"  {name:44s} {fps:7.1f} frames/s per core  ({count} frames, verifier called "
        f"{calls}×, {events} events; {fps / baseline:.2f} × decode alone; {verdict} "
        f"{GOAL_FPS:g}/s)",
        flush=True,
    )
    return fps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="seconds of each clip (10 frames/s)"
    )
    parser.add_argument(
        "--agent-seconds", type=float, default=20.0, help="how long the agent runs (0: skip)"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    print(f"clips {', '.join(CLIPS)}, {args.seconds:g} s each at {FPS:g} frames/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="envgrid-bench-detector-") as tmp:
        folder = Path(tmp)
        for size in SIZES:
            width, height = size
            frames = list(clip_frames(size, args.seconds))
            video = folder / f"clip-{width}x{height}.avi"
            writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), FPS, size)
            for frame in frames:
                writer.write(frame)
            writer.release()
            count, cpu = decode_only(video)
            baseline = rate(count, cpu)
            print(f"{width}×{height}: decode alone {baseline:.1f} frames/s per core (baseline)")
            analysed = sorted({640, width})
            for analysis_width in analysed:
                label = f"analysed at {analysis_width} wide"
                report(
                    f"{label}, decode excluded",
                    run_detector(iter(frames), analysis_width),
                    baseline,
                )
                report(f"{label}, decode included", with_decode(video, analysis_width), baseline)
        if args.agent_seconds > 0:
            hd = folder / "clip-1280x720.avi"
            rss, peak, tail = agent_memory(hd, folder, args.agent_seconds)
            if not rss:
                print(f"agent: did not run; its log ends:\n{tail}")
                return 1
            verdict = "meets" if peak / 1024 <= GOAL_RSS_MIB else "ABOVE"
            print(
                f"agent (envgrid edge camera, 1280×720 file at 10 frames/s, 5/s analysed at "
                f"640 wide, verifier loaded): RSS {rss / 1024:.1f} MiB, peak "
                f"{peak / 1024:.1f} MiB ({verdict} {GOAL_RSS_MIB:g} MiB)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
