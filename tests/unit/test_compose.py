"""compose.yaml parses, and its services, commands and environment agree with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from envgrid_cli.main import build_parser
from envgrid_cloud.settings import CloudSettings
from envgrid_gateway.settings import GatewaySettings
from envgrid_sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# Which settings class reads each envgrid service's environment.
SETTINGS: dict[str, type[BaseSettings]] = {
    "cloud": CloudSettings,
    "seed": CloudSettings,
    "gateway": GatewaySettings,
    "sim": SimSettings,
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def test_every_part_of_the_system_is_a_service() -> None:
    assert {
        "timescaledb",
        "mosquitto-cloud",
        "mosquitto-township",
        "cloud",
        "gateway",
        "sim",
    } <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_long_running_services_have_healthchecks(name: str) -> None:
    service = SERVICES[name]
    if service.get("restart") == "no":
        return
    assert "healthcheck" in service, f"{name} has no healthcheck"
    assert service["healthcheck"]["test"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_environment_is_what_the_settings_read(name: str) -> None:
    env = SERVICES[name]["environment"]
    known = env_names(SETTINGS[name])
    stray = {key for key in env if key.startswith("ENVGRID_")} - known
    assert not stray, f"{name} sets variables its settings do not read: {sorted(stray)}"
    for key, value in env.items():
        # Each value must be of the field's type, as the component will read it.
        SETTINGS[name].model_validate({key.removeprefix("ENVGRID_").lower(): value})


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_command_is_a_real_subcommand(name: str) -> None:
    command = SERVICES[name]["command"]
    args = build_parser().parse_args(command)
    assert callable(args.handler)


def test_services_reach_each_other_by_compose_names() -> None:
    cloud = SERVICES["cloud"]["environment"]
    assert "@timescaledb:5432/" in cloud["ENVGRID_DATABASE_URL"]
    assert cloud["ENVGRID_MQTT_URL"] == "mqtt://mosquitto-cloud:1883"
    gateway = SERVICES["gateway"]["environment"]
    assert gateway["ENVGRID_MQTT_URL"] == "mqtt://mosquitto-township:1883"
    assert gateway["ENVGRID_UPLINK_MQTT_URL"] == cloud["ENVGRID_MQTT_URL"]
    assert SERVICES["sim"]["environment"]["ENVGRID_MQTT_URL"] == gateway["ENVGRID_MQTT_URL"]
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_brokers_mount_the_shipped_configuration() -> None:
    for name in ("mosquitto-cloud", "mosquitto-township"):
        source = SERVICES[name]["volumes"][0].split(":")[0]
        conf = (ROOT / source).read_text()
        assert "max_queued_messages 5000000" in conf
        assert "persistence true" in conf
    assert (ROOT / "Dockerfile").is_file()
