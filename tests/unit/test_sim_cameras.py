"""Camera nodes in a scenario: declared apart from sensors, burns as incidents, schedules."""

from __future__ import annotations

import pytest

from envgrid_common.registry import NodeKind, SiteCategory
from envgrid_sim.camera import background, burn_at
from envgrid_sim.camera.fleet import BurnIncident, CameraFleet, FleetOptions, parse_burn
from envgrid_sim.cli import parse_incident
from envgrid_sim.scenario import load_scenario
from envgrid_sim.scenarios.luxi import luxi_scenario

SMALL = (96, 72)


def test_luxi_keeps_its_sensor_registry_unless_cameras_are_asked_for() -> None:
    plain = luxi_scenario()
    assert plain.cameras == ()
    assert all(n.kind is NodeKind.SENSOR for n in plain.registry.nodes)
    with_cameras = load_scenario("luxi", cameras=True)
    (camera,) = with_cameras.cameras
    assert camera.node.kind is NodeKind.CAMERA
    assert with_cameras.site(camera.node.site_id).category is SiteCategory.FARMLAND
    assert camera.node in with_cameras.registry.nodes
    assert len(with_cameras.registry.nodes) == len(plain.registry.nodes) + 1


def test_a_limited_scenario_keeps_its_cameras() -> None:
    limited = luxi_scenario(cameras=True).limited(2)
    assert len(limited.specs) == 2
    assert len(limited.cameras) == 1
    assert limited.cameras[0].node in limited.registry.nodes


def test_burn_incidents_parse_and_sensor_incidents_are_left_alone() -> None:
    assert parse_burn("luxi-field-01-cam:burn") == BurnIncident("luxi-field-01-cam", 60.0)
    assert parse_burn("cam:burn:12.5:burn-flame-dusk") == BurnIncident(
        "cam", 12.5, "burn-flame-dusk"
    )
    assert parse_burn("luxi-farm-01-effluent:cod:3:60:600") is None
    node, incident = parse_incident("luxi-farm-01-effluent:cod:3:60:600")
    assert (node, incident.metric, incident.factor) == ("luxi-farm-01-effluent", "cod", 3.0)
    with pytest.raises(ValueError, match="START_S"):
        parse_burn("cam:burn:soon")
    with pytest.raises(ValueError, match="not one of"):
        parse_burn("cam:burn:10:neg-fog")


def test_a_burn_for_a_camera_the_scenario_lacks_is_refused() -> None:
    scenario = luxi_scenario(cameras=True)
    with pytest.raises(KeyError, match="luxi-field-01-cam"):
        CameraFleet(scenario.cameras, FleetOptions(size=SMALL), [BurnIncident("nope", 5.0)])


def test_a_scenario_burn_ignites_once_at_its_time_then_the_field_stays_quiet() -> None:
    scenario = luxi_scenario(cameras=True)
    camera = scenario.cameras[0]
    fleet = CameraFleet(
        scenario.cameras, FleetOptions(size=SMALL, fps=5.0), [BurnIncident(camera.node.id, 30.0)]
    )
    schedule = fleet.schedules[camera.node.id]
    (fire,) = schedule.fires
    assert fire.ignition_s == pytest.approx(30.0)
    assert schedule.then is not None
    assert schedule.then.fires == []


def test_schedules_loop_and_fill_the_lead_with_background_clips() -> None:
    schedule = burn_at(100.0, background=["neg-clouds", "quiet-day"], size=SMALL)
    names = [s.clip.name for s in schedule.segments]
    assert names == ["neg-clouds", "quiet-day", "burn-smoke-day"]
    (fire,) = schedule.fires
    assert fire.ignition_s == pytest.approx(100.0)
    looped = background(["quiet-dusk"], size=SMALL)
    assert looped.fires == []
    assert (looped.frame_at(5.0) == looped.frame_at(5.0 + looped.period_s)).all()


def test_a_burn_sooner_than_the_clips_own_ignition_starts_inside_the_clip() -> None:
    schedule = burn_at(4.0, burn="burn-flame-dusk", size=SMALL)
    assert [s.clip.name for s in schedule.segments] == ["burn-flame-dusk"]
    assert schedule.fires[0].ignition_s == pytest.approx(4.0)


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="not a burn clip"):
        burn_at(10.0, burn="neg-fog")
    with pytest.raises(ValueError, match="before the camera"):
        burn_at(-1.0)
    with pytest.raises(ValueError, match="no clip"):
        burn_at(10.0, background=["nowhere"])
