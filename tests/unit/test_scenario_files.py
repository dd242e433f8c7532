"""Scenario files: the Luxi file, errors pointing at lines, generated counties, the timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from envgrid_cli.main import main as envgrid_main
from envgrid_sim.scenario import Scenario, load_scenario
from envgrid_sim.scenariofile.build import scenario_from_file, scenario_from_text
from envgrid_sim.scenariofile.generate import dump_scenario, generate_county
from envgrid_sim.scenariofile.load import ScenarioFileError
from envgrid_sim.scenariofile.timeline import burns, garbage_payloads, incidents
from envgrid_sim.scenarios.luxi import luxi_scenario, luxi_text

BEFORE = Path(__file__).parent / "data" / "luxi_before_files.json"

TINY = """\
format: envgrid-scenario/1
name: tiny
title: 小镇
report_interval_s: 2
cells:
- {id: tc, level: county, name: 小县}
- {id: tt, level: township, name: 小镇, parent: tc}
sites:
- {id: farm, name: 小养殖场, category: livestock_farm, cell: tt, nodes: [{profile: farm_effluent}]}
- id: up
  name: 上游断面
  category: water_body
  cell: tt
  downstream: [mid]
  nodes: [{profile: river}]
- {id: mid, name: 中游断面, category: water_body, cell: tt, downstream: [down],
   nodes: [{profile: river}]}
- {id: down, name: 下游断面, category: water_body, cell: tt, nodes: [{profile: river}]}
- id: plant
  name: 电瓷厂
  category: industrial
  cell: tt
  nodes: [{kind: hj212_station, mn: 36012300A890001600000001, password: '123456',
           source: flue_gas, edition: '2005', crc: modbus-le}]
- id: field
  name: 农田
  category: farmland
  cell: tt
  nodes: [{kind: camera, background: [quiet-day]}]
