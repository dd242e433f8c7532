"""Modbus RTU (RS-485) and TCP instruments, with the register map in the node's config file."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from envgrid_common.messages import DataFlag, FiniteFloat, MetricName
from envgrid_common.metrics import METRICS
from envgrid_edge.drivers.base import DriverError, Sample
from envgrid_edge.drivers.registers import (
    DataType,
    RegisterKind,
    WordOrder,
    decode,
    register_count,
    tidy,
)
from envgrid_edge.drivers.units import conversion, convertible_from

if TYPE_CHECKING:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

    ModbusClient = ModbusSerialClient | ModbusTcpClient

log = logging.getLogger("envgrid.edge.modbus")

Address = int  # 0-based, as sent on the wire: "40001" in a manual is holding register 0


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusRegister(_Config):
    """A register whose value says how trustworthy a metric is, mapped to HJ 212 flags."""

    address: Address = Field(ge=0, le=65535)
    kind: RegisterKind = RegisterKind.HOLDING
    codes: dict[int, DataFlag] = Field(min_length=1, description="register value → flag")
    otherwise: DataFlag = Field(
        default=DataFlag.FAULT, description="flag for a value not in codes (or a failed read)"
    )


class MetricRegister(_Config):
    """Where one metric is, how it is encoded, and how raw becomes a value in ``unit``."""

    address: Address = Field(ge=0, le=65535)
    kind: RegisterKind = RegisterKind.HOLDING
    type: DataType = DataType.UINT16
    word_order: WordOrder | None = Field(default=None, description="default: the driver's")
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0
    unit: str = Field(min_length=1, description="unit of raw × scale + offset")
    decimals: int | None = Field(default=None, ge=0, le=12)
    status: StatusRegister | None = None


class ModbusConfig(_Config):
    """A Modbus instrument: how to reach it and its register map."""

    type: Literal["modbus"]
    transport: Literal["tcp", "rtu", "rtu-over-tcp"] = "tcp"
    host: str | None = Field(default=None, description="tcp, rtu-over-tcp: address")
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = Field(default=None, description="rtu: e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1
    device_id: int = Field(default=1, ge=0, le=247, description="slave/unit address")
    timeout_s: float = Field(default=1.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)
    word_order: WordOrder = WordOrder.BIG
    metrics: dict[MetricName, MetricRegister] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ModbusConfig:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs serial_port (e.g. /dev/ttyUSB0)")
        if self.transport != "rtu" and not self.host:
            raise ValueError(f"transport {self.transport} needs host")
        for name, spec in self.metrics.items():
            canonical = METRICS[name].unit
            if conversion(spec.unit, canonical) is None:
                known = ", ".join(convertible_from(canonical)) or canonical
                raise ValueError(
                    f"metrics.{name}: unit {spec.unit!r} is not {name}'s unit {canonical!r} and "
                    f"envgrid cannot convert it (it converts from: {known}); fold the "
                    f"conversion into scale and offset and write unit: {canonical}"
                )
        return self

    @property
    def where(self) -> str:
        """The instrument's address, for messages."""
        if self.transport == "rtu":
            return f"{self.serial_port} device {self.device_id}"
        return f"{self.host}:{self.port} device {self.device_id}"


class _Refused(Exception):
    """The instrument answered a read with a Modbus exception (e.g. illegal address)."""


class MetricPlan:
    """One metric's register read and its conversion to the canonical unit."""

    def __init__(self, name: str, spec: MetricRegister, word_order: WordOrder) -> None:
        self.name = name
        self.spec = spec
        self.word_order = spec.word_order or word_order
        self.count = register_count(spec.type)
        converted = conversion(spec.unit, METRICS[name].unit)
        assert converted is not None  # checked by ModbusConfig
        self.factor, self.shift = converted

    def value(self, registers: list[int]) -> float:
        raw = decode(registers, self.spec.type, self.word_order)
        scaled = raw * self.spec.scale + self.spec.offset
        return tidy(scaled * self.factor + self.shift, self.spec.type, self.spec.decimals)


