"""A channel as the deliverer uses it, and what a delivery attempt sent and got back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESPONSE_MAX = 4000  # characters of an answer kept
REQUEST_MAX = 65536  # characters of what was sent kept


@dataclass(frozen=True, slots=True)
class Channel:
    """Where a message goes."""

    id: int
    name: str
    kind: str  # wecom, dingtalk, email
    target: str  # the webhook URL, or the e-mail address
    secret: str | None
    rate_per_minute: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Channel:
        """From a row of notify_channels."""
        return cls(
            row["id"],
            row["name"],
            row["kind"],
            row["target"],
            row["secret"],
            row["rate_per_minute"],
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt sent and the answer: ok or not, HTTP status and body or SMTP reply."""

    request: str
    ok: bool
    status: int | None = None
    response: str | None = None
    error: str | None = None

    def kept(self) -> Answer:
        """The same, cut to what is stored."""
        return Answer(
            self.request[:REQUEST_MAX],
            self.ok,
            self.status,
            None if self.response is None else self.response[:RESPONSE_MAX],
            None if self.error is None else self.error[:RESPONSE_MAX],
        )
