"""HJ 212 stations in a scenario run: the timeline's events on them, checked with file and line;
their values under a spike or a stuck analyser; one builder for the CLI and the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from envgrid_cli.main import main
from envgrid_common.signals import Incident
from envgrid_sim.hj212.build import StationOptions, build_station
from envgrid_sim.hj212.factors import SourceKind, factors_of
from envgrid_sim.hj212.fleet import StationFleet
from envgrid_sim.hj212.readings import StationValues
from envgrid_sim.scenariofile.build import scenario_from_text
from envgrid_sim.scenariofile.load import ScenarioFileError
from envgrid_sim.scenariofile.model import DarkEvent, SpikeEvent, StuckEvent
from envgrid_sim.scenariofile.timeline import Routed, incidents

MN = "36012300A890001600000001"
FILE = f"""\
format: envgrid-scenario/1
name: plant
title: 试验镇
cells:
- {{id: cc, level: county, name: 试验县}}
- {{id: ct, level: township, name: 试验镇, parent: cc}}
sites:
- {{id: farm, name: 试验养殖场, category: livestock_farm, cell: ct,
   nodes: [{{profile: farm_effluent}}]}}
- id: plant
  name: 试验化工厂
  category: industrial
  cell: ct
  nodes:
  - kind: hj212_station
    mn: {MN}
    password: '123456'
    edition: '2025'
    crc: modbus-be
    report_interval_s: 60
- id: stack
  name: 试验热电厂
  category: industrial
  cell: ct
  nodes: [{{kind: hj212_station, mn: STACK01, password: '654321', source: flue_gas}}]
