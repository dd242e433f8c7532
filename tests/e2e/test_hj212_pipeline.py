"""The one-hour real platform log through ``envgrid hj212 replay`` → gateway listener → cloud.

Real Mosquitto and PostgreSQL, each component its own process. The log's MNs are registered
(nodes carrying an HJ 212 MN and password, in the cloud's registry and the gateway's device
table) except two left unknown on purpose, which the gateway holds as pending registration.
It prints and checks: frames parsed, refused by reason (each class explained), readings stored
= what the accepted frames map to; a second replay stores nothing new.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import yaml

from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.clock import utc_now
from envgrid_common.hj212 import EXPLANATIONS, Reason, build_frame, format_time
from envgrid_common.registry import GridCell, GridLevel, Node, Registry, Site, SiteCategory
from envgrid_gateway.adapters.hj212.mapping import READING_COMMANDS, map_upload
from envgrid_gateway.hj212_cli import read_lines
from envgrid_gateway.hj212_replay import ReplayLine, days_to_yesterday, read_replay
from tests.e2e.support import clean_env, start, stop, wait_for
from tests.unit.hj212_data import REAL_LOG, needs_real_log

pytestmark = [pytest.mark.slow, needs_real_log]

# What the codec finds wrong in this log, line by line (the codec helper's survey of the file):
# six frames with a NUL system code, five miscounted lengths, one length field that is no
# number and one CRC that does not match (both from one line broken in transit, whose tail
# has no '##' at all).
LOG_REFUSALS = {
    Reason.BAD_ST: 6,
    Reason.LENGTH_MISMATCH: 5,
    Reason.BAD_LENGTH_FIELD: 1,
    Reason.CRC_MISMATCH: 1,
    Reason.NO_HEADER: 1,
}
UNKNOWN_COUNT = 2  # MNs deliberately left out of the registry
SITE = "hj212-platform"


def _node_id(mn: str) -> str:
    return f"hj212-{mn.lower()}"


@dataclass(frozen=True)
class Plan:
    """The log as the replay will send it, who is registered and what should be stored."""

    retime_days: int
    lines: list[ReplayLine]
    registered: dict[str, str]  # MN → password
    unknown: list[str]
    expected: set[tuple[str, str, int]]  # (node, ts, seq) of the readings to store
    uploads: int  # accepted data uploads (2011/2051/2061/2031) of every MN
    bad_time: int  # uploads of registered MNs refused for their DataTime (unset clocks)
    no_metric: int  # uploads of registered MNs with no factor that has a metric


def _plan() -> Plan:
    with REAL_LOG.open("rb") as source:
        raw = list(read_lines(source))
    days = days_to_yesterday(read_replay(raw), utc_now())
    lines = list(read_replay(raw, retime_days=days))
    passwords: dict[str, str] = {}
    for line in lines:
        if line.frame is not None:
            passwords.setdefault(line.frame.mn, line.frame.pw)
    unknown = sorted(passwords)[:UNKNOWN_COUNT]
    registered = {mn: pw for mn, pw in passwords.items() if mn not in unknown}
    expected: set[tuple[str, str, int]] = set()
    refusals: Counter[str] = Counter()
    uploads = 0
    now = utc_now()
    for line in lines:
        frame = line.frame
        if frame is None or frame.cn not in READING_COMMANDS:
            continue
        uploads += 1
        if frame.mn not in registered:
            continue
        mapped = map_upload(frame, units={}, now=now, historical_after_s=1800)
        if mapped.reading is None:
            refusals[(mapped.refused or "").partition(":")[0]] += 1
            continue
        reading = mapped.reading
        expected.add((_node_id(frame.mn), reading.ts.isoformat(), reading.seq))
    return Plan(
        days,
        lines,
        registered,
        unknown,
        expected,
        uploads,
        refusals["bad_data_time"],
        refusals["no_metric"],
    )


def _registry(plan: Plan) -> Registry:
    county = GridCell(id="hj212-county", level=GridLevel.COUNTY, name="测试县")
    town = GridCell(id="hj212-town", level=GridLevel.TOWNSHIP, name="测试镇", parent_id=county.id)
    site = Site(
        id=SITE, name="省级平台转发的企业", category=SiteCategory.INDUSTRIAL, cell_id=town.id
    )
    nodes = tuple(
        Node(id=_node_id(mn), site_id=SITE, hj212_mn=mn, hj212_password=pw)
        for mn, pw in sorted(plan.registered.items())
    )
    return Registry(cells=(county, town), sites=(site,), nodes=nodes)


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The log, read once."""
    return _plan()


