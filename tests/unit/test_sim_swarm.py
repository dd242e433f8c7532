"""The scale mode's parts: its MQTT packets, lateness percentiles, seq blocks, fd limits."""

from __future__ import annotations

import math
import resource
from pathlib import Path

import pytest

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import Outbox
from envgrid_common.sequence import seq_counter
from envgrid_common.topics import Topics
from envgrid_sim.scenariofile.build import scenario_from_text
from envgrid_sim.scenariofile.generate import dump_scenario, generate_county
from envgrid_sim.swarm import wire
from envgrid_sim.swarm.lateness import Lateness
from envgrid_sim.swarm.seqs import SeqBook
from envgrid_sim.swarm.swarm import Swarm, SwarmOptions


def test_packets_split_whatever_the_chunks() -> None:
    big = wire.publish_packet(b"a/b", b"x" * 300, 7, v5=True, retain=False)  # 2-byte length
    stream = b"\x20\x03\x00\x00\x00" + b"\x40\x02\x00\x07" + b"\x40\x03\x00\x08\x10" + big
    for size in (1, 2, 3, 7, len(stream)):
        splitter = wire.Splitter()
        packets = []
        for i in range(0, len(stream), size):
            packets += splitter.feed(stream[i : i + size])
        assert [kind for kind, _ in packets] == [wire.CONNACK, wire.PUBACK, wire.PUBACK, 0x30]
        assert wire.connack_code(packets[0][1]) == 0
        assert wire.puback_of(packets[1][1]) == (7, 0)
        assert wire.puback_of(packets[2][1]) == (8, 0x10)
        assert len(packets[3][1]) == len(big) - 3  # type byte and two length bytes


def test_a_publish_is_qos_1_with_its_id_topic_and_payload() -> None:
    packet = wire.publish_packet(b"t/x", b"{}", 0x0102, v5=False, retain=True)
    assert packet == b"\x33\x09\x00\x03t/x\x01\x02{}"
    v5 = wire.publish_packet(b"t/x", b"{}", 1, v5=True, retain=False)
    assert v5 == b"\x32\x0a\x00\x03t/x\x00\x01\x00{}"


def test_connect_carries_a_retained_qos_1_will_and_login() -> None:
    will = wire.Will("s/n1", b"off")
    packet = wire.connect_packet(
        "n1", v5=False, keepalive_s=30, will=will, username="u", password="p"
    )
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    assert body[7] == 0x02 | 0x04 | 0x08 | 0x20 | 0x80 | 0x40
    assert body.endswith(b"\x00\x02n1\x00\x04s/n1\x00\x03off\x00\x01u\x00\x01p")


def test_lateness_percentiles_and_on_time_share() -> None:
    late = Lateness()
    for ms in range(1, 101):  # 1 ms … 100 ms
        late.add(ms / 1000)
    late.add(-0.5)  # early counts as on time
    late.add(math.inf)  # never published on schedule
    assert late.total == 102
    assert late.percentile_s(50) == pytest.approx(0.051)
    assert late.percentile_s(100) == math.inf
    assert late.within(1.0) == 101
    late.reset()
    assert (late.total, late.percentile_s(99)) == (0, 0.0)


def test_seq_blocks_survive_a_crash_and_a_clean_stop_leaves_no_gap(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    book = SeqBook(path, block=10)
    book.open(["a", "b"])
    assert book.next == {"a": 1, "b": 1}
    book.next["a"] = 7  # 6 readings went out; then the process dies without close()
    book._outbox.close()  # type: ignore[union-attr]  # what the OS does to a killed process
    again = SeqBook(path, block=10)
    again.open(["a", "b"])
    assert again.next["a"] == 11  # past the block: a gap, never a repeat
    again.next["a"] = 17  # 4 left of the block of 10: reserve again
    assert again.running_low() == ["a"]
    again.close()
    with Outbox(path) as outbox:
        assert outbox.counter(seq_counter("a")) == 17  # clean stop: exactly where it was


def _swarm(nodes: int, connections: int, tmp_path: Path) -> Swarm:
    text = dump_scenario(generate_county(1, nodes, seed=1))
    specs = scenario_from_text(text).specs
    options = SwarmOptions(
        address=BrokerAddress("127.0.0.1", 1), topics=Topics("t"), connections=connections
    )
    return Swarm(specs, options, SeqBook(tmp_path / "o.sqlite"))


def test_sessions_per_node_need_open_files(tmp_path: Path) -> None:
    swarm = _swarm(40, 0, tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))
        with pytest.raises(ValueError, match="ulimit -n"):
            swarm.check_limits()
        _swarm(40, 4, tmp_path).check_limits()  # four shared connections fit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_node_clocks_are_skewed_each_its_own_way(tmp_path: Path) -> None:
    skews = {n.skew for n in _swarm(30, 0, tmp_path).nodes.values()}
    assert len(skews) > 20
