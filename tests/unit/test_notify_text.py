"""Notification messages: zh-CN markdown within the robots' byte limit, digests that lose no
case, DingTalk's signature, back-off, masked webhook keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from envgrid_cloud.api.models.channels import mask
from envgrid_cloud.notify import dingtalk, email, wecom
from envgrid_cloud.notify.deliver import backoff_s, gap_s
from envgrid_cloud.notify.text import Entry, compose, number, value_text

T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
DESK = "https://desk.example.cn/"


def entry(case_id: int, **fields: object) -> Entry:
    base: dict[str, object] = {
        "case_id": case_id,
        "events": ("raised",),
        "newest": T0 + timedelta(seconds=case_id),
        "severity": "high",
        "state": "dispatched",
        "title": "化学需氧量超标",
        "site_name": "东村养猪场",
        "site_category": "livestock_farm",
        "rule_id": "cod-daily",
        "metric": "cod",
        "last_value": 412.5,
        "peak_value": 480.0,
        "last_seen_at": T0,
        "limit": 400.0,
        "direction": "above",
        "assignee_name": "张一",
        "assignee_phone": "13800000001",
    }
    return Entry(**{**base, **fields})  # type: ignore[arg-type]


def test_one_case_in_full_with_its_link_and_beijing_time() -> None:
    message = compose([entry(7)], 1, DESK, wecom.STYLE)
    assert not message.digest
    assert message.title == "高 · 东村养猪场 · 新案件"
    assert "化学需氧量 412.5 mg/L（超过限值 400），峰值 480" in message.text
    assert "2026-05-01 08:00:00（北京时间）" in message.text
    assert "[查看案件 #7](https://desk.example.cn/cases/7)" in message.text
    assert message.mentions == ("13800000001",)


def test_values_read_as_officers_write_them() -> None:
    assert [number(v) for v in (120.0, 0.125, 1.5, -0.0001, 7.0004)] == [
        "120",
        "0.125",
        "1.5",
        "0",
        "7",
    ]
    low = entry(1, metric="do", last_value=1.2, peak_value=1.2, limit=3.0, direction="below")
    assert value_text(low) == "溶解氧 1.2 mg/L（低于限值 3）"
    assert value_text(low, short=True) == "溶解氧 1.2<3"
    assert value_text(entry(1, metric="ph", limit=None, peak_value=None, last_value=9.2)) == (
        "pH值 9.2"
    )
    assert value_text(entry(1, metric=None, last_value=None)) is None


@pytest.mark.parametrize("style", [wecom.STYLE, dingtalk.STYLE])
def test_a_backlog_becomes_digests_within_the_limit_that_lose_no_case(style: object) -> None:
    backlog = [entry(i, site_name="沭河芦溪上段（国控断面）" * 2) for i in range(1, 1201)]
    told: set[int] = set()
    left = backlog
    messages = 0
    while left:
        message = compose(left, len(left), DESK, style)  # type: ignore[arg-type]
        assert len(message.text.encode()) <= 4096
        named = {int(n) for n in re.findall(r"#(\d+)", message.text)}
        carried = {e.case_id for e in message.entries}
        assert named == carried  # every case it carries is named, none more
        told |= carried
        # The oldest go first, so none waits for ever; they are listed newest first.
        assert carried == {e.case_id for e in left[: len(carried)]}
        assert [e.case_id for e in message.entries] == sorted(carried, reverse=True)
        if len(left) > len(carried):
            assert f"另有 {len(left) - len(carried)} 起，稍后发送。" in message.text
        left = left[len(carried) :]
        messages += 1
    assert told == set(range(1, 1201))
    assert messages <= 6  # hundreds of cases a message, by number past the full lines


def test_a_digest_counts_by_severity_and_gives_full_lines_first() -> None:
    cases = [entry(1, severity="critical"), entry(2), entry(3, events=("reminder",), reminders=2)]
    message = compose(cases, 3, DESK, wecom.STYLE)
    assert message.digest
    assert message.title == "环境告警汇总：3 起（紧急 1，高 2）"
    lines = message.text.splitlines()
    assert lines[2].startswith("- 🟠高 [#3](https://desk.example.cn/cases/3) 东村养猪场")
    assert "催办：尚未签收（第 2 次）" in lines[2]
    assert lines[4].startswith("- 🔴紧急 [#1]")
    assert message.mentions == ("13800000001",)


def test_dingtalk_signs_as_its_documentation_says() -> None:
    secret, timestamp = "SECabc123", 1_777_593_600_000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert dingtalk.sign(secret, timestamp) == expected
    url = dingtalk.signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        secret,
        datetime.fromtimestamp(timestamp / 1000, UTC),
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {"access_token": ["t"], "timestamp": [str(timestamp)], "sign": [expected]}
    assert "+" not in url.split("sign=")[1]
    assert "/" not in url.split("sign=")[1]
    assert dingtalk.signed_url("https://x/robot/send?access_token=t", None, T0).endswith("=t")


def test_dingtalk_mentions_the_assignee_in_the_text_too() -> None:
    body = dingtalk.body(compose([entry(1)], 1, DESK, dingtalk.STYLE))
    assert body["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}
    assert str(body["markdown"]["text"]).endswith("@13800000001")  # type: ignore[index]
    assert wecom.body(compose([entry(1)], 1, DESK, wecom.STYLE))["msgtype"] == "markdown"


def test_an_e_mail_is_the_markdown_with_a_subject() -> None:
    from envgrid_cloud.notify.model import Channel
    from envgrid_cloud.settings import CloudSettings

    settings = CloudSettings(smtp_from="envgrid <a@example.cn>")
    channel = Channel(1, "张一", "email", "zhang1@example.cn", None, 60)
    mail = email.message(settings, channel, compose([entry(1)], 1, DESK, email.STYLE), T0)
    assert mail["Subject"] == "[envgrid] 高 · 东村养猪场 · 新案件"
    assert mail["To"] == "zhang1@example.cn"
    assert "https://desk.example.cn/cases/1" in mail.get_content()
    assert "Subject: [envgrid]" in email.readable(mail)


def test_back_off_doubles_to_its_ceiling_and_the_rate_spreads_messages() -> None:
    assert [backoff_s(n, 2, 300) for n in (1, 2, 3, 8, 9, 50, 10**6)] == [
        2,
        4,
        8,
        256,
        300,
        300,
        300,
    ]
    assert gap_s(20) == pytest.approx(3.05)


def test_webhook_keys_are_shown_cut_short() -> None:
    url = (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    )
    assert mask("wecom", url) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…5aaa"
    assert mask("email", "a@b.cn") == "a@b.cn"
