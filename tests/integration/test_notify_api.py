"""The notifications' API: channels (admin), silences (admin or reviewer in their area), and a
case's deliveries with every attempt's answer; and the app delivering by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from envgrid_cloud.app import create_app
from envgrid_cloud.cases.model import Severity
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import ManualClock as Clock
from tests.integration.test_api_support import as_user, running, token_for
from tests.integration.test_cases_support import T0, breach, raise_case, seed_grid
from tests.integration.test_notify_support import add_channel, delivering, robot_receiver

CHANNELS = "/api/v1/channels"
SILENCES = "/api/v1/silences"


@pytest.fixture
def db(migrated_url: str) -> str:
    seed_grid(migrated_url)
    return migrated_url


@asynccontextmanager
async def quiet_api(db: str) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client on an app that delivers nothing by itself (the test drives it)."""
    app = create_app(CloudSettings(database_url=db, notify_enabled=False))
    async with running(app, token_for(db)) as client:
        yield client


def soon(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


@pytest.mark.asyncio
async def test_a_robot_failing_twice_then_succeeding_shows_every_attempt_on_the_case(
    db: str,
) -> None:
    clock = Clock(T0)
    with robot_receiver(clock) as robots:
        channel = add_channel(
            db, "芦溪群", "wecom", robots.url("wecom", "flaky"), cell_id="luxi", rate=60
        )
        robots.fail(
            "flaky",
            (500, {"error": "internal"}),
            (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        )
        case_id = raise_case(db, breach()).case_id
        async with (
            quiet_api(db) as client,
            delivering(db, clock, notify_failing_after=2) as deliverer,
        ):
            await deliverer.tick()
            clock.advance(2)
            await deliverer.tick()
            failing = (await client.get(CHANNELS, params={"failing": "true"})).json()
            assert [c["id"] for c in failing] == [channel]
            assert failing[0]["consecutive_failures"] == 2
            assert failing[0]["pending"] == 1
            assert "errcode 45009" in failing[0]["last_error"]
            assert failing[0]["target"].endswith("/cgi-bin/webhook/send?key=…laky")
            clock.advance(4)
            await deliverer.tick()
            seen = (await client.get(f"/api/v1/cases/{case_id}/deliveries")).json()
            officer = await client.get(
                f"/api/v1/cases/{case_id}/deliveries", headers=as_user(db, "g1-officer")
            )
            stranger = await client.get(
                f"/api/v1/cases/{case_id}/deliveries", headers=as_user(db, "xd-officer")
            )
            healthy = (await client.get(f"{CHANNELS}/{channel}")).json()
    assert [(a["ok"], a["status"]) for a in seen["attempts"]] == [
        (False, 500),
        (False, 200),
        (True, 200),
    ]
    assert [a["error"] for a in seen["attempts"]] == [
        "HTTP 500",
        "errcode 45009: api freq out of limit",
        None,
    ]
    assert seen["attempts"][1]["response"] == '{"errcode":45009,"errmsg":"api freq out of limit"}'
    assert '"msgtype":"markdown"' in seen["attempts"][2]["request"]
    (item,) = seen["items"]
    assert (item["event"], item["state"], item["attempts"]) == ("raised", "sent", 3)
    assert item["sent_at"] == "2026-05-01T08:00:06+08:00"
    assert item["channel_name"] == "芦溪群"
    assert officer.status_code == 200
    assert officer.json()["attempts"][2]["request"] is not None  # the case alone: shown
    assert stranger.status_code == 404
    assert (healthy["failing"], healthy["consecutive_failures"]) == (False, 0)


@pytest.mark.asyncio
async def test_channels_are_managed_by_an_administrator_and_checked(db: str) -> None:
    robot = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"
    async with quiet_api(db) as client:
        made = await client.post(
            CHANNELS,
            json={
                "name": "芦溪镇钉钉群",
                "kind": "dingtalk",
                "target": robot,
                "secret": "SECabc",
                "cell_id": "luxi",
                "min_severity": "high",
            },
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["target"] == "https://oapi.dingtalk.com/robot/send?access_token=…cdef"
        assert (body["has_secret"], body["rate_per_minute"], body["failing"]) == (True, 20, False)
        assert "secret" not in body
        mail = await client.post(
            CHANNELS,
            json={
                "name": "张一",
                "kind": "email",
                "target": "zhang1@example.test",
                "user_id": "g1-officer",
            },
        )
        assert mail.status_code == 201
        assert mail.json()["rate_per_minute"] == 60
        wrong: dict[str, dict[str, object]] = {
            "an address for a robot": {"kind": "wecom", "target": "a@b.cn"},
            "a URL for e-mail": {"kind": "email", "target": robot},
            "a secret for WeCom": {"kind": "wecom", "target": robot, "secret": "SECx"},
            "both person and area": {
                "kind": "wecom",
                "target": robot,
                "cell_id": "luxi",
                "user_id": "g1-officer",
            },
            "an unknown cell": {"kind": "wecom", "target": robot, "cell_id": "nowhere"},
            "an unknown user": {"kind": "wecom", "target": robot, "user_id": "nobody"},
            "a control character": {"kind": "wecom", "target": robot, "name": "a\x00b"},
            "a rate too high": {"kind": "wecom", "target": robot, "rate_per_minute": 601},
        }
        for why, fields in wrong.items():
            answer = await client.post(CHANNELS, json={"name": "x", **fields})
            assert answer.status_code == 422, why
        # An officer sees the channels of their area, without changing them.
        officer = as_user(db, "xd-officer")
        assert (await client.get(CHANNELS, headers=officer)).json() == []
        assert (await client.get(CHANNELS, headers=as_user(db, "g1-officer"))).status_code == 200
        denied = await client.post(
            CHANNELS, json={"name": "x", "kind": "wecom", "target": robot}, headers=officer
        )
        assert denied.status_code == 403
        mine = [
            c["id"] for c in (await client.get(CHANNELS, headers=as_user(db, "g1-officer"))).json()
        ]
        assert mine == [body["id"], mail.json()["id"]]
        # Changed: only the fields sent; a new kind must fit the target.
        changed = await client.patch(f"{CHANNELS}/{body['id']}", json={"min_severity": "low"})
        assert changed.json()["min_severity"] == "low"
        assert changed.json()["has_secret"] is True
        unfit = await client.patch(f"{CHANNELS}/{body['id']}", json={"kind": "wecom"})
        assert unfit.status_code == 422  # it still has a secret
        switched = await client.patch(
            f"{CHANNELS}/{body['id']}", json={"kind": "wecom", "secret": None}
        )
        assert (switched.json()["kind"], switched.json()["has_secret"]) == ("wecom", False)
        # Removed: deleted when never used; disabled (and its queue dropped) once it was.
        case_id = raise_case(db, breach(severity=Severity.HIGH)).case_id
        removed = (await client.delete(f"{CHANNELS}/{body['id']}")).json()
        kept = (await client.get(f"{CHANNELS}/{body['id']}")).json()
        assert (removed["outcome"], kept["enabled"]) == ("disabled", False)
        deliveries = (await client.get(f"/api/v1/cases/{case_id}/deliveries")).json()
        assert {i["state"] for i in deliveries["items"]} == {"dropped", "pending"}
        unused = await client.post(CHANNELS, json={"name": "x", "kind": "wecom", "target": robot})
        gone = (await client.delete(f"{CHANNELS}/{unused.json()['id']}")).json()
        assert gone["outcome"] == "deleted"
        assert (await client.get(f"{CHANNELS}/{unused.json()['id']}")).status_code == 404


@pytest.mark.asyncio
async def test_silences_are_set_by_reviewers_within_their_area_and_lifted(db: str) -> None:
    reviewer, officer = as_user(db, "luxi-reviewer"), as_user(db, "g1-officer")
    other = as_user(db, "xd-reviewer")
    async with quiet_api(db) as client:
        body = {"site_id": "farm1", "until": soon(), "reason": "  设备检修  "}
        made = await client.post(SILENCES, json=body, headers=reviewer)
        assert made.status_code == 201, made.text
        silence = made.json()
        assert (silence["set_by"], silence["reason"], silence["active"]) == (
            "luxi-reviewer",
            "设备检修",
            True,
        )
        assert silence["until"].endswith("+08:00")
        assert (await client.post(SILENCES, json=body, headers=officer)).status_code == 403
        assert (await client.post(SILENCES, json=body, headers=other)).status_code == 404
        # A rule within the reviewer's own area by default; not above it.
        rule = await client.post(
            SILENCES,
            json={"rule_id": "cod-limit", "until": soon(2), "reason": "施工"},
            headers=reviewer,
        )
        assert rule.json()["cell_id"] == "luxi"
        above = await client.post(
            SILENCES,
            json={"rule_id": "cod-limit", "cell_id": "ju", "until": soon(), "reason": "施工"},
            headers=reviewer,
        )
        assert above.status_code == 403
        everywhere = await client.post(
            SILENCES, json={"rule_id": "aqi", "until": soon(), "reason": "全县停电"}
        )
        assert everywhere.json()["cell_id"] is None
        for bad in (
            {"site_id": "farm1", "until": soon(-1), "reason": "x"},
            {"site_id": "farm1", "until": soon(24 * 40), "reason": "x"},
            {"until": soon(), "reason": "x"},
            {"site_id": "farm1", "until": soon(), "reason": " "},
            {"site_id": "farm1", "cell_id": "luxi", "until": soon(), "reason": "x"},
        ):
            assert (await client.post(SILENCES, json=bad)).status_code == 422, bad
        # Without an offset, a time is Beijing's.
        beijing = (datetime.now(UTC) + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%S")
        naive = await client.post(
            SILENCES, json={"site_id": "farm2", "reason": "检修", "until": beijing}
        )
        assert naive.status_code == 201
        # Lists: what concerns one's area.
        mine = [s["id"] for s in (await client.get(SILENCES, headers=officer)).json()]
        assert mine == [everywhere.json()["id"], rule.json()["id"], silence["id"]]
        theirs = [s["id"] for s in (await client.get(SILENCES, headers=other)).json()]
        assert theirs == [everywhere.json()["id"]]
        # Lifting: a reviewer their area's, not the county-wide one; once.
        lift = f"{SILENCES}/{silence['id']}/lift"
        assert (await client.post(lift, headers=officer)).status_code == 403
        lifted = await client.post(lift, headers=reviewer)
        assert (lifted.json()["active"], lifted.json()["lifted_by"]) == (False, "luxi-reviewer")
        assert (await client.post(lift, headers=reviewer)).status_code == 409
        county = f"{SILENCES}/{everywhere.json()['id']}/lift"
        assert (await client.post(county, headers=reviewer)).status_code == 403
        assert (await client.post(county)).status_code == 200
        active = [s["id"] for s in (await client.get(SILENCES, params={"active": "true"})).json()]
        assert active == [naive.json()["id"], rule.json()["id"]]


@pytest.mark.asyncio
async def test_the_app_delivers_by_itself(db: str) -> None:
    with robot_receiver(lambda: datetime.now(UTC)) as robots:
        add_channel(db, "县群", "wecom", robots.url("wecom", "county"))
        settings = CloudSettings(database_url=db, notify_poll_s=0.05, desk_url="https://desk.cn")
        async with running(create_app(settings), token_for(db)) as client:
            made = await client.post(
                "/api/v1/cases",
                headers=as_user(db, "g1-officer"),
                json={"site_id": "farm1", "title": "巡查发现 污水外溢", "severity": "critical"},
            )
            assert made.status_code == 201, made.text
            deadline = time.monotonic() + 10
            while not robots.of("county") and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the robot is in another thread
            names = {t.get_name() for t in asyncio.all_tasks()}
        (message,) = robots.of("county")
    assert f"https://desk.cn/cases/{made.json()['id']}" in message.text
    assert "巡查发现 污水外溢" in message.text
    assert {"notifications", "remind unacknowledged cases"} <= names
