"""Helpers for the case tests (no tests here): a grid with officers, breaches, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from envgrid_cloud.cases.model import Action, Breach, CaseChange, Cleared, Severity
from envgrid_cloud.cases.store import raise_or_update, record_cleared
from envgrid_cloud.cases.transitions import act

T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)

# County 莒县 → townships 芦溪, 小店, 安庄 → villages → villager groups.
CELLS = [
    ("ju", "county", "莒县", None),
    ("luxi", "township", "芦溪镇", "ju"),
    ("xiaodian", "township", "小店镇", "ju"),
    ("anzhuang", "township", "安庄镇", "ju"),
    ("luxi-v1", "village", "东村", "luxi"),
    ("luxi-v1-g1", "group", "一组", "luxi-v1"),
    ("luxi-v1-g2", "group", "二组", "luxi-v1"),
    ("luxi-v2", "village", "西村", "luxi"),
    ("luxi-v2-g1", "group", "一组", "luxi-v2"),
    ("anzhuang-v1", "village", "南村", "anzhuang"),
]
SITES = [
    ("farm1", "东村养猪场", "livestock_farm", "luxi-v1-g1"),
    ("farm2", "西村养牛场", "livestock_farm", "luxi-v2-g1"),  # no officer below the township
    ("river1", "沭河芦溪上段", "water_body", "luxi-v1"),
    ("river4", "沭河芦溪下段", "water_body", "luxi"),
    ("river2", "沭河小店段", "water_body", "xiaodian"),
    ("river3", "沭河安庄段", "water_body", "anzhuang-v1"),
    ("road2", "小店路口", "road_section", "xiaodian"),
]
# River order: river1 → river4 (same township) → river2 → river3, and back to river1 (a loop in
# the data must not loop the walk).
DOWNSTREAM = [
    ("river1", "river4"),
    ("river4", "river2"),
    ("river2", "river3"),
    ("river3", "river1"),
]
NODES = [("farm1-s1", "farm1"), ("farm2-s1", "farm2"), ("river1-s1", "river1")]
OFFICERS = [
    ("g1-officer", "张一", "grid_officer", "luxi-v1-g1", True),
    ("g2-officer", "张二", "grid_officer", "luxi-v1-g2", True),
    ("v1-officer", "李村", "grid_officer", "luxi-v1", True),
    ("luxi-officer", "王镇", "grid_officer", "luxi", True),
    ("luxi-reviewer", "赵审", "reviewer", "luxi", True),
    ("xd-officer", "钱网", "grid_officer", "xiaodian", True),
    ("xd-reviewer", "孙审", "reviewer", "xiaodian", True),
    ("ju-reviewer", "周县", "reviewer", "ju", True),
    ("ju-admin", "吴管", "admin", "ju", True),
    ("retired", "郑退", "grid_officer", "luxi-v1-g1", False),
]


def seed_grid(url: str) -> None:
    """The cells, sites, river order, nodes and officers above."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO grid_cells (id, level, name, parent_id) VALUES (%s, %s, %s, %s)", CELLS
        )
        cur.executemany(
            "INSERT INTO sites (id, name, category, cell_id) VALUES (%s, %s, %s, %s)", SITES
        )
        cur.executemany(
            "INSERT INTO site_downstream (site_id, downstream_id) VALUES (%s, %s)", DOWNSTREAM
        )
        cur.executemany("INSERT INTO nodes (id, site_id) VALUES (%s, %s)", NODES)
        cur.executemany(
            "INSERT INTO users (id, login, name, role, cell_id, active)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(o[0], *o) for o in OFFICERS],
        )


def seed_farmland_camera(url: str) -> None:
    """A camera (field1-cam) on farmland in 东村 (site field1, cell luxi-v1)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO sites (id, name, category, cell_id) "
            "VALUES ('field1', '东村麦田', 'farmland', 'luxi-v1')"
        )
        conn.execute(
            "INSERT INTO nodes (id, site_id, kind) VALUES ('field1-cam', 'field1', 'camera')"
        )


def breach(
    site: str = "farm1",
    rule: str = "cod-limit",
    value: float | None = 120.0,
    at: datetime = T0,
    severity: Severity = Severity.HIGH,
    detail: dict[str, Any] | None = None,
) -> Breach:
    """A breach of ``rule`` at ``site``."""
    node = {site_id: node_id for node_id, site_id in NODES}.get(site)
    return Breach(site, rule, severity, f"{rule} at {site}", at, node, "cod", value, detail or {})


def raise_case(url: str, b: Breach, now: datetime = T0) -> CaseChange:
    """``raise_or_update`` in a transaction of its own, committed."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        return raise_or_update(cur, b, now)


def clear_case(url: str, site: str, rule: str, at: datetime, now: datetime) -> int | None:
    """``record_cleared`` in a transaction of its own, committed."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        return record_cleared(cur, Cleared(site, rule, at), now)


def move(url: str, case_id: int, action: Action, actor: str, now: datetime, **kw: Any) -> Any:
    """``act`` on a connection of its own."""
    with psycopg.connect(url) as conn:
        return act(conn, case_id, action, actor, now, **kw)


def case(url: str, case_id: int) -> dict[str, Any]:
    """The case row."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM cases WHERE id = %s", [case_id]).fetchone()
        assert row is not None
        return row


def events(url: str, case_id: int) -> list[dict[str, Any]]:
    """The case's events in order."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM case_events WHERE case_id = %s ORDER BY id", [case_id]
        ).fetchall()


def actions(url: str, case_id: int) -> list[str]:
    """The case's event actions in order."""
    return [e["action"] for e in events(url, case_id)]


@contextmanager
def listening(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection listening on the cases channel."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN envgrid_cases")
        yield conn


def heard(conn: psycopg.Connection[Any], count: int, timeout_s: float = 2.0) -> list[str]:
    """The next ``count`` payloads (fewer if ``timeout_s`` passes first)."""
    return [n.payload for n in conn.notifies(timeout=timeout_s, stop_after=count)]


def minutes(n: float) -> timedelta:
    """``n`` minutes."""
    return timedelta(minutes=n)
