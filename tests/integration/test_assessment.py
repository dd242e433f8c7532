"""The monthly assessment (考评) of a scripted May 2026, every figure worked out by hand.

Two townships with cases (芦溪镇 luxi: villages 东村 luxi-v1 and 西村 luxi-v2, and a site of
its own; 小店镇 xiaodian: no villages) and one without (安庄镇 anzhuang, only told of river
cases downstream). Eleven cases, driven through the real case store and escalation sweep at
hand-chosen Shanghai times, in time order:

 case  where                   raised (+08:00)   what happens
 I     xiaodian river2, med    04-30 23:30       April: acknowledged 00:10, closed 05-02 06:00
 J     xiaodian river2, low    05-01 07:00       (= 04-30 23:00 UTC, still May in Shanghai) not
                                                 acknowledged by 05-02 07:00: the 07:05 sweep
                                                 escalates it to the county; acknowledged there
                                                 05-02 08:00; never closed: marked overdue
                                                 (not_closed) by the 05-26 20:05 sweep
 A     luxi-v1 farm1, high     05-03 09:00       acknowledged 09:30, closed 05-04 09:00
 B     luxi-v1 river1, high    05-05 08:00       not acknowledged by 10:00: escalated at 10:05;
                                                 acknowledged 10:35, closed 05-07 08:00 (in time)
 G     xiaodian road2, high    05-08 09:00       acknowledged 09:20; not closed by 05-11 09:00:
                                                 escalated 09:05; closed 05-15 09:00
 C     luxi-v2 farm2, medium   05-10 14:00       dismissed as a false alarm 15:00, unacknowledged
 E     luxi-v1 farm1, medium   05-12 09:00       found by the officer (主动发现); acknowledged
                                                 09:05, closed 11:00
 H     xiaodian road2, crit.   05-18 06:00       acknowledged 06:40, after its 06:30 deadline but
                                                 before any sweep (late, not escalated);
                                                 dismissed 08:00
 D     luxi-v1 farm1, low      05-20 10:00       acknowledged 12:00, still being rectified
 F     luxi river4, critical   05-25 20:00       the township's own site; acknowledged 20:10;
                                                 not closed by 05-26 20:00: escalated 20:05;
                                                 closed 05-27 08:00
 L     xiaodian road2, medium  05-28 10:00       found by the officer; not acknowledged yet, its
                                                 deadline (18:00) not passed: not judged
 K     luxi-v1 farm1, high     06-01 00:30       (= 05-31 16:30 UTC) June
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from openpyxl import load_workbook
from psycopg.rows import dict_row

from envgrid_cloud.assessment import Month, township_report, village_report
from envgrid_cloud.auth.principal import Principal
from envgrid_cloud.cases.escalation import escalate_overdue
from envgrid_cloud.cases.model import Action, Role, Severity
from envgrid_cloud.cases.store import report_problem
from envgrid_cloud.db.migrate import migrate
from tests.conftest import PG_ADMIN_URL
from tests.integration.test_api_support import api, as_user
from tests.integration.test_cases_support import breach, move, raise_case, seed_grid

A_ = Action
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA = "得分 = 40×按时签收率 + 40×按时办结率 + 20×主动发现占比 − 20×超期率 − 10×误报率"


def sh(text: str) -> datetime:
    """``"05-03 09:00"`` → that minute of 2026 in Shanghai."""
    return datetime.fromisoformat(f"2026-{text.replace(' ', 'T')}:00+08:00")


def sweep(db: str, when: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """One escalation sweep at ``when``: (case, action, reasons) of what it did."""
    with psycopg.connect(db) as conn:
        return [(e.case_id, e.action, e.reasons) for e in escalate_overdue(conn, sh(when))]


def found(db: str, site: str, officer: str, when: str) -> int:
    """A problem ``officer`` reports at ``site`` (主动发现); the case id."""
    with psycopg.connect(db) as conn:
        row = report_problem(conn, site, officer, "巡查发现", Severity.MEDIUM, sh(when))
    case_id: int = row["id"]
    return case_id


def script_the_month(db: str) -> dict[str, int]:
    """The cases of the module docstring, in time order; their ids by letter."""
    ids: dict[str, int] = {}

    def raise_(letter: str, site: str, rule: str, severity: Severity, when: str) -> int:
        b = breach(site=site, rule=rule, severity=severity, at=sh(when))
        ids[letter] = raise_case(db, b, sh(when)).case_id
        return ids[letter]

    def steps(case_id: int, *moves: tuple[Action, str, str]) -> None:
        for action, actor, when in moves:
            extra = {"reason": "传感器漂移，现场无异常"} if action is A_.DISMISS else {}
            move(db, case_id, action, actor, sh(when), **extra)

    i = raise_("I", "river2", "cod", Severity.MEDIUM, "04-30 23:30")
    steps(
        i, (A_.ACKNOWLEDGE, "xd-officer", "05-01 00:10"), (A_.INSPECT, "xd-officer", "05-01 00:20")
    )
    j = raise_("J", "river2", "nh3n", Severity.LOW, "05-01 07:00")
    steps(i, (A_.REPORT, "xd-officer", "05-02 05:00"), (A_.CLOSE, "xd-reviewer", "05-02 06:00"))
    assert sweep(db, "05-02 07:05") == [(j, "escalated", ("not_acknowledged",))]
    steps(j, (A_.ACKNOWLEDGE, "ju-reviewer", "05-02 08:00"))  # it went up to the county

    a = raise_("A", "farm1", "cod", Severity.HIGH, "05-03 09:00")
    steps(
        a,
        (A_.ACKNOWLEDGE, "g1-officer", "05-03 09:30"),
        (A_.INSPECT, "g1-officer", "05-03 10:00"),
        (A_.REPORT, "g1-officer", "05-03 12:00"),
        (A_.CLOSE, "luxi-reviewer", "05-04 09:00"),
    )
    b = raise_("B", "river1", "cod", Severity.HIGH, "05-05 08:00")
    assert sweep(db, "05-05 10:05") == [(b, "escalated", ("not_acknowledged",))]
    steps(
        b,
        (A_.ACKNOWLEDGE, "luxi-officer", "05-05 10:35"),  # it went up to the township
        (A_.INSPECT, "luxi-officer", "05-05 11:00"),
        (A_.REPORT, "luxi-officer", "05-06 08:00"),
        (A_.CLOSE, "luxi-reviewer", "05-07 08:00"),
    )
    g = raise_("G", "road2", "aqi", Severity.HIGH, "05-08 09:00")
    steps(
        g, (A_.ACKNOWLEDGE, "xd-officer", "05-08 09:20"), (A_.INSPECT, "xd-officer", "05-08 10:00")
    )
    c = raise_("C", "farm2", "cod", Severity.MEDIUM, "05-10 14:00")
    steps(c, (A_.DISMISS, "luxi-reviewer", "05-10 15:00"))
    assert sweep(db, "05-11 09:05") == [(g, "escalated", ("not_closed",))]
    ids["E"] = e = found(db, "farm1", "g1-officer", "05-12 09:00")
    steps(
        e,
        (A_.ACKNOWLEDGE, "g1-officer", "05-12 09:05"),
        (A_.INSPECT, "g1-officer", "05-12 09:10"),
        (A_.REPORT, "g1-officer", "05-12 10:00"),
        (A_.CLOSE, "luxi-reviewer", "05-12 11:00"),
    )
    steps(g, (A_.REPORT, "xd-officer", "05-14 10:00"), (A_.CLOSE, "xd-reviewer", "05-15 09:00"))
    h = raise_("H", "road2", "pm25", Severity.CRITICAL, "05-18 06:00")
    steps(
        h, (A_.ACKNOWLEDGE, "xd-officer", "05-18 06:40"), (A_.DISMISS, "xd-reviewer", "05-18 08:00")
    )
    d = raise_("D", "farm1", "nh3n", Severity.LOW, "05-20 10:00")
    steps(
        d,
        (A_.ACKNOWLEDGE, "g1-officer", "05-20 12:00"),
        (A_.INSPECT, "g1-officer", "05-20 13:00"),
        (A_.RECTIFY, "g1-officer", "05-20 14:00"),
    )
    f = raise_("F", "river4", "cod", Severity.CRITICAL, "05-25 20:00")
    steps(
        f,
        (A_.ACKNOWLEDGE, "luxi-officer", "05-25 20:10"),
        (A_.INSPECT, "luxi-officer", "05-25 20:30"),
    )
    assert sorted(sweep(db, "05-26 20:05")) == sorted(
        [(f, "escalated", ("not_closed",)), (j, "overdue", ("not_closed",))]
    )
    steps(f, (A_.REPORT, "luxi-officer", "05-27 07:00"), (A_.CLOSE, "luxi-reviewer", "05-27 08:00"))
    ids["L"] = found(db, "road2", "xd-officer", "05-28 10:00")
    raise_("K", "farm1", "cod-june", Severity.HIGH, "06-01 00:30")
    return ids


@pytest.fixture(scope="module")
def month_db() -> Iterator[str]:
    """A database of this module's own: the grid of test_cases_support and the month scripted."""
    name = f"envgrid_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        migrate(url)
        seed_grid(url)
        script_the_month(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- the figures, by hand -------------------------------------------------------------------
# 芦溪镇: A B C D E F. Acknowledged A B D E F (C was dismissed first); all five were due; on
# time A D E F (B was escalated first) → 4/5. Hand-over → acknowledgement: A 30 min, B 2 h 35 min
# (from the first hand-over, 08:00), D 2 h, E 5 min, F 10 min → median 30 min = 1800 s. Closed
# A B E F, all due (D is open and inside its deadline); on time A B E (F was escalated) → 3/4.
# Raised → closed: A 24 h, B 48 h, E 2 h, F 36 h → median (24 + 36) / 2 = 30 h = 108000 s.
# Overdue B F → 2/6; dismissed C → 1/6; found by the officer E → 1/6; open D.
# Score: 40 × 0.8 + 40 × 0.75 + 20 × 1/6 − 20 × 2/6 − 10 × 1/6 = 32 + 30 + 3.33 − 6.67 − 1.67 = 57.
LUXI = {
    "id": "luxi", "name": "芦溪镇", "cases": 6,
    "acknowledged": 5, "ack_due": 5, "ack_on_time": 4, "ack_on_time_rate": 0.8,
    "median_ack_s": 1800.0,
    "closed": 4, "close_due": 4, "close_on_time": 3, "close_on_time_rate": 0.75,
    "median_close_s": 108000.0,
    "overdue": 2, "overdue_rate": 2 / 6, "dismissed": 1, "false_alarm_rate": 1 / 6,
    "self_found": 1, "self_found_share": 1 / 6, "open": 1, "score": 57.0,
}  # fmt: skip
# 小店镇: G H J L (I is April's). Acknowledged G H J, all due (L is inside its deadline); on
# time only G (H came 10 min after its deadline, J was escalated first) → 1/3. Hand-over →
# acknowledgement: G 20 min, H 40 min, J 25 h → median 40 min = 2400 s. Closed G (7 days =
# 604800 s); due G and J (marked overdue, open); on time none → 0/2. Overdue G J → 2/4;
# dismissed H → 1/4; found by the officer L → 1/4; open J L.
# Score: 40 × 1/3 + 40 × 0 + 20 × 0.25 − 20 × 0.5 − 10 × 0.25 = 13.33 + 5 − 10 − 2.5 = 5.83.
XIAODIAN = {
    "id": "xiaodian", "name": "小店镇", "cases": 4,
    "acknowledged": 3, "ack_due": 3, "ack_on_time": 1, "ack_on_time_rate": 1 / 3,
    "median_ack_s": 2400.0,
    "closed": 1, "close_due": 2, "close_on_time": 0, "close_on_time_rate": 0.0,
    "median_close_s": 604800.0,
    "overdue": 2, "overdue_rate": 0.5, "dismissed": 1, "false_alarm_rate": 0.25,
    "self_found": 1, "self_found_share": 0.25, "open": 2, "score": 5.83,
}  # fmt: skip
# 安庄镇: no case of its own (it was only told of river cases downstream): no score, no rank.
ANZHUANG = {
    "id": "anzhuang", "name": "安庄镇", "cases": 0,
    "acknowledged": 0, "ack_due": 0, "ack_on_time": 0, "ack_on_time_rate": None,
    "median_ack_s": None,
    "closed": 0, "close_due": 0, "close_on_time": 0, "close_on_time_rate": None,
    "median_close_s": None,
    "overdue": 0, "overdue_rate": None, "dismissed": 0, "false_alarm_rate": None,
    "self_found": 0, "self_found_share": None, "open": 0, "score": None,
}  # fmt: skip
# 东村 (luxi-v1): A B D E. All acknowledged and due, on time A D E → 3/4; 30 min, 2 h 35 min,
# 2 h, 5 min → median (30 + 120) / 2 min = 4500 s. Closed A B E, all in time → 1; 24 h, 48 h,
# 2 h → median 24 h. Overdue B → 1/4; found E → 1/4; open D.
# Score: 40 × 0.75 + 40 × 1 + 20 × 0.25 − 20 × 0.25 − 0 = 70.
DONGCUN = {
    "id": "luxi-v1", "name": "东村", "cases": 4,
    "acknowledged": 4, "ack_due": 4, "ack_on_time": 3, "ack_on_time_rate": 0.75,
    "median_ack_s": 4500.0,
    "closed": 3, "close_due": 3, "close_on_time": 3, "close_on_time_rate": 1.0,
    "median_close_s": 86400.0,
    "overdue": 1, "overdue_rate": 0.25, "dismissed": 0, "false_alarm_rate": 0.0,
    "self_found": 1, "self_found_share": 0.25, "open": 1, "score": 70.0,
}  # fmt: skip
# 西村 (luxi-v2): C only, dismissed before anyone signed: nothing due; a false alarm → −10.
XICUN = {
    "id": "luxi-v2", "name": "西村", "cases": 1,
    "acknowledged": 0, "ack_due": 0, "ack_on_time": 0, "ack_on_time_rate": None,
    "median_ack_s": None,
    "closed": 0, "close_due": 0, "close_on_time": 0, "close_on_time_rate": None,
    "median_close_s": None,
    "overdue": 0, "overdue_rate": 0.0, "dismissed": 1, "false_alarm_rate": 1.0,
    "self_found": 0, "self_found_share": 0.0, "open": 0, "score": -10.0,
}  # fmt: skip
# The township's own site river4: F. Acknowledged on time (10 min), closed late (36 h,
# escalated): 40 × 1 + 40 × 0 − 20 × 1 = 20; shown, not ranked.
LUXI_OWN = {
    "id": None, "name": "（乡镇直属）", "cases": 1,
    "acknowledged": 1, "ack_due": 1, "ack_on_time": 1, "ack_on_time_rate": 1.0,
    "median_ack_s": 600.0,
    "closed": 1, "close_due": 1, "close_on_time": 0, "close_on_time_rate": 0.0,
    "median_close_s": 129600.0,
    "overdue": 1, "overdue_rate": 1.0, "dismissed": 0, "false_alarm_rate": 0.0,
    "self_found": 0, "self_found_share": 0.0, "open": 0, "score": 20.0,
}  # fmt: skip


def ranked(row: dict[str, Any], rank: int | None) -> dict[str, Any]:
    return {"rank": rank, **row}


def same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w), g["id"]


