"""Refused messages (死信) as the API lists them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class DeadLetter(Out):
    """A refused message (死信), kept with the reason."""

    id: int
    fingerprint: str = Field(description="Hex digest that makes a resent message count once")
    source: str = Field(description="Who refused it: a gateway id or the ingest")
    topic: str
    reason: str
    payload: str = Field(description="The message as received, in `encoding`")
    encoding: Literal["utf-8", "base64"]
    received_at: ShanghaiTime = Field(description="When the refusing component received it")
    stored_at: ShanghaiTime = Field(description="When the cloud stored it")


class DeadLetters(Out):
    """Dead letters, newest first."""

    count: int = Field(description="Dead letters matching the filters (all, not only these)")
    items: list[DeadLetter]
