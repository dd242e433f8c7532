"""The Modbus driver against a pymodbus device simulator started by the test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymodbus import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_common.messages import DataFlag
from envgrid_common.topics import Topics
from envgrid_edge.drivers import DriverError
from envgrid_edge.drivers.modbus import ModbusConfig, ModbusDriver
from envgrid_edge.drivers.registers import DataType, WordOrder, encode
from tests.integration.test_edge_support import RunningAgent, clear_retained, node_config
from tests.mqtt_clients import Subscriber
from tests.polling import wait_until

DEVICE = 3
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _blocks(registers: dict[int, int]) -> list[SimData]:
    """Contiguous runs of ``registers`` as SimData (addresses outside them are illegal)."""
    blocks: list[SimData] = []
    run: list[int] = []
    for address in sorted(registers):
        if run and address != run[-1] + 1:
            blocks.append(_block(run, registers))
            run = []
        run.append(address)
    if run:
        blocks.append(_block(run, registers))
    return blocks


def _block(addresses: list[int], registers: dict[int, int]) -> SimData:
    values = [registers[a] for a in addresses]
    return SimData(addresses[0], values=values, datatype=SimType.REGISTERS)


class ModbusDevice:
    """A Modbus TCP instrument in a thread of its own, holding the registers it was given."""

    def __init__(
        self,
        holding: dict[int, int],
        inputs: dict[int, int],
        *,
        port: int | None = None,
        framer: FramerType = FramerType.SOCKET,
    ) -> None:
        self.port = port or free_port()
        bits = [SimData(0, values=[False] * 16, datatype=SimType.BITS)]
        self._device = SimDevice(id=DEVICE, simdata=(bits, bits, _blocks(holding), _blocks(inputs)))
        self._framer = framer
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ModbusDevice:
        self._thread.start()
        wait_for_port("127.0.0.1", self.port, 5)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._server = ModbusTcpServer(
            self._device, framer=self._framer, address=("127.0.0.1", self.port)
        )
        await self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            shutdown = self._server.shutdown()  # type: ignore[no-untyped-call]
            asyncio.run_coroutine_threadsafe(shutdown, self._loop).result(5)
        self._thread.join(5)


# An effluent analyser and flow meter: what the registers hold and what must come out.
HOLDING: dict[int, int] = {}
for address, words in (
    (0, encode(35.2, DataType.FLOAT32, WordOrder.BIG)),  # COD, mg/L
    (2, encode(1.4, DataType.FLOAT32, WordOrder.LITTLE)),  # NH3-N, mg/L, low word first
    (4, [350]),  # TP in µg/L
    (5, encode(-25, DataType.INT16, WordOrder.BIG)),  # water temperature, 0.1 °C
    (6, [712]),  # pH × 100
    (20, [2]),  # COD analyser status: calibrating
    (21, [9]),  # NH3-N analyser status: a code nobody mapped
):
    for i, word in enumerate(words):
        HOLDING[address + i] = word
INPUTS = dict(enumerate(encode(100_000, DataType.UINT32, WordOrder.LITTLE), start=100))

STATUS = {"codes": {0: "N", 1: "M", 2: "C", 3: "D"}}
METRICS: dict[str, Any] = {
    "cod": {"address": 0, "type": "float32", "unit": "mg/L", "status": {"address": 20, **STATUS}},
    "nh3n": {
        "address": 2,
        "type": "float32",
        "word_order": "little",
        "unit": "mg/L",
        "status": {"address": 21, **STATUS},
    },
    "tp": {"address": 4, "unit": "ug/L"},
    "water_temp": {"address": 5, "type": "int16", "scale": 0.1, "unit": "°C"},
    "ph": {"address": 6, "scale": 0.01, "unit": "pH"},
    "flow": {
        "address": 100,
        "kind": "input",
        "type": "uint32",
        "word_order": "little",
        "scale": 0.01,
        "unit": "m³/h",
        "decimals": 3,
    },
}
EXPECTED = {
    "cod": 35.2,
    "nh3n": 1.4,
    "tp": 0.35,
    "water_temp": -2.5,
    "ph": 7.12,
    "flow": 277.778,
}


def config(port: int, transport: str = "tcp", **extra: Any) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {
            "type": "modbus",
            "transport": transport,
            "host": "127.0.0.1",
            "port": port,
            "device_id": DEVICE,
            "timeout_s": 0.5,
            "retries": 0,
            "metrics": METRICS,
            **extra,
        }
    )


@pytest.fixture
def device() -> Iterator[ModbusDevice]:
    sim = ModbusDevice(HOLDING, INPUTS).start()
    yield sim
    sim.stop()


def test_reads_scaled_converted_values_with_their_flags(device: ModbusDevice) -> None:
    driver = ModbusDriver(config(device.port))
    try:
        sample = driver.read(NOW)
        assert sample.values == EXPECTED
        assert sample.flags == {"cod": DataFlag.CALIBRATION, "nh3n": DataFlag.FAULT}
        assert driver.read(NOW).values == EXPECTED, "a second poll reuses the connection"
    finally:
        driver.close()


def test_rtu_framing_over_tcp() -> None:
    sim = ModbusDevice(HOLDING, INPUTS, framer=FramerType.RTU).start()
    driver = ModbusDriver(config(sim.port, "rtu-over-tcp"))
    try:
        assert driver.read(NOW).values == EXPECTED
    finally:
        driver.close()
        sim.stop()


def test_a_register_that_fails_leaves_out_only_its_metric(
    device: ModbusDevice, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = {**METRICS, "do": {"address": 50, "unit": "mg/L"}}  # no such register
    driver = ModbusDriver(config(device.port, metrics=metrics))
    try:
        sample = driver.read(NOW)
        driver.read(NOW)
    finally:
        driver.close()
    assert sample.values == EXPECTED
    warnings = [r for r in caplog.records if "left out do" in r.message]
    assert len(warnings) == 1, "a register that keeps failing is reported once"


def test_an_unreachable_instrument_fails_the_read_and_recovers() -> None:
    port = free_port()
    driver = ModbusDriver(config(port))
    try:
        with pytest.raises(DriverError, match="cannot connect"):
            driver.read(NOW)
        sim = ModbusDevice(HOLDING, INPUTS, port=port).start()
        try:
            assert driver.read(NOW).values == EXPECTED
        finally:
            sim.stop()
        with pytest.raises(DriverError):
            driver.read(NOW)  # the instrument went away mid-run
    finally:
        driver.close()


def test_the_agent_publishes_what_the_instrument_holds(
    device: ModbusDevice, tmp_path: Path, mqtt_url: str, topics: Topics
) -> None:
    node = "edge-modbus-1"
    driver = {
        "type": "modbus",
        "host": "127.0.0.1",
        "port": device.port,
        "device_id": DEVICE,
        "timeout_s": 0.5,
        "retries": 0,
        "metrics": METRICS,
    }
    file = node_config(tmp_path, node, mqtt_url, topics, interval_s=0.1, driver=driver)
    sub = Subscriber(mqtt_url, topics).start()
    agent = RunningAgent(file).start()
    try:
        wait_until(lambda: len(sub.readings(node)) >= 3, 10, "three readings")
    finally:
        agent.stop()
        sub.stop()
        clear_retained(mqtt_url, topics, node)
    assert not sub.invalid, sub.invalid
    for reading in sub.readings(node):
        assert reading.values == EXPECTED
        assert reading.flags == {"cod": DataFlag.CALIBRATION, "nh3n": DataFlag.FAULT}
