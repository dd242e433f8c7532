"""``envgrid sim`` options, settings from the environment, incident specs and the --list table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from envgrid_cli.main import main
from envgrid_common.settings import default_data_dir
from envgrid_sim.cli import parse_incident
from envgrid_sim.settings import SimSettings
from envgrid_sim.table import display_width, render_table


def test_settings_come_from_envgrid_sim_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SimSettings().sim_data_dir == default_data_dir() / "sim"
    monkeypatch.setenv("ENVGRID_SIM_REPORT_INTERVAL_S", "0.5")
    monkeypatch.setenv("ENVGRID_SIM_SCENARIO", "luxi")
    monkeypatch.setenv("ENVGRID_SIM_DATA_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("ENVGRID_SIM_SEED", "42")
    settings = SimSettings()
    assert settings.sim_report_interval_s == 0.5
    assert settings.sim_data_dir == Path("/tmp/elsewhere")
    assert settings.sim_seed == 42


def test_list_prints_every_node_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list", "--interval", "2"]) == 0
    out = capsys.readouterr().out
    assert "芦溪镇" in out
    assert "luxi-farm-01-effluent" in out
    assert "东阳生猪养殖场" in out
    rows = [line for line in out.splitlines() if line.startswith("luxi-")]
    assert len(rows) == 22
    assert all(line.endswith("2s") for line in rows)


def test_list_honours_nodes_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list", "--nodes", "3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("luxi-")]
    assert len(rows) == 3


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list", "--interval", "-1"]) == 2
    assert main(["sim", "--incident", "nonsense"]) == 2
    assert main(["sim", "--incident", "no-such-node:cod:3"]) == 2
    assert main(["sim", "--incident", "luxi-road-01-pm:cod:3"]) == 2  # roads measure no COD
    assert "envgrid sim:" in capsys.readouterr().err


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    out = capsys.readouterr().out
    for option in ("--scenario", "--interval", "--data-dir", "--nodes", "--duration", "--list"):
        assert option in out


def test_parse_incident() -> None:
    node, incident = parse_incident("luxi-farm-01-effluent:cod:3:60:600")
    assert node == "luxi-farm-01-effluent"
    assert (incident.metric, incident.factor) == ("cod", 3.0)
    assert incident.duration == timedelta(minutes=10)
    assert timedelta(0) < incident.ramp <= timedelta(minutes=1)
    _, short = parse_incident("luxi-river-01-wq:nh3n:4")
    assert short.duration == timedelta(minutes=10)
    with pytest.raises(ValueError, match="numbers"):
        parse_incident("luxi-river-01-wq:nh3n:lots")


def test_table_aligns_wide_characters() -> None:
    assert display_width("东阳村a") == 7
    text = render_table(("id", "name"), [("a", "东阳"), ("bbbb", "x")])
    lines = text.splitlines()
    assert lines[0] == "id    name"
    assert lines[2] == "a     东阳"
    assert lines[3] == "bbbb  x"