@pytest.mark.asyncio
async def test_the_townships_of_the_scripted_month(month_db: str) -> None:
    async with api(month_db) as client:
        body = (await client.get("/api/v1/assessment", params={"month": "2026-05"})).json()
    assert (body["month"], body["level"], body["township"], body["total"]) == (
        "2026-05",
        "township",
        None,
        None,
    )
    assert (body["start"], body["end"]) == (
        "2026-05-01T00:00:00+08:00",
        "2026-06-01T00:00:00+08:00",
    )
    assert body["weights"]["formula"] == FORMULA
    assert body["weights"]["updated_by"] is None
    same(body["rows"], [ranked(LUXI, 1), ranked(XIAODIAN, 2), ranked(ANZHUANG, None)])


@pytest.mark.asyncio
async def test_the_month_boundaries_are_shanghai_midnights(month_db: str) -> None:
    async with api(month_db) as client:
        april = (await client.get("/api/v1/assessment?month=2026-04")).json()["rows"]
        june = (await client.get("/api/v1/assessment?month=2026-06")).json()["rows"]
        now = (await client.get("/api/v1/assessment")).json()
        bad = await client.get("/api/v1/assessment?month=2026-13")
    cases = {m: {r["id"]: r["cases"] for r in rows} for m, rows in (("4", april), ("6", june))}
    # I (04-30 23:30 +08:00) is April's; K (06-01 00:30 +08:00, 31 May in UTC) is June's.
    assert cases == {"4": {"luxi": 0, "xiaodian": 1, "anzhuang": 0},
                     "6": {"luxi": 1, "xiaodian": 0, "anzhuang": 0}}  # fmt: skip
    # I: acknowledged in 40 min and closed within its 7 days: 40 + 40 = 80.
    assert (april[0]["id"], april[0]["score"], april[0]["median_ack_s"]) == (
        "xiaodian",
        80.0,
        2400.0,
    )
    # K: open, inside its deadlines: nothing judged, nothing earned.
    assert (june[0]["id"], june[0]["score"], june[0]["open"]) == ("luxi", 0.0, 1)
    assert now["month"] == str(Month.containing(datetime.now().astimezone()))
    assert bad.status_code == 422


