"""The network loop's keepalive rule: ping when quiet, dead only when nothing comes at all."""

from __future__ import annotations

import socket

from envgrid_common.netloop.bufsock import BufferedSocket
from envgrid_common.netloop.keepalive import PINGREQ, Keepalive

RULE = Keepalive(10.0)


def test_a_ping_goes_when_nothing_was_sent_for_half_a_period() -> None:
    assert not RULE.ping_due(now=104.9, last_sent=100.0, last_received=104.9, ping_sent_at=None)
    assert RULE.ping_due(now=105.0, last_sent=100.0, last_received=104.9, ping_sent_at=None)


def test_a_ping_goes_when_nothing_came_for_half_a_period_even_while_sending() -> None:
    # Acks going out all the time do not prove that the broker is still there.
    assert RULE.ping_due(now=105.0, last_sent=105.0, last_received=100.0, ping_sent_at=None)
    assert RULE.ping_due(now=105.0, last_sent=105.0, last_received=100.0, ping_sent_at=99.0)


def test_an_unanswered_ping_is_not_repeated_while_sending() -> None:
    assert not RULE.ping_due(now=108.0, last_sent=108.0, last_received=100.0, ping_sent_at=105.0)


def test_a_connection_is_dead_after_one_and_a_half_periods_of_silence() -> None:
    assert not RULE.dead(now=114.9, last_received=100.0)
    assert RULE.dead(now=115.0, last_received=100.0)


def test_bytes_arriving_keep_it_alive_however_late_the_pingresp() -> None:
    # paho drops a connection whose PINGRESP is not handled within a period; here the answer
    # may sit behind any backlog as long as something arrives.
    last_received = 100.0
    for now in range(100, 400, 5):
        last_received = float(now)  # a backlog being read
        assert not RULE.dead(float(now), last_received)


def test_no_keepalive_means_no_pings_and_never_dead() -> None:
    rule = Keepalive(0)
    assert not rule.ping_due(now=1e9, last_sent=0.0, last_received=0.0, ping_sent_at=None)
    assert not rule.dead(now=1e9, last_received=0.0)


def test_pingreq_is_the_two_byte_packet() -> None:
    assert bytes([0xC0, 0x00]) == PINGREQ


def test_a_socket_with_unread_bytes_has_data_waiting_without_consuming_it() -> None:
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        wrapped = BufferedSocket(a)
        assert not wrapped.has_data_waiting()
        b.sendall(b"\x30\x02ab")
        assert wrapped.has_data_waiting()
        assert wrapped.recv(4) == b"\x30\x02ab"  # the peek consumed nothing
        assert not wrapped.has_data_waiting()
        b.close()
        assert not wrapped.has_data_waiting()  # end of stream: the next read reports it
    finally:
        a.close()
        b.close()


def test_reads_and_flushes_record_when_traffic_passed() -> None:
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        wrapped = BufferedSocket(a)
        wrapped.last_received = wrapped.last_sent = 0.0
        wrapped.send(b"x")
        assert wrapped.last_sent == 0.0  # queued only
        wrapped.flush()
        assert wrapped.last_sent > 0.0
        b.sendall(b"y")
        wrapped.recv(1)
        assert wrapped.last_received > 0.0
    finally:
        a.close()
        b.close()
