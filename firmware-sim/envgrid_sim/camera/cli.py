"""``envgrid sim camera``: a virtual IP camera serving a clip or a scheduled burn over HTTP."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType

from envgrid_sim.camera.schedule import Schedule, burn_at, looping
from envgrid_sim.camera.server import VirtualCamera
from envgrid_sim.clips import CLIPS
from envgrid_sim.clips.cli import parse_size

PROGRESS_EVERY_S = 10.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim camera``."""
    burns = ", ".join(name for name, spec in CLIPS.items() if spec.burn)
    parser = commands.add_parser(
        "camera",
        help="serve a synthetic clip as an IP camera's MJPEG stream",
        description=(
            "A virtual camera node watching farmland: serves a synthetic clip (looping) or a "
            "quiet field with a burn igniting SECONDS after start (looping) as an MJPEG stream "
            "at http://HOST:PORT/stream.mjpg and a still at /snapshot.jpg, in real time. "
            "cv2.VideoCapture and the camera agent read the stream like a real IP camera."
        ),
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--clip", choices=list(CLIPS), metavar="NAME", help="loop this clip")
    what.add_argument(
        "--burn-at",
        type=float,
        metavar="SECONDS",
        help="show a quiet field, then a burn that ignites SECONDS after start",
    )
    parser.add_argument(
        "--burn", default="burn-smoke-day", metavar="NAME", help=f"which burn ({burns})"
    )
    parser.add_argument(
        "--background",
        nargs="+",
        default=[],
        metavar="NAME",
        help="clips to show before the burn, in turn (default: the quiet field)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (8090; 0: any)")
    parser.add_argument("--size", default="640x480", metavar="WxH", help="frame size (640x480)")
    parser.add_argument("--fps", type=float, default=10.0, metavar="N", help="frame rate (10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clips (0)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (85)")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop by itself after SECONDS"
    )
    parser.set_defaults(handler=run)


def schedule_from(args: argparse.Namespace) -> Schedule:
    """The schedule the options ask for."""
    size = parse_size(args.size)
    if args.fps <= 0:
        raise ValueError("--fps must be positive")
    if args.clip is not None:
        return looping(args.clip, seed=args.seed, size=size, fps=args.fps)
    return burn_at(
        args.burn_at,
        burn=args.burn,
        background=args.background,
        seed=args.seed,
        size=size,
        fps=args.fps,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted or ``--duration``: 0 after a clean stop, 1 if the port is taken,
    2 for bad options."""
    try:
        schedule = schedule_from(args)
    except ValueError as error:
        print(f"envgrid sim camera: {error}", file=sys.stderr)
        return 2
    try:
        camera = VirtualCamera(schedule, host=args.host, port=args.port, quality=args.quality)
    except OSError as error:
        print(
            f"envgrid sim camera: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        with camera:
            print(f"camera: {schedule.describe()}", flush=True)
            print(f"camera: stream {camera.url}  still {camera.snapshot_url}", flush=True)
            _serve(camera, schedule, stop, started, args.duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = camera.stats
    print(
        f"camera stopped: {stats.frames} frames drawn, {stats.parts_sent} sent "
        f"over {stats.connections} connections"
    )
    return 0


def _serve(
    camera: VirtualCamera,
    schedule: Schedule,
    stop: threading.Event,
    started: float,
    duration: float | None,
) -> None:
    deadline = None if duration is None else started + duration
    next_progress = started + PROGRESS_EVERY_S
    while True:
        wake = next_progress if deadline is None else min(next_progress, deadline)
        if stop.wait(max(0.0, wake - time.monotonic())):
            return
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if now >= next_progress:
            _progress(camera, schedule, now - started)
            next_progress += PROGRESS_EVERY_S


def _progress(camera: VirtualCamera, schedule: Schedule, elapsed: float) -> None:
    stats = camera.stats
    at = elapsed % schedule.period_s
    burning = any(f.ignition_s <= at < f.extinguished_s for f in schedule.fires)
    print(
        f"camera: {elapsed:.0f} s, at {at:.0f}/{schedule.period_s:g} s of the schedule"
        f"{' (fire burning)' if burning else ''}; {stats.frames} frames drawn, "
        f"{stats.skipped} skipped; {stats.clients} clients watching, "
        f"{stats.parts_sent} frames sent",
        flush=True,
    )