@pytest.mark.asyncio
async def test_the_villages_of_a_township(month_db: str) -> None:
    async with api(month_db) as client:
        body = (await client.get("/api/v1/assessment/luxi?month=2026-05")).json()
    assert (body["level"], body["township"]) == ("village", {"id": "luxi", "name": "芦溪镇"})
    same(body["rows"], [ranked(DONGCUN, 1), ranked(XICUN, 2), ranked(LUXI_OWN, None)])
    assert body["total"] == pytest.approx(ranked(LUXI, None))


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


HEADERS = [
    "排名", "乡镇", "编号", "案件数", "已签收", "应签收", "按时签收", "按时签收率",
    "签收用时中位数（小时）", "已销号", "应办结", "按时办结", "按时办结率",
    "办结用时中位数（小时）", "超期", "超期率", "误报", "误报率", "主动发现", "主动发现占比",
    "未结", "得分",
]  # fmt: skip


@pytest.mark.asyncio
async def test_the_townships_as_csv(month_db: str) -> None:
    async with api(month_db) as client:
        got = await client.get("/api/v1/assessment?month=2026-05&format=csv")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == (
        'attachment; filename="assessment-2026-05.csv"; '
        "filename*=UTF-8''%E8%80%83%E8%AF%84-2026-05.csv"
    )
    title, header, *rows = csv_rows(got.content)
    assert title[0].startswith("乡镇考评 2026年5月（截至 ")
    assert title[0].endswith(FORMULA)
    assert header == HEADERS
    # Hours: 1800 s = 0.50 h, 108000 s = 30 h, 2400 s = 0.67 h, 604800 s = 168 h.
    assert rows == [
        ["1", "芦溪镇", "luxi", "6", "5", "5", "4", "80.0%", "0.50", "4", "4", "3", "75.0%",
         "30.00", "2", "33.3%", "1", "16.7%", "1", "16.7%", "1", "57.00"],
        ["2", "小店镇", "xiaodian", "4", "3", "3", "1", "33.3%", "0.67", "1", "2", "0", "0.0%",
         "168.00", "2", "50.0%", "1", "25.0%", "1", "25.0%", "2", "5.83"],
        ["", "安庄镇", "anzhuang", "0", "0", "0", "0", "", "", "0", "0", "0", "", "", "0", "",
         "0", "", "0", "", "0", ""],
    ]  # fmt: skip


