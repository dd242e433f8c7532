"""Cases on real PostgreSQL: one open case per (site, rule), the loop, deadlines, the river."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from envgrid_cloud.cases.deadlines import DEADLINES
from envgrid_cloud.cases.errors import IllegalMove, Invalid, NotFound, NotPermitted
from envgrid_cloud.cases.escalation import _LOCK_KEY, escalate_overdue
from envgrid_cloud.cases.model import Action, CaseState, Severity
from envgrid_cloud.cases.store import raise_or_update, report_problem
from tests.integration.test_cases_support import (
    T0,
    actions,
    breach,
    case,
    clear_case,
    events,
    heard,
    listening,
    minutes,
    move,
    raise_case,
    seed_grid,
)

A = Action


@pytest.fixture
def db(migrated_url: str) -> str:
    """A migrated database with the test grid, sites and officers."""
    seed_grid(migrated_url)
    return migrated_url


def sweep(url: str, now_minutes: float) -> list[tuple[int, str, str | None]]:
    """One escalation sweep at T0 + ``now_minutes``: (case, action, to officer) per case."""
    with psycopg.connect(url) as conn:
        done = escalate_overdue(conn, T0 + minutes(now_minutes))
    return [(e.case_id, e.action, e.to_officer) for e in done]


def test_a_breach_opens_a_case_dispatched_to_the_grid_officer_of_its_cell(db: str) -> None:
    with listening(db) as listener:
        change = raise_case(db, breach(severity=Severity.CRITICAL))
        payloads = heard(listener, 1)
    assert change.new
    assert change.state is CaseState.DISPATCHED
    assert change.assignee_id == "g1-officer"
    row = case(db, change.case_id)
    assert (row["township_id"], row["assigned_cell_id"], row["source"]) == (
        "luxi",
        "luxi-v1-g1",
        "rule",
    )
    assert row["ack_due_at"] == T0 + DEADLINES[Severity.CRITICAL].acknowledge
    assert row["close_due_at"] == T0 + DEADLINES[Severity.CRITICAL].close
    assert (row["first_value"], row["last_value"], row["peak_value"]) == (120.0, 120.0, 120.0)
    steps = events(db, change.case_id)
    assert [(e["action"], e["actor"], e["from_state"], e["to_state"]) for e in steps] == [
        ("raised", "system", None, "raised"),
        ("dispatched", "system", "raised", "dispatched"),
    ]
    assert steps[1]["detail"]["assignee_id"] == "g1-officer"
    summary = json.loads(payloads[0])
    assert summary["id"] == change.case_id
    assert summary["event"] == "raised"
    assert summary["state"] == "dispatched"
    assert summary["township_id"] == "luxi"
    assert summary["raised_at"] == "2026-05-01T08:00:00+08:00"


def test_repeats_update_the_open_case_without_adding_events(db: str) -> None:
    first = raise_case(db, breach(value=120.0))
    with listening(db) as listener:
        raise_case(db, breach(value=150.0, at=T0 + minutes(5)), T0 + minutes(5))
        raise_case(db, breach(value=130.0, at=T0 + minutes(10)), T0 + minutes(10))
        # A backfilled older breach counts but does not replace the newer value.
        late = raise_case(db, breach(value=90.0, at=T0 - minutes(30)), T0 + minutes(11))
        payloads = heard(listener, 3)
    assert not late.new
    assert late.case_id == first.case_id
    assert late.occurrences == 4
    row = case(db, first.case_id)
    assert (row["first_value"], row["last_value"], row["peak_value"]) == (90.0, 130.0, 150.0)
    assert row["first_seen_at"] == T0 - minutes(30)
    assert row["last_seen_at"] == T0 + minutes(10)
    assert row["updated_at"] == T0 + minutes(11)
    assert actions(db, first.case_id) == ["raised", "dispatched"]
    assert [json.loads(p)["event"] for p in payloads] == ["repeated"] * 3
    assert json.loads(payloads[-1])["occurrences"] == 4


def test_the_peak_of_a_below_rule_is_its_lowest_value(db: str) -> None:
    low = {"direction": "below", "limit": 5.0}
    change = raise_case(db, breach(rule="do-low", value=4.0, detail=low))
    raise_case(db, breach(rule="do-low", value=2.5, at=T0 + minutes(1), detail=low))
    raise_case(db, breach(rule="do-low", value=3.5, at=T0 + minutes(2), detail=low))
    row = case(db, change.case_id)
    assert (row["last_value"], row["peak_value"]) == (3.5, 2.5)


def test_a_worse_severity_on_a_repeat_raises_the_case_and_tightens_its_deadlines(
    db: str,
) -> None:
    change = raise_case(db, breach(severity=Severity.LOW))
    later = T0 + minutes(10)
    raise_case(db, breach(severity=Severity.CRITICAL, at=later), later)
    raise_case(db, breach(severity=Severity.MEDIUM, at=later), later)  # never lowered
    row = case(db, change.case_id)
    assert row["severity"] == "critical"
    assert row["ack_due_at"] == later + DEADLINES[Severity.CRITICAL].acknowledge
    assert actions(db, change.case_id) == ["raised", "dispatched", "severity_raised"]


def test_cleared_is_recorded_once_the_case_stays_open_and_a_recurrence_is_noted(
    db: str,
) -> None:
    change = raise_case(db, breach())
    assert clear_case(db, "farm1", "cod-limit", T0 + minutes(20), T0 + minutes(21)) == (
        change.case_id
    )
    assert clear_case(db, "farm1", "cod-limit", T0 + minutes(25), T0 + minutes(26)) is None
    assert clear_case(db, "farm1", "other-rule", T0, T0) is None
    row = case(db, change.case_id)
    assert row["state"] == "dispatched"
    assert row["cleared_at"] == T0 + minutes(20)
    # A backfilled breach from before the clearing does not undo it …
    raise_case(db, breach(at=T0 + minutes(15)), T0 + minutes(30))
    assert case(db, change.case_id)["cleared_at"] == T0 + minutes(20)
    # … a new one does, and says so once.
    again = raise_case(db, breach(at=T0 + minutes(40)), T0 + minutes(40))
    assert again.case_id == change.case_id
    assert case(db, change.case_id)["cleared_at"] is None
    assert actions(db, change.case_id) == ["raised", "dispatched", "condition_cleared", "recurred"]


def test_the_database_allows_one_open_case_per_site_and_rule(db: str) -> None:
    change = raise_case(db, breach())
    with psycopg.connect(db) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO cases (site_id, rule_id, township_id, severity, title, first_seen_at,"
            " last_seen_at, raised_at) SELECT site_id, rule_id, township_id, severity, title,"
            " first_seen_at, last_seen_at, raised_at FROM cases WHERE id = %s",
            [change.case_id],
        )


def test_two_concurrent_transactions_open_one_case(db: str) -> None:
    first = psycopg.connect(db)
    second = psycopg.connect(db)
    try:
        opened = raise_or_update(first.cursor(), breach(value=100.0), T0)  # not committed yet
        with ThreadPoolExecutor(1) as pool:
            # The second waits on the first's uncommitted row, then counts as a repeat.
            pending = pool.submit(
                raise_or_update, second.cursor(), breach(value=200.0, at=T0 + minutes(1)), T0
            )
            with pytest.raises(TimeoutError):
                pending.result(timeout=0.5)
            first.commit()
            repeat = pending.result(timeout=10)
            second.commit()
    finally:
        first.close()
        second.close()
    assert opened.new
    assert not repeat.new
    assert repeat.case_id == opened.case_id
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*), max(occurrences) FROM cases").fetchone() == (1, 2)


def test_after_a_case_is_closed_the_next_breach_opens_a_new_one(db: str) -> None:
    old = raise_case(db, breach())
    for action, actor in [
        (A.ACKNOWLEDGE, "g1-officer"),
        (A.INSPECT, "g1-officer"),
        (A.REPORT, "g1-officer"),
        (A.CLOSE, "luxi-reviewer"),
    ]:
        move(db, old.case_id, action, actor, T0 + minutes(1))
    new = raise_case(db, breach(at=T0 + minutes(60)), T0 + minutes(60))
    assert new.new
    assert new.case_id != old.case_id
    assert case(db, old.case_id)["state"] == "closed"


def test_auto_dispatch_walks_up_to_the_nearest_active_grid_officer(db: str) -> None:
    # farm2's group and village have nobody: the township's grid officer (not its reviewer).
    assert raise_case(db, breach(site="farm2")).assignee_id == "luxi-officer"
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE users SET active = false WHERE role = 'grid_officer'")
    nobody = raise_case(db, breach(site="farm1"))
    assert nobody.state is CaseState.RAISED
    assert nobody.assignee_id is None
    raised = events(db, nobody.case_id)
    assert [e["action"] for e in raised] == ["raised"]
    assert "no active grid officer" in raised[0]["detail"]["undispatched"]
    # A reviewer dispatches it by hand to someone in the area.
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE users SET active = true WHERE id = 'v1-officer'")
    moved = move(db, nobody.case_id, A.DISPATCH, "luxi-reviewer", T0 + minutes(5))
    assert (moved["state"], moved["assignee_id"]) == ("dispatched", "v1-officer")
    assert moved["ack_due_at"] == T0 + minutes(5) + DEADLINES[Severity.HIGH].acknowledge


def test_every_move_is_recorded_with_who_when_notes_and_attachments(db: str) -> None:
    case_id = raise_case(db, breach()).case_id
    photo = {
        "name": "排污口.jpg",
        "content_type": "image/jpeg",
        "data_base64": base64.b64encode(b"\xff\xd8jpeg").decode(),
    }
    link = {"name": "snapshot", "content_type": "image/jpeg", "url": "https://x.test/s.jpg"}
    steps: list[tuple[Action, str, int, dict[str, Any]]] = [
        (A.ACKNOWLEDGE, "g1-officer", 1, {"notes": "收到"}),
        (A.INSPECT, "g1-officer", 2, {"notes": "到场"}),
        (A.RECTIFY, "g1-officer", 3, {"notes": "封堵排污口", "attachments": [link]}),
        (A.REPORT, "g1-officer", 4, {"notes": "已整改", "attachments": [photo]}),
        (A.REJECT, "luxi-reviewer", 5, {"notes": "照片不清楚"}),
        (A.REPORT, "g1-officer", 6, {"notes": "补充照片", "attachments": [photo, link]}),
        (A.CLOSE, "luxi-reviewer", 7, {"notes": "核实销号"}),
    ]
    with listening(db) as listener:
        for action, actor, minute, kw in steps:
            move(db, case_id, action, actor, T0 + minutes(minute), **kw)
        payloads = heard(listener, len(steps))
    recorded = events(db, case_id)[2:]
    assert [(e["action"], e["actor"], e["at"], e["notes"]) for e in recorded] == [
        (a.value, actor, T0 + minutes(m), kw["notes"]) for a, actor, m, kw in steps
    ]
    assert [e["to_state"] for e in recorded] == [
        "acknowledged", "inspecting", "rectifying", "reported", "rectifying", "reported", "closed"
    ]  # fmt: skip
    assert recorded[3]["attachments"] == [{**photo, "size": 6}]
    assert recorded[2]["attachments"] == [link]
    assert [json.loads(p)["event"] for p in payloads] == [a.value for a, *_ in steps]
    row = case(db, case_id)
    assert (row["state"], row["closed_at"]) == ("closed", T0 + minutes(7))


def test_roles_areas_and_requests_are_checked_and_refusals_write_nothing(db: str) -> None:
    case_id = raise_case(db, breach()).case_id  # assigned to g1-officer in luxi-v1-g1
    before = len(events(db, case_id))
    refusals: list[tuple[Action, str, dict[str, Any], type[Exception], str]] = [
        (A.CLOSE, "g1-officer", {}, IllegalMove, "cannot close a case that is dispatched"),
        (A.ACKNOWLEDGE, "g2-officer", {}, NotPermitted, "outside their area"),
        (A.ACKNOWLEDGE, "xd-officer", {}, NotPermitted, "outside their area"),
        (A.ACKNOWLEDGE, "retired", {}, NotPermitted, "'retired' is not active"),
        (A.ACKNOWLEDGE, "nobody", {}, NotPermitted, "'nobody' is not an officer"),
        (A.DISMISS, "g1-officer", {"reason": "x"}, NotPermitted, "grid_officer may not dismiss"),
        (A.DISMISS, "xd-reviewer", {"reason": "x"}, NotPermitted, "outside their area"),
        (A.DISMISS, "luxi-reviewer", {}, Invalid, "dismiss needs a reason"),
        (A.REASSIGN, "luxi-reviewer", {}, Invalid, "reassign needs assignee_id"),
        (A.REASSIGN, "luxi-reviewer", {"assignee_id": "xd-officer"}, Invalid, "outside"),
        (A.REASSIGN, "luxi-reviewer", {"assignee_id": "g1-officer"}, Invalid, "already"),
        (A.ACKNOWLEDGE, "g1-officer", {"attachments": [{"name": "a", "content_type": "image/png",
         "data_base64": base64.b64encode(b"x" * (2 * 1024 * 1024 + 1)).decode()}]},
         Invalid, "over the limit"),
        (A.ACKNOWLEDGE, "g1-officer", {"attachments": [{"name": "a", "content_type": "png",
         "url": "https://x.test/a.png"}]}, Invalid, "content_type"),
    ]  # fmt: skip
    for action, actor, kw, error, message in refusals:
        with pytest.raises(error, match=message):
            move(db, case_id, action, actor, T0 + minutes(1), **kw)
    with pytest.raises(NotFound, match="no case with id 999"):
        move(db, 999, A.ACKNOWLEDGE, "g1-officer", T0)
    assert len(events(db, case_id)) == before
    # The village's grid officer may act in their area; a county admin anywhere.
    assert move(db, case_id, A.ACKNOWLEDGE, "v1-officer", T0 + minutes(2))["state"] == (
        "acknowledged"
    )
    moved = move(db, case_id, A.REASSIGN, "ju-admin", T0 + minutes(3), assignee_id="luxi-officer")
    assert (moved["state"], moved["assignee_id"]) == ("dispatched", "luxi-officer")
    assert moved["assigned_cell_id"] == "luxi"
    # The new assignee signs for it again.
    assert move(db, case_id, A.ACKNOWLEDGE, "luxi-officer", T0 + minutes(4))["state"] == (
        "acknowledged"
    )
    dismissed = move(db, case_id, A.DISMISS, "luxi-reviewer", T0 + minutes(5), reason="传感器故障")
    assert dismissed["state"] == "dismissed"
    assert events(db, case_id)[-1]["detail"] == {"reason": "传感器故障"}


def test_two_people_moving_one_case_at_once_are_serialised(db: str) -> None:
    case_id = raise_case(db, breach()).case_id
    barrier = threading.Barrier(2)

    def acknowledge(actor: str) -> str:
        barrier.wait()
        try:
            move(db, case_id, A.ACKNOWLEDGE, actor, T0 + minutes(1))
            return "ok"
        except IllegalMove as exc:
            return str(exc)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(acknowledge, ["g1-officer", "v1-officer"]))
    assert sorted(results)[0].startswith("cannot acknowledge a case that is acknowledged")
    assert sorted(results)[1] == "ok"
    assert actions(db, case_id).count("acknowledge") == 1


def test_a_case_not_acknowledged_climbs_the_grid_to_the_county_then_is_overdue_once(
    db: str,
) -> None:
    case_id = raise_case(db, breach(severity=Severity.CRITICAL)).case_id  # ack within 30 min
    assert sweep(db, 29) == []
    assert sweep(db, 31) == [(case_id, "escalated", "v1-officer")]
    assert sweep(db, 31) == []  # its new deadline is 30 minutes from the one it missed
    assert sweep(db, 62) == [(case_id, "escalated", "luxi-officer")]  # grid officer first
    assert sweep(db, 93) == [(case_id, "escalated", "ju-reviewer")]
    assert sweep(db, 124) == [(case_id, "overdue", None)]
    assert sweep(db, 155) == []
    row = case(db, case_id)
    assert (row["state"], row["assignee_id"], row["escalation_level"]) == (
        "dispatched",
        "ju-reviewer",
        3,
    )
    climbed = [e for e in events(db, case_id) if e["action"] in {"escalated", "overdue"}]
    assert [(e["detail"].get("from_officer"), e["detail"].get("to_officer")) for e in climbed] == [
        ("g1-officer", "v1-officer"),
        ("v1-officer", "luxi-officer"),
        ("luxi-officer", "ju-reviewer"),
        (None, None),
    ]
    assert all(e["detail"]["reasons"] == ["not_acknowledged"] for e in climbed)
    # Each dated at the deadline it missed, not when the sweep noticed (decision_time).
    assert [e["at"] for e in climbed] == [T0 + minutes(m) for m in (30, 60, 90, 120)]
    assert climbed[0]["notes"].startswith("not acknowledged by 2026-05-01T00:30:00")
    # The county reviewer it reached may sign for it.
    assert move(db, case_id, A.ACKNOWLEDGE, "ju-reviewer", T0 + minutes(160))["state"] == (
        "acknowledged"
    )


def test_a_case_acknowledged_but_not_closed_in_time_escalates_too(db: str) -> None:
    case_id = raise_case(db, breach(severity=Severity.CRITICAL)).case_id  # close within 24 h
    move(db, case_id, A.ACKNOWLEDGE, "g1-officer", T0 + minutes(10))
    assert sweep(db, 24 * 60 - 1) == []
    assert sweep(db, 24 * 60 + 1) == [(case_id, "escalated", "v1-officer")]
    row = case(db, case_id)
    assert row["state"] == "acknowledged"
    assert row["close_due_at"] == T0 + minutes(24 * 60) + DEADLINES[Severity.CRITICAL].close
    assert events(db, case_id)[-1]["detail"]["reasons"] == ["not_closed"]


def test_a_closed_or_dismissed_case_never_escalates(db: str) -> None:
    case_id = raise_case(db, breach(severity=Severity.CRITICAL)).case_id
    move(db, case_id, A.DISMISS, "luxi-reviewer", T0 + minutes(1), reason="误报")
    assert sweep(db, 10_000) == []


def test_two_concurrent_sweeps_escalate_each_case_once(db: str) -> None:
    ids = [
        raise_case(db, breach(rule=f"r{i}", severity=Severity.CRITICAL)).case_id for i in range(20)
    ]
    # While one process holds the sweep, another returns at once.
    with psycopg.connect(db) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        assert sweep(db, 31) == []
    barrier = threading.Barrier(2)

    def race(_: int) -> list[tuple[int, str, str | None]]:
        barrier.wait()
        return sweep(db, 31)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(race, range(2)))
    assert sorted(c for done in results for c, _, _ in done) == ids
    with psycopg.connect(db) as conn:
        levels = conn.execute("SELECT DISTINCT escalation_level FROM cases").fetchall()
        escalations = conn.execute(
            "SELECT count(*) FROM case_events WHERE action = 'escalated'"
        ).fetchone()
    assert levels == [(1,)]
    assert escalations == (20,)


def test_a_river_case_notifies_the_townships_downstream(db: str) -> None:
    with listening(db) as listener:
        change = raise_case(db, breach(site="river1", rule="nh3n-class-iii"))
        payloads = heard(listener, 1)
    # river4 is in the case's own township; river2 and river3 are not; river3 → river1 loops.
    assert change.notified_townships == ("anzhuang", "xiaodian")
    with psycopg.connect(db, row_factory=dict_row) as conn:
        told = conn.execute(
            "SELECT township_id, reason, at FROM case_notifications ORDER BY township_id"
        ).fetchall()
    assert [(t["township_id"], t["at"]) for t in told] == [("anzhuang", T0), ("xiaodian", T0)]
    assert told[1]["reason"] == "downstream of river1: river2"
    notified = [e for e in events(db, change.case_id) if e["action"] == "notified_downstream"]
    assert notified[0]["detail"]["townships"] == ["anzhuang", "xiaodian"]
    assert json.loads(payloads[0])["notified_townships"] == ["anzhuang", "xiaodian"]
    # A repeat tells nobody again; a road case has no downstream.
    raise_case(db, breach(site="river1", rule="nh3n-class-iii", at=T0 + minutes(1)))
    assert raise_case(db, breach(site="road2")).notified_townships == ()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM case_notifications").fetchone() == (2,)


def test_an_unknown_site_is_refused_without_spoiling_the_transaction(db: str) -> None:
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        with pytest.raises(NotFound, match="no site with id 'atlantis'"):
            raise_or_update(cur, breach(site="atlantis"), T0)
        assert cur.execute("SELECT 1").fetchone() == (1,)


def test_an_officer_reports_problems_found_on_the_spot(db: str) -> None:
    with psycopg.connect(db) as conn:
        odour = report_problem(
            conn, "farm1", "v1-officer", "粪污外溢", Severity.MEDIUM, T0, notes="现场发现"
        )
        smoke = report_problem(conn, "farm1", "ju-admin", "焚烧秸秆", Severity.HIGH, T0)
        with pytest.raises(NotPermitted, match="outside their area"):
            report_problem(conn, "road2", "g1-officer", "x", Severity.LOW, T0)
    assert odour["source"] == "officer"
    assert odour["rule_id"] == f"officer:{odour['id']}"
    assert (odour["state"], odour["assignee_id"]) == ("dispatched", "g1-officer")
    assert smoke["id"] != odour["id"]  # two problems at one site are two cases
    raised = events(db, odour["id"])[0]
    assert (raised["action"], raised["actor"], raised["notes"]) == (
        "raised",
        "v1-officer",
        "现场发现",
    )


def test_an_officer_claims_a_case_nobody_was_found_for(db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE users SET active = false WHERE role = 'grid_officer'")
    nobody = raise_case(db, breach(site="farm1"))
    assert nobody.state is CaseState.RAISED
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE users SET active = true WHERE id = 'v1-officer'")
    claimed = move(db, nobody.case_id, A.CLAIM, "v1-officer", T0 + minutes(3))
    assert (claimed["state"], claimed["assignee_id"]) == ("acknowledged", "v1-officer")
    last = events(db, nobody.case_id)[-1]
    assert (last["action"], last["actor"], last["to_state"]) == (
        "claim",
        "v1-officer",
        "acknowledged",
    )
    with pytest.raises(IllegalMove, match="cannot claim a case that is acknowledged"):
        move(db, nobody.case_id, A.CLAIM, "v1-officer", T0 + minutes(4))


def test_a_comment_is_kept_on_the_file_in_any_state_and_moves_nothing(db: str) -> None:
    case_id = raise_case(db, breach()).case_id
    move(db, case_id, A.DISMISS, "luxi-reviewer", T0 + minutes(1), reason="传感器校准")
    noted = move(db, case_id, A.COMMENT, "g1-officer", T0 + minutes(2), notes="已通知厂方")
    assert noted["state"] == "dismissed"
    last = events(db, case_id)[-1]
    assert (last["action"], last["notes"], last["from_state"], last["to_state"]) == (
        "comment", "已通知厂方", "dismissed", "dismissed"
    )  # fmt: skip
    with pytest.raises(Invalid, match="comment needs notes"):
        move(db, case_id, A.COMMENT, "g1-officer", T0 + minutes(3), notes="  ")
    with pytest.raises(NotFound):
        move(db, 999_999, A.COMMENT, "g1-officer", T0, notes="x")
