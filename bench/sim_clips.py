"""How fast the simulator draws its synthetic camera clips, per frame, on one thread.

For every clip: CPU and wall milliseconds per frame over every ``--every``-th frame (the
quiet start and the burn alike), at each ``--size``; then the worst and the mean. OpenCV is
held to one thread so the figures are per core, as a camera node next to other work sees it.

Run: ``.venv/bin/python -m bench.sim_clips [--size 640x480 1280x720] [--every 3]``.
"""

from __future__ import annotations

import argparse
import time

import cv2

from envgrid_sim.clips import CLIPS, render


def measure(name: str, size: tuple[int, int], every: int) -> tuple[float, float, float]:
    """(setup s, CPU ms a frame, wall ms a frame) for one clip at one size."""
    started = time.perf_counter()
    clip = render(name, size=size)
    setup = time.perf_counter() - started
    indices = range(0, clip.frame_count, every)
    cpu, wall = time.process_time(), time.perf_counter()
    for index in indices:
        clip.frame(index)
    count = len(indices)
    return (
        setup,
        (time.process_time() - cpu) / count * 1000,
        (time.perf_counter() - wall) / count * 1000,
    )


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", nargs="+", default=["640x480", "1280x720"], metavar="WxH")
    parser.add_argument("--every", type=int, default=3, help="draw every N-th frame (3)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for text in args.size:
        width, height = (int(part) for part in text.split("x"))
        print(f"\n{width}×{height}: clip, setup s, CPU ms/frame, wall ms/frame")
        rows = [(name, *measure(name, (width, height), args.every)) for name in CLIPS]
        for name, setup, cpu, wall in rows:
            print(f"  {name:26} {setup:5.2f}  {cpu:6.2f}  {wall:6.2f}")
        cpus = [row[2] for row in rows]
        print(f"  mean CPU {sum(cpus) / len(cpus):.2f} ms, worst {max(cpus):.2f} ms a frame")


if __name__ == "__main__":
    main()
