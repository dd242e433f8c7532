"""What a notification says, in zh-CN markdown: one case in full, or a digest of several.

A message about one case gives its severity, site, rule, the value against its limit, the time
on Beijing's clock, its state and assignee, and a link straight to it on the desk. When a
channel has several cases waiting, they go as one digest: the cases newest first, as many in
full lines as fit, the rest by number (each a case still), and "N more to follow" for what does
not fit at all (those stay queued for the channel's next message). Every message fits the
byte limit of the channel's kind (WeCom: 4,096 bytes of markdown).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from envgrid_common.clock import to_shanghai
from envgrid_common.metrics import METRICS

SEVERITY = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}
MARK = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵"}
EVENT = {
    "raised": "新案件",
    "severity_raised": "级别升高",
    "recurred": "再次超标",
    "escalated": "逾期升级",
    "overdue": "逾期未办结",
    "dispatch": "交办",
    "reassign": "改派",
    "reject": "退回整改",
    "reminder": "催办：尚未签收",
}
STATE = {
    "raised": "待交办",
    "dispatched": "已交办",
    "acknowledged": "已签收",
    "inspecting": "现场核查",
    "rectifying": "整改中",
    "reported": "已上报",
    "closed": "已销号",
    "dismissed": "误报",
}
CATEGORY = {
    "livestock_farm": "畜禽养殖场",
    "water_body": "重要水域",
    "refuse_point": "垃圾收运点",
    "industrial": "工业企业",
    "road_section": "重要路段",
    "farmland": "农田",
}
REASON = {"not_acknowledged": "未按时签收", "not_closed": "未按时办结"}
SEVERITY_ORDER = ["critical", "high", "medium", "low"]
TITLE_MAX = 60  # characters of a case title in a digest line
MENTIONS_MAX = 10  # phones @-mentioned in one message


@dataclass(frozen=True, slots=True)
class Entry:
    """One case in a message, as it is now, and the events that are being told of it."""

    case_id: int
    events: tuple[str, ...]
    newest: datetime  # when the latest of those events happened
    severity: str
    state: str
    title: str
    site_name: str
    site_category: str
    rule_id: str
    metric: str | None
    last_value: float | None
    peak_value: float | None
    last_seen_at: datetime
    limit: float | None = None
    direction: str | None = None  # "above" or "below" the limit
    assignee_name: str | None = None
    assignee_phone: str | None = None
    downstream: bool = False  # told because a township of the channel lies downstream
    reasons: tuple[str, ...] = ()  # why it escalated
    reminders: int = 0  # the reminder's number, for a reminder
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Style:
    """How a kind of channel takes markdown: its byte limit, the line separator it needs."""

    limit: int
    sep: str = "\n"


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready to send, and the cases it carries."""

    title: str
    text: str
    entries: tuple[Entry, ...]
    digest: bool
    mentions: tuple[str, ...]


def number(value: float) -> str:
    """``120``, ``0.125``, ``1.5``: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def when(value: datetime, short: bool = False) -> str:
    """A time on Beijing's clock."""
    return to_shanghai(value).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def case_url(desk_url: str, case_id: int) -> str:
    """The case on the desk."""
    return f"{desk_url.rstrip('/')}/cases/{case_id}"


