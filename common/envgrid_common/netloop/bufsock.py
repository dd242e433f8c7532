"""A socket for paho that reads in large chunks, writes once per loop round, and notes traffic."""

from __future__ import annotations

import logging
import socket
import time

log = logging.getLogger("envgrid.net")

# Bytes asked of the kernel per read: a few hundred node messages at once (16 KiB to
# 256 KiB measured the same; one byte at a time, as paho reads headers, costs a fifth).
READ_CHUNK = 64 * 1024
# How long a clean disconnect may take to send what is still buffered.
CLOSE_FLUSH_S = 2.0


class BufferedSocket:
    """A socket for paho that reads in large chunks and writes once per loop round.

    paho reads a packet with a ``recv`` per header byte and one for the rest, and sends each
    packet with its own ``send``; here ``recv`` is served from a buffer filled by one large
    read, and ``send`` only queues: the loop calls :meth:`flush` once a round. A closed or
    failed socket raises on the next ``recv``/``send``, which is how paho learns of it.
    :attr:`last_received` and :attr:`last_sent` (monotonic seconds) are what the loop's
    keepalive goes by.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._in = b""
        self._in_pos = 0
        self._out: list[bytes | bytearray] = []
        self.out_bytes = 0
        self.broken: OSError | None = None
        self.flush_on_close = False
        now = time.monotonic()
        self.last_received = now
        self.last_sent = now

    def take_packet(self) -> tuple[int, bytes] | None:
        """The next MQTT packet if it is whole in the buffer: (first byte, body); else None."""
        data, pos = self._in, self._in_pos
        end = len(data)
        at = pos + 1
        length, shift = 0, 0
        while at < end and shift < 28:  # the remaining length: up to 4 bytes, 7 bits each
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if at + length > end:
                    return None
                self._in_pos = at + length
                return data[pos], data[at : at + length]
            shift += 7
        return None  # not whole, or a malformed length: paho's reader decides

    # paho's SocketLike ------------------------------------------------------------------------
    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, else one large read (may raise, or b"")."""
        pos = self._in_pos
        if pos < len(self._in):
            chunk = self._in[pos : pos + size]
            self._in_pos = pos + len(chunk)
            return chunk
        if self.broken is not None:
            raise self.broken
        data = self._sock.recv(max(size, READ_CHUNK))
        if data:
            self.last_received = time.monotonic()
        if len(data) <= size:
            return data
        self._in, self._in_pos = data, size
        return data[:size]

    def send(self, data: bytes | bytearray) -> int:
        """Queue ``data`` for the next :meth:`flush`; paho counts it as sent."""
        if self.broken is not None:
            raise self.broken
        self._out.append(data)  # paho hands a fresh slice each time: no copy needed
        self.out_bytes += len(data)
        return len(data)

    def close(self) -> None:
        """Close; after a requested disconnect, gracefully (see :meth:`_linger`)."""
        if self.flush_on_close and self.broken is None:
            try:
                self._linger(time.monotonic() + CLOSE_FLUSH_S)
            except OSError as error:
                log.debug("no graceful close: %s", error)
        self._out.clear()
        self.out_bytes = 0
        self._sock.close()

    def _linger(self, deadline: float) -> None:
        """Send what is queued (the DISCONNECT last), then wait for the broker to close.

        Closing at once, as paho does, can lose what was just sent: the broker may still be
        answering earlier packets (a PUBACK for each PUBLISH, the next message for each
        PUBACK), and a write to a closed socket makes it drop the connection with the
        rest of our packets unread; our PUBACKs among them would be redelivered.
        """
        sock = self._sock
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.sendall(b"".join(self._out))
        sock.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(READ_CHUNK):  # what still comes is unacknowledged: redelivered
                return

    def fileno(self) -> int:
        """The socket's descriptor (kept after close, for select bookkeeping)."""
        return self._fd

    def setblocking(self, flag: bool) -> None:
        """Pass through (paho makes the socket non-blocking)."""
        self._sock.setblocking(flag)

    def pending(self) -> int:
        """Bytes read from the kernel and not yet handed to paho."""
        return len(self._in) - self._in_pos

    # the loop's side --------------------------------------------------------------------------
    def flush(self) -> None:
        """Send what is queued without blocking; a failure marks the socket broken."""
        if not self.out_bytes or self.broken is not None:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.broken = error
            return
        if sent:
            self.last_sent = time.monotonic()
        if sent == len(data):
            self._out.clear()
            self.out_bytes = 0
        else:
            rest = data[sent:]
            self._out = [rest]
            self.out_bytes = len(rest)

    def has_data_waiting(self) -> bool:
        """Whether bytes wait to be read (buffered, or in the kernel) without reading them.

        A connection the loop does not read (flow control) still proves alive this way. The
        end of the stream counts as nothing waiting: the next read will report it.
        """
        if self.pending() or self.broken is not None:
            return self.broken is None
        try:
            return bool(self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self.broken = error
            return False
