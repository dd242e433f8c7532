"""The HJ 212 device table: which MN is which node, with its password and its known deviations."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envgrid_common.hj212 import CrcMode, Edition, Tolerance, crc_modbus
from envgrid_common.messages import Identifier
from envgrid_common.registry import HJ212_MN_PATTERN, HJ212_PW_PATTERN, Node
from envgrid_common.validation import describe

_MODBUS = frozenset((CrcMode.MODBUS_LE, CrcMode.MODBUS_BE))


def _symmetric(value: int) -> bool:
    return value >> 8 == value & 0xFF


Mn = Annotated[str, Field(pattern=HJ212_MN_PATTERN)]
Password = Annotated[str, Field(pattern=HJ212_PW_PATTERN)]


class DeviceEntry(BaseModel):
    """One device as the YAML table writes it (``devices:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mn: Mn
    node: Identifier
    password: Password
    crc: Literal["auto", "standard", "modbus-le", "modbus-be"] = "auto"
    tolerance: str = "none"
    units: dict[str, str] = Field(default_factory=dict)
    editions: tuple[Literal["2005", "2017", "2025"], ...] = ()

    @field_validator("tolerance")
    @classmethod
    def _known_tolerances(cls, value: str) -> str:
        Tolerance.parse(value)  # raises ValueError naming the unknown one
        return value


class DeviceFile(BaseModel):
    """The YAML file: ``devices:`` (full entries) and/or ``nodes:`` (registry nodes with an MN)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    devices: tuple[DeviceEntry, ...] = ()
    nodes: tuple[Node, ...] = ()


@dataclass
class Device:
    """A registered data-acquisition unit; ``crc`` is pinned, or learnt from its first frame."""

    mn: str
    node_id: str
    password: str
    crc: CrcMode | None = None
    crc_pinned: bool = False
    tolerance: Tolerance = Tolerance.NONE
    units: dict[str, str] = field(default_factory=dict)
    editions: frozenset[Edition] = frozenset()

    @classmethod
    def from_entry(cls, entry: DeviceEntry) -> Device:
        """A device from its table entry."""
        pinned = entry.crc != "auto"
        return cls(
            mn=entry.mn,
            node_id=entry.node,
            password=entry.password,
            crc=CrcMode(entry.crc) if pinned else None,
            crc_pinned=pinned,
            tolerance=Tolerance.parse(entry.tolerance),
            units=dict(entry.units),
            editions=frozenset(Edition(e) for e in entry.editions),
        )


class DeviceTable:
    """MN → :class:`Device`, safe to read from the listener while the CRC modes are learnt."""

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._lock = threading.Lock()
        self._by_mn: dict[str, Device] = {}
        nodes: dict[str, str] = {}
        for device in devices:
            if device.mn in self._by_mn:
                raise ValueError(f"HJ 212 MN {device.mn} is listed twice")
            other = nodes.setdefault(device.node_id, device.mn)
            if other != device.mn:
                # Two MNs on one node would number their readings on one sequence.
                raise ValueError(f"node {device.node_id} has two MNs: {other} and {device.mn}")
            self._by_mn[device.mn] = device

    def __len__(self) -> int:
        return len(self._by_mn)

    def get(self, mn: str) -> Device | None:
        """The device with this MN, or None (not registered)."""
        return self._by_mn.get(mn)

    def learn_crc(self, device: Device, mode: CrcMode, segment: bytes = b"") -> bool:
        """Remember an auto device's CRC mode; False if it is pinned or known as another.

        A CRC-16/MODBUS whose two bytes are equal reads the same in either byte order (1 frame
        in 256): such a frame fits either MODBUS mode and teaches nothing.
        """
        ambiguous = mode in _MODBUS and _symmetric(crc_modbus(segment))
        with self._lock:
            if device.crc is None:
                if not ambiguous:
                    device.crc = mode
                return True
            return device.crc is mode or (ambiguous and device.crc in _MODBUS)

    @property
    def tolerance(self) -> Tolerance:
        """Every deviation some device is allowed (what a connection of unknown MN may need)."""
        result = Tolerance.NONE
        for device in self._by_mn.values():
            result |= device.tolerance
        return result

    @classmethod
    def load(cls, path: Path | None) -> DeviceTable:
        """The table in ``path`` (YAML); an empty table for None. ValueError says what is wrong."""
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            parsed = DeviceFile.model_validate(data)
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"HJ 212 device table {path}: {error}") from None
        except ValidationError as error:
            raise ValueError(f"HJ 212 device table {path}: {describe(error, 5)}") from None
        devices = [Device.from_entry(entry) for entry in parsed.devices]
        listed = {d.mn for d in devices}
        for node in parsed.nodes:
            if node.hj212_mn is None or node.hj212_mn in listed:
                continue  # a devices: entry says more about the same MN
            if node.hj212_password is None:
                raise ValueError(f"HJ 212 device table {path}: node {node.id} has no password")
            devices.append(Device(node.hj212_mn, node.id, node.hj212_password))
        return cls(devices)
