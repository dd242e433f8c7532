"""The census list (重点污染源监管清单): read, its header mapped, rows checked, planned, stored.

``read_census`` gives a checked file, ``import_census`` applies it to the registry and
``report_lines`` tells what was done, row by row.
"""

from envgrid_cloud.registry.census.check import CensusRow, Rejection
from envgrid_cloud.registry.census.headers import HEADER_ALIASES, CensusUnreadable, Column
from envgrid_cloud.registry.census.read import CensusFile, read_census
from envgrid_cloud.registry.census.report import ImportReport, Outcome, report_lines
from envgrid_cloud.registry.census.store import import_census

__all__ = [
    "HEADER_ALIASES",
    "CensusFile",
    "CensusRow",
    "CensusUnreadable",
    "Column",
    "ImportReport",
    "Outcome",
    "Rejection",
    "import_census",
    "read_census",
    "report_lines",
]