def sheet_of(content: bytes) -> Any:
    book = load_workbook(io.BytesIO(content))
    return book.active


@pytest.mark.asyncio
async def test_the_townships_as_xlsx_opened_back(month_db: str) -> None:
    async with api(month_db) as client:
        got = await client.get("/api/v1/assessment", params={"month": "2026-05", "format": "xlsx"})
    assert got.status_code == 200
    assert got.headers["content-type"] == XLSX
    assert 'filename="assessment-2026-05.xlsx"' in got.headers["content-disposition"]
    sheet = sheet_of(got.content)
    assert sheet.title == "考评 2026-05"
    assert str(sheet["A1"].value).startswith("乡镇考评 2026年5月")
    assert str(sheet["A1"].value).endswith(FORMULA)
    assert "A1:V1" in {str(r) for r in sheet.merged_cells.ranges}
    values = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert values[0] == HEADERS
    assert values[1] == pytest.approx(
        [1, "芦溪镇", "luxi", 6, 5, 5, 4, 0.8, 0.5, 4, 4, 3, 0.75, 30.0, 2, 2 / 6, 1, 1 / 6,
         1, 1 / 6, 1, 57.0]
    )  # fmt: skip
    assert values[2] == pytest.approx(
        [2, "小店镇", "xiaodian", 4, 3, 3, 1, 1 / 3, 2400 / 3600, 1, 2, 0, 0.0, 168.0, 2, 0.5,
         1, 0.25, 1, 0.25, 2, 5.83]
    )  # fmt: skip
    assert values[3] == [None, "安庄镇", "anzhuang", 0, 0, 0, 0, None, None, 0, 0, 0, None,
                         None, 0, None, 0, None, 0, None, 0, None]  # fmt: skip
    assert len(values) == 4
    formats = {sheet.cell(3, j).number_format for j in (8, 13, 16, 18, 20)}
    assert formats == {"0.0%"}
    assert sheet.cell(3, 22).number_format == "0.00"


