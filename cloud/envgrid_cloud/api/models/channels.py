"""Notification channels (robots, e-mail) as the API shows and takes them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import AfterValidator, Field, model_validator

from envgrid_cloud.api.models.common import In, Out, ShanghaiTime, strip_blanks
from envgrid_cloud.cases.model import Severity
from envgrid_common.messages import Identifier

# No control characters (C0, DEL, C1) anywhere; at least one character that is not a blank.
_CONTROLS = r"\x00-\x1f\x7f-\x9f"

URL_PATTERN = rf"^https?://[^\s{_CONTROLS}]+$"

EMAIL_PATTERN = rf"^[^@\s{_CONTROLS}]+@[^@\s{_CONTROLS}]+\.[^@\s{_CONTROLS}]+$"

ROBOTS = ("wecom", "dingtalk")

DEFAULT_RATE = {"wecom": 20, "dingtalk": 20, "email": 60}  # messages a minute

MASK_KEEP = 4  # characters of a credential in a URL left visible

ChannelName = Annotated[
    str,
    Field(
        min_length=1, max_length=200, pattern=rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"
    ),
    AfterValidator(strip_blanks),
]

Target = Annotated[
    str,
    Field(
        min_length=3,
        max_length=2000,
        pattern=rf"^[^\s{_CONTROLS}]+$",
        description="The robot's webhook URL (http or https), or the e-mail address",
    ),
]

Secret = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=rf"^[^\s{_CONTROLS}]+$",
        description="DingTalk's signing secret (加签, SEC…); never shown again",
    ),
]


class ChannelKind(StrEnum):
    """Where a channel sends: a WeCom group robot, a DingTalk custom robot, an e-mail address."""

    WECOM = "wecom"
    DINGTALK = "dingtalk"
    EMAIL = "email"


def mask(kind: str, target: str) -> str:
    """A robot's URL with the credentials in its query cut to their last characters."""
    if kind not in ROBOTS:
        return target
    parts = urlsplit(target)
    query = "&".join(
        f"{k}={v if len(v) <= MASK_KEEP else '…' + v[-MASK_KEEP:]}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


class NotifyChannel(Out):
    """Where notifications go (通知渠道), and whether it works."""

    id: int
    name: str
    kind: ChannelKind
    target: str = Field(
        description="The webhook URL with its key or token cut short, or the e-mail address"
    )
    has_secret: bool = Field(description="DingTalk: messages are signed (加签)")
    cell_id: str | None = Field(
        description="A group channel hears of the cases of this cell and below; null: all"
    )
    user_id: str | None = Field(
        description="A personal channel: it hears of the cases given to this user"
    )
    min_severity: Severity = Field(description="Cases less severe are not sent here")
    enabled: bool
    rate_per_minute: int = Field(description="Most messages a minute (robots accept 20)")
    failing: bool = Field(description="Failed enough times in a row to be shown as failing")
    failing_since: ShanghaiTime | None
    consecutive_failures: int
    last_error: str | None = Field(description="Why the last attempt failed")
    last_attempt_at: ShanghaiTime | None
    last_success_at: ShanghaiTime | None
    retry_at: ShanghaiTime | None = Field(description="Backing off: the next try, not before")
    pending: int = Field(description="Notifications waiting to be sent here")
    held: int = Field(description="Notifications held by a silence")
    created_at: ShanghaiTime
    updated_at: ShanghaiTime


class ChannelCreate(In):
    """A new channel: a group's (an area, or everywhere) or a person's (``user_id``)."""

    name: ChannelName
    kind: ChannelKind
    target: Target
    secret: Secret | None = Field(default=None, description="DingTalk only")
    cell_id: Identifier | None = Field(
        default=None, description="Group channel: the area it covers (omit: everywhere)"
    )
    user_id: Identifier | None = Field(
        default=None, description="Personal channel: the user it belongs to (no cell_id then)"
    )
    min_severity: Severity = Severity.LOW
    enabled: bool = True
    rate_per_minute: int | None = Field(
        default=None, ge=1, le=600, description="Default: 20 for robots, 60 for e-mail"
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> ChannelCreate:
        if self.kind is ChannelKind.EMAIL:
            if not re.fullmatch(EMAIL_PATTERN, self.target) or len(self.target) > 254:
                raise ValueError("an e-mail channel's target is an e-mail address")
        elif not re.fullmatch(URL_PATTERN, self.target):
            raise ValueError("a robot's target is its webhook URL (http:// or https://)")
        if self.secret is not None and self.kind is not ChannelKind.DINGTALK:
            raise ValueError("only a DingTalk robot has a signing secret")
        if self.cell_id is not None and self.user_id is not None:
            raise ValueError("a personal channel (user_id) has no area (cell_id)")
        return self

    def rate(self) -> int:
        """The rate asked for, or the kind's default."""
        return self.rate_per_minute or DEFAULT_RATE[self.kind.value]


class ChannelUpdate(In):
    """Changes to a channel: only the fields sent change (``secret: null`` removes it)."""

    name: ChannelName | None = None
    kind: ChannelKind | None = None
    target: Target | None = None
    secret: Secret | None = None
    cell_id: Identifier | None = None
    user_id: Identifier | None = None
    min_severity: Severity | None = None
    enabled: bool | None = None
    rate_per_minute: int | None = Field(default=None, ge=1, le=600)


class ChannelRemoved(Out):
    """What removing a channel did."""

    id: int
    outcome: Literal["deleted", "disabled"]
    detail: str