timeline:
- {{kind: spike, node: plant-effluent, metric: cod, factor: 4, at_s: 10, for_s: 60}}
- {{kind: stuck, node: stack-flue_gas, metric: so2, at_s: 0, for_s: 600}}
- {{kind: dark, node: plant-effluent, at_s: 30, for_s: 120}}
- {{kind: spike, node: farm-effluent, metric: cod, at_s: 5}}
"""
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as caught:
        scenario_from_text(text, "bad.yaml")
    return list(caught.value.problems)


def _with_event(event: str) -> str:
    return FILE + f"- {event}\n"


def test_station_events_are_kept_with_the_stations_and_left_out_without() -> None:
    scenario = scenario_from_text(FILE)
    kinds = [(type(e), getattr(e, "node", None)) for e in scenario.timeline]
    assert kinds == [
        (SpikeEvent, "plant-effluent"),
        (StuckEvent, "stack-flue_gas"),
        (DarkEvent, "plant-effluent"),
        (SpikeEvent, "farm-effluent"),
    ]
    without = scenario_from_text(FILE, hj212=False)
    assert [getattr(e, "node", None) for e in without.timeline] == ["farm-effluent"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            "{kind: burn, node: plant-effluent, at_s: 5}",
            "bad.yaml:31: timeline[4].node: plant-effluent is an HJ 212 station, not a camera",
        ),
        (
            "{kind: garbage, node: plant-effluent, at_s: 5}",
            "bad.yaml:31: timeline[4].kind: plant-effluent is an HJ 212 station: garbage goes "
            "on an MQTT node's readings topic",
        ),
        (
            "{kind: spike, node: plant-effluent, metric: so2, at_s: 5}",
            "bad.yaml:31: timeline[4].metric: plant-effluent measures flow, ph, cod, nh3n, "
            "not 'so2'",
        ),
        (
            "{kind: stuck, node: stack-flue_gas, metric: a21026, at_s: 5}",
            "bad.yaml:31: timeline[4].metric: stack-flue_gas measures flue_flow, o2, so2, nox, "
            "dust, not 'a21026'",
        ),
        (
            "{kind: river, site: plant, at_s: 5}",
            "bad.yaml:31: timeline[4].site: 'plant' is not a water body site",
        ),
    ],
    ids=["burn", "garbage", "spike-metric", "stuck-code", "river"],
)
def test_what_does_not_apply_to_a_station_is_refused_with_file_line_and_path(
    event: str, expected: str
) -> None:
    assert _problems(_with_event(event)) == [expected]


def test_station_events_are_checked_even_when_the_stations_do_not_run() -> None:
    text = _with_event("{kind: spike, node: plant-effluent, metric: pm25, at_s: 5}")
    with pytest.raises(ScenarioFileError) as caught:
        scenario_from_text(text, "bad.yaml", hj212=False)
    assert "timeline[4].metric: plant-effluent measures" in caught.value.problems[0]


def test_a_station_interval_outside_table_4_is_refused() -> None:
    (problem,) = _problems(FILE.replace("report_interval_s: 60", "report_interval_s: 5"))
    assert problem.startswith("bad.yaml:20: sites[1].nodes[0].report_interval_s: ")
    assert "greater than or equal to 30" in problem


def _values(kind: SourceKind = SourceKind.EFFLUENT) -> StationValues:
    return StationValues(MN, factors_of(kind), seed=2)


def test_a_spike_multiplies_one_factor_inside_its_window_only() -> None:
    plain, spiked = _values(), _values()
    spiked.inject(Incident("cod", AT, timedelta(minutes=10), factor=4.0))
    for minutes, inside in ((-1, False), (0, True), (5, True), (10, False)):
        at = AT + timedelta(minutes=minutes)
        normal, got = plain.realtime(at, modern=True), spiked.realtime(at, modern=True)
        cod, base = float(got["w01018"]["Rtd"]), float(normal["w01018"]["Rtd"])
        assert cod == pytest.approx(4 * base if inside else base, abs=0.3), minutes
        assert got["w21003"] == normal["w21003"]  # ammonia untouched
    # A 2005 unit sends COD as 011: the same spike, under its old code.
    assert float(spiked.realtime(AT, modern=False)["011"]["Rtd"]) > 3 * float(
        plain.realtime(AT, modern=False)["011"]["Rtd"]
    )
    # Minute data averages the spiked samples of its window.
    window = spiked.window(AT, timedelta(minutes=10), modern=True)["w01018"]
    assert float(window["Min"]) > 3 * float(
        plain.window(AT, timedelta(minutes=10), modern=True)["w01018"]["Min"]
    )


def test_a_stuck_analyser_repeats_its_value_and_an_unknown_metric_is_refused() -> None:
    values = _values(SourceKind.FLUE_GAS)
    values.inject(Incident("so2", AT, timedelta(hours=1), stuck=True))
    so2 = {
        values.realtime(AT + timedelta(seconds=30 * i), modern=True)["a21026"]["Rtd"]
        for i in range(20)
    }
    nox = {
        values.realtime(AT + timedelta(seconds=30 * i), modern=True)["a21002"]["Rtd"]
        for i in range(20)
    }
    assert len(so2) == 1
    assert len(nox) > 1
    with pytest.raises(ValueError, match="measures flue_flow, o2, so2, nox, dust, not 'cod'"):
        values.inject(Incident("cod", AT, timedelta(hours=1)))


def test_the_run_builds_each_station_from_its_spec_and_routes_its_events() -> None:
    scenario = scenario_from_text(FILE)
    start = datetime.now(UTC)
    fleet = StationFleet(scenario.hj212, ("127.0.0.1", 5520), seed=7, start=start)
    plant, stack = fleet.stations["plant-effluent"], fleet.stations["stack-flue_gas"]
    assert (plant.identity.mn, plant.identity.pw, plant.identity.st) == (MN, "123456", "32")
    assert (plant.identity.edition.value, plant.identity.crc.value) == ("2025", "modbus-be")
    assert plant.schedule.cadence.realtime == timedelta(seconds=60)
    assert (plant.link.host, plant.link.port) == ("127.0.0.1", 5520)
    assert (stack.identity.st, stack.identity.edition.value) == ("31", "2017")
    # The same options through the shared builder make the same values (seed, MN).
    same = build_station(StationOptions(MN, "123456", "127.0.0.1", 5520, seed=7), start=start)
    assert same.values.realtime(AT, modern=True) == plant.values.realtime(AT, modern=True)

    class Nodes:
        def __init__(self) -> None:
            self.got: list[str] = []

        def inject(self, node_id: str, incident: Incident) -> None:
            self.got.append(node_id)

        def go_dark(self, node_id: str, for_s: float) -> None:
            self.got.append(f"dark {node_id}")

    nodes = Nodes()
    routed = Routed(nodes, fleet)
    for node_id, incident in incidents(scenario, start):
        routed.inject(node_id, incident)
    routed.go_dark("plant-effluent", 5.0)
    assert nodes.got == ["farm-effluent"]  # the sensor's spike; the rest went to the stations
    assert [i.metric for i in plant.values.signals.incidents] == ["w01018"]
    assert [i.stuck for i in stack.values.signals.incidents] == [True]
    assert plant.counters.outages == 1


def test_without_an_address_no_station_is_built() -> None:
    fleet = StationFleet(scenario_from_text(FILE).hj212, None)
    assert fleet.stations == {}
    assert "plant-effluent" not in fleet


def test_sim_run_lists_the_stations_and_says_when_they_do_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(FILE, encoding="utf-8")
    assert main(["sim", "run", str(path), "--list"]) == 0
    out = capsys.readouterr().out
    assert "HJ 212 stations not run (no --hj212 HOST:PORT): plant-effluent, stack-flue_gas" in out
    assert main(["sim", "run", str(path), "--list", "--hj212", "127.0.0.1:5520"]) == 0
    out = capsys.readouterr().out
    assert f"hj212 {MN}: flow,ph,cod,nh3n" in out
    assert "not run" not in out
    assert main(["sim", "run", str(path), "--list", "--hj212", "nowhere"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_sim_help_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sim", "run", "--help"])
    out = capsys.readouterr().out
    assert "--hj212 HOST:PORT" in out
    assert "without it they are not run" in " ".join(out.split())