@pytest.mark.asyncio
async def test_the_villages_as_xlsx_and_csv(month_db: str) -> None:
    async with api(month_db) as client:
        xlsx = await client.get("/api/v1/assessment/luxi?month=2026-05&format=xlsx")
        text = await client.get("/api/v1/assessment/luxi?month=2026-05&format=csv")
    assert xlsx.headers["content-disposition"] == (
        'attachment; filename="assessment-2026-05-luxi.xlsx"; '
        "filename*=UTF-8''%E8%80%83%E8%AF%84-2026-05-%E8%8A%A6%E6%BA%AA%E9%95%87.xlsx"
    )
    sheet = sheet_of(xlsx.content)
    assert str(sheet["A1"].value).startswith("芦溪镇各村考评 2026年5月")
    rows = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert rows[0][:3] == ["排名", "村", "编号"]
    # The villages ranked, the township's own site, then the township's total.
    assert [r[:4] for r in rows[1:]] == [
        [1, "东村", "luxi-v1", 4],
        [2, "西村", "luxi-v2", 1],
        [None, "（乡镇直属）", None, 1],
        [None, "全镇合计", "luxi", 6],
    ]
    assert [r[-1] for r in rows[1:]] == pytest.approx([70.0, -10.0, 20.0, 57.0])
    assert rows[1][8] == pytest.approx(4500 / 3600)
    _, header, *lines = csv_rows(text.content)
    assert header[1] == "村"
    assert [line[:4] + line[-1:] for line in lines] == [
        ["1", "东村", "luxi-v1", "4", "70.00"],
        ["2", "西村", "luxi-v2", "1", "-10.00"],
        ["", "（乡镇直属）", "", "1", "20.00"],
        ["", "全镇合计", "luxi", "6", "57.00"],
    ]


