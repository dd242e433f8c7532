"""芦溪镇, the demo township, read from the scenario file shipped next to this module."""

from __future__ import annotations

from importlib.resources import files

from envgrid_sim.scenario import Scenario
from envgrid_sim.scenariofile.build import scenario_from_text

LUXI_FILE = "luxi.yaml"
# The enterprise whose 数采仪 speaks HJ 212 (as luxi.yaml has it): the gateway's device table
# and the tests need its MN and password.
ENTERPRISE_MN = "36012300A89000160000A101"
ENTERPRISE_PASSWORD = "580117"
ENTERPRISE_RTD_INTERVAL_S = 30.0


def luxi_text() -> str:
    """The text of the shipped luxi.yaml."""
    return files("envgrid_sim.scenarios").joinpath(LUXI_FILE).read_text(encoding="utf-8")


def luxi_scenario(
    report_interval_s: float = 5.0, *, cameras: bool = False, hj212: bool = False
) -> Scenario:
    """芦溪镇: 17 sites and 22 sensor nodes, each reporting every ``report_interval_s``; with
    ``cameras``, also a farmland site watched by a camera node (for straw-burning detection);
    with ``hj212``, also an enterprise whose outfall monitor speaks HJ 212 to the gateway."""
    return scenario_from_text(
        luxi_text(),
        f"envgrid_sim/scenarios/{LUXI_FILE}",
        report_interval_s=report_interval_s,
        cameras=cameras,
        hj212=hj212,
    )
