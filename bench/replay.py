"""``envgrid replay`` at maximum speed against ``mosquitto_pub -l``, on the local Mosquitto.

A synthetic feed of one node's readings (``--messages``, default 1,000,000) is written as a
feed file and, message for message, as the lines of a text file. Then, in the same run and on
the same broker (127.0.0.1:1883, or ``ENVGRID_BENCH_MQTT_URL``), each case under a private
topic root of its own, with a ``mosquitto_sub`` (C, QoS 0) counting what the broker routes:

(b) baseline: ``mosquitto_pub -V 5 -q 1 -l`` publishes the lines at QoS 1 to the node's topic.
    One topic for both cases, so the messages are the same, topic and payload, in the same
    order. Past some 30,000 lines a process, mosquitto_pub 2.0.11 exits 0 having had a few
    thousand taken (the broker drops it: "out of memory"), so it gets the lines in chunks of
    10,000, one process after another (a process start per 10,000 messages, a few ms).
(r) replay: the project's replayer (``Replayer``, what ``envgrid replay --max`` runs), in a
    process of its own, publishes the feed remapped onto its root over one connection.

Both keep to the broker's Receive Maximum (Mosquitto's default: 20 messages in flight; the
replayer's own window, 1000, is lowered to it as mosquitto_pub's is). A rate is messages from
the first publish until the counter has seen the last one (the replayer connects before the
clock starts; mosquitto_pub's connects are inside its time). Peak memory is the replayer
process's RSS high-water mark (``ru_maxrss``), at the full length and at a quarter of it, to
show it does not grow with the feed. A case that stops moving for ``--stall`` seconds ends
with what it reached, saying the machine did not take the load.

Run: ``.venv/bin/python -m bench.replay [--messages 1000000 --repeat 1]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from bench.support import exit_on_sigterm
from envgrid_common.clock import shanghai_now
from envgrid_common.lifecycle import die_with_parent
from envgrid_common.topics import Topics

MQTT_URL = os.environ.get("ENVGRID_BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
NODE = "bench-000"
FEED_ROOT = "bench-feed"
VALUES = {"cod": 35.2, "nh3n": 1.4, "tp": 3.1, "ph": 7.2}
# mosquitto_pub -l takes this many lines a process reliably (see split_lines).
CHUNK_LINES = 10_000
# The replayer's window (envgrid replay's default); the broker's Receive Maximum lowers it, as
# it lowers mosquitto_pub's (Mosquitto's default: 20).
WINDOW = 1000


def write_load(workdir: Path, messages: int) -> tuple[Path, Path]:
    """The feed file and the same payloads as lines (for ``mosquitto_pub -l``)."""
    from envgrid_sim.feeds.writer import FeedWriter

    topic = Topics(FEED_ROOT).readings(NODE).encode()
    feed_path, lines_path = workdir / "bench.egfeed", workdir / "bench.lines"
    start = shanghai_now() - timedelta(seconds=messages)
    start_ns = time.time_ns() - messages * 1_000_000
    writer = FeedWriter(feed_path, {"bench": "replay"})
    with lines_path.open("wb") as lines:
        for n in range(messages):
            ts = start + timedelta(seconds=n)
            values = {k: round(v + (n % 97) * 0.01, 3) for k, v in VALUES.items()}
            payload = orjson.dumps({"seq": n, "ts": ts.isoformat(), "values": values})
            writer.add(start_ns + n * 1_000_000, topic, 1, False, b"", payload)
            lines.write(payload + b"\n")
    writer.close()
    return feed_path, lines_path


# Counting what the broker routed --------------------------------------------------------------
class Counter:
    """``mosquitto_sub`` at QoS 0 on a topic root, writing one byte per message it gets.

    C and QoS 0, so it keeps up with the broker and never holds it back: both cases are timed
    until it has seen every message, so both are measured the same way.
    """

    def __init__(self, root: str, workdir: Path) -> None:
        from envgrid_common.mqtt import BrokerAddress

        self._address = BrokerAddress.parse(MQTT_URL)
        self._root = root
        self._out = workdir / f"count-{uuid.uuid4().hex[:6]}"
        command = ["mosquitto_sub", *_host_args(), "-q", "0", "-t", f"{root}/#", "-F", ".", "-N"]
        with self._out.open("wb") as out:
            self._proc = subprocess.Popen(command, stdout=out)
        self._base = self._probe()

    def _probe(self) -> int:
        """Publish probes until one arrives: the subscription is in place; the count so far."""
        for _ in range(100):
            subprocess.run(
                ["mosquitto_pub", *_host_args(), "-t", f"{self._root}/probe", "-m", "p"], check=True
            )
            time.sleep(0.1)
            if self._seen() > 0:
                time.sleep(0.3)  # late probes land before the count starts
                return self._seen()
        raise SystemExit("the counting subscriber never got its probe")

    def _seen(self) -> int:
        return self._out.stat().st_size

    @property
    def count(self) -> int:
        """Messages seen since the probes."""
        return self._seen() - self._base

    def wait_for(self, total: int, stall_s: float, began: float) -> float | None:
        """Seconds from ``began`` until ``total`` were seen; None if the count stalled."""
        last, moved_at = -1, time.monotonic()
        while True:
            n, now = self.count, time.monotonic()
            if n >= total:
                return now - began
            if n != last:
                last, moved_at = n, now
            elif now - moved_at >= stall_s:
                print(
                    f"    the machine did not take the load: {n:,} of {total:,} routed, none "
                    f"for {stall_s:g} s",
                    flush=True,
                )
                return None
            time.sleep(0.01)

    def stop(self) -> None:
        """End the subscriber."""
        self._proc.terminate()
        self._proc.wait(10)


def _host_args() -> list[str]:
    from envgrid_common.mqtt import BrokerAddress

    address = BrokerAddress.parse(MQTT_URL)
    return ["-h", address.host, "-p", str(address.port), "-V", "5"]


def _root() -> str:
    return f"bench-replay-{uuid.uuid4().hex[:8]}/envgrid"


# (b) mosquitto_pub -l -------------------------------------------------------------------------
def split_lines(lines: Path, workdir: Path) -> list[Path]:
    """The lines in chunks ``mosquitto_pub -l`` takes reliably: past some 30,000 lines a
    process, mosquitto_pub 2.0.11 exits 0 having had a few thousand taken (the broker drops
    it, "out of memory")."""
    chunks: list[Path] = []
    with lines.open("rb") as source:
        out = None
        for n, line in enumerate(source):
            if n % CHUNK_LINES == 0:
                if out is not None:
                    out.close()
                chunks.append(workdir / f"lines-{len(chunks):04d}")
                out = chunks[-1].open("wb")
            assert out is not None
            out.write(line)
        if out is not None:
            out.close()
    return chunks


def run_baseline(chunks: list[Path], messages: int, workdir: Path, stall_s: float) -> float | None:
    """mosquitto_pub -l at QoS 1, one process after another; routed messages/s, or None."""
    topics = Topics(_root())
    counter = Counter(topics.root, workdir)
    try:
        began = time.monotonic()
        command = ["mosquitto_pub", *_host_args(), "-q", "1", "-l", "-t", topics.readings(NODE)]
        for path in chunks:
            with path.open("rb") as stdin:
                done = subprocess.run(
                    command, stdin=stdin, stderr=subprocess.PIPE, timeout=stall_s * 10
                )
            if done.returncode != 0:
                print(f"    (b) mosquitto_pub failed: {done.stderr.decode(errors='replace')}")
                return None
        elapsed = counter.wait_for(messages, stall_s, began)
    finally:
        counter.stop()
    return None if elapsed is None else messages / elapsed


# (r) the replayer, in a process of its own ----------------------------------------------------
def _replay(parent_pid: int, feed: str, root: str, window: int, pipe: Connection) -> None:
    die_with_parent(parent_pid)
    from envgrid_common.mqtt import BrokerAddress
    from envgrid_sim.feeds.plan import Selection
    from envgrid_sim.feeds.replayer import Replayer, ReplayOptions

    options = ReplayOptions(speed=None, window=window, selection=Selection(remap=(FEED_ROOT, root)))
    replayer = Replayer(BrokerAddress.parse(MQTT_URL), [Path(feed)], options)
    replayer.connect()
    pipe.send("ready")
    stop = threading.Event()
    worker = threading.Thread(target=replayer.run, args=((0, 0), stop), daemon=True)
    pipe.recv()
    worker.start()
    pipe.recv()  # the parent has counted them all, or given up
    stop.set()
    drained = replayer.finish(5.0)
    counts = replayer.counts
    pipe.send(
        {
            "acked": counts.acknowledged,
            "refused": counts.refused,
            "published": counts.published,
            "drained": drained,
            "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    )


def run_replay(feed: Path, messages: int, workdir: Path, stall_s: float) -> dict[str, Any] | None:
    """The replayer's routed messages/s and peak RSS; None (said why) if not all were taken."""
    root = _root()
    counter = Counter(root, workdir)
    ctx = multiprocessing.get_context("spawn")
    pipe, child_end = ctx.Pipe()
    proc = ctx.Process(target=_replay, args=(os.getpid(), str(feed), root, WINDOW, child_end))
    proc.start()
    try:
        if not pipe.poll(60):
            raise SystemExit("the replayer did not connect")
        pipe.recv()
        began = time.monotonic()
        pipe.send("go")
        elapsed = counter.wait_for(messages, stall_s, began)
        pipe.send("stop")
        result: dict[str, Any] = pipe.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        counter.stop()
    if elapsed is None:
        return None
    if result["acked"] != messages:
        print(f"    (r) {result['acked']:,} of {messages:,} acknowledged", flush=True)
    result["rate"] = messages / elapsed
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return the figures."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000, help="feed length")
    parser.add_argument("--repeat", type=int, default=1, help="alternate (b) and (r) this often")
    parser.add_argument("--stall", type=float, default=30.0, help="seconds without progress")
    args = parser.parse_args(argv)
    if shutil.which("mosquitto_pub") is None:
        raise SystemExit("mosquitto_pub is not installed")
    short = max(1, args.messages // 4)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        workdir = Path(tmp)
        began = time.monotonic()
        feed, lines = write_load(workdir, args.messages)
        size = feed.stat().st_size
        print(
            f"{args.messages:,} readings: feed {size / 2**20:,.1f} MiB "
            f"({lines.stat().st_size / size:.1f}× smaller than the lines), written in "
            f"{time.monotonic() - began:.1f} s",
            flush=True,
        )
        chunks = split_lines(lines, workdir)
        baseline: list[float] = []
        replays: list[dict[str, Any]] = []
        for run in range(args.repeat):
            print(f"run {run + 1}: (b) mosquitto_pub -l …", flush=True)
            rate = run_baseline(chunks, args.messages, workdir, args.stall)
            if rate is not None:
                baseline.append(rate)
                print(f"    (b) {rate:,.0f} msg/s", flush=True)
            print(f"run {run + 1}: (r) replay --max …", flush=True)
            result = run_replay(feed, args.messages, workdir, args.stall)
            if result is not None:
                replays.append(result)
                print(
                    f"    (r) {result['rate']:,.0f} msg/s, peak RSS "
                    f"{result['rss_kib'] / 1024:,.1f} MiB",
                    flush=True,
                )
        feed.unlink()
        lines.unlink()
        for path in chunks:
            path.unlink()
        small_feed, _ = write_load(workdir, short)
        print(f"(r) again on a feed of {short:,} for its memory …", flush=True)
        small = run_replay(small_feed, short, workdir, args.stall)
    figures: dict[str, Any] = {"messages": args.messages}
    print()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if baseline:
        figures["baseline_rate"] = statistics.median(baseline)
        print(
            f"(b) mosquitto_pub -l  {figures['baseline_rate']:>10,.0f} msg/s  "
            f"(runs: {', '.join(f'{r:,.0f}' for r in baseline)})"
        )
    if replays:
        rates = [r["rate"] for r in replays]
        figures["replay_rate"] = statistics.median(rates)
        figures["replay_rss_mib"] = max(r["rss_kib"] for r in replays) / 1024
        print(
            f"(r) envgrid replay    {figures['replay_rate']:>10,.0f} msg/s  "
            f"(runs: {', '.join(f'{rate:,.0f}' for rate in rates)})"
        )
    if baseline and replays:
        figures["ratio"] = figures["replay_rate"] / figures["baseline_rate"]
        print(f"ratio (r)/(b): {figures['ratio']:.2f} (goal ≥ 0.5)")
    if replays and small is not None:
        figures["replay_rss_short_mib"] = small["rss_kib"] / 1024
        print(
            f"replayer peak RSS: {figures['replay_rss_mib']:,.1f} MiB at {args.messages:,} "
            f"messages, {figures['replay_rss_short_mib']:,.1f} MiB at {short:,}"
        )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