@pytest.mark.asyncio
async def test_the_desk_gets_the_same_report_from_the_functions(month_db: str) -> None:
    admin = Principal("x", "x", "x", Role.ADMIN, None, "zh-CN", "session", None)
    async with await psycopg.AsyncConnection.connect(month_db, row_factory=dict_row) as conn:
        towns = await township_report(conn, admin, Month(2026, 5), county_id="ju")
        luxi = await village_report(conn, admin, "luxi", Month(2026, 5))
    assert [(a.figures.id, a.score, a.rank) for a in towns.rows] == [
        ("luxi", 57.0, 1),
        ("xiaodian", 5.83, 2),
        ("anzhuang", None, None),
    ]
    assert [(a.figures.id, a.score, a.rank) for a in luxi.rows] == [
        ("luxi-v1", 70.0, 1),
        ("luxi-v2", -10.0, 2),
        (None, 20.0, None),
    ]
    assert luxi.total is not None
    assert luxi.total.score == 57.0


@pytest.mark.asyncio
async def test_who_sees_which_townships_and_villages(month_db: str) -> None:
    async with api(month_db) as client:

        async def get(who: str, path: str) -> Any:
            got = await client.get(f"/api/v1/assessment{path}", headers=as_user(month_db, who))
            return got.json() if got.status_code == 200 else got.status_code

        def ids(body: dict[str, Any]) -> list[tuple[str | None, int | None]]:
            return [(r["id"], r["rank"]) for r in body["rows"]]

        # A village officer: no township is within their area; in their township's breakdown
        # their own village only, ranked alone, and not the township's total.
        village = await get("v1-officer", "?month=2026-05")
        assert village["rows"] == []
        mine = await get("v1-officer", "/luxi?month=2026-05")
        same(mine["rows"], [ranked(DONGCUN, 1)])
        assert mine["total"] is None
        assert await get("v1-officer", "/xiaodian?month=2026-05") == 404
        assert await get("v1-officer", "/luxi-v1?month=2026-05") == 404  # not a township
        # A township's reviewer: their township, first of one; not the neighbour's breakdown.
        assert ids(await get("luxi-reviewer", "?month=2026-05")) == [("luxi", 1)]
        assert await get("luxi-reviewer", "/xiaodian?month=2026-05") == 404
        assert ids(await get("luxi-reviewer", "/luxi?month=2026-05")) == [
            ("luxi-v1", 1),
            ("luxi-v2", 2),
            (None, None),
        ]
        # The county's reviewer: every township of the county.
        county = await get("ju-reviewer", "?month=2026-05")
        assert ids(county) == [("luxi", 1), ("xiaodian", 2), ("anzhuang", None)]
        assert ids(await get("xd-reviewer", "/xiaodian?month=2026-05")) == [(None, None)]
        # The village officer's file holds their village alone.
        got = await client.get(
            "/api/v1/assessment/luxi?month=2026-05&format=csv",
            headers=as_user(month_db, "v1-officer"),
        )
        assert [line[2] for line in csv_rows(got.content)[2:]] == ["luxi-v1"]
        # An administrator, by county.
        assert len((await client.get("/api/v1/assessment?county_id=ju")).json()["rows"]) == 3
        assert (await client.get("/api/v1/assessment?county_id=elsewhere")).json()["rows"] == []
        assert (await client.get("/api/v1/assessment/nowhere")).status_code == 404


