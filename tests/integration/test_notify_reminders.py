"""Reminders until acknowledged, and silences that hold notifications, on a controllable clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from envgrid_cloud.cases.model import Action, Severity
from envgrid_cloud.notify.reminders import Reminders
from envgrid_common.clock import ManualClock as Clock
from tests.integration.test_cases_support import (
    T0,
    breach,
    case,
    minutes,
    move,
    raise_case,
    seed_grid,
)
from tests.integration.test_notify_support import (
    add_channel,
    delivering,
    outbox,
    robot_receiver,
)

EVERY = {"critical": 15, "high": 30, "medium": 60, "low": 240}


@pytest.fixture
def db(migrated_url: str) -> str:
    seed_grid(migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE users SET phone = '13900000001' WHERE id = 'g1-officer'")
    return migrated_url


def remind(db: str, now: datetime) -> list[int]:
    """One reminder sweep at ``now``; the cases reminded."""
    with psycopg.connect(db) as conn:
        return Reminders(EVERY)(conn, now)


def silence(
    db: str,
    until: datetime,
    *,
    site: str | None = None,
    rule: str | None = None,
    cell: str | None = None,
    starts: datetime = T0,
) -> int:
    """A silence set by the township's reviewer; its id."""
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "INSERT INTO notify_silences (site_id, rule_id, cell_id, reason, starts_at, until,"
            " set_by) VALUES (%s, %s, %s, '设备检修', %s, %s, 'luxi-reviewer') RETURNING id",
            (site, rule, cell, starts, until),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.asyncio
async def test_an_unacknowledged_case_is_re_sent_to_its_assignee_until_acknowledged(
    db: str,
) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        own = add_channel(
            db, "张一", "dingtalk", robots.url("dingtalk", "zhang1"), user_id="g1-officer", rate=60
        )
        add_channel(db, "芦溪群", "wecom", robots.url("wecom", "luxi"), cell_id="luxi", rate=60)
        critical = raise_case(db, breach(severity=Severity.CRITICAL)).case_id
        high = raise_case(db, breach(rule="nh3n", severity=Severity.HIGH)).case_id
        async with delivering(db, clock) as deliverer:
            await deliverer.tick()
            assert len(robots.of("zhang1")) == 1  # the two new cases, in one digest

            async def at(offset_min: float) -> list[int]:
                clock.now = T0 + minutes(offset_min)
                reminded = remind(db, clock.now)
                await deliverer.tick()
                return reminded

            assert await at(14.9) == []
            assert await at(15) == [critical]
            assert await at(16) == []  # the clock restarted at the reminder
            assert await at(30) == [critical, high]
            assert await at(31) == []
            move(db, critical, Action.ACKNOWLEDGE, "g1-officer", clock.now)
            assert await at(45) == []  # acknowledged: no more
            # The high case's second reminder is queued, then acknowledged before it goes.
            clock.now = T0 + minutes(60)
            assert remind(db, clock.now) == [high]
            move(db, high, Action.ACKNOWLEDGE, "g1-officer", clock.now)
            await deliverer.tick()
        texts = [m.text for m in robots.of("zhang1")]
        # raised (both), reminder 1 of the critical, then reminders of both in one message.
        assert len(texts) == 3
        assert "催办：尚未签收（第 1 次）" in texts[1]
        assert f"#{critical}" in texts[1]
        assert "紧急 · 催办" in texts[1]
        assert f"#{critical}" in texts[2]
        assert f"#{high}" in texts[2]
        assert "第 2 次" in texts[2]
        # The assignee has a channel of their own: the group hears only of the new cases.
        assert len(robots.of("luxi")) == 1
        assert all("@13900000001" in t for t in texts)
    reminders = [r for r in outbox(db) if r["event"] == "reminder"]
    assert [(r["case_id"], r["state"]) for r in reminders] == [
        (critical, "sent"),
        (critical, "sent"),
        (high, "sent"),
        (high, "dropped"),
    ]
    assert "acknowledged before the reminder went" in reminders[-1]["last_error"]
    assert {r["channel_id"] for r in reminders} == {own}


