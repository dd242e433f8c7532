"""The desk in a real headless Chromium against ``envgrid cloud``, its database and broker.

An officer on a phone sees a breach become a case without reloading, acknowledges it with one
tap, records an inspection with a photo, reports it rectified; the reviewer closes it; the case
file shows every step and the chart. An officer of another village sees none of it. Every page
is photographed, phone and desktop, zh-CN and English (``test-artifacts/``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.desk_support import (
    DESKTOP,
    DUTY_GROUP,
    OFFICER,
    OTHER_OFFICER,
    PHONE,
    REVIEWER,
    RIVER_NODE,
    RIVER_SITE,
    DeskServer,
    browser,  # noqa: F401 - fixture
    desk_server,  # noqa: F401 - fixture
    new_visitor,
    photo,
    playwright,  # noqa: F401 - fixture
    report_case,
    shoot,
    sign_in,
)
from tests.polling import wait_until

pytestmark = pytest.mark.slow

PUSH_LIMIT_MS = 2000  # a new case shows on an open list within this, without a reload


def _case_of(server: DeskServer, site_id: str, rule_id: str) -> int | None:
    found = server.scalar(
        "SELECT id FROM cases WHERE site_id = %s AND rule_id = %s ORDER BY id DESC LIMIT 1",
        site_id,
        rule_id,
    )
    return int(found) if found is not None else None  # type: ignore[call-overload]


def _state(page: Page) -> str:
    return page.get_by_test_id("case-state").inner_text()


def test_officer_works_a_breach_from_phone_and_reviewer_closes_it(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = desk_server
    officer = new_visitor(browser, server.base, PHONE)
    page = officer.page
    sign_in(page, OFFICER)
    expect(page.get_by_test_id("case-count")).to_be_visible()
    page.evaluate("window.egNotReloaded = true")

    # A reading over the river section's class III COD limit (20 mg/L).
    server.publish_reading(RIVER_NODE, {"cod": 45.0, "nh3n": 0.4}, seq=1)
    deadline = time.monotonic() + 20
    case_id = None
    while case_id is None and time.monotonic() < deadline:
        case_id = _case_of(server, RIVER_SITE, "cod")
        time.sleep(0.02)
    assert case_id is not None, "the breach did not become a case"
    seen_in_database = time.monotonic()
    card = page.locator(f"[data-case='{case_id}']")
    expect(card).to_be_visible(timeout=PUSH_LIMIT_MS)
    pushed_ms = (time.monotonic() - seen_in_database) * 1000
    assert pushed_ms < PUSH_LIMIT_MS
    assert page.evaluate("window.egNotReloaded") is True, "the page reloaded"
    shoot(page, "phone-zh-case-list")

    # One tap acknowledges it.
    page.get_by_test_id(f"ack-{case_id}").click()
    expect(card).to_contain_text("已签收")
    assert server.scalar("SELECT state FROM cases WHERE id = %s", case_id) == "acknowledged"

    # The case file: inspection with a photo from the phone, then rectified and reported.
    card.get_by_role("link").click()
    page.wait_for_url(f"**/cases/{case_id}")
    expect(page.get_by_test_id("case-chart")).to_be_visible()
    expect(page.get_by_test_id("case-limit")).to_contain_text("20")
    page.get_by_test_id("action-inspect").click()
    page.get_by_test_id("form-notes").fill("排口有黑色污水流入河道，已拍照")
    page.locator("input[type=file]").set_input_files(str(photo(tmp_path / "site.jpg")))
    expect(page.locator(".q-dialog .eg-thumb")).to_be_visible(timeout=15000)
    page.get_by_test_id("form-submit").click()
    expect(page.get_by_test_id("case-state")).to_have_text("现场核查")
    expect(page.get_by_test_id("event-inspect").get_by_test_id("thumbnail")).to_be_visible()
    size = server.scalar(
        "SELECT (attachments -> 0 ->> 'size')::int FROM case_events "
        "WHERE case_id = %s AND action = 'inspect'",
        case_id,
    )
    assert isinstance(size, int)
    assert 0 < size < 2 * 1024 * 1024, "the photo was not shrunk"
    page.get_by_test_id("action-rectify").click()
    page.get_by_test_id("form-notes").fill("已责令停止排放，清理排口")
    page.get_by_test_id("form-submit").click()
    expect(page.get_by_test_id("case-state")).to_have_text("整改中")
    page.get_by_test_id("action-report").click()
    page.get_by_test_id("form-notes").fill("整改完成")
    page.get_by_test_id("form-submit").click()
    expect(page.get_by_test_id("case-state")).to_have_text("已上报")
    # An officer may not close a case: the button is not there.
    expect(page.get_by_test_id("action-close")).to_have_count(0)
    shoot(page, "phone-zh-case-file")

    # The reviewer, at a desk PC, verifies and closes it.
    reviewer = new_visitor(browser, server.base, DESKTOP)
    sign_in(reviewer.page, REVIEWER, f"/cases/{case_id}")
    reviewer.page.get_by_test_id("action-close").click()
    reviewer.page.get_by_test_id("form-notes").fill("复核属实，予以销号")
    reviewer.page.get_by_test_id("form-submit").click()
    expect(reviewer.page.get_by_test_id("case-state")).to_have_text("已销号")
    shoot(reviewer.page, "desktop-zh-case-file")

    # Every step is on the file, with who did it, and the officer's open page caught up.
    for step in ("raised", "dispatched", "acknowledge", "inspect", "rectify", "report", "close"):
        expect(reviewer.page.get_by_test_id(f"event-{step}")).to_have_count(1)
    expect(reviewer.page.get_by_test_id("event-close")).to_contain_text("王秀英")
    expect(page.get_by_test_id("case-state")).to_have_text("已销号")
    # The duty group's robot could not be reached: every attempt is on the file, and the list
    # says the channel is failing.
    expect(reviewer.page.get_by_test_id("case-notifications")).to_contain_text(DUTY_GROUP)
    page.goto("/")
    expect(page.get_by_test_id("failing-channels")).to_contain_text(DUTY_GROUP)
    assert officer.foreign_requests == []
    assert reviewer.foreign_requests == []


def test_another_villages_officer_sees_none_of_it(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    case_id = report_case(server.base, REVIEWER, RIVER_SITE, "河面漂浮垃圾", "high")
    owner = new_visitor(browser, server.base, PHONE)
    sign_in(owner.page, OFFICER)
    expect(owner.page.locator(f"[data-case='{case_id}']")).to_be_visible()
    owner.page.goto("/map")
    expect(owner.page.locator(f".eg-site-{RIVER_SITE}")).to_have_count(1)

    stranger = new_visitor(browser, server.base, PHONE)
    page = stranger.page
    sign_in(page, OTHER_OFFICER)
    expect(page.get_by_test_id("case-count")).to_be_visible()
    expect(page.locator(f"[data-case='{case_id}']")).to_have_count(0)
    page.goto("/map")
    expect(page.locator(".eg-site").first).to_be_visible()  # their own sites are drawn
    expect(page.locator(f".eg-site-{RIVER_SITE}")).to_have_count(0)
    page.goto(f"/sites/{RIVER_SITE}")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_test_id("site-summary")).to_have_count(0)
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_test_id("case-summary")).to_have_count(0)
    # A change to the case is not pushed to them either.
    page.goto("/")
    expect(page.get_by_test_id("case-count")).to_be_visible()
    report_case(server.base, REVIEWER, RIVER_SITE, "岸边堆放垃圾", "critical")
    owner.page.goto("/")
    expect(owner.page.get_by_text("岸边堆放垃圾")).to_be_visible()
    expect(page.get_by_text("岸边堆放垃圾")).to_have_count(0)


def test_several_cases_acknowledged_in_two_taps_and_a_buzz_for_critical(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    officer = new_visitor(browser, server.base, PHONE)
    page = officer.page
    page.add_init_script("window.egBuzz = []; navigator.vibrate = p => egBuzz.push(p) > 0;")
    sign_in(page, OFFICER)
    page.get_by_test_id("sound").click()
    ids = [
        report_case(server.base, REVIEWER, site, title, severity)
        for site, title, severity in (
            ("luxi-refuse-03", "垃圾满溢", "medium"),
            ("luxi-road-02", "道路扬尘", "low"),
            ("luxi-farm-03", "粪污外溢", "critical"),
        )
    ]
    for case_id in ids:
        expect(page.locator(f"[data-case='{case_id}']")).to_be_visible()
    wait_until(lambda: page.evaluate("egBuzz.length") == 1, 5, "one buzz for the critical case")
    # Critical first among the unacknowledged.
    first = page.locator("[data-case]").first
    expect(first).to_have_attribute("data-case", str(ids[2]))
    page.get_by_test_id("select-all").click()  # tap 1
    page.get_by_test_id("ack-selected").click()  # tap 2
    for case_id in ids:
        expect(page.locator(f"[data-case='{case_id}']")).to_contain_text("已签收")
    states = {server.scalar("SELECT state FROM cases WHERE id = %s", case_id) for case_id in ids}
    assert states == {"acknowledged"}


def test_every_page_in_both_languages_on_phone_and_desktop(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    server.publish_reading(RIVER_NODE, {"cod": 48.0, "nh3n": 0.6}, seq=1)
    wait_until(lambda: _case_of(server, RIVER_SITE, "cod") is not None, 20, "the case")
    case_id = _case_of(server, RIVER_SITE, "cod")
    words = {
        "zh-CN": ("案件", "最新数据", "办理记录"),
        "en": ("Cases", "Latest values", "Timeline"),
    }
    for locale, (cases_word, latest_word, timeline_word) in words.items():
        for device, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            visitor = new_visitor(browser, server.base, viewport, locale)
            page = visitor.page
            sign_in(page, REVIEWER)
            tag = f"{device}-{'zh' if locale == 'zh-CN' else 'en'}"
            expect(page.get_by_text(cases_word).first).to_be_visible()
            shoot(page, f"{tag}-list")
            page.goto(f"/cases/{case_id}")
            expect(page.get_by_text(timeline_word, exact=True).first).to_be_visible()
            expect(page.get_by_test_id("case-chart")).to_be_visible()
            shoot(page, f"{tag}-case")
            page.goto(f"/sites/{RIVER_SITE}")
            expect(page.get_by_text(latest_word, exact=True).first).to_be_visible()
            expect(page.get_by_test_id("site-chart")).to_be_visible()
            shoot(page, f"{tag}-site")
            page.goto("/map")
            expect(page.locator(".eg-site").first).to_be_visible()
            shoot(page, f"{tag}-map")
            page.goto("/assessment")
            expect(page.get_by_test_id("assessment-table")).to_contain_text("芦溪镇")
            shoot(page, f"{tag}-assessment")
            page.get_by_role("link", name="芦溪镇").click()
            expect(page.get_by_test_id("assessment-table")).to_contain_text("枫林村")
            with page.expect_download() as download:
                page.get_by_test_id("export-xlsx").click()
            assert download.value.suggested_filename.endswith(".xlsx")
            page.goto("/login")  # signed in: straight on to the list
            page.wait_for_url("**/")
            assert visitor.foreign_requests == []
            visitor.context.close()
    # The sign-in page itself, as a newcomer meets it.
    newcomer = new_visitor(browser, server.base, PHONE)
    newcomer.page.goto("/cases/1")
    newcomer.page.wait_for_url("**/login?next=*")
    shoot(newcomer.page, "phone-zh-login")
    newcomer.page.get_by_test_id("login-name").fill(OFFICER)
    newcomer.page.get_by_test_id("password").fill("wrong password")
    newcomer.page.get_by_test_id("sign-in").click()
    expect(newcomer.page.get_by_test_id("login-error")).to_have_text("登录名或密码错误")


def test_reviewer_silences_a_site_and_its_officer_sees_why_and_until_when(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    reviewer = new_visitor(browser, server.base, DESKTOP)
    sign_in(reviewer.page, REVIEWER, f"/sites/{RIVER_SITE}")
    reviewer.page.get_by_test_id("silence").click()
    reviewer.page.get_by_test_id("silence-save").click()  # no reason: refused, says why
    expect(reviewer.page.get_by_text("reason").first).to_be_visible()
    reviewer.page.get_by_test_id("silence-reason").fill("排污口检修")
    reviewer.page.get_by_test_id("silence-save").click()
    expect(reviewer.page.get_by_test_id("silences")).to_contain_text("排污口检修")
    expect(reviewer.page.get_by_test_id("silences")).to_contain_text("王秀英")
    until = server.scalar(
        "SELECT until - now() FROM notify_silences WHERE site_id = %s AND lifted_at IS NULL",
        RIVER_SITE,
    )
    assert until is not None

    officer = new_visitor(browser, server.base, PHONE)
    sign_in(officer.page, OFFICER, f"/sites/{RIVER_SITE}")
    expect(officer.page.get_by_test_id("silences")).to_contain_text("排污口检修")
    expect(officer.page.get_by_test_id("silence")).to_have_count(0)  # officers may not
    # A case is still raised and shown while the site is silent.
    case_id = report_case(server.base, REVIEWER, RIVER_SITE, "检修期间异味", "high")
    officer.page.goto(f"/cases/{case_id}")
    expect(officer.page.get_by_test_id("silences")).to_contain_text("排污口检修")

    reviewer.page.locator("[data-testid^=lift-]").click()
    expect(reviewer.page.get_by_test_id("silences")).to_have_count(0)
    lifted = server.scalar("SELECT lifted_by FROM notify_silences WHERE site_id = %s", RIVER_SITE)
    assert lifted == REVIEWER
    logged = server.scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'DESK /silences%%' AND actor = %s",
        REVIEWER,
    )
    assert logged == 3  # the refused one, the silence, the lift


def test_the_language_switch_follows_the_user_to_another_browser(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    phone = new_visitor(browser, server.base, PHONE)
    sign_in(phone.page, OFFICER)
    expect(phone.page.get_by_test_id("language")).to_have_text("English")
    phone.page.get_by_test_id("language").click()
    expect(phone.page.get_by_text("Cases").first).to_be_visible()
    assert server.scalar("SELECT locale FROM users WHERE id = %s", OFFICER) == "en"
    desk_pc = new_visitor(browser, server.base, DESKTOP)  # zh-CN browser, no cookie
    sign_in(desk_pc.page, OFFICER)
    expect(desk_pc.page.get_by_test_id("language")).to_have_text("中文")
    expect(desk_pc.page.get_by_text("Cases").first).to_be_visible()
