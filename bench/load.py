"""Loads the benchmarks offer: QoS 1 publishers in processes of their own, each message counted
only once the broker has acknowledged it (and refused if the broker says it reached nobody).

``mosquitto_pub -l`` (2.0.11) is not used: past some 30,000 lines a process, the broker drops
it ("disconnected due to out of memory") and it still exits 0, so a benchmark would wait for
readings that were never taken.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.lifecycle import die_with_parent
from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client

# Unacknowledged messages per publisher: enough to keep a local broker busy.
WINDOW = 1000


class _Acks:
    """Counts PUBACKs, and bounds what is in flight to ``window``."""

    def __init__(self, window: int) -> None:
        self.slots = threading.BoundedSemaphore(window)
        self.acked = 0
        self.refused = 0
        self.reason = ""

    def on_publish(self, _c: object, _u: object, _mid: int, code: ReasonCode, _p: object) -> None:
        if code.is_failure:
            self.refused += 1
            self.reason = str(code)
        else:
            self.acked += 1
        self.slots.release()


def _client(url: str, name: str, acks: _Acks) -> mqtt.Client:
    address = BrokerAddress.parse(url)
    client = new_client(f"{name}-{uuid.uuid4().hex[:6]}", address, max_inflight=0)
    client.on_publish = acks.on_publish
    connect(client, address, background=False)
    client.loop_start()
    return client


def _drain(acks: _Acks, window: int, timeout_s: float = 120) -> None:
    """Wait until every message in flight is answered."""
    deadline = time.monotonic() + timeout_s
    taken = 0
    while taken < window and time.monotonic() < deadline:
        if acks.slots.acquire(timeout=0.1):
            taken += 1


def _publish_file(
    parent_pid: int,
    url: str,
    topic: str,
    path: str,
    acked: Synchronized[int],
    refused: Synchronized[int],
) -> None:
    """Publish each line of ``path`` to ``topic`` at QoS 1, as fast as the broker takes them."""
    die_with_parent(parent_pid)
    acks = _Acks(WINDOW)
    client = _client(url, "bench-pub", acks)
    try:
        with open(path, "rb") as lines:
            for line in lines:
                acks.slots.acquire()
                check_publish(client.publish(topic, line.rstrip(b"\n"), qos=1))
        _drain(acks, WINDOW)
    finally:
        acked.value, refused.value = acks.acked, acks.refused
        client.disconnect()
        client.loop_stop()


def publish_files(url: str, topics: Sequence[str], files: Sequence[Path]) -> int:
    """Publish file i's lines to topic i, one process per file; return how many the broker took.

    Raise SystemExit if the broker refused any or did not answer for all of them.
    """
    ctx = multiprocessing.get_context("spawn")
    counts = [(ctx.Value("q", 0), ctx.Value("q", 0)) for _ in files]
    procs = [
        ctx.Process(target=_publish_file, args=(os.getpid(), url, t, str(f), a, r))
        for t, f, (a, r) in zip(topics, files, counts, strict=True)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit("a publisher failed: see above")
    acked = sum(int(a.value) for a, _ in counts)
    refused = sum(int(r.value) for _, r in counts)
    if refused:
        raise SystemExit(f"the broker refused {refused} message(s): nobody subscribed to them?")
    expected = sum(1 for f in files for _ in f.open("rb"))
    if acked != expected:
        raise SystemExit(f"the broker acknowledged {acked} of {expected} messages")
    return acked


# One publishing process offers at most this many messages/s (a Python paho client is busy at
# about twice that on these machines); a higher rate is split over several processes.
RATE_PER_PROCESS = 5000.0


def _publish_paced(
    parent_pid: int,
    url: str,
    topics: list[str],
    rate: float,
    make: Callable[[int], bytes],
    stop: MpEvent,
    sent: Synchronized[int],
    acked: Synchronized[int],
    refused: Synchronized[int],
) -> None:
    """Publish ``rate`` messages/s round-robin over ``topics`` until ``stop``; count the answers."""
    die_with_parent(parent_pid)
    acks = _Acks(WINDOW * 10)
    client = _client(url, "bench-paced", acks)
    seqs = [0] * len(topics)
    count = 0
    start = time.monotonic()

    def report() -> None:
        sent.value, acked.value, refused.value = count, acks.acked, acks.refused

    try:
        while not stop.is_set():
            due = int((time.monotonic() - start) * rate)
            while count < due and not stop.is_set():
                if not acks.slots.acquire(timeout=0.05):
                    break  # the broker does not keep up: the rate falls short, and it shows
                i = count % len(topics)
                seqs[i] += 1
                check_publish(client.publish(topics[i], make(seqs[i]), qos=1))
                count += 1
                if count % 100 == 0:
                    report()
            report()
            stop.wait(0.01)
        _drain(acks, WINDOW * 10, 30)
    finally:
        report()
        client.disconnect()
        client.loop_stop()


class PacedLoad:
    """``rate`` messages/s over ``topics`` from processes of their own, until :meth:`stop`.

    ``make(seq)`` builds the payload of a topic's ``seq``-th message: a module-level function,
    since it crosses into the publishing processes. Each process takes a share of the topics
    (so a topic's messages stay in order) and of the rate.
    """

    def __init__(
        self, url: str, topics: Sequence[str], rate: float, make: Callable[[int], bytes]
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.rate = rate
        self._stop = ctx.Event()
        n = max(1, min(len(topics), math.ceil(rate / RATE_PER_PROCESS)))
        self._counters = [
            (ctx.Value("q", 0), ctx.Value("q", 0), ctx.Value("q", 0)) for _ in range(n)
        ]
        self._procs = [
            ctx.Process(
                target=_publish_paced,
                args=(os.getpid(), url, list(topics[i::n]), rate / n, make, self._stop, *counters),
            )
            for i, counters in enumerate(self._counters)
        ]

    def start(self) -> PacedLoad:
        """Begin publishing."""
        for proc in self._procs:
            proc.start()
        return self

    @property
    def sent(self) -> int:
        """Messages published so far."""
        return sum(int(s.value) for s, _, _ in self._counters)

    @property
    def acked(self) -> int:
        """Messages the broker acknowledged so far."""
        return sum(int(a.value) for _, a, _ in self._counters)

    def stop(self) -> tuple[int, int]:
        """Stop; return (published, acknowledged). SystemExit if the broker refused any."""
        self._stop.set()
        for proc in self._procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                raise SystemExit("the load generator did not stop")
        refused = sum(int(r.value) for _, _, r in self._counters)
        if refused:
            raise SystemExit(f"the broker refused {refused} message(s)")
        return self.sent, self.acked
