"""The camera verifier's cost per call on one core: whole frames and boxes, colour and grey.

    .venv/bin/python -m bench.verifier [--calls 30]

Prints milliseconds per call (median and p90) for the committed model — each test-time view is
one backbone pass — at the sizes the detector uses: a 640×480 and a 1280×720 frame scored whole
(the region is resized to the backbone's 224×224 input, so the frame size matters only for that
resize), a 120×160 box, a greyscale frame (the night/IR head), and, as a baseline, the
handcrafted features alone. Also the time to load the model and the size of its files.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from envgrid_edge.camera.verifier import default_verifier
from envgrid_edge.camera.verifier.features import handcrafted
from envgrid_edge.camera.verifier.model import DEFAULT_BACKBONE, DEFAULT_MODEL


def timed(call: Callable[[], object], n: int) -> tuple[float, float, float]:
    """(median, p90) wall milliseconds of ``n`` calls after two warm-up calls, and mean CPU ms.

    The CPU time is the fairer figure on a shared machine: waiting for a core does not count.
    """
    call()
    call()
    samples = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / n
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="timed calls per case")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as the acceptance figures count
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    verifier = default_verifier()
    load_ms = (time.perf_counter() - t0) * 1000
    vga = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    hd = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    grey = np.repeat(vga[:, :, :1], 3, axis=2)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("whole 640×480 frame", lambda: verifier.still_score(vga)),
        ("whole 1280×720 frame", lambda: verifier.still_score(hd)),
        ("120×160 box of 640×480", lambda: verifier.score(vga, (200, 150, 120, 160))),
        ("whole 640×480 grey frame", lambda: verifier.still_score(grey)),
        ("handcrafted features only, 640×480", lambda: handcrafted(vga)),
    ]
    views = " + ".join(verifier.model.views)
    print(
        f"model: {verifier.model.family} features, views {views}"
        f" (averaged), threshold {verifier.threshold:.4f}"
    )
    print(
        f"files: {DEFAULT_MODEL.name} {DEFAULT_MODEL.stat().st_size / 1e3:.0f} kB, "
        f"{DEFAULT_BACKBONE.name} {DEFAULT_BACKBONE.stat().st_size / 1e6:.1f} MB; "
        f"load {load_ms:.0f} ms"
    )
    for name, call in cases:
        median, p90, cpu = timed(call, args.calls)
        print(f"{name:38s} median {median:6.1f} ms   p90 {p90:6.1f} ms   CPU {cpu:6.1f} ms")


if __name__ == "__main__":
    main()
