"""Deliveries of a case to channels, and each attempt."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envgrid_cloud.api.models.channels import ChannelKind
from envgrid_cloud.api.models.common import Out, ShanghaiTime


class Attempt(Out):
    """One message sent (or tried) and the answer."""

    id: int
    channel_id: int
    channel_name: str
    channel_kind: ChannelKind
    at: ShanghaiTime
    ok: bool
    status: int | None = Field(description="HTTP status, or the SMTP reply code")
    response: str | None = Field(description="The answer's body, or the SMTP reply")
    error: str | None = Field(description="Why it failed, in words")
    digest: bool = Field(description="Several cases in one message")
    cases: int = Field(description="Cases the message carried")
    request: str | None = Field(
        description="What was sent (the JSON body, or the e-mail); to others than "
        "administrators only when the message carried this case alone"
    )
    duration_ms: int


class Delivery(Out):
    """A notification of a case to one channel: queued, held, sent or dropped."""

    id: int
    channel_id: int
    channel_name: str
    channel_kind: ChannelKind
    event: str = Field(description="raised, escalated, reminder, …")
    state: Literal["pending", "held", "sent", "dropped"]
    created_at: ShanghaiTime
    due_at: ShanghaiTime
    attempts: int
    last_error: str | None
    sent_at: ShanghaiTime | None
    attempt_id: int | None = Field(description="The message that carried it last")
    silence_id: int | None = Field(description="The silence that held it")


class CaseDeliveries(Out):
    """Who was told of a case, and every attempt with its answer."""

    case_id: int
    items: list[Delivery]
    attempts: list[Attempt]