@pytest.fixture
def platform(
    plan: Plan, tmp_path: Path, migrated_url: str, mqtt_url: str, topic_root: str
) -> Iterator[tuple[int, str, tuple[Path, ...]]]:
    """Cloud and gateway (listener on) as processes; yields the listener's port."""
    registry = _registry(plan)
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, registry)
    devices = tmp_path / "hj212-devices.yaml"
    nodes = [n.model_dump(mode="json", exclude_defaults=True) for n in registry.nodes]
    devices.write_text(yaml.safe_dump({"nodes": nodes}, allow_unicode=True), encoding="utf-8")
    run = uuid.uuid4().hex[:8]
    cloud_root, gateway_id = f"{topic_root}-cloud", f"gw-{run}"
    api_port, hj212_port = free_port(), free_port()
    base = clean_env(ENVGRID_TOPIC_ROOT=topic_root, ENVGRID_LOG_LEVEL="INFO")
    logs = (tmp_path / "cloud.log", tmp_path / "gateway.log")
    processes = [
        start(
            ["cloud"],
            {
                **base,
                "ENVGRID_TOPIC_ROOT": cloud_root,
                "ENVGRID_DATABASE_URL": migrated_url,
                "ENVGRID_MQTT_URL": mqtt_url,
                "ENVGRID_API_PORT": str(api_port),
                "ENVGRID_INGEST_CLIENT_ID": f"ingest-{run}",
                "ENVGRID_INGEST_SHARE_GROUP": f"ingest-{run}",
            },
            logs[0],
        ),
        start(
            ["gateway"],
            {
                **base,
                "ENVGRID_MQTT_URL": mqtt_url,
                "ENVGRID_UPLINK_MQTT_URL": mqtt_url,
                "ENVGRID_UPLINK_TOPIC_ROOT": cloud_root,
                "ENVGRID_GATEWAY_ID": gateway_id,
                "ENVGRID_GATEWAY_BUFFER_PATH": str(tmp_path / "gateway.sqlite"),
                "ENVGRID_GATEWAY_STATUS_INTERVAL_S": "1",
                "ENVGRID_HJ212_LISTEN": f"127.0.0.1:{hj212_port}",
                "ENVGRID_HJ212_DEVICES": str(devices),
                # The log's 284 units all connect from this one address.
                "ENVGRID_HJ212_MAX_PER_ADDRESS": "400",
            },
            logs[1],
        ),
    ]
    try:
        wait_for_port("127.0.0.1", hj212_port, timeout_s=60)
        wait_for_port("127.0.0.1", api_port, timeout_s=60)
        yield hj212_port, gateway_id, logs
    finally:
        for process in reversed(processes):
            stop(process)


def _replay(path: Path, port: int, days: int, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "envgrid_cli",
            "hj212",
            "replay",
            str(path),
            "--to",
            f"127.0.0.1:{port}",
            "--retime",
            str(days),
            "--wait",
            "5",
            "--json",
            str(out),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout)
    assert done.returncode in (0, 1), done.stderr
    summary: dict[str, Any] = orjson.loads(out.read_bytes())
    return summary


