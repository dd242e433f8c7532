"""``envgrid demo`` with nothing configured: embedded PostgreSQL, its own brokers, all sites
reporting within a minute, and the data still there after a stop and a start."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from envgrid_cli.services.mosquitto import mosquitto_binary
from envgrid_cli.services.ports import free_port, wait_for_port
from tests.e2e.support import clean_env, get, sites_without_data, start, stop, wait_for

SHANGHAI = timezone(timedelta(hours=8))
SITE = "luxi-river-02"


def seqs_stored(base: str, since: datetime) -> set[int]:
    series = get(
        base,
        f"/api/v1/sites/{SITE}/readings",
        metric="ph",
        start=since.isoformat(),
        end=(datetime.now(SHANGHAI) + timedelta(minutes=1)).isoformat(),
    )
    return {p["seq"] for p in series["points"]}


def _at_least(count: int, base: str, since: datetime) -> set[int] | None:
    seqs = seqs_stored(base, since)
    return seqs if len(seqs) >= count else None


@pytest.mark.slow
@pytest.mark.skipif(mosquitto_binary() is None, reason="the demo's own brokers need mosquitto")
def test_demo_comes_up_with_every_site_reporting_and_keeps_data(tmp_path: Path) -> None:
    data, port = tmp_path / "demo-data", free_port()
    base = f"http://127.0.0.1:{port}"
    since = datetime.now(SHANGHAI) - timedelta(minutes=1)
    argv = ["demo", "--data-dir", str(data), "--api-port", str(port), "--interval", "2"]
    log = tmp_path / "demo.log"

    demo = start(argv, clean_env(), log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        wait_for("every site reporting", lambda: not sites_without_data(base), 60, (log,))
        first: set[int] = wait_for("a few readings", lambda: _at_least(3, base, since), 30)
    finally:
        assert stop(demo, signal.SIGINT) == 0, log.read_text()[-3000:]
    assert "web API" in log.read_text()

    demo = start(argv, clean_env(), log)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        again = wait_for("the API after a restart", lambda: seqs_stored(base, since), 30, (log,))
        assert first <= again, "readings stored before the restart are gone"
        wait_for(
            "new readings after the restart", lambda: seqs_stored(base, since) - first, 30, (log,)
        )
    finally:
        assert stop(demo, signal.SIGINT) == 0, log.read_text()[-3000:]
    assert (data / "postgres").is_dir()