def test_a_reassigned_case_reminds_its_new_assignee_from_the_reassignment(db: str) -> None:
    add_channel(db, "李村", "dingtalk", "http://127.0.0.1:9/robot/send", user_id="v1-officer")
    case_id = raise_case(db, breach(severity=Severity.CRITICAL)).case_id
    assert remind(db, T0 + minutes(15)) == [case_id]
    move(db, case_id, Action.REASSIGN, "luxi-reviewer", T0 + minutes(20), assignee_id="v1-officer")
    assert remind(db, T0 + minutes(30)) == []  # 15 minutes from the reassignment, not before
    assert remind(db, T0 + minutes(35)) == [case_id]
    reminders = [r for r in outbox(db, case_id) if r["event"] == "reminder"]
    assert [r["detail"]["count"] for r in reminders] == [1]  # the new assignee's first


@pytest.mark.asyncio
async def test_a_silence_holds_a_sites_notifications_then_lets_them_go(db: str) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        add_channel(db, "县群", "wecom", robots.url("wecom", "county"), rate=60)
        quiet = silence(db, T0 + timedelta(hours=1), site="farm1")
        async with delivering(db, clock) as deliverer:
            clock.now = T0 + minutes(1)
            held = raise_case(db, breach(site="farm1"), clock.now).case_id
            loud = raise_case(db, breach(site="farm2"), clock.now).case_id
            await deliverer.tick()
            # The farm1 case is raised and recorded, its notification held; farm2's goes.
            assert case(db, held)["state"] == "dispatched"
            (row,) = outbox(db, held)
            assert (row["state"], row["silence_id"]) == ("held", quiet)
            assert [f"#{loud}" in m.text for m in robots.of("county")] == [True]
            # No reminder is queued while it is silenced.
            assert remind(db, T0 + minutes(45)) == [loud]
            await deliverer.tick()
            clock.now = T0 + minutes(59)
            await deliverer.tick()
            assert len(robots.of("county")) == 2
            clock.now = T0 + minutes(60)  # the silence ends: it goes now
            await deliverer.tick()
        messages = robots.of("county")
        assert len(messages) == 3
        assert f"#{held}" in messages[-1].text
    assert [r["state"] for r in outbox(db, held)] == ["sent"]


@pytest.mark.asyncio
async def test_a_lifted_rule_silence_drops_what_it_held_for_a_case_closed_meanwhile(
    db: str,
) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        add_channel(db, "县群", "wecom", robots.url("wecom", "county"), rate=60)
        # The rule silenced within 芦溪 only: 小店's case of the same rule is not held.
        quiet = silence(db, T0 + timedelta(days=1), rule="works", cell="luxi")
        dismissed = raise_case(db, breach(site="farm1", rule="works")).case_id
        still_open = raise_case(db, breach(site="river1", rule="works")).case_id
        elsewhere = raise_case(db, breach(site="road2", rule="works")).case_id
        async with delivering(db, clock) as deliverer:
            await deliverer.tick()
            move(db, dismissed, Action.DISMISS, "luxi-reviewer", T0, reason="施工所致")
            with psycopg.connect(db) as conn:
                conn.execute(
                    "UPDATE notify_silences SET lifted_at = %s, lifted_by = 'ju-admin'"
                    " WHERE id = %s",
                    (T0 + minutes(5), quiet),
                )
            clock.now = T0 + minutes(5)
            await deliverer.tick()
        texts = [m.text for m in robots.of("county")]
    assert len(texts) == 2
    assert f"#{elsewhere}" in texts[0]
    assert f"#{still_open}" in texts[1]
    assert f"#{dismissed}" not in "".join(texts)
    (row,) = outbox(db, dismissed)
    assert row["state"] == "dropped"
    assert "while silence" in row["last_error"]


def states(rows: list[dict[str, Any]]) -> list[str]:
    return [r["state"] for r in rows]
