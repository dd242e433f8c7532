"""Node configuration files: the shipped examples load, mistakes are named clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from envgrid_edge.cli import EXAMPLES, main
from envgrid_edge.config import ConfigError, NodeConfig, load_config, parse_config
from envgrid_edge.drivers.modbus import ModbusConfig
from envgrid_edge.drivers.registers import DataType, RegisterKind, WordOrder
from envgrid_edge.drivers.simulated import SimulatedConfig


def modbus(**driver: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "modbus",
        "transport": "tcp",
        "host": "10.0.0.5",
        "metrics": {"cod": {"address": 0, "type": "float32", "unit": "mg/L"}},
    }
    return {"node_id": "n1", "driver": {**base, **driver}}


def problems(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_the_shipped_modbus_example_loads() -> None:
    config = load_config(EXAMPLES / "modbus-farm-effluent.yaml")
    assert config.node_id == "luxi-farm-01-effluent"
    assert config.kind == "sensor"
    assert config.poll_interval_s == 60
    driver = config.driver
    assert isinstance(driver, ModbusConfig)
    assert driver.transport == "rtu"
    assert driver.serial_port == "/dev/ttyUSB0"
    assert set(driver.metrics) == {"cod", "nh3n", "tp", "flow"}
    flow = driver.metrics["flow"]
    assert (flow.kind, flow.type, flow.word_order) == (
        RegisterKind.INPUT,
        DataType.UINT32,
        WordOrder.LITTLE,
    )
    assert driver.metrics["cod"].status is not None
    assert config.outbox.bounds.max_rows == 200_000


def test_the_shipped_simulated_example_loads_with_its_outbox_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    config = load_config(EXAMPLES / "simulated-farm-air.yaml")
    assert isinstance(config.driver, SimulatedConfig)
    assert config.driver.profile == "farm_air"
    assert config.outbox_path == Path("/data/envgrid/edge/luxi-farm-01-air.sqlite")
    assert config.outbox.bounds.max_bytes == 20 * 1024 * 1024


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVGRID_MQTT_URL", "mqtt://broker.example:1884")
    monkeypatch.setenv("ENVGRID_TOPIC_ROOT", "luxi")
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    config = parse_config(modbus())
    assert config.address.host == "broker.example"
    assert config.address.port == 1884
    assert config.topics.readings("n1") == "luxi/v1/nodes/n1/readings"
    assert config.outbox_path == Path("/data/envgrid/edge/n1.sqlite")


def test_log_level_and_empty_variables_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVGRID_MQTT_URL", "")  # empty counts as unset
    monkeypatch.setenv("ENVGRID_LOG_LEVEL", "debug")
    config = parse_config(modbus())
    assert config.address.host == "127.0.0.1"
    assert config.topics.readings("n1") == "envgrid/v1/nodes/n1/readings"
    assert config.log_level == "DEBUG"
    assert parse_config({**modbus(), "log_level": "ERROR"}).log_level == "ERROR"


def test_bad_settings_are_reported_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVGRID_STOP_TIMEOUT_S", "soon")
    assert "ENVGRID_ variables or ENVGRID_CONFIG:\n  stop_timeout_s:" in problems(modbus())
    monkeypatch.delenv("ENVGRID_STOP_TIMEOUT_S")
    monkeypatch.setenv("ENVGRID_MQTT_URL", "http://nowhere")
    assert "mqtt_url:" in problems(modbus())
    monkeypatch.setenv("ENVGRID_CONFIG", "/nonexistent/envgrid.yaml")
    assert "ENVGRID_CONFIG=/nonexistent/envgrid.yaml: no such file" in problems(modbus())


def test_the_file_wins_over_the_environment_and_options_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVGRID_MQTT_URL", "mqtt://from-env")
    data = modbus()
    data["mqtt_url"] = "mqtt://from-file"
    data["outbox"] = {"path": "box.sqlite", "max_rows": 10}
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).address.host == "from-file"
    assert load_config(path).outbox_path == tmp_path.resolve() / "box.sqlite"
    overridden = load_config(path, {"mqtt_url": "mqtt://from-cli", "outbox": {"path": "/x.db"}})
    assert overridden.address.host == "from-cli"
    assert overridden.outbox_path == Path("/x.db")
    assert overridden.outbox.max_rows == 10, "an override of one outbox key keeps the others"


def test_every_problem_is_named_with_where_it_is() -> None:
    data = modbus()
    data["node_id"] = "bad id"
    data["poll_intervall_s"] = 5
    data["driver"]["metrics"]["chlorophyll"] = {"address": 3, "unit": "µg/L"}
    text = problems(data)
    assert "3 problem(s)" in text
    assert "node_id:" in text
    assert "poll_intervall_s: Extra inputs are not permitted" in text
    assert "unknown metric 'chlorophyll'" in text


def test_a_unit_other_than_the_metrics_is_refused_unless_it_converts() -> None:
    data = modbus(metrics={"nh3": {"address": 0, "unit": "ppm"}})
    text = problems(data)
    assert "unit 'ppm' is not nh3's unit 'mg/m³'" in text
    assert "write unit: mg/m³" in text
    converted = parse_config(modbus(metrics={"nh3": {"address": 0, "unit": "ug/m3"}}))
    assert isinstance(converted.driver, ModbusConfig)


@pytest.mark.parametrize(
    ("driver", "message"),
    [
        ({"transport": "rtu"}, "transport rtu needs serial_port"),
        ({"host": None}, "transport tcp needs host"),
        ({"metrics": {}}, "at least 1 item"),
        ({"device_id": 300}, "less than or equal to 247"),
        ({"parity": "X"}, "'N', 'E' or 'O'"),
        ({"metrics": {"cod": {"address": 70000, "unit": "mg/L"}}}, "less than or equal to 65535"),
        ({"metrics": {"cod": {"address": 0, "type": "float64", "unit": "mg/L"}}}, "float32"),
        ({"metrics": {"cod": {"address": 0, "unit": "mg/L", "scale": "x"}}}, "scale"),
        ({"type": "bacnet"}, "does not match any of the expected tags"),
    ],
)
def test_modbus_mistakes(driver: dict[str, Any], message: str) -> None:
    assert message in problems(modbus(**driver))


def test_simulated_mistakes() -> None:
    base = {"node_id": "n1", "driver": {"type": "simulated", "profile": "river"}}
    assert isinstance(parse_config(base), NodeConfig)
    assert "unknown profile 'lake'" in problems(
        {"node_id": "n1", "driver": {"type": "simulated", "profile": "lake"}}
    )
    wrong = {"type": "simulated", "profile": "river", "metrics": ["pm25"]}
    assert "profile river measures ph, do" in problems({"node_id": "n1", "driver": wrong})


def test_camera_nodes_are_not_this_agents(tmp_path: Path) -> None:
    data = modbus()
    data["kind"] = "camera"
    assert "kind: Input should be 'sensor'" in problems(data)


def test_broken_files_are_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("node_id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    path.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "missing.yaml")


def test_check_option_validates_and_exits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sensor", "--config", str(EXAMPLES / "modbus-farm-effluent.yaml"), "--check"]) == 0
    assert "node luxi-farm-01-effluent (sensor): modbus driver" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("node_id: n1\n")
    assert main(["sensor", "--config", str(bad), "--check"]) == 2
    assert "driver: Field required" in capsys.readouterr().err
