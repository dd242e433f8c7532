"""A listener on a real localhost socket with a fake bridge, and a device's side of the TCP link."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import CrcMode, Edition, format_time, make_flag, upload_frames
from envgrid_common.hj212.frame import MAX_SEGMENT
from envgrid_gateway.adapters import Inbound
from envgrid_gateway.adapters.hj212 import Device, DeviceTable, Hj212Adapter
from envgrid_gateway.settings import GatewaySettings

MN = "010000A8900016F000169DC0"
PW = "123456"
NODE = "plant-1-outfall"


@dataclass
class FakeBridge:
    """Records what the listener hands on; stores it at once unless ``hold`` is set."""

    hold: bool = False
    received: list[Inbound] = field(default_factory=list)
    held: list[Inbound] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, inbound: Inbound) -> None:
        with self.lock:
            self.received.append(inbound)
            if self.hold:
                self.held.append(inbound)
                return
        inbound.ack()

    def release(self) -> None:
        """Store what was held (the disk buffer committed it)."""
        with self.lock:
            held, self.held = self.held, []
        for inbound in held:
            inbound.ack()

    def topics(self, suffix: str) -> list[Inbound]:
        """What came with a topic ending in ``suffix``."""
        with self.lock:
            return [m for m in self.received if m.topic.endswith(suffix)]

    def refused(self) -> list[Inbound]:
        """Dead letters."""
        with self.lock:
            return [m for m in self.received if m.refused is not None]


def settings(**extra: Any) -> GatewaySettings:
    """Gateway settings with the listener on a free localhost port."""
    return GatewaySettings(hj212_listen="127.0.0.1:0", topic_root="t-hj212", **extra)


def devices(**extra: Any) -> DeviceTable:
    """A table of one registered device (auto CRC unless ``crc`` says)."""
    return DeviceTable([Device(MN, NODE, PW, **extra)])


@contextmanager
def listener(
    bridge: FakeBridge, table: DeviceTable | None = None, **extra: Any
) -> Iterator[Hj212Adapter]:
    """A started listener; stopped at the end."""
    adapter = Hj212Adapter(settings(**extra), table if table is not None else devices())
    adapter.start(bridge)
    try:
        yield adapter
    finally:
        adapter.stop()


def connect(adapter: Hj212Adapter, timeout_s: float = 5.0) -> socket.socket:
    """A device's TCP connection to the listener."""
    assert adapter.address is not None
    sock = socket.create_connection(adapter.address, timeout=timeout_s)
    return sock


def uploads(
    cn: str = "2011",
    *,
    qn: str | None = "20260501080000123",
    mn: str = MN,
    pw: str = PW,
    ack: bool = True,
    data_time: str | None = None,
    factors: dict[str, dict[str, str]] | None = None,
    crc: CrcMode = CrcMode.STANDARD,
    edition: Edition = Edition.HJ212_2017,
    max_segment: int = MAX_SEGMENT,
) -> list[bytes]:
    """An upload's packets (split past ``max_segment``), stamped now unless ``data_time`` says."""
    return upload_frames(
        st="32",
        cn=cn,
        pw=pw,
        mn=mn,
        data_time=data_time or format_time(utc_now()),
        factors=factors or {"w01018": {"Rtd": "35.2", "Flag": "N"}, "w21003": {"Rtd": "1.4"}},
        edition=edition,
        qn=qn,
        ack=ack,
        crc=crc,
        max_segment=max_segment,
    )


def upload(cn: str = "2011", **options: Any) -> bytes:
    """One upload frame (unsplit); the options are those of ``uploads``."""
    frames = uploads(cn, **options)
    assert len(frames) == 1
    return frames[0]


def flag(edition: Edition = Edition.HJ212_2017, ack: bool = True) -> int:
    """A Flag value."""
    return make_flag(edition, ack=ack)


def read_until(sock: socket.socket, needle: bytes, timeout_s: float = 5.0) -> bytes:
    """Bytes from ``sock`` up to and including ``needle`` (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout_s
    data = b""
    while needle not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} within {timeout_s} s, got {data!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(f"connection closed before {needle!r}, got {data!r}")
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    """Whether the listener closes ``sock`` within ``timeout_s`` (what it sent is skipped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False
