"""Fixtures shared by the gateway's integration tests; each module provides ``settings``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from envgrid_gateway.gateway import Gateway
from envgrid_gateway.settings import GatewaySettings
from tests.integration.hj212_support import running_gateway
from tests.mqtt_clients import Collector


@pytest.fixture
def collector(settings: GatewaySettings) -> Iterator[Collector]:
    """A subscriber to everything the gateway forwards uplink."""
    collector = Collector(settings.uplink_url, settings.uplink_topics).start()
    yield collector
    collector.stop()


@pytest.fixture
def gateway(settings: GatewaySettings, collector: Collector) -> Iterator[Gateway]:
    """The gateway on ``settings``, started once the collector listens."""
    del collector  # subscribed before the gateway publishes anything
    with running_gateway(settings) as gateway:
        yield gateway
