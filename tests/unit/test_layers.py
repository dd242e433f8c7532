"""The import-linter contracts in pyproject.toml catch each kind of wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ["common", "edge", "gateway", "cloud", "firmware-sim", "cli"]
COMPONENTS = ["envgrid_edge", "envgrid_gateway", "envgrid_cloud", "envgrid_sim"]

# What the contracts must stay: a weaker pyproject (a contract dropped, an import ignored) fails.
CONTRACTS: list[dict[str, Any]] = [
    {
        "id": "components",
        "name": "Edge, gateway, cloud and simulator do not import one another",
        "type": "independence",
        "modules": COMPONENTS,
    },
    {
        "id": "common",
        "name": "envgrid_common imports no component",
        "type": "forbidden",
        "source_modules": ["envgrid_common"],
        "forbidden_modules": [*COMPONENTS, "envgrid_cli"],
    },
    {
        "id": "cli",
        "name": "The CLI is on top: nothing imports envgrid_cli",
        "type": "forbidden",
        "source_modules": ["envgrid_common", *COMPONENTS],
        "forbidden_modules": ["envgrid_cli"],
    },
    {
        "id": "cloud",
        "name": "Cloud: api over rules and ingest (apart) over cases over the basics",
        "type": "layers",
        "containers": ["envgrid_cloud"],
        "layers": [
            "api",
            "rules | ingest",
            "cases",
            "observations : registry : db : settings : sqlfiles",
        ],
    },
]


def test_the_contracts_are_the_ones_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    linter = config["tool"]["importlinter"]
    assert linter["root_packages"] == ["envgrid_common", *COMPONENTS, "envgrid_cli"]
    assert linter["contracts"] == CONTRACTS


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with pyproject's contracts on the packages under ``tree``."""
    # PYTHONPATH's entries come before the editable install's finder, so the copy is analysed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tree / d) for d in PACKAGE_DIRS)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the six packages, as they are in this tree."""
    tree = tmp_path_factory.mktemp("tree")
    for name in PACKAGE_DIRS:
        shutil.copytree(
            ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return tree


def violations(report: str) -> dict[str, str]:
    """Each "A is not allowed to import B" heading of a report, with the chains listed under it."""
    found: dict[str, str] = {}
    heading = ""
    for line in report.splitlines():
        if line.endswith(":") and " is not allowed to import " in line:
            heading = line.removesuffix(":")
            found[heading] = ""
        elif heading and line.strip():
            found[heading] += line.strip() + "\n"
    return found


# Where a probe module goes (a package folder) and what it imports, one wrong import each.
WRONG_IMPORTS = [
    ("edge/envgrid_edge", "envgrid_gateway"),
    ("gateway/envgrid_gateway", "envgrid_cloud"),
    ("cloud/envgrid_cloud", "envgrid_sim"),
    ("firmware-sim/envgrid_sim", "envgrid_edge"),
    ("common/envgrid_common", "envgrid_cloud"),
    ("common/envgrid_common", "envgrid_edge"),
    ("edge/envgrid_edge", "envgrid_cli"),
    ("cloud/envgrid_cloud/ingest", "envgrid_cloud.rules"),
    ("cloud/envgrid_cloud/rules", "envgrid_cloud.ingest"),
    ("cloud/envgrid_cloud/cases", "envgrid_cloud.api"),
    ("cloud/envgrid_cloud/cases", "envgrid_cloud.rules"),
    ("cloud/envgrid_cloud/ingest", "envgrid_cloud.api"),
    ("cloud/envgrid_cloud/registry", "envgrid_cloud.cases"),
]


def lint_with_probe(tree: Path, folder: str, target: str) -> subprocess.CompletedProcess[str]:
    """The check's run on ``tree`` with one module in ``folder`` importing ``target``."""
    probe = tree / folder / "layers_probe.py"
    probe.write_text(f"import {target}\n", encoding="utf-8")
    try:
        return lint_imports(tree)
    finally:
        probe.unlink()  # the copy is shared by the module's tests


@pytest.mark.parametrize(("folder", "target"), WRONG_IMPORTS)
def test_a_wrong_import_fails_the_check(tree: Path, folder: str, target: str) -> None:
    result = lint_with_probe(tree, folder, target)
    assert result.returncode == 1, result.stdout + result.stderr
    importer = folder.split("/", 1)[1].replace("/", ".")
    chains = violations(result.stdout).get(f"{importer} is not allowed to import {target}")
    assert chains is not None, result.stdout
    assert f"{importer}.layers_probe -> {target} (l.1)" in chains, result.stdout


# Imports the layers allow, so a probe making them must not be reported.
RIGHT_IMPORTS = [
    ("cli/envgrid_cli", "envgrid_cloud"),
    ("edge/envgrid_edge", "envgrid_common"),
    ("cloud/envgrid_cloud/api", "envgrid_cloud.cases"),
    ("cloud/envgrid_cloud/rules", "envgrid_cloud.cases"),
]


@pytest.mark.parametrize(("folder", "target"), RIGHT_IMPORTS)
def test_an_allowed_import_is_not_reported(tree: Path, folder: str, target: str) -> None:
    result = lint_with_probe(tree, folder, target)
    assert "Contracts:" in result.stdout, result.stdout + result.stderr
    assert "layers_probe" not in result.stdout, result.stdout
