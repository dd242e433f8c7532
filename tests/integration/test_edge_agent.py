"""The sensor agent and the outbox sender against a real Mosquitto."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import NodeState, Reading
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import Kind, Outbox, OutMessage, Sender
from envgrid_common.topics import Topics
from tests.integration.test_edge_support import RunningAgent, clear_retained, node_config
from tests.mqtt_clients import Subscriber
from tests.polling import wait_until


@pytest.fixture
def subscriber(mqtt_url: str, topics: Topics) -> Iterator[Subscriber]:
    sub = Subscriber(mqtt_url, topics).start()
    yield sub
    sub.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_agent_publishes_valid_readings_with_status_and_continues_seq(
    protocol: str, tmp_path: Path, mqtt_url: str, topics: Topics, subscriber: Subscriber
) -> None:
    node = "edge-agent-1"
    url = mqtt_url if protocol == "5" else f"{mqtt_url}?protocol=3.1.1"
    file = node_config(tmp_path, node, url, topics)
    try:
        agent = RunningAgent(file).start()
        wait_until(lambda: len(subscriber.readings(node)) >= 20, 10, "20 readings")
        agent.stop()
        wait_until(lambda: subscriber.last_state(node) is NodeState.OFFLINE, 5, "offline")
        first = subscriber.readings(node)
        assert not subscriber.invalid, subscriber.invalid
        assert [r.seq for r in first] == list(range(1, len(first) + 1))
        assert not any(r.historical for r in first), "sent live: not historical"
        assert {r.ts.utcoffset() for r in first} == {timedelta(hours=8)}, "China time"
        assert set(first[0].values) == {"cod", "nh3n", "tp"}
        states = [s.state for s in subscriber.statuses(node)]
        assert states[0] is NodeState.ONLINE
        assert states[-1] is NodeState.OFFLINE
        assert all(s.kind == "sensor" and s.ts is not None for s in subscriber.statuses(node))

        again = RunningAgent(file).start()
        wait_until(lambda: len(subscriber.readings(node)) >= len(first) + 5, 10, "more readings")
        again.stop()
        later = subscriber.readings(node)[len(first) :]
        assert later[0].seq == len(first) + 1, "sequence numbers continue across restarts"
    finally:
        clear_retained(mqtt_url, topics, node)


def readings(topic: str, seqs: range) -> list[OutMessage]:
    """Valid readings with these sequence numbers, as the agent would queue them."""
    messages = []
    for seq in seqs:
        body = Reading.model_validate(
            {"seq": seq, "ts": "2026-05-01T08:00:00+08:00", "values": {"cod": float(seq)}},
            strict=False,
        )
        payload = body.model_dump_json(exclude_defaults=True).encode()
        messages.append(OutMessage(Kind.READING, topic, payload))
    return messages


def test_backlog_is_flushed_in_order_marked_historical_with_a_bounded_window(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    node = "edge-sender-1"
    topic = topics.readings(node)
    sub = Subscriber(own_broker.url, topics, session_expiry_s=300).start()
    own_broker.stop()  # the broker saves the subscriber's session now, before the outage
    own_broker.start()
    wait_until(lambda: sub.subscriptions >= 2, 10, "subscriber back")
    outbox = Outbox(tmp_path / "box.sqlite", durability="normal")
    sender = Sender(outbox, BrokerAddress.parse(own_broker.url), "sender-1", window=10).start()
    peak = 0

    def arrived(count: int) -> bool:
        nonlocal peak
        peak = max(peak, sender.stats().in_flight)
        return len(sub.seqs(node)) >= count

    try:
        wait_until(lambda: sender.connected, 10, "sender connected")
        for message in readings(topic, range(1, 6)):
            sender.submit([message])
        wait_until(lambda: arrived(5), 10, "live readings")
        own_broker.stop()
        wait_until(lambda: not sender.connected, 10, "sender to notice")
        for message in readings(topic, range(6, 506)):
            sender.submit([message])
        assert len(outbox) == 500
        own_broker.start()
        wait_until(lambda: arrived(505), 15, "backlog flushed")
        for message in readings(topic, range(506, 511)):
            sender.submit([message])
        wait_until(lambda: arrived(510), 10, "live again")
        got = sub.readings(node)
        assert not sub.invalid, sub.invalid
        first: dict[int, Reading] = {}
        for r in got:
            first.setdefault(r.seq, r)
        assert sorted(first) == list(range(1, 511))
        later = [r.seq for r in got if r.seq >= 6]
        assert later == sorted(later), "flushed in order"
        assert not any(first[s].historical for s in range(1, 6))
        assert all(first[s].historical for s in range(6, 506)), "the backlog is historical"
        assert not any(first[s].historical for s in range(506, 511)), "live once drained"
        assert peak <= 10, f"in flight peaked at {peak}"
        wait_until(lambda: len(outbox) == 0, 5, "outbox emptied by PUBACKs")
    finally:
        sender.stop(1)
        outbox.close()
        sub.stop()


def test_rows_leave_the_outbox_only_on_puback_with_at_most_a_window_in_flight(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    assert own_broker.process is not None
    topic = topics.readings("edge-ack-1")
    outbox = Outbox(tmp_path / "box.sqlite", durability="normal")
    sender = Sender(outbox, BrokerAddress.parse(own_broker.url), "sender-ack", window=10).start()
    try:
        wait_until(lambda: sender.connected, 10, "sender connected")
        os.kill(own_broker.process.pid, signal.SIGSTOP)  # the broker reads nothing, acks nothing
        try:
            for message in readings(topic, range(1, 51)):
                sender.submit([message])
            wait_until(lambda: sender.stats().sent == 10, 5, "a window's worth handed over")
            time.sleep(0.3)
            assert sender.stats().in_flight == 10, "no more than the window in flight"
            assert len(outbox) == 50, "nothing leaves before the broker acknowledges it"
        finally:
            os.kill(own_broker.process.pid, signal.SIGCONT)
        wait_until(lambda: len(outbox) == 0, 10, "PUBACKs empty the outbox")
        assert sender.stats().acked == 50
    finally:
        sender.stop(1)
        outbox.close()