@pytest.mark.asyncio
async def test_weights_set_by_an_admin_change_the_score_and_the_ranking(month_db: str) -> None:
    defaults = {"ack_on_time": 40, "close_on_time": 40, "self_found": 20, "overdue": 20,
                "false_alarm": 10}  # fmt: skip
    async with api(month_db) as client:
        reviewer = as_user(month_db, "ju-reviewer")
        shown = (await client.get("/api/v1/assessment/weights", headers=reviewer)).json()
        assert {k: shown[k] for k in defaults} == defaults
        assert (shown["formula"], shown["updated_by"]) == (FORMULA, None)
        refused = await client.put("/api/v1/assessment/weights", json=defaults, headers=reviewer)
        assert refused.status_code == 403
        for bad in ({**defaults, "overdue": 1001}, {**defaults, "overdue": -1},
                    {**defaults, "overdue": True}, {"ack_on_time": 1},
                    {**defaults, "bonus": 1}):  # fmt: skip
            assert (await client.put("/api/v1/assessment/weights", json=bad)).status_code == 422
        try:
            # Only what officers found themselves counts: 小店镇 (1 in 4) overtakes 芦溪镇 (1 in 6).
            only_found = {**{k: 0 for k in defaults}, "self_found": 100}
            put = await client.put("/api/v1/assessment/weights", json=only_found)
            assert put.status_code == 200
            assert put.json()["updated_by"] == "t-admin"
            assert put.json()["formula"] == (
                "得分 = 0×按时签收率 + 0×按时办结率 + 100×主动发现占比 − 0×超期率 − 0×误报率"
            )
            body = (await client.get("/api/v1/assessment?month=2026-05", headers=reviewer)).json()
            assert body["weights"]["self_found"] == 100
            assert [(r["id"], r["score"], r["rank"]) for r in body["rows"]] == [
                ("xiaodian", 25.0, 1),
                ("luxi", 16.67, 2),
                ("anzhuang", None, None),
            ]
            # Nothing weighs: equal scores share the first rank, listed by id.
            zero = {k: 0 for k in defaults}
            assert (await client.put("/api/v1/assessment/weights", json=zero)).status_code == 200
            body = (await client.get("/api/v1/assessment?month=2026-05")).json()
            assert [(r["id"], r["score"], r["rank"]) for r in body["rows"]] == [
                ("luxi", 0.0, 1),
                ("xiaodian", 0.0, 1),
                ("anzhuang", None, None),
            ]
            text = (await client.get("/api/v1/assessment?month=2026-05&format=csv")).content
            assert csv_rows(text)[0][0].endswith(
                "得分 = 0×按时签收率 + 0×按时办结率 + 0×主动发现占比 − 0×超期率 − 0×误报率"
            )
        finally:
            assert (
                await client.put("/api/v1/assessment/weights", json=defaults)
            ).status_code == 200
