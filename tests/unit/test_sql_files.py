"""One convention for the SQL of the cloud and the command: ``<package>/sql/<name>.sql``, named
parameters, loaded by ``envgrid_cloud.sqlfiles.loader``; Python holds none but the few below."""

from __future__ import annotations

import ast
import re
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The packages that talk to PostgreSQL (the edge's and gateway's SQLite files are their own).
PACKAGES = (ROOT / "cloud" / "envgrid_cloud", ROOT / "cli" / "envgrid_cli")
# Migrations are not statements run by name: migrate.py applies the whole folder, in order.
MIGRATIONS = ROOT / "cloud" / "envgrid_cloud" / "db" / "migrations"

# Statements that stay in Python, each with why: (file, what it runs).
ALLOWED: list[tuple[str, str]] = [
    # Advisory locks: a function call on a key the module defines; no table, no query to keep.
    ("cloud/envgrid_cloud/cases/escalation.py", "pg_try_advisory_xact_lock"),
    ("cloud/envgrid_cloud/notify/reminders.py", "pg_try_advisory_xact_lock"),
    ("cloud/envgrid_cloud/rules/nodata_sweep.py", "pg_try_advisory_xact_lock"),
    ("cloud/envgrid_cloud/rules/day_close_sweep.py", "pg_try_advisory_xact_lock"),
    ("cloud/envgrid_cloud/db/migrate.py", "pg_advisory_lock"),
    ("cloud/envgrid_cloud/db/migrate.py", "pg_advisory_unlock"),
    # LISTEN takes the channel as an identifier, not a parameter: it is built from the constant.
    ("cloud/envgrid_cloud/cases/feed.py", "LISTEN"),
    # A liveness probe of the listening connection, not a query of any table.
    ("cloud/envgrid_cloud/cases/feed.py", "SELECT 1"),
    # pg_notify on the channel the feed listens to, with the case summary built in Python.
    ("cloud/envgrid_cloud/cases/notify.py", "pg_notify"),
    # CREATE DATABASE takes the name as an identifier, not a parameter (and no transaction).
    ("cli/envgrid_cli/demo.py", "CREATE DATABASE"),
]
# A string that begins like a statement (or a clause of one), in capitals as the project writes
# SQL; words in messages are not in capitals.
STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS|LOCK\s+TABLE"
    r"|LISTEN|UNLISTEN|NOTIFY|CREATE\s+(TABLE|INDEX|DATABASE|VIEW)|ALTER\s+TABLE|DROP\s+TABLE"
    r"|TRUNCATE|COPY\s+\w+|SET\s+\w+\s*(=|TO)|FROM\s+\w+|WHERE\s+\w+|ORDER\s+BY|ON\s+CONFLICT"
    r"|VALUES\s*\(|RETURNING\s+\w+)\b"
)
POSITIONAL = re.compile(r"(?<!%)%[sbt]\b")
# Still positional: the ingest hands these its rows as tuples, built on the hot path; they turn
# into named parameters with the ingest's typed observations, not in a move of files.
POSITIONAL_FOR_NOW = {
    "cloud/envgrid_cloud/ingest/sql/insert_dead_letter.sql",
    "cloud/envgrid_cloud/ingest/sql/insert_detection.sql",
}


def _sql_files() -> list[Path]:
    found = (p for package in PACKAGES for p in package.rglob("*.sql"))
    return sorted(p for p in found if MIGRATIONS not in p.parents)


def _python_files() -> list[Path]:
    found = (p for package in PACKAGES for p in package.rglob("*.py"))
    return sorted(p for p in found if "__pycache__" not in p.parts)


def _module(folder: Path) -> str:
    """``envgrid_cloud.api.sql`` for ``cloud/envgrid_cloud/api/sql``."""
    package = next(p for p in PACKAGES if p in folder.parents or p == folder)
    return ".".join(folder.relative_to(package.parent).parts)


def _where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes in ``tree`` (prose, not code)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal but docstrings, with its line."""
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _sql_packages_used(tree: ast.AST) -> set[str]:
    """The ``…sql`` packages a module imports, or hands to ``loader``."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.endswith(".sql"):
                used.add(node.module)
            used.update(f"{node.module}.sql" for a in node.names if a.name == "sql")
        elif isinstance(node, ast.Import):
            used.update(a.name for a in node.names if a.name.endswith(".sql"))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "loader":
            used.update(
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return used


def test_sql_files_live_in_sql_folders() -> None:
    misplaced = [_where(p) for p in _sql_files() if p.parent.name != "sql"]
    assert not misplaced, f"move into a sql/ folder of the package that runs them: {misplaced}"


def test_every_sql_folder_ships_in_the_wheel() -> None:
    # setuptools' find_packages only takes folders with an __init__.py, and package-data then
    # adds their *.sql: a folder without one would be missing from the wheel.
    folders = {p.parent for p in _sql_files()} | {MIGRATIONS}
    assert all((f / "__init__.py").is_file() for f in folders), sorted(map(str, folders))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.sql" in config["tool"]["setuptools"]["package-data"]["*"]


def test_sql_files_take_named_parameters() -> None:
    positional = {
        _where(p)
        for p in _sql_files()
        if POSITIONAL.search(re.sub(r"--[^\n]*", "", p.read_text(encoding="utf-8")))
    }
    assert positional <= POSITIONAL_FOR_NOW, f"use %(name)s, not %s: {positional}"
    # Once converted, a file leaves the list, so that it cannot slip back.
    assert positional >= POSITIONAL_FOR_NOW, f"now named: {POSITIONAL_FOR_NOW - positional}"


def test_every_sql_file_is_loaded() -> None:
    names_by_package: defaultdict[str, set[str]] = defaultdict(set)
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {text for _, text in _strings(tree)}
        for package in _sql_packages_used(tree):
            names_by_package[package] |= names
    unused = [_where(p) for p in _sql_files() if p.stem not in names_by_package[_module(p.parent)]]
    assert not unused, f"no code loads these: {unused}"


def _statements_in_python() -> list[tuple[str, int, str]]:
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _strings(tree):
            if STATEMENT.match(text):
                found.append((_where(path), line, text))
    return found


def test_no_statements_in_python_but_the_allowed() -> None:
    stray = [
        f"{where}:{line}: {text.strip()[:60]}"
        for where, line, text in _statements_in_python()
        if not any(where == file and what in text for file, what in ALLOWED)
    ]
    assert not stray, "put these in <package>/sql/<name>.sql:\n" + "\n".join(stray)


@pytest.mark.parametrize(("file", "what"), ALLOWED)
def test_every_allowed_statement_is_still_there(file: str, what: str) -> None:
    # A stale entry would let a new statement of the same kind in unnoticed.
    assert any(where == file and what in text for where, _, text in _statements_in_python())
