"""``envgrid record`` and ``envgrid replay`` against the machine's Mosquitto, as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.topics import Topics
from envgrid_sim.feeds.reader import FeedReader, feed_files
from envgrid_sim.feeds.writer import FeedWriter
from tests.mqtt_clients import Collector, Publisher, Received
from tests.polling import wait_until

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\n\r\x00\xff\xd9"


def _envgrid(*args: str) -> subprocess.Popen[bytes]:
    """An ``envgrid`` process; it inherits the test session's mark (tests/leftovers.py)."""
    command = [sys.executable, "-m", "envgrid_cli", *args]
    return subprocess.Popen(command, env=dict(os.environ), stderr=subprocess.PIPE)


class _Stderr:
    """Collects a process's stderr in a thread, so it never blocks on a full pipe."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.text = ""
        assert process.stderr is not None
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._stream.readline, b""):
            self.text += line.decode(errors="replace")

    def done(self) -> str:
        self._thread.join(10)
        return self.text


def _replay_all(mqtt_url: str, feeds: list[str], from_root: str, to_root: str) -> _Stderr:
    """``envgrid replay --max`` of ``feeds`` from one topic root into another, exited cleanly."""
    replay = _envgrid(
        "replay", *feeds, "--mqtt-url", mqtt_url, "--max", "--topic-root", f"{from_root}:{to_root}"
    )
    replay_err = _Stderr(replay)
    assert replay.wait(60) == 0, replay_err.done()
    return replay_err


@dataclass
class _Recording:
    process: subprocess.Popen[bytes]
    stderr: _Stderr
    out: Path

    def records(self) -> int:
        return sum(FeedReader(f).count() for f in self.out.glob("*.egfeed"))


@pytest.fixture
def recorder(mqtt_url: str, topics: Topics, tmp_path: Path) -> Iterator[Any]:
    """Starts ``envgrid record`` on the test's root; always stopped afterwards."""
    started: list[_Recording] = []

    def start(*extra: str) -> _Recording:
        out = tmp_path / "feeds"
        process = _envgrid(
            "record",
            "--mqtt-url",
            mqtt_url,
            "--filter",
            f"{topics.base}/#",
            "--out",
            str(out),
            "--flush-ms",
            "50",
            *extra,
        )
        recording = _Recording(process, _Stderr(process), out)
        started.append(recording)
        wait_until(lambda: "recording" in recording.stderr.text, 30, "the recorder subscribed")
        return recording

    yield start
    for recording in started:
        if recording.process.poll() is None:
            recording.process.kill()
        recording.process.wait(10)


class _PropertyCollector(Collector):
    """A collector that also keeps each message's content type and user properties."""

    def __init__(self, url: str, topics: Topics) -> None:
        super().__init__(url, topics, filters=[f"{topics.base}/#"], name="t-replayed")
        self.properties: dict[str, tuple[Any, Any]] = {}

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        with self._lock:
            self.properties[message.topic] = (
                getattr(props, "ContentType", None),
                getattr(props, "UserProperty", None),
            )
        super()._on_message(client, userdata, message)


def _by_topic(messages: list[Received]) -> dict[str, list[tuple[bytes, bool]]]:
    grouped: dict[str, list[tuple[bytes, bool]]] = defaultdict(list)
    for m in messages:
        grouped[m.topic].append((m.payload, m.retain))
    return dict(grouped)


def _reading(seq: int) -> bytes:
    return orjson.dumps(
        {
            "seq": seq,
            "ts": f"2026-11-01T08:{seq // 60:02d}:{seq % 60:02d}+08:00",
            "values": {"cod": 30.0 + seq},
        }
    )


def _publish_snapshot(url: str, topic: str) -> None:
    address = BrokerAddress.parse(url)
    client = new_client(f"t-snap-{uuid.uuid4().hex[:6]}", address)
    connect(client, address, background=False)
    client.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = "image/jpeg"
        props.UserProperty = [("event", "e-1")]
        check_publish(client.publish(topic, JPEG, qos=1, properties=props)).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_recorded_messages_replay_identical_in_node_order_under_another_root(
    mqtt_url: str, topics: Topics, recorder: Any, tmp_path: Path
) -> None:
    recording = recorder()
    nodes = ["n1", "n2", "n3"]
    sent: list[tuple[str, bytes, bool]] = []
    with Publisher(mqtt_url, background=False) as pub:  # connected first: sent in order
        for seq in range(40):
            for node in nodes:
                sent.append((topics.readings(node), _reading(seq), False))
                pub.publish(*sent[-1][:2])
        pub.publish(topics.status("n1"), b'{"state":"online"}', retain=True)
        sent.append((topics.status("n1"), b'{"state":"online"}', True))
    _publish_snapshot(mqtt_url, topics.snapshot("cam", "e-1"))
    sent.append((topics.snapshot("cam", "e-1"), JPEG, False))
    wait_until(lambda: recording.records() >= len(sent), 20, "every message recorded")
    recording.process.send_signal(signal.SIGTERM)
    assert recording.process.wait(20) == 0
    summary = recording.stderr.done()
    assert f"{len(sent)} message(s)" in summary, summary

    out = Topics(f"{topics.root.split('/')[0]}/replayed")
    collector = _PropertyCollector(mqtt_url, out).start()
    try:
        replay_err = _replay_all(mqtt_url, [str(recording.out)], topics.root, out.root)
        wait_until(lambda: len(collector.messages) >= len(sent), 20, "the replayed messages")
        time.sleep(0.3)  # anything more would be a duplicate
    finally:
        collector.stop()
    expected = [(t.replace(topics.root, out.root, 1), p, r) for t, p, r in sent]
    got = [(m.topic, m.payload, m.retain) for m in collector.messages]
    # Per topic (so per node and channel), the same messages in the same order, byte for byte.
    assert _by_topic([Received(*m) for m in got]) == _by_topic([Received(*m) for m in expected])
    assert collector.properties[out.snapshot("cam", "e-1")] == ("image/jpeg", [("event", "e-1")])
    summary = replay_err.done()
    assert f"published {len(sent)}" in summary
    assert "refused by the broker 0" in summary


