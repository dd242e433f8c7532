"""``bench/desk.py --quick`` end to end: it seeds, serves, renders in Chromium, pushes to its
live lists, prints every figure, drops its databases and exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


def _bench_databases() -> set[str]:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'envgrid_bench_desk%'"
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_quick_run_prints_its_figures_and_exits_0() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    before = _bench_databases()
    env = {**os.environ, "ENVGRID_BENCH_PG_URL": PG_ADMIN_URL}
    run = subprocess.run(
        [sys.executable, "-m", "bench.desk", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert "readings (" in out  # seeding progress
    for label in (
        "case list (first card)",
        "case file (summary and chart)",
        "site page (day chart)",
        "site: tap month → month chart",
        "site page with its month chart",
    ):
        row = next(line for line in out.splitlines() if line.startswith(f"| {label} |"))
        assert re.search(r"\d+ / \d+", row), row  # p50 / p95 measured
    assert re.search(r"\| all \(\d+ / \d+ requests\) \| \d+ / \d+ \| \d+ / \d+ \|", out)
    assert re.search(r"baseline, 1 live list, publish → its card: p50 \d+ ms", out)
    assert re.search(r"5 live lists, publish → the last of them: p50 \d+ ms", out)
    assert "Chromium on the list among them" in out
    assert "goals: case list p95" in out
    assert _bench_databases() == before  # both of its databases dropped
