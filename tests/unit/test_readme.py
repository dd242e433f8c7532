"""The README a newcomer reads agrees with the code: commands and every setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from envgrid_cli.demo import DemoSettings
from envgrid_cli.main import build_parser
from envgrid_cloud.settings import CloudSettings
from envgrid_edge.settings import EdgeSettings
from envgrid_gateway.settings import GatewaySettings
from envgrid_sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "settings", [CloudSettings, GatewaySettings, EdgeSettings, SimSettings, DemoSettings]
)
def test_every_setting_is_in_the_configuration_table(settings: type[BaseSettings]) -> None:
    for name in settings.model_fields:
        assert f"| `ENVGRID_{name.upper()}` |" in README, f"README lacks ENVGRID_{name.upper()}"


def test_the_two_commands_exist() -> None:
    assert "./envgrid demo" in README
    assert "scripts/test" in README
    assert (ROOT / "envgrid").stat().st_mode & 0o111
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci


def test_every_command_in_the_table_parses() -> None:
    commands = [
        line.split("`")[1].split()[1:]
        for line in README.splitlines()
        if line.startswith("| `envgrid ")
    ]
    assert len(commands) >= 8
    for words in commands:
        words = [w if w != "FILE" else "node.yaml" for w in words]
        assert callable(build_parser().parse_args(words).handler), words
