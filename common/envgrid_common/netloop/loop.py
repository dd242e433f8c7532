"""One network thread for several MQTT connections (the gateway's, an ingest worker's).

paho's ``loop_start()`` gives every client a thread of its own; a forwarded message then
crosses threads several times (publish wakes the uplink's thread through a socket pair, its
PUBACK wakes the local one to send the ack) and the GIL changes hands each time. Here one
thread drives every client through paho's external-loop API (``loop_read``, ``loop_write``),
so a message is received, handled and acknowledged without leaving the thread, and each
connection's socket is read in large chunks and written once per round instead of one system
call per packet. Keepalive follows :mod:`envgrid_common.netloop.keepalive`, not paho's rule.

Rules for users of a :class:`NetLoop`:

* paho clients added to a loop (:func:`new_loop_client`, :meth:`NetLoop.add`) are touched only
  on the loop's thread: their callbacks run there, and anything else goes through
  :meth:`NetLoop.submit`, which keeps the order in which work is submitted.
* the loop connects and reconnects (with backoff) by itself; :meth:`NetLoop.disconnect` sends
  what is queued, then DISCONNECT, and ends reconnecting.
* a connection whose ``may_read`` says no is not read (TCP holds the broker back) but is still
  written to, and stays up as long as the broker has bytes waiting for it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import paho.mqtt.client as mqtt

from envgrid_common.netloop.bufsock import BufferedSocket
from envgrid_common.netloop.client import LoopClient
from envgrid_common.netloop.keepalive import PINGREQ, Keepalive

log = logging.getLogger("envgrid.net")

T = TypeVar("T")

# Packets handled per connection per round, so that one busy connection cannot starve another.
ROUND_PACKETS = 1000
# Keepalive and reconnect timers need no finer resolution than this.
TICK_S = 0.5


class _State(Enum):
    WAITING = "waiting"  # for the next connection attempt
    CONNECTING = "connecting"  # TCP connect under way in a helper thread
    ATTACHED = "attached"  # paho has the socket
    CLOSED = "closed"  # disconnected on request: no more attempts


@dataclass(eq=False)
class _Conn:
    client: LoopClient
    may_read: Callable[[], bool] | None
    state: _State = _State.WAITING
    sock: BufferedSocket | None = None
    retry_at: float = 0.0
    delay_s: float = 0.0
    reached: bool = False  # this connection got its CONNACK: the backoff starts over
    closing: bool = False  # disconnect requested: no more attempts
    failures: int = 0
    ping_sent_at: float | None = None
    closed: threading.Event = field(default_factory=threading.Event)


class NetLoop:
    """Drives paho clients from one thread: connections, reads, writes, keepalive.

    The reconnect backoff starts at ``min_delay_s`` and doubles up to ``max_delay_s``, as
    paho's own loop does with ``reconnect_delay_set``.
    """

    def __init__(
        self, name: str = "envgrid-net", *, min_delay_s: float = 1.0, max_delay_s: float = 10.0
    ) -> None:
        self.name = name
        self._min_delay = min_delay_s
        self._max_delay = max_delay_s
        self._conns: list[_Conn] = []
        self._calls: deque[Callable[[], object]] = deque()
        self._queue_lock = threading.Lock()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._stopping = False
        self._next_tick = 0.0
        self._round_ends: list[Callable[[], object]] = []

    # Any thread --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def in_loop(self) -> bool:
        """Whether the caller may touch the clients now: on the loop's thread, or no loop runs."""
        return self._ident == threading.get_ident() or not self.running

    def submit(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop's thread, after everything submitted before it.

        Called on that thread (or while no loop runs), it runs at once, after anything still
        queued; from another thread it is queued and the loop woken. An exception is raised to
        a direct caller, and logged when ``fn`` ran queued.
        """
        if self.in_loop():
            if self._calls:
                self._run_calls()
            fn()
            return
        with self._queue_lock:  # appenders only: the loop takes calls without it
            self._calls.append(fn)
            first = len(self._calls) == 1
        if first:  # else whoever queued the first woke the loop, which takes them all
            self._wake()

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run ``fn`` on the loop's thread and return its result (or raise its exception)."""
        if self.in_loop():
            self._run_calls()  # keep the order of what was submitted before
            return fn()
        done = threading.Event()
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, fn()))
            except BaseException as error:  # handed to the caller
                outcome.append((False, error))
            finally:
                done.set()

        self.submit(run)
        if not done.wait(timeout_s):
            raise TimeoutError(f"{self.name}: no answer in {timeout_s} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def on_thread(self) -> bool:
        """Whether the caller is the loop's own thread (a running loop)."""
        return self._ident == threading.get_ident()

    def at_round_end(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop's thread after the reads of every round.

        For work the callbacks of one round can share: handing what they produced to another
        thread once a round wakes that thread once, not once per message.
        """
        self.submit(lambda: self._round_ends.append(fn))

    def add(self, client: LoopClient, may_read: Callable[[], bool] | None = None) -> None:
        """Connect ``client`` (after ``connect_async``) and keep it connected from now on.

        ``may_read``, if given, is asked before each packet is read: while it says no, the
        connection is not read (TCP holds the broker back), but still written to.
        """
        client.on_socket_register_write = self._on_register_write
        conn = _Conn(client, may_read)
        self.submit(lambda: self._conns.append(conn))

    def disconnect(self, client: LoopClient, timeout_s: float = 5.0) -> bool:
        """Send what is queued, then DISCONNECT; no more reconnects. False if not done in time."""
        conn = self.call(lambda: self._disconnect(client))
        if conn is None:
            return True
        if self.in_loop():  # nothing else would send it: cannot wait here
            return conn.closed.is_set()
        return conn.closed.wait(timeout_s)

    def start(self) -> NetLoop:
        """Start the loop's thread."""
        if self._thread is None:
            self._stopping = False
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the thread; connections still open are dropped (disconnect them first)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake()
        if thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("%s: the network thread did not stop", self.name)
                return
        self._thread = None
        self._ident = None
        self._run_calls()  # anything submitted while the thread was ending
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None

    # The loop's thread -------------------------------------------------------------------------
    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):  # already woken (buffer full), or closed
                wake.send(b"\0")

    def _on_register_write(self, _client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
        # paho has a packet to send: the loop writes it this round. Only a client touched
        # from another thread (never, by the rules above) would need waking.
        if self._ident != threading.get_ident():
            self._wake()

    def _disconnect(self, client: LoopClient) -> _Conn | None:
        conn = next((c for c in self._conns if c.client is client), None)
        if conn is None:
            return None
        conn.closing = True
        if conn.state is _State.WAITING:
            self._close(conn)
        elif conn.state is _State.ATTACHED and conn.sock is not None:
            conn.may_read = None  # read what comes until the DISCONNECT is out
            conn.sock.flush_on_close = True
            if client.disconnect() != mqtt.MQTT_ERR_SUCCESS:
                client.abort()
            self._gone(conn)
        # CONNECTING: closed when the attempt reports back
        return conn

    def _close(self, conn: _Conn) -> None:
        conn.state = _State.CLOSED
        conn.sock = None
        conn.closed.set()

    def _lost(self, conn: _Conn) -> None:
        """The connection (or an attempt) is gone: plan the next attempt, or close for good."""
        conn.sock = None
        if conn.closing or self._stopping:
            self._close(conn)
            return
        conn.state = _State.WAITING
        conn.delay_s = min(max(conn.delay_s * 2, self._min_delay), self._max_delay)
        conn.retry_at = time.monotonic() + conn.delay_s
        self._next_tick = min(self._next_tick, conn.retry_at)

    def _gone(self, conn: _Conn) -> bool:
        """Notice that paho closed an attached connection; True if it did."""
        if conn.state is not _State.ATTACHED or conn.client.socket() is conn.sock:
            return False
        self._lost(conn)
        return True

    def _run(self) -> None:
        self._ident = threading.get_ident()
        try:
            while not self._stopping:
                try:
                    self._round()
                except Exception:
                    log.exception("%s: unexpected error in the network loop", self.name)
                    time.sleep(0.1)
        finally:
            self._run_calls()  # nobody waits in vain for what was submitted
            self._end_round()  # nor for what a round left for its end
            for conn in self._conns:
                if conn.state is _State.ATTACHED and conn.sock is not None:
                    conn.sock.close()
                conn.state = _State.CLOSED
                conn.closed.set()

    def _run_calls(self) -> None:
        calls = self._calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("%s: a submitted call failed", self.name)

    def _round(self) -> None:
        """One round: queued calls, timers, writes, one select, reads, pending writes."""
        self._run_calls()
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + TICK_S
            self._timers(now)
        readers: list[BufferedSocket] = []
        writers: list[BufferedSocket] = []
        buffered = False
        for conn in self._conns:
            if conn.state is not _State.ATTACHED:
                continue
            self._guarded(conn, self._write)
            sock = conn.sock
            if conn.state is not _State.ATTACHED or sock is None:
                continue
            if sock.out_bytes:
                writers.append(sock)
            if conn.may_read is None or conn.may_read():
                readers.append(sock)
                buffered = buffered or sock.pending() > 0
        timeout = 0.0 if buffered or self._calls else max(0.0, self._next_tick - now)
        wake = self._wake_r
        assert wake is not None
        waiting: list[Any] = [wake, *readers]
        readable, writable, _ = select.select(waiting, writers, [], timeout)
        if wake in readable:
            with contextlib.suppress(BlockingIOError):
                wake.recv(4096)
        for conn in self._conns:
            sock = conn.sock
            if (
                conn.state is _State.ATTACHED
                and sock is not None
                and (sock in readable or (sock in readers and sock.pending()))
            ):
                self._guarded(conn, self._read)
        self._end_round()
        for sock in writable:
            sock.flush()

    def _end_round(self) -> None:
        for fn in self._round_ends:
            try:
                fn()
            except Exception:
                log.exception("%s: a round-end call failed", self.name)

    def _guarded(self, conn: _Conn, step: Callable[[_Conn], object]) -> None:
        """Run one step on a connection; an unexpected error drops that connection only."""
        try:
            step(conn)
        except Exception:
            log.exception("%s: error on %s; dropping the connection", self.name, _name(conn))
            conn.client.abort()
        self._gone(conn)

    def _write(self, conn: _Conn) -> None:
        client, sock = conn.client, conn.sock
        if client.want_write():
            client.loop_write()  # into the socket's buffer
            if client.socket() is not sock:
                return
        assert sock is not None
        sock.flush()
        if sock.broken is not None:
            log.info("%s: send failed: %s", _name(conn), sock.broken)
            client.abort()

    def _read(self, conn: _Conn) -> None:
        client, sock = conn.client, conn.sock
        assert sock is not None
        may_read, pending = conn.may_read, sock.pending
        for _ in range(ROUND_PACKETS):
            if may_read is not None and not may_read():
                break
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or client.socket() is not sock:
                return
            if not pending():
                break
        if not conn.reached and client.is_connected():
            conn.reached = True
            conn.delay_s = 0.0

    def _timers(self, now: float) -> None:
        for conn in self._conns:
            if conn.state is _State.ATTACHED:
                self._guarded(conn, partial(self._keepalive, now=now))
            if conn.state is _State.WAITING:
                if now >= conn.retry_at:
                    self._connect(conn)
                else:
                    self._next_tick = min(self._next_tick, conn.retry_at)

    def _keepalive(self, conn: _Conn, now: float) -> None:
        """Ping when due; drop a connection that has been silent too long."""
        sock, client = conn.sock, conn.client
        assert sock is not None
        rule = Keepalive(client.keepalive)
        if rule.dead(now, sock.last_received) and sock.has_data_waiting():
            sock.last_received = now  # not read on purpose (flow control), but alive
        if rule.dead(now, sock.last_received):
            log.warning(
                "%s: nothing from the broker for %.0f s (keepalive %d s); reconnecting",
                client.name,
                now - sock.last_received,
                client.keepalive,
            )
            client.abort()
            return
        if client.is_connected() and rule.ping_due(
            now, sock.last_sent, sock.last_received, conn.ping_sent_at
        ):
            sock.send(PINGREQ)  # paho never sees it; its PINGRESP handler ignores the answer
            sock.flush()
            conn.ping_sent_at = now

    def _connect(self, conn: _Conn) -> None:
        """Open the TCP connection in a helper thread (DNS and connect may block)."""
        conn.state = _State.CONNECTING
        client = conn.client
        host, port, timeout = client.host, client.port, client.connect_timeout

        def open_socket() -> None:
            try:
                sock = socket.create_connection((host, port), timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as error:
                self.submit(partial(self._connected, conn, None, error))
            else:
                self.submit(partial(self._connected, conn, sock, None))

        try:
            threading.Thread(target=open_socket, name=f"{self.name}-connect", daemon=True).start()
        except RuntimeError as error:  # no thread to be had now: try again later
            self._connected(conn, None, error)

    def _connected(
        self, conn: _Conn, sock: socket.socket | None, error: BaseException | None
    ) -> None:
        """The helper thread's result: hand the socket to paho, which sends CONNECT."""
        if conn.state is not _State.CONNECTING:
            if sock is not None:
                sock.close()
            return
        if conn.closing or self._stopping:
            if sock is not None:
                sock.close()
            self._close(conn)
            return
        client = conn.client
        if sock is not None:
            client._prepared = sock
            try:
                client.reconnect()  # paho resets its state and queues CONNECT
            except Exception as failed:
                error = failed
            finally:
                unused, client._prepared = client._prepared, None
                if unused is not None:
                    unused.close()
        if error is not None or client.socket() is None:
            conn.failures += 1
            if conn.failures in (1, 10) or conn.failures % 100 == 0:
                log.info("%s: cannot connect (attempt %d): %s", _name(conn), conn.failures, error)
            self._lost(conn)
            return
        conn.failures = 0
        conn.reached = False
        conn.ping_sent_at = None
        conn.sock = client.socket()  # type: ignore[assignment]
        conn.state = _State.ATTACHED


def _name(conn: _Conn) -> str:
    return conn.client.name
