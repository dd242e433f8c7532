"""The desk's words in zh-CN (the default) and English.

A page's language: the browser's choice (the ``envgrid_lang`` cookie the language switch
sets), else the signed-in user's (``users.locale``), else what the browser asks for first.
"""

from __future__ import annotations

from fastapi import Request

LANG_COOKIE = "envgrid_lang"
LOCALES = ("zh-CN", "en")
DEFAULT = "zh-CN"

# key → (zh-CN, en)
TEXTS: dict[str, tuple[str, str]] = {
    "app": ("网格环保值班台", "envgrid duty desk"),
    "login": ("登录", "Sign in"),
    "login_name": ("登录名", "Login name"),
    "password": ("密码", "Password"),
    "wrong_login": ("登录名或密码错误", "Wrong login name or password"),
    "throttled": (
        "失败次数过多，请 {wait} 秒后再试",
        "Too many failed sign-ins; try again in {wait} s",
    ),
    "logout": ("退出", "Sign out"),
    "cases": ("案件", "Cases"),
    "map": ("地图", "Map"),
    "assessment": ("考评", "Assessment"),
    "language": ("English", "中文"),
    "live": ("实时", "Live"),
    "new_case": ("新案件", "New case"),
    "filters": ("筛选", "Filters"),
    "state": ("状态", "State"),
    "severity": ("级别", "Severity"),
    "township": ("乡镇", "Township"),
    "village": ("村", "Village"),
    "category": ("类别", "Category"),
    "rule": ("规则", "Rule"),
    "assignee": ("承办人", "Assignee"),
    "raised_at": ("发现时间", "Raised"),
    "ack_due": ("签收时限", "Acknowledge by"),
    "close_due": ("办结时限", "Close by"),
    "overdue": ("超期", "Overdue"),
    "acknowledge": ("签收", "Acknowledge"),
    "select_unacked": ("全选待签收", "Select all to acknowledge"),
    "ack_selected": ("签收所选 ({n})", "Acknowledge selected ({n})"),
    "acknowledged_n": ("已签收 {n} 件", "{n} acknowledged"),
    "claim": ("认领", "Claim"),
    "open_only": ("只看未办结", "Open only"),
    "sound": ("新紧急案件提醒音", "Sound for new critical cases"),
    "no_cases": ("没有案件", "No cases"),
    "more": ("更多", "More"),
    "timeline": ("办理记录", "Timeline"),
    "readings": ("监测数据", "Readings"),
    "limit": ("限值", "Limit"),
    "basis": ("依据", "Basis"),
    "snapshot": ("现场抓拍", "Snapshot"),
    "notes": ("说明", "Notes"),
    "reason": ("原因", "Reason"),
    "photo": ("拍照/上传照片", "Photo"),
    "comment": ("评论", "Comment"),
    "send": ("提交", "Submit"),
    "cancel": ("取消", "Cancel"),
    "system": ("系统", "system"),
    "source_officer": ("网格员主动发现", "found by an officer"),
    "source_rule": ("监测规则触发", "raised by a rule"),
    "escalated": ("已升级 {n} 级", "escalated {n} level(s)"),
    "told_townships": ("已通报下游乡镇", "Townships told downstream"),
    "no_readings": ("此时段无监测数据", "No readings in this window"),
    "rule_id": ("规则编号", "Rule"),
    "direction_above": ("超过上限", "above the limit"),
    "direction_below": ("低于下限", "below the limit"),
    "write_comment": ("写评论…", "Write a comment…"),
    "cleared": ("指标已恢复", "Condition cleared"),
    "done": ("已提交", "Done"),
    "not_found": ("没有这个案件，或不在您的辖区", "No such case, or not in your area"),
    "no_site": ("没有这个点位，或不在您的辖区", "No such site, or not in your area"),
    "latest": ("最新数据", "Latest values"),
    "nodes": ("监测设备", "Nodes"),
    "history": ("案件记录", "Case history"),
    "day": ("日", "Day"),
    "week": ("周", "Week"),
    "month": ("月", "Month"),
    "online": ("在线", "online"),
    "offline": ("离线", "offline"),
    "unknown": ("未知", "unknown"),
    "metric": ("监测项目", "Metric"),
    "time": ("时间", "Time"),
    "first_seen": ("首次超标", "First seen"),
    "last_value": ("最新值", "Last value"),
    "peak": ("峰值", "Peak"),
    "occurrences": ("次数", "Occurrences"),
    "failing_channels": ("通知渠道故障：{names}", "Notification channels failing: {names}"),
    "notifications": ("通知", "Notifications"),
    "silence": ("静默", "Silence"),
    "silence_site": ("静默此点位的通知", "Silence this site's notifications"),
    "silence_rule": ("静默此规则的通知（本辖区）", "Silence this rule's notifications (your area)"),
    "silenced": (
        "{what} 通知静默至 {until}（{who} 设置：{reason}），案件照常生成",
        "{what}: notifications held until {until} (set by {who}: {reason}); cases still raised",
    ),
    "lift": ("解除", "Lift"),
    "hours": ("{n} 小时", "{n} h"),
    "how_long": ("时长", "For"),
    "attempts": ("发送 {n} 次", "{n} attempt(s)"),
    "delivery_pending": ("待发送", "pending"),
    "delivery_held": ("静默中暂缓", "held by a silence"),
    "delivery_sent": ("已送达", "sent"),
    "delivery_dropped": ("已取消", "dropped"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export Excel"),
    "weights": ("权重", "Weights"),
    "month_label": ("月份", "Month"),
    "not_found_township": ("没有这个乡镇，或不在您的辖区", "No such township, or not in your area"),
    "townships_ranked": ("乡镇排名", "Townships ranked"),
    "all": ("全部", "All"),
    "none_open": ("无在办案件", "nothing open"),
    "river_flow": ("河流（上游→下游）", "river (upstream → downstream)"),
    "open_cases": ("在办 {n} 件", "{n} open"),
    "unplaced": ("未标注坐标的点位：{names}", "Sites without coordinates: {names}"),
}

STATES: dict[str, tuple[str, str]] = {
    "raised": ("待交办", "raised"),
    "dispatched": ("已交办", "dispatched"),
    "acknowledged": ("已签收", "acknowledged"),
    "inspecting": ("现场核查", "inspecting"),
    "rectifying": ("整改中", "rectifying"),
    "reported": ("已上报", "reported"),
    "closed": ("已销号", "closed"),
    "dismissed": ("误报", "dismissed"),
}
SEVERITIES: dict[str, tuple[str, str]] = {
    "critical": ("紧急", "critical"),
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
}
ACTIONS: dict[str, tuple[str, str]] = {
    "dispatch": ("交办", "Dispatch"),
    "reassign": ("改派", "Reassign"),
    "acknowledge": ("签收", "Acknowledge"),
    "inspect": ("现场核查", "Record inspection"),
    "rectify": ("整改", "Rectifying"),
    "report": ("上报办结", "Report rectified"),
    "reject": ("退回整改", "Send back"),
    "close": ("核查销号", "Verify and close"),
    "dismiss": ("误报销案", "Dismiss as false alarm"),
    "comment": ("评论", "Comment"),
    "claim": ("认领", "Claim"),
    # Steps the system records
    "raised": ("发现问题", "Raised"),
    "dispatched": ("自动交办", "Dispatched"),
    "escalated": ("超时升级", "Escalated"),
    "overdue": ("超期", "Overdue"),
    "notified_downstream": ("通报下游", "Told downstream"),
    "condition_cleared": ("指标恢复", "Condition cleared"),
    "severity_raised": ("级别上调", "Severity raised"),
    "recurred": ("再次超标", "Recurred"),
    "reminder": ("催办提醒", "Reminder"),
}
CATEGORIES: dict[str, tuple[str, str]] = {
    "livestock_farm": ("畜禽养殖场", "livestock farm"),
    "water_body": ("重要水域", "water body"),
    "refuse_point": ("垃圾收运点", "refuse point"),
    "industrial": ("工业企业", "industrial enterprise"),
    "road_section": ("重要路段", "road section"),
    "farmland": ("农田", "farmland"),
}


def pick(pair: tuple[str, str], locale: str) -> str:
    """The word of a (zh-CN, en) pair for ``locale``."""
    return pair[1] if locale == "en" else pair[0]


def t(key: str, locale: str, **values: object) -> str:
    """The text of ``key`` in ``locale``, with ``values`` filled in."""
    return pick(TEXTS[key], locale).format(**values)


def label(table: dict[str, tuple[str, str]], key: str, locale: str) -> str:
    """A state's, severity's, action's or category's name in ``locale`` (the key if unknown)."""
    pair = table.get(key)
    return pick(pair, locale) if pair else key


def locale_of(request: Request, user_locale: str | None = None) -> str:
    """The page's language: the browser's switch, the user's choice, the browser's wish."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    if user_locale in LOCALES:
        return user_locale
    wanted = request.headers.get("accept-language", "").lower()
    return "en" if wanted.startswith("en") else DEFAULT
