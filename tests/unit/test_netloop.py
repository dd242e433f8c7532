"""The network loop: buffered socket, paho fast paths, ordering of submitted work."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.netloop import (
    BufferedSocket,
    LoopClient,
    NetLoop,
    bufsock,
    new_loop_client,
    readable_topic,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


# paho internals ------------------------------------------------------------------------------
def test_the_paho_internals_the_loop_relies_on_are_there() -> None:
    """If this fails after a paho upgrade, netloop.LoopClient needs a look."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    for name in (
        "_create_socket",
        "_easy_log",
        "_loop_rc_handle",
        "_packet_handle",
        "_do_on_publish",
        "_handle_on_message",
        "_send_puback",
    ):
        assert callable(getattr(client, name)), name
    assert {"command", "packet"} <= set(client._in_packet)
    assert isinstance(client._out_messages, dict)
    assert hasattr(client._out_message_mutex, "__enter__")
    assert client._manual_ack is False
    assert client._protocol == mqtt.MQTTv5


# BufferedSocket ------------------------------------------------------------------------------
def test_reads_are_served_from_one_large_read(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    with pytest.raises(BlockingIOError):
        wrapped.recv(1)
    b.sendall(b"\x30\x05hello" + b"x" * 1000)
    assert wrapped.recv(1) == b"\x30"
    assert wrapped.pending() == 1006
    assert wrapped.recv(1) == b"\x05"
    assert wrapped.recv(5) == b"hello"
    assert wrapped.recv(5000) == b"x" * 1000  # no more than is buffered
    assert wrapped.pending() == 0
    b.close()
    assert wrapped.recv(1) == b""  # end of stream, as paho expects


def test_a_read_larger_than_the_buffer_goes_to_the_kernel(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    big = bytes(range(256)) * 1024
    b.sendall(big[:10])
    assert wrapped.recv(3) == big[:3]
    assert wrapped.recv(len(big)) == big[3:10]
    threading.Thread(target=b.sendall, args=(big[10:],)).start()
    got = b""
    while len(got) < len(big) - 10:
        with contextlib.suppress(BlockingIOError):
            got += wrapped.recv(len(big))
    assert got == big[10:]


def test_writes_wait_for_flush_and_go_out_together(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    assert wrapped.send(b"one") == 3
    assert wrapped.send(bytearray(b"two")) == 3
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)
    assert wrapped.out_bytes == 6
    wrapped.flush()
    assert wrapped.out_bytes == 0
    assert b.recv(10) == b"onetwo"


def test_a_flush_that_cannot_send_everything_keeps_the_rest(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    data = b"z" * (8 * 1024 * 1024)  # more than the socket buffers hold
    wrapped.send(data)
    wrapped.flush()
    assert 0 < wrapped.out_bytes < len(data)
    received = bytearray()
    b.setblocking(False)
    while wrapped.out_bytes or len(received) < len(data):
        with contextlib.suppress(BlockingIOError):
            received += b.recv(1 << 20)
        wrapped.flush()
    assert received == data


def test_close_sends_what_is_queued_only_for_a_requested_disconnect(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    dropped = BufferedSocket(a)
    dropped.send(b"lost")
    dropped.close()
    assert b.recv(10) == b""

    c, d = socket.socketpair()
    c.setblocking(False)
    kept = BufferedSocket(c)
    kept.send(b"acks+")
    kept.send(b"DISCONNECT")
    kept.flush_on_close = True
    got = bytearray()

    def broker() -> None:  # reads to the end, answers on the way, then closes
        while chunk := d.recv(100):
            got.extend(chunk)
            d.sendall(b"late packets")
        d.close()

    peer = threading.Thread(target=broker)
    peer.start()
    started = time.monotonic()
    kept.close()  # waits for the broker's side to close, reading what it still sends
    peer.join(5)
    assert bytes(got) == b"acks+DISCONNECT"
    assert time.monotonic() - started < 1.5


def test_a_graceful_close_gives_up_at_its_deadline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    wrapped.send(b"DISCONNECT")
    wrapped.flush_on_close = True
    started = time.monotonic()
    wrapped.close()  # the peer never closes
    assert bufsock.CLOSE_FLUSH_S - 0.1 < time.monotonic() - started < bufsock.CLOSE_FLUSH_S + 1
    assert b.recv(100) == b"DISCONNECT"


def test_a_broken_socket_raises_on_the_next_read_and_write(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    b.close()
    wrapped.send(b"x" * 100)
    for _ in range(3):  # the first send may still succeed
        wrapped.flush()
        if wrapped.broken is None:
            wrapped.send(b"y")
    assert isinstance(wrapped.broken, BrokenPipeError | ConnectionResetError)
    with pytest.raises(type(wrapped.broken)):
        wrapped.recv(1)
    with pytest.raises(type(wrapped.broken)):
        wrapped.send(b"z")


# Fast paths ----------------------------------------------------------------------------------
def publish_packet(
    topic: bytes,
    payload: bytes,
    mid: int,
    *,
    v5: bool,
    properties: bytes = b"\x00",
    retain: bool = False,
    dup: bool = False,
    qos: int = 1,
) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += properties
    body += payload
    assert len(body) < 128
    return bytes([0x30 | dup << 3 | qos << 1 | retain, len(body)]) + body


def puback_packet(mid: int, rest: bytes = b"") -> bytes:
    body = struct.pack("!H", mid) + rest
    return bytes([0x40, len(body)]) + body


class Fed:
    """A LoopClient reading packets from a socket pair, recording its callbacks."""

    def __init__(self, *, v5: bool, fast: bool, manual_ack: bool = True) -> None:
        address = BrokerAddress("127.0.0.1", protocol="5" if v5 else "3.1.1")
        self.client = new_loop_client("fed", address, manual_ack=manual_ack)
        self.client.fast_paths = fast
        self.messages: list[tuple[Any, ...]] = []
        self.published: list[tuple[int, bool, str]] = []
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.mids = [self.client.publish("up/x", b"p", qos=1).mid for _ in range(3)]  # queued
        self._peer, mine = socket.socketpair()
        mine.setblocking(False)
        self.sock = BufferedSocket(mine)
        self.client._sock = self.sock

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        props = None if m.properties is None else str(m.properties)
        self.messages.append((m.mid, m._topic, m.payload, m.qos, m.retain, m.dup, props))

    def _on_publish(self, _c: Any, _u: Any, mid: int, code: ReasonCode, _p: Any) -> None:
        self.published.append((mid, code.is_failure, str(code)))

    def feed(self, data: bytes) -> MQTTErrorCode:
        self._peer.sendall(data)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and (self.sock.pending() or data):
            data = b""
            rc = self.client.loop_read()
        return rc

    def sent(self) -> bytes:
        self.client.loop_write()
        self.sock.flush()
        self._peer.setblocking(False)
        try:
            return self._peer.recv(65536)
        except BlockingIOError:
            return b""


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the paho decoders called: what did not take a fast path."""
    from paho.mqtt import _packet

    calls: list[str] = []
    for name in ("decode_publish", "decode_puback"):
        real = getattr(_packet, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(_packet, name, spy)
    return calls


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
def test_fast_paths_deliver_what_paho_delivers(v5: bool, decoded: list[str]) -> None:
    packets = [
        publish_packet(b"t/v1/nodes/n1/readings", b'{"seq":1}', 7, v5=v5),
        publish_packet(b"t/a", b"", 8, v5=v5, retain=True, dup=True),
        publish_packet(b"t/\xff\xfe", b"bad topic bytes", 9, v5=v5),
        publish_packet(b"t/q0", b"qos 0", 0, v5=v5, qos=0),
    ]
    if v5:
        packets += [
            publish_packet(b"t/props", b"with", 10, v5=True, properties=b"\x02\x01\x01"),
            publish_packet(b"", b"alias", 11, v5=True, properties=b"\x03\x23\x00\x01"),
        ]
    fast, slow = Fed(v5=v5, fast=True), Fed(v5=v5, fast=False)
    for packet in packets:
        assert fast.feed(packet) == MQTTErrorCode.MQTT_ERR_SUCCESS
    # QoS 0, properties and the alias went to paho; the first three did not.
    assert decoded == ["decode_publish"] * (3 if v5 else 1)
    for packet in packets:
        assert slow.feed(packet) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert fast.messages == slow.messages
    assert len(fast.messages) == len(packets)
    assert fast.sent() == slow.sent() == b""  # manual ack: nothing acknowledged by itself


def test_the_fast_publish_path_acknowledges_when_paho_would() -> None:
    fast, slow = Fed(v5=True, fast=True, manual_ack=False), Fed(v5=True, fast=False)
    slow.client.manual_ack_set(False)
    packet = publish_packet(b"t/a", b"x", 0x1234, v5=True)
    fast.feed(packet)
    slow.feed(packet)
    assert fast.sent() == slow.sent() == b"\x40\x02\x12\x34"


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
def test_fast_paths_settle_publishes_as_paho_does(v5: bool, decoded: list[str]) -> None:
    fast, slow = Fed(v5=v5, fast=True), Fed(v5=v5, fast=False)
    assert fast.mids == slow.mids
    first, second, third = fast.mids
    packets = [puback_packet(second), puback_packet(999), puback_packet(second)]
    if v5:
        packets += [puback_packet(first, b"\x87"), puback_packet(third, b"\x10\x00")]
    else:
        packets += [puback_packet(first), puback_packet(third)]
    for packet in packets:
        fast.feed(packet)
    assert decoded == (["decode_puback"] * 2 if v5 else [])  # with a reason code: paho
    for packet in packets:
        slow.feed(packet)
    assert fast.published == slow.published
    assert [mid for mid, _, _ in fast.published] == [second, first, third]
    if v5:
        assert fast.published[1] == (first, True, "Not authorized")
    assert fast.client._out_messages == {} == slow.client._out_messages


def test_malformed_packets_get_paho_treatment() -> None:
    for fed in (Fed(v5=True, fast=True), Fed(v5=True, fast=False)):
        # The topic length claims more than the packet holds.
        assert fed.feed(b"\x32\x04\x00\x30ab") == MQTTErrorCode.MQTT_ERR_PROTOCOL
        assert fed.messages == []


def test_an_exception_in_a_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    fed = Fed(v5=True, fast=True)

    def boom(*_: Any) -> None:
        raise RuntimeError("bug in a callback")

    fed.client.on_message = boom
    assert fed.feed(publish_packet(b"t/a", b"x", 3, v5=True)) == 0
    assert "bug in a callback" in caplog.text
    fed.client.on_message = fed._on_message
    fed.feed(publish_packet(b"t/a", b"y", 4, v5=True))
    assert [m[2] for m in fed.messages] == [b"y"]


def test_per_subscription_callbacks_get_their_messages_on_the_fast_path() -> None:
    fed = Fed(v5=True, fast=True)
    own: list[bytes] = []
    fed.client.message_callback_add("t/own/#", lambda _c, _u, m: own.append(m.payload))
    fed.feed(publish_packet(b"t/own/a", b"mine", 3, v5=True))
    fed.feed(publish_packet(b"t/b", b"general", 4, v5=True))
    fed.client.message_callback_remove("t/own/#")
    fed.feed(publish_packet(b"t/own/a", b"general again", 5, v5=True))
    assert own == [b"mine"]
    assert [m[2] for m in fed.messages] == [b"general", b"general again"]


def test_new_loop_clients_leave_the_in_flight_bound_to_the_gateway() -> None:
    client = new_loop_client("x", BrokerAddress("h"))
    assert isinstance(client, LoopClient)
    assert client.max_inflight_messages == 0
    assert client.suppress_exceptions


# Submitting work -----------------------------------------------------------------------------
def test_without_a_running_loop_work_runs_at_once() -> None:
    loop = NetLoop()
    ran: list[int] = []
    assert loop.in_loop()
    loop.submit(lambda: ran.append(1))
    assert ran == [1]
    assert loop.call(lambda: 42) == 42


def test_submitted_work_runs_on_the_loop_in_order() -> None:
    loop = NetLoop("test-loop").start()
    try:
        seen: list[tuple[str, int]] = []
        threads: set[str] = set()

        def record(who: str, n: int) -> None:
            threads.add(threading.current_thread().name)
            seen.append((who, n))

        def producer(who: str) -> None:
            for n in range(300):
                loop.submit(lambda n=n: record(who, n))  # type: ignore[misc]

        workers = [threading.Thread(target=producer, args=(w,)) for w in "abc"]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert loop.call(lambda: len(seen)) == 900
        assert threads == {"test-loop"}
        for who in "abc":
            assert [n for w, n in seen if w == who] == list(range(300))

        def on_the_loop() -> tuple[bool, int]:
            loop.submit(seen.clear)  # on the loop's thread: runs at once
            return loop.in_loop(), len(seen)

        assert loop.call(on_the_loop) == (True, 0)

        # Work queued from elsewhere still runs first.
        gate = threading.Event()
        loop.submit(gate.wait)  # holds the loop while the main thread queues more
        loop.submit(lambda: seen.append(("queued", 0)))
        loop.submit(lambda: seen.append(("queued", 1)))

        def on_the_loop_after() -> None:
            loop.submit(lambda: seen.append(("direct", 2)))

        gate.set()
        loop.call(on_the_loop_after)
        assert seen == [("queued", 0), ("queued", 1), ("direct", 2)]
    finally:
        loop.stop()
    assert not loop.running


def test_call_hands_back_the_exception() -> None:
    loop = NetLoop().start()
    try:
        with pytest.raises(ZeroDivisionError):
            loop.call(lambda: 1 / 0)
        assert loop.call(lambda: "still running") == "still running"
    finally:
        loop.stop()


def test_a_failing_submitted_call_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = NetLoop().start()
    try:
        loop.submit(lambda: [][1])
        assert loop.call(lambda: 7) == 7
        assert "a submitted call failed" in caplog.text
    finally:
        loop.stop()


def test_work_submitted_while_the_loop_stops_still_runs() -> None:
    loop = NetLoop().start()
    ran: list[int] = []
    hold = threading.Event()
    loop.submit(hold.wait)
    loop.submit(lambda: ran.append(1))
    stopper = threading.Thread(target=loop.stop)
    stopper.start()
    hold.set()
    stopper.join(5)
    assert ran == [1]
    loop.submit(lambda: ran.append(2))  # no loop: at once
    assert ran == [1, 2]


def test_stopping_closes_the_wakeup_sockets() -> None:
    loop = NetLoop().start()
    loop.stop()
    assert loop._wake_r is None
    assert loop._wake_w is None
    loop.start().stop()  # and a loop may start again


def test_read_chunk_is_large() -> None:
    assert bufsock.READ_CHUNK >= 16 * 1024


# Fast publish, fast PUBACK, whole packets from the buffer -------------------------------------
def test_take_packet_hands_out_only_whole_packets(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    wrapped = BufferedSocket(a)
    assert wrapped.take_packet() is None  # nothing buffered
    big = b"y" * 200  # a two-byte remaining length
    b.sendall(b"\x40\x02\x00\x07" + b"\x30\xc8\x01" + big[:50])
    assert wrapped.recv(1) == b"\x40"  # paho started reading this one: put it back by hand
    wrapped._in_pos -= 1
    assert wrapped.take_packet() == (0x40, b"\x00\x07")
    assert wrapped.take_packet() is None  # the rest of the PUBLISH is not there yet
    assert wrapped.recv(3) == b"\x30\xc8\x01"  # paho's own reader goes on from here
    assert wrapped.recv(200) == big[:50]
    b.sendall(big[50:] + b"\xe0\x00")
    assert wrapped.recv(150) == big[50:]
    assert wrapped.take_packet() == (0xE0, b"")
    assert wrapped.take_packet() is None  # buffer empty: paho reads from the kernel


class Connected(Fed):
    """A Fed whose client has its CONNACK, with nothing queued from before."""

    def __init__(self, *, v5: bool, fast: bool) -> None:
        super().__init__(v5=v5, fast=fast)
        for mid in self.mids:
            self.client._out_messages.pop(mid)
        self.client._inflight_messages = 0
        self.feed(b"\x20\x03\x00\x00\x00" if v5 else b"\x20\x02\x00\x00")
        assert self.client.is_connected()

    def reconnect(self) -> bytes:
        """Lose the connection and come back: what paho resends."""
        self.client._messages_reconnect_reset()
        self._peer, mine = socket.socketpair()
        mine.setblocking(False)
        self.sock = BufferedSocket(mine)
        self.client._sock = self.sock
        self.feed(
            b"\x20\x03\x00\x00\x00" if self.client.protocol == mqtt.MQTTv5 else b"\x20\x02\x00\x00"
        )
        return self.sent()


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
def test_publish_qos1_sends_and_resends_what_paho_does(v5: bool) -> None:
    fast, slow = Connected(v5=v5, fast=True), Connected(v5=v5, fast=False)
    payloads = [b"small", b"m" * 200, b"l" * 20000, b""]
    for i, payload in enumerate(payloads):
        retain = i % 2 == 1
        mid = fast.client.publish_qos1(f"up/n{i}/readings", payload, retain)
        info = slow.client.publish(f"up/n{i}/readings", payload, qos=1, retain=retain)
        assert mid == info.mid
    assert fast.sent() == slow.sent()
    assert fast.client._out_messages.keys() == slow.client._out_messages.keys()
    # After a reconnect paho resends both kinds alike, flagged as duplicates.
    resent = fast.reconnect()
    assert resent == slow.reconnect()
    assert resent[0] == 0x3A  # PUBLISH, DUP, QoS 1
    # Their PUBACKs settle them as paho's own.
    for mid in list(fast.client._out_messages):
        fast.feed(puback_packet(mid))
        slow.feed(puback_packet(mid))
    assert fast.published == slow.published
    assert len(fast.published) == len(payloads)
    assert fast.client._out_messages == {} == slow.client._out_messages
    assert fast.client._inflight_messages == 0 == slow.client._inflight_messages


def test_publish_qos1_queues_behind_what_paho_has_not_written() -> None:
    fed = Connected(v5=True, fast=True)
    fed.client.subscribe("t/#", qos=1)  # queued by paho, not yet written
    fed.client.publish_qos1("up/x", b"after")
    sent = fed.sent()
    assert sent[0] == 0x82  # the SUBSCRIBE first
    assert sent.endswith(b"after")
    with pytest.raises(ValueError, match="wildcard"):
        fed.client.publish_qos1("up/+", b"wildcard")


def test_publish_qos1_before_the_connack_is_pahos_publish() -> None:
    fast, slow = Fed(v5=True, fast=True), Fed(v5=True, fast=False)  # no CONNACK yet
    mid = fast.client.publish_qos1("up/x", b"later")
    assert mid == slow.client.publish("up/x", b"later", qos=1).mid
    assert fast.client._out_messages[mid].payload == b"later"
    assert fast.sent() == slow.sent()


def test_round_end_calls_run_on_the_loop_after_each_round() -> None:
    loop = NetLoop("test-round-end").start()
    try:
        seen: list[tuple[str, bool]] = []
        work: list[int] = []
        loop.at_round_end(lambda: seen.append((threading.current_thread().name, bool(work))))
        loop.call(lambda: work.append(1))
        wait = time.monotonic() + 5
        while not any(had_work for _, had_work in seen) and time.monotonic() < wait:
            time.sleep(0.01)
        assert ("test-round-end", True) in seen  # after the round that did the work
        assert {name for name, _ in seen} == {"test-round-end"}
    finally:
        loop.stop()


def test_a_topic_that_is_not_utf8_is_read_with_replacements() -> None:
    message = mqtt.MQTTMessage(1, b"envgrid/v1/t/\xffnode/reading")
    assert readable_topic(message) == "envgrid/v1/t/\ufffdnode/reading"
    assert readable_topic(mqtt.MQTTMessage(2, b"a/b")) == "a/b"
