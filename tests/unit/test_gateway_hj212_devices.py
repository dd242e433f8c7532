"""The HJ 212 device table from YAML: full entries, registry nodes, mistakes said clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgrid_common.hj212 import CrcMode, Edition, Tolerance, crc_modbus
from envgrid_common.registry import Node
from envgrid_gateway.adapters.hj212 import Device, DeviceTable

TABLE = """
devices:
  - mn: "010000A8900016F000169DC0"
    node: plant-1-stack
    password: "123456"
    crc: modbus-le
    tolerance: length,system_code
    units: {a34004: mg/m³}
    editions: ["2017", "2025"]
nodes:
  - {id: farm-2-effluent, site_id: farm-2, hj212_mn: LD130133000015, hj212_password: "654321"}
  - {id: farm-3-camera, site_id: farm-3, kind: camera}
"""


def test_entries_and_registry_nodes_make_the_table(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(TABLE, encoding="utf-8")
    table = DeviceTable.load(path)
    assert len(table) == 2
    stack = table.get("010000A8900016F000169DC0")
    assert stack is not None
    assert stack.node_id == "plant-1-stack"
    assert stack.crc is CrcMode.MODBUS_LE
    assert stack.crc_pinned
    assert stack.tolerance == Tolerance.LENGTH | Tolerance.SYSTEM_CODE
    assert stack.units == {"a34004": "mg/m³"}
    assert stack.editions == {Edition.HJ212_2017, Edition.HJ212_2025}
    farm = table.get("LD130133000015")
    assert farm is not None
    assert (farm.node_id, farm.password, farm.crc) == ("farm-2-effluent", "654321", None)
    assert table.get("unknown") is None


def test_a_pinned_crc_is_not_relearnt_and_an_auto_one_is_learnt_once(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(TABLE, encoding="utf-8")
    table = DeviceTable.load(path)
    stack, farm = table.get("010000A8900016F000169DC0"), table.get("LD130133000015")
    assert stack is not None
    assert farm is not None
    assert not table.learn_crc(stack, CrcMode.STANDARD)
    assert table.learn_crc(farm, CrcMode.MODBUS_BE, b"plain")
    assert table.learn_crc(farm, CrcMode.MODBUS_BE, b"plain")
    assert not table.learn_crc(farm, CrcMode.STANDARD, b"plain")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("devices: [{mn: 'A1', node: n1, password: '12'}]", "password"),
        ("devices: [{mn: 'A1', node: n1, password: '123456', tolerance: sloppy}]", "sloppy"),
        ("devices: [{mn: 'A1', node: n1, password: '123456', crc: ccitt}]", "crc"),
        (
            "devices: [{mn: 'A1', node: n1, password: '123456'}, "
            "{mn: 'A1', node: n2, password: '123456'}]",
            "twice",
        ),
        (
            "devices: [{mn: 'A1', node: n1, password: '123456'}, "
            "{mn: 'A2', node: n1, password: '123456'}]",
            "two MNs",
        ),
        ("nodes: [{id: n1, site_id: s1, hj212_mn: A1}]", "no password"),
        ("devices: [{mn: 'A1', nod: n1}]", "nod"),
    ],
)
def test_mistakes_are_refused_saying_what(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=says):
        DeviceTable.load(path)


def test_no_file_is_an_empty_table_and_a_missing_one_an_error(tmp_path: Path) -> None:
    assert len(DeviceTable.load(None)) == 0
    with pytest.raises(ValueError, match=r"missing\.yaml"):
        DeviceTable.load(tmp_path / "missing.yaml")


def test_registry_nodes_stay_valid_without_hj212_fields() -> None:
    node = Node(id="n1", site_id="s1")
    assert node.hj212_mn is None
    assert node.hj212_password is None
    with pytest.raises(ValueError, match="hj212_password"):
        Node(id="n1", site_id="s1", hj212_mn="A1", hj212_password="short")


def test_a_modbus_crc_of_two_equal_bytes_teaches_no_byte_order() -> None:
    table = DeviceTable([Device("A1", "n1", "123456")])
    device = table.get("A1")
    assert device is not None
    symmetric = next(s for n in range(5000) if _equal_bytes(crc_modbus(s := b"x%d" % n)))
    assert table.learn_crc(device, CrcMode.MODBUS_BE, symmetric)
    assert device.crc is None  # not learnt: it fits both orders
    assert table.learn_crc(device, CrcMode.MODBUS_LE, b"plain")
    assert device.crc is CrcMode.MODBUS_LE
    assert table.learn_crc(device, CrcMode.MODBUS_BE, symmetric)  # still fits
    assert not table.learn_crc(device, CrcMode.MODBUS_BE, b"plain")


def _equal_bytes(value: int) -> bool:
    return value >> 8 == value & 0xFF