def open_client(config: ModbusConfig) -> ModbusClient:
    """A pymodbus client for the configured transport (not yet connected)."""
    # pymodbus is imported only by nodes that use it: less memory for the others.
    from pymodbus import FramerType
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

    if not log.isEnabledFor(logging.DEBUG):
        # pymodbus logs every failed connect and read; the driver says it once per change.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    if config.transport == "rtu":
        assert config.serial_port is not None
        return ModbusSerialClient(
            config.serial_port,
            framer=FramerType.RTU,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.timeout_s,
            retries=config.retries,
        )
    assert config.host is not None
    framer = FramerType.RTU if config.transport == "rtu-over-tcp" else FramerType.SOCKET
    return ModbusTcpClient(
        config.host,
        port=config.port,
        framer=framer,
        timeout=config.timeout_s,
        retries=config.retries,
    )


class ModbusDriver:
    """Reads each mapped metric (and its status.address) once per poll."""

    def __init__(self, config: ModbusConfig) -> None:
        self.config = config
        self._plans = [MetricPlan(n, s, config.word_order) for n, s in config.metrics.items()]
        self._client = open_client(config)
        self._last_problems = ""

    def read(self, at: datetime) -> Sample:
        """Read every metric; a metric that fails is left out, all failing is a DriverError."""
        from pymodbus.exceptions import ConnectionException, ModbusException

        if not self._client.connected and not self._client.connect():
            raise DriverError(f"cannot connect to Modbus {self.config.where}")
        cache: dict[tuple[RegisterKind, int, int], list[int]] = {}
        values: dict[str, float] = {}
        flags: dict[str, DataFlag] = {}
        problems: list[str] = []
        for plan in self._plans:
            spec = plan.spec
            try:
                value = plan.value(self._registers(cache, spec.kind, spec.address, plan.count))
            except ConnectionException as error:
                # The link itself is gone: the other registers would fail the same way.
                self._client.close()  # type: ignore[no-untyped-call]
                raise DriverError(f"Modbus {self.config.where}: {error}") from None
            except (ModbusException, _Refused) as error:
                problems.append(f"{plan.name}: {error}")
                continue
            if not math.isfinite(value):
                problems.append(f"{plan.name}: not a number")
                continue
            values[plan.name] = value
            if spec.status is not None:
                flags[plan.name] = self._flag(cache, spec.status)
        self._report(problems)
        if not values:
            raise DriverError(f"Modbus {self.config.where}: {'; '.join(problems)}")
        return Sample(values, flags)

    def _flag(
        self, cache: dict[tuple[RegisterKind, int, int], list[int]], status: StatusRegister
    ) -> DataFlag:
        from pymodbus.exceptions import ModbusException

        try:
            (code,) = self._registers(cache, status.kind, status.address, 1)
        except (ModbusException, _Refused):
            return status.otherwise
        return status.codes.get(code, status.otherwise)

    def _registers(
        self,
        cache: dict[tuple[RegisterKind, int, int], list[int]],
        kind: RegisterKind,
        address: int,
        count: int,
    ) -> list[int]:
        key = (kind, address, count)
        if key not in cache:
            device = self.config.device_id
            if kind is RegisterKind.HOLDING:
                response = self._client.read_holding_registers(
                    address, count=count, device_id=device
                )
            else:
                response = self._client.read_input_registers(address, count=count, device_id=device)
            if response.isError():
                raise _Refused(f"{kind} register {address}: {response}")
            cache[key] = list(response.registers[:count])
        return cache[key]

    def _report(self, problems: list[str]) -> None:
        # A register that keeps failing is said once, not every poll; so is its recovery.
        text = "; ".join(problems)
        if text != self._last_problems:
            if text:
                log.warning("Modbus %s: left out %s", self.config.where, text)
            else:
                log.info("Modbus %s: every register reads again", self.config.where)
            self._last_problems = text

    def close(self) -> None:
        """Close the serial port or TCP connection."""
        self._client.close()  # type: ignore[no-untyped-call]