def _query(url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def _stored(url: str) -> int:
    return int(_query(url, "SELECT count(*) FROM readings WHERE node_id LIKE 'hj212-%%'")[0][0])


def _counters(url: str, gateway_id: str) -> dict[str, int]:
    rows = _query(url, "SELECT counters FROM gateways WHERE id = %s", gateway_id)
    return dict(rows[0][0]) if rows else {}


def _pending(url: str, gateway_id: str) -> dict[str, int] | None:
    # The gateway's status is published every few seconds: wait for one that counts every
    # unknown unit (an earlier one may have been sent between the two), then check it exactly.
    counters = _counters(url, gateway_id)
    return counters if counters.get("hj212_pending_mns", 0) >= UNKNOWN_COUNT else None


def test_the_real_log_through_the_gateway_into_the_cloud(
    plan: Plan,
    platform: tuple[int, str, tuple[Path, ...]],
    migrated_url: str,
    tmp_path: Path,
) -> None:
    port, gateway_id, logs = platform
    first = _replay(REAL_LOG, port, plan.retime_days, tmp_path / "first.json")

    # Frames parsed and refused, by reason, as the replay's own check (the listener's codec).
    lines = len(plan.lines)
    assert first["lines"] == first["sent"] == lines
    refused = {Reason(code): n for code, n in first["checked_refused"].items()}
    assert refused == LOG_REFUSALS
    assert first["checked_ok"] == lines - sum(LOG_REFUSALS.values())

    # Readings stored = what the accepted frames of registered units map to.
    expected = len(plan.expected)
    assert expected > 0
    wait_for("every reading stored", lambda: _stored(migrated_url) >= expected or None, 180, logs)
    rows = _query(
        migrated_url, "SELECT node_id, ts, seq FROM readings WHERE node_id LIKE 'hj212-%%'"
    )
    stored = {(node, ts.isoformat(), seq) for node, ts, seq in rows}
    assert stored == plan.expected

    # Refusals reach the cloud's dead letters with their reason; unknown MNs are pending.
    counters = wait_for(
        "the gateway's HJ 212 counters", lambda: _pending(migrated_url, gateway_id), 30, logs
    )
    assert counters["hj212_pending_mns"] == UNKNOWN_COUNT
    for mn in plan.unknown:
        assert counters[f"hj212_pending_mn.{mn}"] > 0
    letters = Counter(
        reason.removeprefix("HJ 212 ").partition(":")[0]
        for (reason,) in _query(migrated_url, "SELECT reason FROM dead_letters")
    )
    for reason in (Reason.BAD_ST, Reason.LENGTH_MISMATCH, Reason.CRC_MISMATCH):
        assert letters[reason.value] >= 1, letters
    assert letters["pending_registration"] == UNKNOWN_COUNT
    assert letters["bad_data_time"] == plan.bad_time

    # Again: nothing new is stored. A fresh frame sent after it shows the second run is through.
    before = _counters(migrated_url, gateway_id)
    second = _replay(REAL_LOG, port, plan.retime_days, tmp_path / "second.json")
    assert second["sent"] == lines
    wait_for(
        "the second run through the gateway",
        lambda: (
            _counters(migrated_url, gateway_id).get("hj212_frames", 0) >= 2 * before["hj212_frames"]
        ),
        120,
        logs,
    )
    mn, pw = sorted(plan.registered.items())[0]
    now = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    sentinel = build_frame(
        st="32",
        cn="2011",
        pw=pw,
        mn=mn,
        cp=f"DataTime={format_time(now)};011-Rtd=42.0,011-Flag=N",
    )
    (tmp_path / "sentinel.h212").write_bytes(sentinel)
    _replay(tmp_path / "sentinel.h212", port, 0, tmp_path / "sentinel.json")
    wait_for("the fresh frame", lambda: _stored(migrated_url) > expected or None, 60, logs)
    assert _stored(migrated_url) == expected + 1

    pending = sum(counters[f"hj212_pending_mn.{mn}"] for mn in plan.unknown)
    print(
        f"\nreal log: {lines} lines, {first['checked_ok']} frames parsed, "
        f"{sum(refused.values())} refused; {len(plan.registered)} units registered, "
        f"{UNKNOWN_COUNT} left pending ({pending} frames held); {plan.uploads} data uploads, "
        f"readings stored {expected}: the rest are the pending units' or refused for an "
        f"unset clock (bad_data_time, {plan.bad_time}) or for no factor with a metric "
        f"(no_metric, {plan.no_metric}), or repeat an upload already stored; "
        "the second replay stored nothing new"
    )
    print("refused by reason:")
    for reason, count in refused.items():
        print(f"  {reason.value:18} {count:3}  {EXPLANATIONS[reason]}")
