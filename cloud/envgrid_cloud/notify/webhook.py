"""Posting a robot's JSON: an answer is a success only if it is HTTP 200 with errcode 0.

WeCom's and DingTalk's group robots both answer ``{"errcode": 0, "errmsg": "ok"}``; anything
else (another status, a non-zero errcode such as a rate limit's, no answer) is a failure, to be
retried.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from envgrid_cloud.notify.model import Answer


def _errcode(body: bytes) -> tuple[int | None, str]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, "the answer is not JSON"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("errcode"), int):
        return None, "the answer has no errcode"
    return parsed["errcode"], str(parsed.get("errmsg", ""))


async def post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], timeout_s: float
) -> Answer:
    """POST ``body`` as JSON to ``url``; the answer judged."""
    data = orjson.dumps(body)
    request = data.decode()
    try:
        response = await client.post(
            url,
            content=data,
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        return Answer(request, False, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    text = response.text
    if response.status_code != 200:
        return Answer(request, False, response.status_code, text, f"HTTP {response.status_code}")
    code, message = _errcode(response.content)
    if code != 0:
        why = message if code is None else f"errcode {code}: {message}"
        return Answer(request, False, response.status_code, text, why)
    return Answer(request, True, response.status_code, text)