def _oneline(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _metric(entry: Entry) -> tuple[str, str]:
    known = METRICS.get(entry.metric or "")
    if known is None:
        return (entry.metric or "").upper() if entry.metric == "aqi" else entry.metric or "", ""
    return known.label_zh, "" if known.unit == "1" else known.unit


def value_text(entry: Entry, short: bool = False) -> str | None:
    """``化学需氧量 120 mg/L（超过限值 100）``, or ``化学需氧量 120>100`` when short."""
    if entry.last_value is None:
        return None
    label, unit = _metric(entry)
    value = number(entry.last_value)
    if short:
        if entry.limit is None:
            return f"{label} {value}".strip()
        sign = "<" if entry.direction == "below" else ">"
        return f"{label} {value}{sign}{number(entry.limit)}".strip()
    text = f"{label} {value}{' ' + unit if unit else ''}".strip()
    if entry.limit is not None:
        side = "低于" if entry.direction == "below" else "超过"
        text += f"（{side}限值 {number(entry.limit)}）"
    if entry.peak_value is not None and entry.peak_value != entry.last_value:
        text += f"，峰值 {number(entry.peak_value)}"
    return text


def _events(entry: Entry) -> str:
    words = [EVENT.get(e, e) for e in dict.fromkeys(entry.events)]
    if "reminder" in entry.events and entry.reminders:
        words = [f"{w}（第 {entry.reminders} 次）" if w == EVENT["reminder"] else w for w in words]
    return "、".join(words)


def single(entry: Entry, desk_url: str, style: Style) -> tuple[str, str]:
    """One case in full: (title, markdown)."""
    severity = SEVERITY.get(entry.severity, entry.severity)
    events = _events(entry)
    title = f"{severity} · {entry.site_name} · {events}"
    category = CATEGORY.get(entry.site_category, entry.site_category)
    lines = [
        f"### {MARK.get(entry.severity, '')} {severity} · {events}",
        f"**{_oneline(entry.site_name, 100)}**（{category}）",
        f"> 案件：#{entry.case_id} {_oneline(entry.title, 200)}",
        f"> 规则：{entry.rule_id}",
    ]
    value = value_text(entry)
    if value:
        lines.append(f"> 监测值：{value}")
    lines.append(f"> 时间：{when(entry.last_seen_at)}（北京时间）")
    holder = f" · 承办：{entry.assignee_name}" if entry.assignee_name else " · 尚无承办人"
    lines.append(f"> 状态：{STATE.get(entry.state, entry.state)}{holder}")
    if entry.reasons:
        lines.append("> 原因：" + "、".join(REASON.get(r, r) for r in entry.reasons))
    if entry.downstream:
        lines.append("> 上下游联防：本案位于上游，请注意来水")
    lines.append(f"[查看案件 #{entry.case_id}]({case_url(desk_url, entry.case_id)})")
    return title, _clip(style.sep.join(lines), style.limit)


def _clip(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def _line(entry: Entry, desk_url: str) -> str:
    parts = [
        f"- {MARK.get(entry.severity, '')}{SEVERITY.get(entry.severity, entry.severity)}",
        f"[#{entry.case_id}]({case_url(desk_url, entry.case_id)})",
        _oneline(entry.site_name, 40),
    ]
    value = value_text(entry, short=True)
    parts.append(value if value else _oneline(entry.title, TITLE_MAX))
    line = " ".join(parts) + f" · {when(entry.last_seen_at, short=True)} · {_events(entry)}"
    if entry.downstream:
        line += "（上游）"
    return line


def digest(
    entries: Sequence[Entry], detailed: int, more: int, desk_url: str, style: Style
) -> tuple[str, str]:
    """Several cases, newest first: the first ``detailed`` in full lines, the others by
    number, and ``more`` cases still to follow: (title, markdown)."""
    counts = {s: sum(1 for e in entries if e.severity == s) for s in SEVERITY_ORDER}
    spread = "，".join(f"{SEVERITY[s]} {n}" for s, n in counts.items() if n)
    title = f"环境告警汇总：{len(entries)} 起（{spread}）"
    lines = [f"### 环境告警汇总 · {len(entries)} 起", f"> {spread}"]
    lines += [_line(e, desk_url) for e in entries[:detailed]]
    rest = entries[detailed:]
    if rest:
        label = "其余" if detailed else "案件"
        lines.append(f"{label} {len(rest)} 起：" + " ".join(f"#{e.case_id}" for e in rest))
    if more:
        lines.append(f"另有 {more} 起，稍后发送。")
    lines.append(f"[在值班台查看全部案件]({desk_url.rstrip('/')}/cases)")
    return title, style.sep.join(lines)


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [low, high] for which ``fits`` holds (``low`` - 1 if none)."""
    best = low - 1
    while low <= high:
        middle = (low + high) // 2
        if fits(middle):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return best


def _mentions(entries: Sequence[Entry]) -> tuple[str, ...]:
    phones = [e.assignee_phone for e in entries if e.assignee_phone]
    return tuple(dict.fromkeys(phones))[:MENTIONS_MAX]


def compose(entries: Sequence[Entry], waiting: int, desk_url: str, style: Style) -> Composed:
    """The next message for a channel: ``entries`` are its cases due, oldest first (the
    oldest go first, so none waits for ever), ``waiting`` how many cases it has due in all."""
    if not entries:
        raise ValueError("nothing to compose")
    if len(entries) == 1 and waiting <= 1:
        title, text = single(entries[0], desk_url, style)
        return Composed(title, text, (entries[0],), False, _mentions(entries))

    def newest_first(n: int) -> list[Entry]:
        return sorted(entries[:n], key=lambda e: (e.newest, e.case_id), reverse=True)

    def size(n: int, detailed: int) -> int:
        chosen = newest_first(n)
        return len(digest(chosen, detailed, waiting - n, desk_url, style)[1].encode())

    n = max(1, _largest(1, len(entries), lambda n: size(n, 0) <= style.limit))
    chosen = newest_first(n)
    detailed = max(0, _largest(0, n, lambda d: size(n, d) <= style.limit))
    title, text = digest(chosen, detailed, waiting - n, desk_url, style)
    return Composed(title, _clip(text, style.limit), tuple(chosen), True, _mentions(chosen))
