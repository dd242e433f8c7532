"""``/api/v1/cases`` on real PostgreSQL: lists, case files, moves and their refusals, the feed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from envgrid_cloud.api.database import POOL_MAX
from envgrid_cloud.app import create_app
from envgrid_cloud.cases.feed import CaseFeed
from envgrid_cloud.cases.model import Severity
from envgrid_cloud.cases.sweeps import ESCALATION, Sweep
from envgrid_cloud.settings import CloudSettings
from envgrid_common.topics import Topics
from tests.integration.test_api_app import uvicorn_thread
from tests.integration.test_api_support import api, as_user, running
from tests.integration.test_cases_support import breach, raise_case, seed_grid
from tests.mqtt_clients import Collector
from tests.polling import wait_until

NOW = datetime.now(UTC).replace(microsecond=0)
CASES = "/api/v1/cases"


@pytest.fixture
def db(migrated_url: str) -> str:
    """A migrated database with the test grid, sites and officers."""
    seed_grid(migrated_url)
    return migrated_url


def raise_now(db: str, **kw: Any) -> int:
    """A case raised now (so no deadline has passed while the app runs its sweeps)."""
    return raise_case(db, breach(at=kw.pop("at", NOW), **kw), NOW).case_id


@pytest.mark.asyncio
async def test_cases_list_newest_first_with_filters_and_paging(db: str) -> None:
    farm = raise_now(db)
    river = raise_now(db, site="river1", rule="nh3n", severity=Severity.CRITICAL)
    road = raise_case(db, breach(site="road2", at=NOW), NOW + timedelta(seconds=1)).case_id
    async with api(db) as client:

        async def ids(**params: Any) -> list[int]:
            response = await client.get(CASES, params=params)
            assert response.status_code == 200, response.text
            return [c["id"] for c in response.json()["items"]]

        assert await ids() == [road, river, farm]
        assert await ids(township_id="luxi") == [river, farm]
        assert await ids(site_id="road2") == [road]
        assert await ids(severity="critical") == [river]
        assert await ids(assignee_id="g1-officer") == [farm]
        assert await ids(state="dispatched", open="true") == [road, river, farm]
        assert await ids(open="false") == []
        assert await ids(limit=1, offset=1) == [river]
        page = (await client.get(CASES, params={"limit": 1})).json()
        unknown = await client.get(CASES, params={"township_id": "atlantis"})
        bad_state = await client.get(CASES, params={"state": "lost"})
    assert page["count"] == 3
    one = page["items"][0]
    assert one["raised_at"].endswith("+08:00")
    assert (one["site_id"], one["township_id"], one["state"]) == ("road2", "xiaodian", "dispatched")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no township with id 'atlantis'"}
    assert bad_state.status_code == 422


@pytest.mark.asyncio
async def test_a_case_moves_through_the_loop_and_refusals_say_why(db: str) -> None:
    case_id = raise_now(db)
    path = f"{CASES}/{case_id}/actions"
    async with api(db) as client:

        async def do(action: str, actor: str, **body: Any) -> httpx.Response:
            return await client.post(
                path, json={"action": action, **body}, headers=as_user(db, actor)
            )

        illegal = await do("close", "luxi-reviewer")
        forbidden = await do("acknowledge", "xd-officer")
        role = await do("dismiss", "g1-officer", reason="x")
        no_reason = await do("dismiss", "luxi-reviewer")
        unknown = await client.post(
            f"{CASES}/999/actions",
            json={"action": "acknowledge"},
            headers=as_user(db, "g1-officer"),
        )
        bad_action = await do("teleport", "g1-officer")
        acknowledged = await do("acknowledge", "g1-officer", notes="收到")
        again = await do("acknowledge", "g1-officer")
    assert illegal.status_code == 409
    assert illegal.json()["detail"] == (
        "cannot close a case that is dispatched; from dispatched the allowed actions are: "
        "reassign (by reviewer, admin); acknowledge (by grid_officer, reviewer, admin); "
        "dismiss (by reviewer, admin)"
    )
    # Another township's officer cannot even see the case: the same answer as no case at all.
    assert forbidden.status_code == 404
    assert forbidden.json() == {"detail": f"no case with id {case_id}"}
    assert role.status_code == 403
    assert role.json()["detail"].startswith("a grid_officer may not dismiss a case")
    assert no_reason.status_code == 422
    assert "dismiss needs a reason" in no_reason.text
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no case with id 999"}
    assert bad_action.status_code == 422
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == "acknowledged"
    assert acknowledged.json()["updated_at"].endswith("+08:00")
    assert again.status_code == 409


@pytest.mark.asyncio
async def test_a_case_file_holds_every_step_its_attachments_notices_and_readings(db: str) -> None:
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (node_id, ts, seq, vals, historical) VALUES (%s, %s, %s, %s, %s)",
            [
                ("river1-s1", NOW - timedelta(hours=2), 1, Jsonb({"nh3n": 0.5}), False),
                ("river1-s1", NOW - timedelta(minutes=30), 2, Jsonb({"nh3n": 0.9}), False),
                ("river1-s1", NOW, 3, Jsonb({"nh3n": 2.5, "cod": 20.0}), False),
                ("river1-s1", NOW + timedelta(minutes=10), 4, Jsonb({"cod": 21.0}), True),
            ],
        )
    case_id = raise_case(db, breach(site="river1", rule="nh3n", value=2.5, at=NOW), NOW).case_id
    with psycopg.connect(db) as conn:  # the rule names the metric it watches
        conn.execute("UPDATE cases SET metric = 'nh3n' WHERE id = %s", [case_id])
    photo = b"\xff\xd8\xff\xe0 a small jpeg"
    attachment = {
        "name": "现场.jpg",
        "content_type": "image/jpeg",
        "data_base64": base64.b64encode(photo).decode(),
    }
    link = {"name": "快照", "content_type": "image/jpeg", "url": "https://x.test/snap.jpg"}
    async with api(db) as client:
        moved = await client.post(
            f"{CASES}/{case_id}/actions",
            json={"action": "acknowledge", "notes": "到场", "attachments": [attachment, link]},
            headers=as_user(db, "v1-officer"),
        )
        file = (await client.get(f"{CASES}/{case_id}")).json()
        missing = await client.get(f"{CASES}/424242")
        url = file["events"][-1]["attachments"][0]["url"]
        fetched = await client.get(url)
        redirect = await client.get(
            f"{CASES}/{case_id}/attachments/{file['events'][-1]['id']}/1", follow_redirects=False
        )
        no_such = await client.get(f"{CASES}/{case_id}/attachments/{file['events'][-1]['id']}/7")
    assert moved.status_code == 200, moved.text
    assert file["case"]["id"] == case_id
    assert [e["action"] for e in file["events"]] == [
        "raised", "dispatched", "notified_downstream", "acknowledge"
    ]  # fmt: skip
    last = file["events"][-1]
    assert (last["actor"], last["notes"], last["from_state"], last["to_state"]) == (
        "v1-officer", "到场", "dispatched", "acknowledged"
    )  # fmt: skip
    assert last["at"].endswith("+08:00")
    assert last["attachments"][0] == {
        "name": "现场.jpg",
        "content_type": "image/jpeg",
        "size": len(photo),
        "url": f"{CASES}/{case_id}/attachments/{last['id']}/0",
    }
    assert "data_base64" not in json.dumps(file)
    assert fetched.content == photo
    assert fetched.headers["content-type"] == "image/jpeg"
    assert last["attachments"][1] == {**link, "size": None}
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "https://x.test/snap.jpg"
    assert no_such.status_code == 404
    assert [n["township_id"] for n in file["notifications"]] == ["anzhuang", "xiaodian"]
    # Readings of its node carrying its metric, from an hour before to an hour after.
    assert [r["seq"] for r in file["readings"]] == [2, 3]
    assert file["readings"][1]["values"] == {"nh3n": 2.5, "cod": 20.0}
    assert not file["readings_truncated"]
    assert missing.status_code == 404


@pytest.mark.asyncio
async def test_an_officer_reports_a_problem_found_on_the_spot(db: str) -> None:
    async with api(db, as_user(db, "g1-officer")["Authorization"][7:]) as client:
        made = await client.post(
            CASES,
            json={"site_id": "farm1", "title": "粪污直排", "severity": "high", "notes": "巡查发现"},
        )
        outside = await client.post(CASES, json={"site_id": "road2", "title": "x"})
        nowhere = await client.post(CASES, json={"site_id": "atlantis", "title": "x"})
        empty = await client.post(CASES, json={"site_id": "farm1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["source"], body["state"], body["assignee_id"], body["severity"]) == (
        "officer", "dispatched", "g1-officer", "high"
    )  # fmt: skip
    assert body["rule_id"] == f"officer:{body['id']}"
    assert outside.status_code == 404  # a site outside their area is not theirs to know of
    assert nowhere.status_code == 404
    assert nowhere.json() == {"detail": "no site with id 'atlantis'"}
    assert empty.status_code == 422


def test_open_live_feeds_do_not_take_the_apis_database_connections(db: str) -> None:
    """More streams than the pool has connections: the rest of the API still answers."""
    headers = as_user(db, "t-admin")
    with uvicorn_thread(db) as server, contextlib.ExitStack() as streams:
        base = f"http://127.0.0.1:{server.config.port}"
        client = streams.enter_context(
            httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=5), headers=headers)
        )
        for _ in range(POOL_MAX + 2):
            stream = streams.enter_context(client.stream("GET", f"{CASES}/live"))
            assert stream.status_code == 200
            assert next(stream.iter_lines()) == "retry: 3000"
        began = time.monotonic()
        answer = client.get("/api/v1/metrics/cod")
        took = time.monotonic() - began
    assert answer.status_code == 200, answer.text
    assert took < 2.0


def test_the_live_feed_delivers_a_case_raised_elsewhere_within_a_second(db: str) -> None:
    with uvicorn_thread(db) as server:
        assert server.started
        base = f"http://127.0.0.1:{server.config.port}"
        with (
            httpx.Client(
                base_url=base, timeout=httpx.Timeout(10, read=5), headers=as_user(db, "t-admin")
            ) as client,
            client.stream("GET", f"{CASES}/live") as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = (line for line in stream.iter_lines() if line)
            assert next(lines) == "retry: 3000"
            assert next(lines) == ": connected"  # subscribed: nothing from now on is missed
            began = time.monotonic()
            case_id = raise_now(db, site="river1", rule="nh3n")
            event = next(lines)
            data = next(lines)
            elapsed = time.monotonic() - began
    assert event == "event: case"
    summary = json.loads(data.removeprefix("data: "))
    assert (summary["id"], summary["event"], summary["state"]) == (case_id, "raised", "dispatched")
    assert summary["notified_townships"] == ["anzhuang", "xiaodian"]
    assert elapsed < 1.0


@pytest.mark.asyncio
async def test_the_app_runs_its_sweeps_and_a_failing_one_keeps_running(db: str) -> None:
    calls: list[str] = []
    enough = threading.Event()  # each sweep ran at least twice

    def count(name: str) -> None:
        calls.append(name)
        if calls.count("ok") >= 2 and calls.count("broken") >= 2:
            enough.set()

    def probe(conn: psycopg.Connection[Any], now: datetime) -> None:
        row = conn.execute("SELECT 'ok'").fetchone()
        count(row[0] if row else "no row")

    def broken(conn: psycopg.Connection[Any], now: datetime) -> None:
        count("broken")
        raise RuntimeError("a bug in a sweep")

    app = create_app(CloudSettings(database_url=db))
    assert not hasattr(app.state, "sweeps")
    app.state.sweeps = [Sweep("probe", 0.05, probe), Sweep("broken", 0.05, broken)]
    async with running(app):
        await asyncio.to_thread(enough.wait, 5)
    assert calls.count("ok") >= 2
    assert calls.count("broken") >= 2
    default = create_app(CloudSettings(database_url=db))
    async with running(default):
        names = [s.name for s in default.state.sweeps]
        assert names == [
            ESCALATION.name,
            "snapshot retention",
            "no-data rule",
            "daily means after midnight",
        ]
        assert ESCALATION.interval_s == 30.0
    without_rules = create_app(CloudSettings(database_url=db, rules_enabled=False))
    async with running(without_rules):
        assert without_rules.state.sweeps[0] == ESCALATION
        assert [s.name for s in without_rules.state.sweeps[1:]] == ["snapshot retention"]


@pytest.mark.asyncio
async def test_the_feed_listens_again_after_losing_its_connection(db: str) -> None:
    feed = CaseFeed(db)
    task = asyncio.create_task(feed.run())
    try:
        assert await feed.wait_ready(5)
        client = feed.subscribe()
        with psycopg.connect(db, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'envgrid-case-feed' AND datname = current_database()"
            )
        # Changes made while it was away were not heard: clients are told to reload.
        assert await asyncio.wait_for(client.queue.get(), 10) == ("resync", "{}")
        case_id = await asyncio.to_thread(raise_now, db)
        event, data = await asyncio.wait_for(client.queue.get(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert event == "case"
    assert json.loads(data)["id"] == case_id


@pytest.mark.asyncio
async def test_case_changes_go_out_on_mqtt_to_the_township_and_those_downstream(
    db: str, mqtt_url: str, topics: Topics
) -> None:
    collector = Collector(mqtt_url, topics, filters=[f"{topics.base}/cases/#"]).start()
    app = create_app(CloudSettings(database_url=db, mqtt_url=mqtt_url, topic_root=topics.root))
    try:
        async with running(app):
            case_id = raise_now(db, site="river4", rule="cod")
            # river4 (芦溪) flows on into 小店 and 安庄: three townships hear of it.
            wanted = {topics.case(t, str(case_id)) for t in ("luxi", "xiaodian", "anzhuang")}
            await asyncio.to_thread(
                wait_until,
                lambda: wanted <= {m.topic for m in collector.messages},
                10,
                "the case on the township's and the downstream townships' topics",
            )
    finally:
        collector.stop()
    summary = json.loads(collector.on(topics.case("luxi", str(case_id)))[0].payload)
    assert (summary["id"], summary["site_id"], summary["state"]) == (
        case_id,
        "river4",
        "dispatched",
    )
    assert sorted(summary["notified_townships"]) == ["anzhuang", "xiaodian"]