officers:
- {id: o1, name: 张三, role: grid_officer, cell: tt}
timeline:
- {kind: spike, node: farm-effluent, metric: cod, factor: 4, at_s: 10, for_s: 100}
- {kind: river, site: up, factor: 3, at_s: 0, for_s: 600, travel_s: 60, decay: 0.5}
- {kind: stuck, node: down-wq, metric: ph, at_s: 5, for_s: 30}
- {kind: dark, node: mid-wq, at_s: 20, for_s: 30}
- {kind: garbage, node: farm-effluent, at_s: 1, count: 7}
- {kind: burn, node: field-cam, at_s: 30}
"""


def _snapshot(scenario: Scenario) -> dict[str, Any]:
    return {
        "registry": scenario.registry.model_dump(mode="json"),
        "specs": [
            [s.node.id, s.profile.name, s.label_zh, s.load, s.phase_h] for s in scenario.specs
        ],
        "cameras": [[c.node.id, c.label_zh, list(c.background), c.burn] for c in scenario.cameras],
        "hj212": [[h.node.id, h.label_zh, h.source, h.edition, h.crc] for h in scenario.hj212],
        "name": scenario.name,
        "title": scenario.title,
    }


def test_the_luxi_file_gives_exactly_the_registry_and_nodes_of_the_old_built_in() -> None:
    # The snapshot was taken from the Python-built scenario before it became luxi.yaml.
    before = json.loads(BEFORE.read_text(encoding="utf-8"))
    assert _snapshot(luxi_scenario()) == before["plain"]
    assert _snapshot(luxi_scenario(2.0, cameras=True)) == before["cameras"]
    assert _snapshot(luxi_scenario(hj212=True)) == before["hj212"]
    assert _snapshot(luxi_scenario(1.0, cameras=True, hj212=True)) == before["both"]
    plain = luxi_scenario()
    assert (len(plain.registry.sites), len(plain.registry.nodes)) == (17, 22)


def test_the_luxi_file_has_no_timeline_so_the_demo_runs_as_before() -> None:
    assert luxi_scenario().timeline == ()
    assert yaml.safe_load(luxi_text())["format"] == "envgrid-scenario/1"


def test_a_file_by_path_keeps_its_interval_unless_one_is_given(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    own = load_scenario(str(path), None)
    assert {n.report_interval_s for n in own.registry.nodes} == {2.0}
    assert {n.report_interval_s for n in load_scenario(str(path), 0.5).registry.nodes} == {0.5}


def test_without_cameras_camera_nodes_their_only_sites_and_burns_are_left_out() -> None:
    with_cams = scenario_from_text(TINY, cameras=True)
    without = scenario_from_text(TINY, cameras=False)
    assert "field" in {s.id for s in with_cams.registry.sites}
    assert "field" not in {s.id for s in without.registry.sites}
    assert [c.node.id for c in with_cams.cameras] == ["field-cam"]
    assert not without.cameras
    assert [b.camera_id for b in burns(with_cams)] == ["field-cam"]
    assert burns(without) == []


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as caught:
        scenario_from_text(text, "bad.yaml")
    return list(caught.value.problems)


def test_an_hj212_station_is_a_node_with_its_mn_and_its_own_interval() -> None:
    scenario = scenario_from_text(TINY, report_interval_s=0.5)
    (station,) = scenario.hj212
    assert station.node.id == "plant-flue_gas"
    assert (station.node.hj212_mn, station.node.hj212_password) == (
        "36012300A890001600000001",
        "123456",
    )
    assert (station.source, station.edition, station.crc) == ("flue_gas", "2005", "modbus-le")
    assert station.node.report_interval_s == 30.0  # its RtdInterval, not --interval
    assert station.node not in [s.node for s in scenario.specs]  # not an MQTT node
    without = scenario_from_text(TINY, hj212=False)
    assert without.hj212 == ()
    assert "plant" not in {s.id for s in without.registry.sites}
    bad = TINY.replace("password: '123456'", "password: '12'")
    assert "nodes[0].password" in _problems(bad)[0]


def test_errors_name_the_file_line_and_path() -> None:
    text = TINY.replace(
        "category: water_body\n  cell: tt\n  downstream: [mid]",
        "category: lake\n  cell: tt\n  downstream: [mid]",
    )
    problems = _problems(text)
    assert len(problems) == 1
    line = TINY.splitlines().index("  category: water_body") + 1
    assert problems[0].startswith(f"bad.yaml:{line}: sites[1].category: ")


def test_every_reference_problem_is_reported_at_once() -> None:
    text = (
        TINY.replace(
            "cell: tt, nodes: [{profile: farm_effluent}]",
            "cell: nowhere, nodes: [{profile: farm_effluent}]",
        )
        .replace("{profile: river}]}\n- {id: down", "{profile: farm_air}]}\n- {id: down")
        .replace("metric: ph, at_s: 5", "metric: cod, at_s: 5")
        .replace("node: mid-wq", "node: ghost")
    )
    problems = "\n".join(_problems(text))
    assert "sites[0].cell: unknown cell 'nowhere'" in problems
    assert "sites[2].nodes[0].profile: profile farm_air is for livestock_farm sites" in problems
    assert "timeline[2].metric: down-wq measures" in problems
    assert "timeline[3].node: unknown node 'ghost'" in problems
    assert all(
        p.startswith("bad.yaml:") and p.split(":")[1].isdigit() for p in problems.split("\n")
    )


def test_only_a_burn_applies_to_a_camera_node() -> None:
    for event in (
        "{kind: dark, node: field-cam, at_s: 1, for_s: 5}",
        "{kind: garbage, node: field-cam, at_s: 1}",
    ):
        problems = _problems(TINY + f"- {event}\n")
        assert len(problems) == 1, problems
        assert "timeline[6].node: field-cam is a camera node: only a burn applies" in problems[0]


def test_unknown_fields_bad_kinds_and_bad_yaml_are_errors() -> None:
    assert "timeline[0]" in _problems(TINY.replace("kind: spike", "kind: flood"))[0]
    assert (
        "Extra inputs are not permitted"
        in _problems(TINY.replace("title: 小镇", "title: 小镇\ncolour: red"))[0]
    )
    missing = _problems(TINY.replace("metric: ph, at_s: 5", "at_s: 5"))[0]
    assert missing.endswith("timeline[2].metric: Field required")
    assert "not valid YAML" in _problems(TINY + "  - [unclosed\n")[0]
    assert "a mapping" in _problems("- just a list\n")[0]
    river = TINY.replace("kind: river, site: up", "kind: river, site: farm")
    assert "not a water body site" in _problems(river)[0]


def test_a_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="cannot read"):
        scenario_from_file(tmp_path / "absent.yaml")


def test_river_pollution_travels_downstream_later_and_weaker() -> None:
    scenario = scenario_from_text(TINY)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    by_node = {node: inc for node, inc in incidents(scenario, start) if inc.metric == "codmn"}
    assert by_node["up-wq"].start == start
    assert by_node["mid-wq"].start == start + timedelta(seconds=60)
    assert by_node["down-wq"].start == start + timedelta(seconds=120)
    assert [by_node[n].factor for n in ("up-wq", "mid-wq", "down-wq")] == [3.0, 2.0, 1.5]


def test_spikes_and_stuck_analysers_become_incidents_at_their_time() -> None:
    scenario = scenario_from_text(TINY)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    found = incidents(scenario, start)
    spike = next(i for n, i in found if n == "farm-effluent")
    assert (spike.metric, spike.factor, spike.start) == ("cod", 4.0, start + timedelta(seconds=10))
    assert spike.ramp == timedelta(seconds=25)
    stuck = next(i for n, i in found if n == "down-wq" and i.stuck)
    assert (stuck.metric, stuck.duration) == ("ph", timedelta(seconds=30))


def test_garbage_is_never_a_valid_reading_and_is_repeatable() -> None:
    from pydantic import ValidationError

    from envgrid_common.messages import Reading

    payloads = garbage_payloads(30, seed=4)
    assert payloads == garbage_payloads(30, seed=4)
    for payload in payloads:
        with pytest.raises(ValidationError):
            Reading.model_validate_json(payload)


def test_generate_is_deterministic_and_loads() -> None:
    one = dump_scenario(generate_county(3, 20, seed=7))
    assert one == dump_scenario(generate_county(3, 20, seed=7))
    assert one != dump_scenario(generate_county(3, 20, seed=8))
    scenario = scenario_from_text(one)
    assert len(scenario.registry.sites) == 60
    townships = [c for c in scenario.registry.cells if c.level.value == "township"]
    assert len(townships) == 3
    # Every township's river sections form one chain flowing east.
    for town in townships:
        rivers = [
            s
            for s in scenario.registry.sites
            if s.category.value == "water_body" and s.id.startswith(f"{town.id}-")
        ]
        assert sum(1 for r in rivers if not r.downstream) == 1


def test_generate_finds_enough_names_for_a_big_county() -> None:
    # 1,200 villages: more than two syllables name.
    content = generate_county(300, 1, seed=1)
    villages = [c["name"] for c in content["cells"] if c["level"] == "village"]
    assert len(villages) == len(set(villages)) == 1200


def test_generate_writes_a_file_that_scenario_and_sim_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "county.yaml"
    argv = ["sim", "generate", "--townships", "2", "--sites-per-township", "10", "--out", str(out)]
    assert envgrid_main(argv) == 0
    assert "20 sites" in capsys.readouterr().err
    assert envgrid_main(["sim", "run", str(out), "--list"]) == 0
    assert "20 sites" in capsys.readouterr().out


def test_bad_files_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("parent: tc", "parent: nowhere"), encoding="utf-8")
    assert envgrid_main(["sim", "run", str(bad), "--list"]) == 2
    assert f"{bad}:7: cells[1].parent: unknown cell 'nowhere'" in capsys.readouterr().err
    assert envgrid_main(["scenario", "load", str(bad)]) == 2
    assert "unknown cell 'nowhere'" in capsys.readouterr().err
