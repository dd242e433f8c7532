"""The demo township's enterprise whose 数采仪 speaks HJ 212, and the demo's command for it."""

from __future__ import annotations

import argparse

from envgrid_cli.demo import _station_command
from envgrid_common.registry import SiteCategory
from envgrid_sim.hj212 import cli as hj212_cli
from envgrid_sim.scenarios.luxi import ENTERPRISE_MN, ENTERPRISE_PASSWORD, luxi_scenario


def test_the_enterprise_joins_only_when_asked() -> None:
    plain, with_station = luxi_scenario(), luxi_scenario(hj212=True)
    assert plain.hj212 == ()
    assert len(with_station.registry.sites) == len(plain.registry.sites) + 1
    (station,) = with_station.hj212
    site = with_station.site(station.node.site_id)
    assert site.category is SiteCategory.INDUSTRIAL
    assert (station.node.hj212_mn, station.node.hj212_password) == (
        ENTERPRISE_MN,
        ENTERPRISE_PASSWORD,
    )
    assert station.node in with_station.registry.nodes
    # Only the MQTT nodes are run by the township simulator.
    assert station.node not in [spec.node for spec in with_station.specs]
    assert with_station.limited(2).hj212 == with_station.hj212


def test_the_demo_runs_the_station_against_the_gateway() -> None:
    (station,) = luxi_scenario(hj212=True).hj212
    argv = _station_command(station, "127.0.0.1:5520")
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    sim = commands.add_parser("sim").add_subparsers()
    hj212_cli.register(sim)
    args = parser.parse_args(argv)
    built = hj212_cli.station_from(args)
    assert (built.link.host, built.link.port) == ("127.0.0.1", 5520)
    assert built.identity.mn == ENTERPRISE_MN
    assert built.identity.st == "32"
    assert built.identity.ack
