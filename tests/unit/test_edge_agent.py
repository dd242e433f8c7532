"""The sensor agent without a broker: readings, sequence numbers, failed reads, the schedule."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from envgrid_common.clock import SHANGHAI
from envgrid_common.messages import DataFlag
from envgrid_common.validation import validate
from envgrid_edge import agent as agent_module
from envgrid_edge.agent import SensorAgent
from envgrid_edge.config import NodeConfig, parse_config
from envgrid_edge.drivers import DriverError, Sample


class FakeDriver:
    """Returns what the test queues, records when it was asked."""

    def __init__(self) -> None:
        self.queue: list[Sample | Exception] = []
        self.calls: list[float] = []
        self.delay_s = 0.0

    def read(self, at: datetime) -> Sample:
        self.calls.append(time.monotonic())
        if self.delay_s:
            time.sleep(self.delay_s)
            self.delay_s = 0.0
        item = self.queue.pop(0) if self.queue else Sample({"cod": 35.2})
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        pass


def config(tmp_path: Path, **extra: object) -> NodeConfig:
    return parse_config(
        {
            "node_id": "n1",
            "mqtt_url": "mqtt://127.0.0.1:9",  # nobody listens: everything stays in the outbox
            "topic_root": "t-unit/envgrid",
            "poll_interval_s": 0.1,
            "align": False,
            "outbox": {"path": str(tmp_path / "n1.sqlite"), "durability": "normal"},
            "driver": {"type": "simulated", "profile": "river"},
            **extra,
        }
    )


@pytest.fixture
def driver() -> FakeDriver:
    return FakeDriver()


@pytest.fixture
def agent(tmp_path: Path, driver: FakeDriver) -> Iterator[SensorAgent]:
    made = SensorAgent(config(tmp_path), driver)
    yield made
    made.outbox.close()


def queued(agent: SensorAgent) -> list[dict[str, object]]:
    rows = agent.outbox.take(1000)
    for row in rows:
        validate(agent.config.topics, row.topic, row.payload)  # the contract, as the cloud sees it
    return [json.loads(r.payload) for r in rows]


def test_each_poll_queues_a_valid_reading_with_the_next_seq(
    agent: SensorAgent, driver: FakeDriver
) -> None:
    driver.queue = [Sample({"cod": 35.2, "nh3n": 1.4}, {"cod": DataFlag.CALIBRATION})]
    first = agent.poll_once()
    second = agent.poll_once()
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert agent.next_seq == 3
    bodies = queued(agent)
    assert bodies[0]["values"] == {"cod": 35.2, "nh3n": 1.4}
    assert bodies[0]["flags"] == {"cod": "C"}
    assert "historical" not in bodies[0], "the flag is added when sent, not when stored"
    assert str(bodies[0]["ts"]).endswith("+08:00")


def test_sequence_numbers_continue_after_a_restart(tmp_path: Path, driver: FakeDriver) -> None:
    agent = SensorAgent(config(tmp_path), driver)
    for _ in range(3):
        agent.poll_once()
    agent.outbox.close()
    again = SensorAgent(config(tmp_path), driver)
    try:
        reading = again.poll_once()
        assert reading is not None
        assert reading.seq == 4
    finally:
        again.outbox.close()


def test_failed_reads_are_skipped_without_using_a_seq(
    agent: SensorAgent, driver: FakeDriver, caplog: pytest.LogCaptureFixture
) -> None:
    driver.queue = [
        DriverError("no answer"),
        DriverError("no answer"),
        Sample({"cod": math.nan}),  # a driver bug must not reach the wire
        Sample({"cod": 1.0}),
    ]
    results = [agent.poll_once() for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None
    assert results[3].seq == 1
    assert agent.counters.failed_reads == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, "one warning per run of failures"


def test_an_unset_clock_produces_no_readings(tmp_path: Path, driver: FakeDriver) -> None:
    made = SensorAgent(
        config(tmp_path), driver, clock=lambda: datetime(2000, 1, 1, 8, tzinfo=SHANGHAI)
    )
    try:
        assert made.poll_once() is None
        assert driver.calls == []
        assert len(made.outbox) == 0
    finally:
        made.outbox.close()


def test_timestamps_are_measurement_time_to_the_millisecond(
    tmp_path: Path, driver: FakeDriver
) -> None:
    at = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=SHANGHAI)
    made = SensorAgent(config(tmp_path), driver, clock=lambda: at)
    try:
        reading = made.poll_once()
        assert reading is not None
        assert reading.ts == at.replace(microsecond=123000)
        assert reading.ts.astimezone(UTC).hour == 0
    finally:
        made.outbox.close()


def run_loop(agent: SensorAgent, seconds: float) -> None:
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    agent._poll_loop(stop)


def test_polls_keep_to_a_schedule_without_drift(
    agent: SensorAgent, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "FIRST_CONNECT_WAIT_S", 0.0)
    run_loop(agent, 1.55)
    start = driver.calls[0]
    offsets = [(t - start) / 0.1 for t in driver.calls]
    assert 14 <= len(offsets) <= 16
    # Each poll lands on its slot: lateness does not add up from one poll to the next.
    assert all(abs(o - round(o)) < 0.45 for o in offsets), offsets
    assert round(offsets[-1]) >= 14


def test_a_slow_read_skips_the_slots_it_overran(
    agent: SensorAgent, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "FIRST_CONNECT_WAIT_S", 0.0)
    driver.delay_s = 0.25  # the first read takes two and a half intervals
    run_loop(agent, 1.0)
    start = driver.calls[0]
    slots = [round((t - start) / 0.1) for t in driver.calls]
    assert slots[:2] == [0, 3], "slots 1 and 2 were skipped, then back on the grid"
    assert agent.counters.skipped_slots == 2
