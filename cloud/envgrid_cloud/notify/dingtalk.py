"""DingTalk custom robot (钉钉自定义机器人): markdown with a title, @-mentioning the assignee.

``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles": [...]}}``; a
mentioned phone must also appear as ``@phone`` in the text. With a secret (加签), the URL
carries ``&timestamp=<ms>&sign=<sign>``: the base64 HMAC-SHA256 of ``timestamp + "\\n" +
secret`` keyed by the secret, URL-encoded. Lines are separated by blank lines (DingTalk's
markdown joins single line breaks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

import httpx

from envgrid_cloud.notify import webhook
from envgrid_cloud.notify.model import Answer, Channel
from envgrid_cloud.notify.text import Composed, Style
from envgrid_cloud.settings import CloudSettings

LIMIT = 4096  # bytes of text, as WeCom's: a digest reads the same on both
MENTIONS_RESERVE = 200  # bytes kept for the @phone line
STYLE = Style(LIMIT - MENTIONS_RESERVE, sep="\n\n")


def sign(secret: str, timestamp_ms: int) -> str:
    """The signature of a timestamp: base64 of HMAC-SHA256(secret, "timestamp\\nsecret")."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def signed_url(target: str, secret: str | None, now: datetime) -> str:
    """The webhook URL, signed at ``now`` when there is a secret."""
    if not secret:
        return target
    timestamp = int(now.timestamp() * 1000)
    joiner = "&" if "?" in target else "?"
    return f"{target}{joiner}timestamp={timestamp}&sign={quote(sign(secret, timestamp), safe='')}"


def body(composed: Composed) -> dict[str, object]:
    """The robot's JSON."""
    text = composed.text
    if composed.mentions:
        text += "\n\n" + " ".join(f"@{phone}" for phone in composed.mentions)
    return {
        "msgtype": "markdown",
        "markdown": {"title": composed.title, "text": text},
        "at": {"atMobiles": list(composed.mentions), "isAtAll": False},
    }


async def send(
    http: httpx.AsyncClient,
    settings: CloudSettings,
    channel: Channel,
    composed: Composed,
    now: datetime,
) -> Answer:
    """Post the message to the channel's webhook, signed when it has a secret."""
    url = signed_url(channel.target, channel.secret, now)
    return await webhook.post(http, url, body(composed), settings.notify_timeout_s)