def test_every_record_written_before_a_sigkill_replays(
    mqtt_url: str, topics: Topics, recorder: Any
) -> None:
    recording = recorder()
    stop = threading.Event()
    published: list[bytes] = []

    def stream() -> None:
        # Connected before the first publish: paho then sends in order (queued before a
        # connection, its window goes out first and the rest after, out of order).
        with Publisher(mqtt_url, max_inflight=50, background=False) as pub:
            seq = 0
            while not stop.is_set() and seq < 50_000:
                published.append(_reading(seq))
                pub.publish(topics.readings("n1"), published[-1])
                seq += 1
                if seq % 50 == 0:
                    time.sleep(0.005)

    publisher = threading.Thread(target=stream)
    publisher.start()
    try:
        wait_until(lambda: recording.records() >= 300, 30, "records on disk")
        seen_before_kill = recording.records()
        recording.process.send_signal(signal.SIGKILL)  # mid-stream: some block is being gathered
        recording.process.wait(10)
    finally:
        stop.set()
        publisher.join(30)
    files = feed_files([recording.out])
    records = [r for f in files for r in FeedReader(f).records()]
    assert len(records) >= seen_before_kill
    # What is there is whole and in order: the first N messages published, byte for byte.
    assert [r.payload for r in records] == published[: len(records)]

    out = Topics(f"{topics.root.split('/')[0]}/after-kill")
    collector = Collector(mqtt_url, out, filters=[f"{out.base}/#"]).start()
    try:
        _replay_all(mqtt_url, list(map(str, files)), topics.root, out.root)
        wait_until(lambda: len(collector.messages) >= len(records), 20, "the replayed records")
    finally:
        collector.stop()
    assert [m.payload for m in collector.messages] == [r.payload for r in records]


def _write_feed(
    path: Path, topics: Topics, per_node: int, spacing_ns: int
) -> list[tuple[str, bytes]]:
    writer = FeedWriter(path, {"test": "resume"}, block_bytes=2048)
    start = time.time_ns()
    messages = []
    for seq in range(per_node):
        for i, node in enumerate(("n1", "n2")):
            topic, payload = topics.readings(node), _reading(seq)
            writer.add(start + (2 * seq + i) * spacing_ns, topic.encode(), 1, False, b"", payload)
            messages.append((topic, payload))
    writer.close()
    return messages


def test_an_interrupted_replay_resumes_and_resends_at_most_its_window(
    mqtt_url: str, topics: Topics, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.egfeed"
    window = 5
    # 1,000 messages, 10 ms apart: ten seconds at the recorded pace, stopped after one or two.
    messages = _write_feed(feed, topics, 500, 10_000_000)
    state = tmp_path / "state.json"
    out = Topics(f"{topics.root.split('/')[0]}/resumed")
    collector = Collector(mqtt_url, out, filters=[f"{out.base}/#"]).start()
    common = ["--mqtt-url", mqtt_url, "--topic-root", f"{topics.root}:{out.root}"]
    common += ["--window", str(window), "--resume", str(state)]
    try:
        first = _envgrid("replay", str(feed), "--speed", "1", *common)
        first_err = _Stderr(first)
        wait_until(lambda: len(collector.messages) >= 100, 30, "the first part")
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 130, first_err.done()
        assert "--resume continues from there" in first_err.done()
        saved = orjson.loads(state.read_bytes())
        assert 0 < saved["record"] < len(messages)
        part = len(collector.messages)
        assert part < len(messages)

        second = _envgrid("replay", str(feed), "--max", *common)
        second_err = _Stderr(second)
        assert second.wait(60) == 0, second_err.done()
        assert "resuming at file 1" in second_err.done()
        wait_until(lambda: len(collector.messages) >= len(messages), 20, "the rest")
        time.sleep(0.3)
    finally:
        collector.stop()
    expected = [(t.replace(topics.root, out.root, 1), p) for t, p in messages]
    got = [(m.topic, m.payload) for m in collector.messages]
    assert set(got) == set(expected)  # nothing missing
    resent = sum(n - 1 for n in Counter(got).values())
    assert resent <= window, f"{resent} sent twice, window {window}"
    # First arrivals keep each node's order.
    first_seen = list(dict.fromkeys(got))
    for node in ("n1", "n2"):
        topic = out.readings(node)
        assert [p for t, p in first_seen if t == topic] == [p for t, p in expected if t == topic]
