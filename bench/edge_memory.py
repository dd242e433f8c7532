"""The edge sensor agent's footprint and its outbox's speed, as a low-power board would care.

(a) outbox enqueue rate: one reading per transaction (what the agent does), durability
    full and normal, and batches of 100;
(b) outbox flush rate without a network: take → ack, as the sender does;
(c) the agent's resident memory (VmRSS, and the peak VmHWM) after polling the simulated
    driver for ``--duration`` seconds;
(d) the same agent started on a 100,000-reading backlog while the broker is unreachable
    (memory must not grow with the backlog), then with the broker up: drain time and rate.

Runs its own Mosquitto. Run: ``.venv/bin/python -m bench.edge_memory [--duration 60]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_cli.services.ports import free_port
from envgrid_common.lifecycle import start_child
from envgrid_common.messages import Reading
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.outbox import Durability, Kind, Outbox, OutMessage
from envgrid_common.sequence import seq_counter
from envgrid_common.topics import Topics

NODE = "bench-edge-1"
TOPICS = Topics(f"bench-{uuid.uuid4().hex[:8]}/envgrid")


def payload(seq: int) -> bytes:
    """A farm-effluent reading as the agent would queue it."""
    reading = Reading.model_validate(
        {
            "seq": seq,
            "ts": "2026-05-01T08:00:00.250+08:00",
            "values": {"cod": 187.4, "nh3n": 33.12, "tp": 3.07},
        },
        strict=False,
    )
    return reading.model_dump_json(exclude_defaults=True).encode()


def message(seq: int) -> OutMessage:
    return OutMessage(Kind.READING, TOPICS.readings(NODE), payload(seq))


def enqueue_rate(folder: Path, durability: Durability, count: int, batch: int) -> float:
    """Messages per second through ``Outbox.put``, ``batch`` per transaction."""
    with Outbox(folder / f"put-{durability}-{batch}.sqlite", durability=durability) as box:
        started = time.perf_counter()
        for start in range(0, count, batch):
            box.put([message(s) for s in range(start, start + batch)])
        return count / (time.perf_counter() - started)


def flush_rate(folder: Path, count: int, window: int = 100) -> float:
    """Messages per second through take → ack, without a network."""
    with Outbox(folder / "flush.sqlite", durability="normal") as box:
        for start in range(0, count, 1000):
            box.put([message(s) for s in range(start, start + 1000)])
        started = time.perf_counter()
        while rows := box.take(window):
            box.ack([r.id for r in rows])
        return count / (time.perf_counter() - started)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0])
    return found


def write_config(folder: Path, url: str, interval_s: float) -> Path:
    data: dict[str, Any] = {
        "node_id": NODE,
        "mqtt_url": url,
        "topic_root": TOPICS.root,
        "poll_interval_s": interval_s,
        "align": False,
        "outbox": {"path": str(folder / "agent.sqlite")},
        "driver": {"type": "simulated", "profile": "farm_effluent"},
        "log_level": "WARNING",
    }
    file = folder / "node.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def spawn(config: Path) -> subprocess.Popen[bytes]:
    return start_child(
        [sys.executable, "-m", "envgrid_edge", "sensor", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


class Counter:
    """Counts readings arriving at the broker."""

    def __init__(self, url: str) -> None:
        address = BrokerAddress.parse(url)
        self.count = 0
        self._lock = threading.Lock()
        self.client = new_client(f"bench-count-{uuid.uuid4().hex[:6]}", address)
        self.client.on_connect = lambda c, *_: c.subscribe(TOPICS.readings(NODE), qos=1)
        self.client.on_message = self._on_message
        connect(self.client, address, receive_maximum=65535, background=False)
        self.client.loop_start()
        time.sleep(0.5)

    def _on_message(self, *_: Any) -> None:
        with self._lock:
            self.count += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def polling_memory(folder: Path, url: str, duration_s: float) -> dict[str, int]:
    """RSS of the agent after ``duration_s`` of polling once a second."""
    agent = spawn(write_config(folder, url, 1.0))
    try:
        time.sleep(duration_s)
        return memory_kb(agent.pid)
    finally:
        stop(agent)


def backlog_run(folder: Path, url: str, backlog: int) -> dict[str, float]:
    """RSS on a backlog while offline, then the drain once the broker is reachable."""
    box_path = folder / "agent.sqlite"
    box_path.unlink(missing_ok=True)
    with Outbox(box_path, durability="normal") as box:
        for start in range(1, backlog + 1, 1000):
            seqs = range(start, min(start + 1000, backlog + 1))
            box.put([message(s) for s in seqs], counters={seq_counter(NODE): seqs[-1] + 1})
    size_mb = box_path.stat().st_size / 1e6
    unreachable = f"mqtt://127.0.0.1:{free_port()}"
    agent = spawn(write_config(folder, unreachable, 10.0))
    time.sleep(5)
    offline = memory_kb(agent.pid)
    stop(agent)
    counter = Counter(url)
    agent = spawn(write_config(folder, url, 10.0))
    started = time.monotonic()
    peak = 0
    while counter.count < backlog:
        peak = max(peak, memory_kb(agent.pid)["VmRSS"])
        time.sleep(0.05)
        if time.monotonic() - started > 300:
            raise TimeoutError(f"drained only {counter.count} of {backlog}")
    drained_s = time.monotonic() - started
    after = memory_kb(agent.pid)
    stop(agent)
    counter.stop()
    return {
        "file_mb": size_mb,
        "offline_rss_kb": offline["VmRSS"],
        "draining_peak_rss_kb": peak,
        "after_rss_kb": after["VmRSS"],
        "hwm_kb": after["VmHWM"],
        "drain_s": drained_s,
        "rate": backlog / drained_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of polling")
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envgrid-edge-bench-") as tmp:
        folder = Path(tmp)
        print("(a) outbox enqueue (readings/s):")
        for durability, count, batch in (("full", 2000, 1), ("normal", 20000, 1)):
            rate = enqueue_rate(folder, durability, count, batch)  # type: ignore[arg-type]
            print(f"    durability {durability:6} 1 per transaction: {rate:9,.0f}")
        rate = enqueue_rate(folder, "full", 100_000, 100)
        print(f"    durability full   100 per transaction: {rate:9,.0f}")
        print(f"(b) outbox flush, take → ack, window 100: {flush_rate(folder, 100_000):,.0f}/s")
        with MosquittoBroker(folder / "mosquitto") as broker:
            polling = polling_memory(folder, broker.url, args.duration)
            print(
                f"(c) agent after {args.duration:.0f}s polling (simulated driver, 1/s): "
                f"RSS {polling['VmRSS'] / 1024:.1f} MiB, peak {polling['VmHWM'] / 1024:.1f} MiB"
            )
            run = backlog_run(folder, broker.url, args.backlog)
        print(
            f"(d) {args.backlog:,}-reading backlog ({run['file_mb']:.1f} MB on disk): "
            f"RSS offline {run['offline_rss_kb'] / 1024:.1f} MiB, draining peak "
            f"{run['draining_peak_rss_kb'] / 1024:.1f} MiB (VmHWM {run['hwm_kb'] / 1024:.1f}); "
            f"drained in {run['drain_s']:.1f}s = {run['rate']:,.0f} readings/s "
            f"(incl. process start and connect)"
        )
        print(f"    machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
