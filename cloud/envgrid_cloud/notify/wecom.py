"""WeCom group robot (企业微信群机器人): ``{"msgtype": "markdown", "markdown": {"content"}}``.

The content is at most 4,096 bytes of UTF-8. WeCom's markdown cannot @-mention by phone, so the
assignee is named in the text.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from envgrid_cloud.notify import webhook
from envgrid_cloud.notify.model import Answer, Channel
from envgrid_cloud.notify.text import Composed, Style
from envgrid_cloud.settings import CloudSettings

LIMIT = 4096
STYLE = Style(LIMIT)


def body(composed: Composed) -> dict[str, object]:
    """The robot's JSON."""
    return {"msgtype": "markdown", "markdown": {"content": composed.text}}


async def send(
    http: httpx.AsyncClient,
    settings: CloudSettings,
    channel: Channel,
    composed: Composed,
    now: datetime,
) -> Answer:
    """Post the message to the channel's webhook."""
    return await webhook.post(http, channel.target, body(composed), settings.notify_timeout_s)
