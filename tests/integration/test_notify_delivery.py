"""Notifications reach robots and mailboxes: shapes, signatures, retries, rates, digests."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from envgrid_cloud.cases.model import Action, Severity
from envgrid_cloud.cases.store import raise_or_update
from envgrid_common.clock import ManualClock as Clock
from tests.integration.test_cases_support import T0, breach, move, raise_case, seed_grid
from tests.integration.test_notify_support import (
    DESK,
    add_channel,
    delivering,
    outbox,
    robot_receiver,
    self_signed,
    smtp_server,
)

SECRET = "SEC0123456789abcdef"


@pytest.fixture
def db(migrated_url: str) -> str:
    seed_grid(migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE users SET phone = '1380000' || lpad(length(id)::text, 4, '0')")
        conn.execute("UPDATE users SET phone = '13800000001' WHERE id = 'g1-officer'")
    return migrated_url


@pytest.mark.asyncio
async def test_a_new_case_reaches_both_robots_in_their_shapes_with_a_link(db: str) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        robots.secrets["ding-luxi"] = SECRET
        add_channel(db, "芦溪镇企业微信群", "wecom", robots.url("wecom", "wx-luxi"), cell_id="luxi")
        add_channel(
            db,
            "芦溪镇钉钉群",
            "dingtalk",
            robots.url("dingtalk", "ding-luxi"),
            secret=SECRET,
            cell_id="luxi",
        )
        # Elsewhere, or above the case's severity: not told.
        add_channel(db, "小店镇", "wecom", robots.url("wecom", "wx-xd"), cell_id="xiaodian")
        add_channel(
            db, "紧急才报", "wecom", robots.url("wecom", "wx-crit"), min_severity="critical"
        )
        change = raise_case(db, breach(detail={"limit": 100.0, "direction": "above"}))
        async with delivering(db, clock) as deliverer:
            sent = await deliverer.tick()
            assert await deliverer.tick() == []  # nothing twice
        assert sorted(d.ok for d in sent) == [True, True]
        assert robots.refused == []
        (wx,) = robots.of("wx-luxi")
        (ding,) = robots.of("ding-luxi")
        assert robots.of("wx-xd") == robots.of("wx-crit") == []
    link = f"{DESK}/cases/{change.case_id}"
    for text in (wx.text, ding.text):
        assert link in text
        assert "东村养猪场" in text
        assert "化学需氧量 120 mg/L（超过限值 100）" in text
        assert "2026-05-01 08:00:00（北京时间）" in text  # 00:00 UTC on Beijing's clock
        assert "高 · 新案件" in text
        assert "张一" in text
    # The assignee is @-mentioned on DingTalk, by phone, in the list and in the text.
    assert ding.body["at"]["atMobiles"] == ["13800000001"]
    assert ding.body["markdown"]["title"].startswith("高 · 东村养猪场")
    assert [r["state"] for r in outbox(db)] == ["sent", "sent"]


@pytest.mark.asyncio
async def test_a_wrong_secret_is_refused_by_the_robot_and_retried(db: str) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        robots.secrets["ding"] = SECRET
        channel = add_channel(
            db, "钉钉", "dingtalk", robots.url("dingtalk", "ding"), secret="SECwrong"
        )
        raise_case(db, breach())
        async with delivering(db, clock) as deliverer:
            (first,) = await deliverer.tick()
        assert not first.ok
        assert robots.refused == ["dingtalk ding: sign not match"]
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT consecutive_failures, last_error, retry_at FROM notify_channels WHERE id = %s",
            (channel,),
        ).fetchone()
    assert row is not None
    assert row[0] == 1
    assert "errcode 300001: sign not match" in row[1]
    assert (row[2] - T0).total_seconds() == 2.0
    assert [r["state"] for r in outbox(db)] == ["pending"]


@pytest.mark.asyncio
async def test_a_robot_failing_twice_then_answering_gets_it_with_back_off(db: str) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        # 60 a minute: the back-off, not the rate, sets when it is tried again.
        channel = add_channel(db, "群", "wecom", robots.url("wecom", "flaky"), rate=60)
        robots.fail(
            "flaky",
            (502, {"error": "bad gateway"}),
            (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        )
        case_id = raise_case(db, breach()).case_id
        async with delivering(db, clock, notify_failing_after=2) as deliverer:
            assert [d.ok for d in await deliverer.tick()] == [False]
            clock.advance(1.9)
            assert await deliverer.tick() == []  # backing off: 2 s
            clock.advance(0.1)
            assert [d.ok for d in await deliverer.tick()] == [False]
            assert failing(db, channel)  # two in a row
            clock.advance(3.9)
            assert await deliverer.tick() == []  # then 4 s
            clock.advance(0.1)
            assert [d.ok for d in await deliverer.tick()] == [True]
        assert not failing(db, channel)
        assert len(robots.of("flaky")) == 1
    (row,) = outbox(db, case_id)
    assert (row["state"], row["attempts"]) == ("sent", 3)


def failing(db: str, channel: int) -> bool:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT failing_since IS NOT NULL FROM notify_channels WHERE id = %s", (channel,)
        ).fetchone()
    assert row is not None
    return bool(row[0])


@pytest.mark.asyncio
async def test_e_mail_over_starttls_with_a_login_and_a_refusal_retried(
    db: str, tmp_path: Path
) -> None:
    clock = Clock(T0)
    cert = self_signed(tmp_path)
    with smtp_server(cert, login=("envgrid", "s3cret")) as (box, port):
        box.refuse = 1
        add_channel(db, "张一的邮箱", "email", "zhang1@example.test", user_id="g1-officer")
        case_id = raise_case(db, breach(severity=Severity.CRITICAL)).case_id
        settings = {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_mode": "starttls",
            "smtp_user": "envgrid",
            "smtp_password": "s3cret",
            "smtp_ca_file": str(cert[0]),
            "smtp_from": "envgrid <alerts@example.test>",
        }
        async with delivering(db, clock, **settings) as deliverer:
            (refused,) = await deliverer.tick()
            clock.advance(3.05)  # the back-off (2 s) and the rate (20 a minute) allow it
            (accepted,) = await deliverer.tick()
        assert (refused.ok, accepted.ok) == (False, True)
        assert box.logins == ["envgrid", "envgrid"]
        (mail,) = box.messages
    assert mail["To"] == "zhang1@example.test"
    assert mail["From"] == "envgrid <alerts@example.test>"
    assert mail["Subject"] == "[envgrid] 紧急 · 东村养猪场 · 新案件"
    assert f"{DESK}/cases/{case_id}" in box.body(0)
    with psycopg.connect(db) as conn:
        answers = conn.execute(
            "SELECT ok, status, response FROM notify_attempts ORDER BY id"
        ).fetchall()
    assert answers[0][:2] == (False, 451)
    assert "Try again later" in answers[0][2]
    assert answers[1][:2] == (True, 250)


@pytest.mark.asyncio
async def test_without_an_smtp_server_an_e_mail_channel_fails_visibly(db: str) -> None:
    clock = Clock(T0)
    add_channel(db, "邮箱", "email", "someone@example.test")
    raise_case(db, breach())
    async with delivering(db, clock) as deliverer:
        (attempt,) = await deliverer.tick()
    assert not attempt.ok
    (row,) = outbox(db)
    assert row["state"] == "pending"
    assert "ENVGRID_SMTP_HOST" in row["last_error"]


@pytest.mark.asyncio
async def test_a_case_and_its_notifications_commit_together(db: str) -> None:
    add_channel(db, "群", "wecom", "http://127.0.0.1:9/cgi-bin/webhook/send?key=x")
    with psycopg.connect(db) as conn:
        with conn.cursor() as cur:
            raise_or_update(cur, breach(rule="rolled-back"), T0)
        assert outbox(db) == []  # not visible before the commit
        conn.rollback()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cases").fetchone() == (0,)
    assert outbox(db) == []
    change = raise_case(db, breach(rule="committed"))
    assert [(r["case_id"], r["event"]) for r in outbox(db)] == [(change.case_id, "raised")]


@pytest.mark.asyncio
async def test_who_is_told_of_what(db: str) -> None:
    """Area channels hear of new cases; the assignee's own channels of what is handed to them;
    downstream townships of a river case; a repeat or an acknowledgement tells nobody."""
    url = "http://127.0.0.1:9/x"
    county = add_channel(db, "县", "wecom", url)
    luxi = add_channel(db, "芦溪", "wecom", url, cell_id="luxi")
    xiaodian = add_channel(db, "小店", "wecom", url, cell_id="xiaodian")
    mine = add_channel(db, "张一", "dingtalk", url, user_id="g1-officer")
    theirs = add_channel(db, "李村", "dingtalk", url, user_id="v1-officer")
    farm = raise_case(db, breach()).case_id
    raise_case(db, breach(), T0)  # a repeat
    move(db, farm, Action.ACKNOWLEDGE, "g1-officer", T0)
    told = {(r["case_id"], r["event"], r["channel_id"]) for r in outbox(db)}
    assert told == {(farm, "raised", county), (farm, "raised", luxi), (farm, "raised", mine)}
    # A river case in 芦溪 is told downstream to 小店, marked so.
    river = raise_case(db, breach(site="river1", rule="do-low")).case_id
    rows = {r["channel_id"]: r for r in outbox(db, river)}
    assert set(rows) == {county, luxi, xiaodian, theirs}
    assert rows[xiaodian]["detail"]["downstream"] is True
    assert "downstream" not in rows[luxi]["detail"]
    # A reassignment goes to the new assignee's own channel only.
    move(db, farm, Action.REASSIGN, "luxi-reviewer", T0, assignee_id="v1-officer")
    assert [(r["event"], r["channel_id"]) for r in outbox(db, farm)][-1:] == [("reassign", theirs)]
    # Without a channel of their own, the assignee is told in the area's groups.
    move(db, farm, Action.REASSIGN, "luxi-reviewer", T0, assignee_id="luxi-officer")
    last = {r["channel_id"] for r in outbox(db, farm) if r["event"] == "reassign"}
    assert last == {theirs, county, luxi}


def cases_in(text: str) -> set[int]:
    """Case numbers a message names."""
    return {int(n) for n in re.findall(r"#(\d+)", text)}


STORM = 500
TICK_S = 0.5


@pytest.mark.asyncio
async def test_an_alarm_storm_reaches_each_robot_as_at_most_20_messages_a_minute_none_lost(
    db: str,
) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        robots.secrets["ding"] = SECRET
        add_channel(db, "县企业微信群", "wecom", robots.url("wecom", "wx"))
        add_channel(db, "县钉钉群", "dingtalk", robots.url("dingtalk", "ding"), secret=SECRET)
        sites = ["farm1", "farm2", "river1", "river2", "road2"]
        raised: list[int] = []
        async with delivering(db, clock) as deliverer:
            # 500 cases within one minute, a few every half second, delivered as they come.
            ticks = int(60 / TICK_S)
            for tick in range(ticks):
                with psycopg.connect(db) as conn, conn.cursor() as cur:
                    for i in range(tick * STORM // ticks, (tick + 1) * STORM // ticks):
                        b = breach(
                            site=sites[i % 5],
                            rule=f"storm-{i}",
                            at=clock.now,
                            severity=Severity.CRITICAL if i % 50 == 0 else Severity.HIGH,
                        )
                        raised.append(raise_or_update(cur, b, clock.now).case_id)
                await deliverer.tick()
                clock.advance(TICK_S)
            # Then the rest goes, still within the rate.
            for _ in range(int(300 / TICK_S)):
                if not [r for r in outbox(db) if r["state"] != "sent"]:
                    break
                await deliverer.tick()
                clock.advance(TICK_S)
        assert len(set(raised)) == STORM
        assert robots.refused == []
        for name in ("wx", "ding"):
            got = robots.of(name)
            times = [m.at for m in got]
            first_minute = [t for t in times if t < T0 + timedelta(seconds=60)]
            assert len(first_minute) <= 20, name
            for start in times:  # any minute at all
                assert sum(1 for t in times if start <= t < start + timedelta(seconds=60)) <= 20
            named = set().union(*(cases_in(m.text) for m in got))
            assert named >= set(raised), f"{name} lost {sorted(set(raised) - named)[:5]}"
            assert all(len(m.text.encode()) <= 4096 for m in got)
            # Digests: few messages for many cases, each listing the newest first.
            assert len(got) < 40
    assert {r["state"] for r in outbox(db)} == {"sent"}
