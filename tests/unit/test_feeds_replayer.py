"""The replayer's bookkeeping, without a broker: the window, PUBACKs, the place to resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics
from envgrid_sim.feeds.plan import Selection
from envgrid_sim.feeds.replayer import Outgoing, Replayer, ReplayOptions
from envgrid_sim.feeds.writer import FeedWriter

TOPICS = Topics("rec")
SUCCESS = ReasonCode(PacketTypes.PUBACK, identifier=0)
NOBODY = ReasonCode(PacketTypes.PUBACK, identifier=0x10)
QUOTA = ReasonCode(PacketTypes.PUBACK, identifier=0x97)


class _FakeClient:
    """Takes publishes and gives message ids; the test plays the broker's PUBACKs."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, bytes, int, bool]] = []
        self._mid = 0

    def publish_qos1(self, topic: str, payload: bytes, retain: bool = False) -> int:
        return self._take(topic, payload, 1, retain)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, _props: Any) -> Any:
        if "bad" in topic:
            raise ValueError("topic refused")
        mid = self._take(topic, payload, qos, retain)
        return type("Info", (), {"rc": 0, "mid": mid})()

    def _take(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        self._mid += 1
        self.sent.append((self._mid, topic, payload, qos, retain))
        return self._mid


def _feed(path: Path, topics: list[str], qos: int = 1) -> Path:
    writer = FeedWriter(path, {}, block_bytes=64)
    for n, topic in enumerate(topics):
        writer.add(1_000_000 * n, topic.encode(), qos, False, b"", b"%d" % n)
    writer.close()
    return path


def _replayer(
    files: list[Path], window: int, selection: Selection | None = None, hooks: Any = ()
) -> tuple[Replayer, _FakeClient]:
    options = ReplayOptions(speed=None, window=window, selection=selection or Selection())
    replayer = Replayer(BrokerAddress.parse("mqtt://127.0.0.1:1"), files, options, hooks=hooks)
    fake = _FakeClient()
    replayer._client = fake  # type: ignore[assignment]
    return replayer, fake


def _ack(replayer: Replayer, mid: int, reason: ReasonCode = SUCCESS) -> None:
    replayer._on_publish(None, None, mid, reason, None)  # type: ignore[arg-type]


def test_the_window_bounds_what_is_in_flight_and_acks_move_the_place(tmp_path: Path) -> None:
    feed = _feed(tmp_path / "a.egfeed", [TOPICS.readings("n1")] * 10)
    replayer, fake = _replayer([feed], window=3)
    replayer._feed_from(replayer._messages((0, 0)))
    assert len(fake.sent) == 3
    assert replayer.settled == (0, 0)
    _ack(replayer, 2)  # out of order: the first is still awaited
    assert replayer.settled == (0, 0)
    assert len(fake.sent) == 4
    _ack(replayer, 1, NOBODY)  # accepted, nobody subscribed: settled all the same
    assert replayer.settled == (0, 2)
    for mid in range(3, 11):
        _ack(replayer, mid)
    assert [payload for _, _, payload, _, _ in fake.sent] == [b"%d" % n for n in range(10)]
    assert replayer.settled == (0, 10)
    assert replayer.counts.acknowledged == 10
    assert replayer._drained.is_set()


def test_refusals_are_counted_settled_and_not_sent_again(tmp_path: Path) -> None:
    topics = [TOPICS.readings("n1"), "bad/topic", TOPICS.readings("n1")]
    feed = _feed(tmp_path / "a.egfeed", topics, qos=0)  # QoS 0: the slow path, which may refuse
    replayer, fake = _replayer([feed], window=10)
    replayer._feed_from(replayer._messages((0, 0)))
    assert len(fake.sent) == 2
    assert replayer.counts.refused == 1
    assert "by the client" in next(iter(replayer.counts.refusals))
    assert replayer.settled == (0, 3)

    feed2 = _feed(tmp_path / "b.egfeed", [TOPICS.readings("n1")] * 2)
    replayer, fake = _replayer([feed2], window=10)
    replayer._feed_from(replayer._messages((0, 0)))
    _ack(replayer, 1, QUOTA)
    _ack(replayer, 2)
    assert (replayer.counts.refused, replayer.counts.acknowledged) == (1, 1)
    assert len(fake.sent) == 2
    assert replayer.settled == (0, 2)


def test_skipped_records_count_as_settled_across_files(tmp_path: Path) -> None:
    first = _feed(tmp_path / "a.egfeed", [TOPICS.readings("n1"), TOPICS.readings("n2")])
    second = _feed(tmp_path / "b.egfeed", [TOPICS.readings("n2"), TOPICS.readings("n2")])
    seen: list[Outgoing] = []
    replayer, fake = _replayer(
        [first, second],
        window=10,
        selection=Selection(nodes=frozenset({"n1"})),
        hooks=[seen.append],
    )
    replayer._feed_from(replayer._messages((0, 0)))
    assert [topic for _, topic, _, _, _ in fake.sent] == [TOPICS.readings("n1")]
    assert [out.position for out in seen] == [(0, 0)]
    _ack(replayer, 1)
    assert replayer.settled == (1, 2)  # the end of the last file
    assert replayer.counts.skipped == 3


def test_a_resumed_replay_starts_at_its_place_and_an_abandoned_one_keeps_it(
    tmp_path: Path,
) -> None:
    feed = _feed(tmp_path / "a.egfeed", [TOPICS.readings("n1")] * 10)
    replayer, fake = _replayer([feed], window=2)
    replayer._feed_from(replayer._messages((0, 6)))
    assert [payload for _, _, payload, _, _ in fake.sent] == [b"6", b"7"]
    _ack(replayer, 1)
    replayer._drop_queued()  # interrupted: nothing more goes out
    _ack(replayer, 2)
    assert len(fake.sent) == 3  # the one published on the first PUBACK
    assert replayer.settled == (0, 8)
