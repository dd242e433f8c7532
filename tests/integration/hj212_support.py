"""Helpers for the integration tests that reach the gateway's HJ 212 listener over real TCP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from envgrid_gateway.adapters.hj212 import Hj212Adapter
from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings


@contextmanager
def running_gateway(settings: GatewaySettings, drain_timeout_s: float = 2.0) -> Iterator[Gateway]:
    """A started gateway, connected to its brokers, stopped (draining its buffer) on leaving."""
    gateway = Gateway(settings).start()
    assert gateway.wait_ready(10), "gateway did not connect"
    try:
        yield gateway
    finally:
        gateway.stop(drain_timeout_s=drain_timeout_s)


def hj212_address(gateway: Gateway) -> tuple[str, int]:
    """The host and port the gateway's HJ 212 listener is bound to."""
    adapter = next(a for a in gateway.adapters if isinstance(a, Hj212Adapter))
    assert adapter.address is not None
    return adapter.address[0], adapter.address[1]
