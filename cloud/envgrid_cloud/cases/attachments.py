"""Photos and documents attached to a step of a case: checked, then kept in the case's file.

An attachment is ``{"name", "content_type", "url"}`` (kept elsewhere, e.g. a camera snapshot) or
``{"name", "content_type", "data_base64"}`` (uploaded with the step). Uploaded data is stored
in the event's ``attachments`` jsonb, base64 as sent: no second storage to run or back up, and the
file stays whole with its case. That is why it is small: a phone photo resized for evidence fits;
a video does not (link it by url instead). The API lists attachments without their data and
serves each at its own URL.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from collections.abc import Mapping, Sequence
from typing import Any

from envgrid_cloud.cases.errors import Invalid

MAX_ATTACHMENTS = 6  # per step
MAX_BYTES = 2 * 1024 * 1024  # each, decoded
MAX_TOTAL_BYTES = 8 * 1024 * 1024  # per step, decoded
NAME_MAX = 200
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")
_URL = re.compile(r"^https?://\S+$")


def _clean(index: int, item: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    where = f"attachment {index + 1}"
    name = str(item.get("name") or "").strip()
    content_type = str(item.get("content_type") or "").strip()
    url, data = item.get("url"), item.get("data_base64")
    if not name or len(name) > NAME_MAX:
        raise Invalid(f"{where}: a name of 1 to {NAME_MAX} characters is required")
    if not _CONTENT_TYPE.match(content_type):
        raise Invalid(f"{where} ({name}): content_type must be a media type like image/jpeg")
    if (url is None) == (data is None):
        raise Invalid(f"{where} ({name}): give either url or data_base64, not both or neither")
    if url is not None:
        if not isinstance(url, str) or not _URL.match(url):
            raise Invalid(f"{where} ({name}): url must be an http(s) URL")
        return {"name": name, "content_type": content_type, "url": url}, 0
    try:
        size = len(b64decode(str(data), validate=True))
    except (binascii.Error, ValueError):
        raise Invalid(f"{where} ({name}): data_base64 is not valid base64") from None
    if size > MAX_BYTES:
        raise Invalid(f"{where} ({name}): {size} bytes is over the limit of {MAX_BYTES} per file")
    cleaned = {"name": name, "content_type": content_type, "size": size, "data_base64": data}
    return cleaned, size


def clean_attachments(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The attachments as stored, or ``Invalid`` saying which one is wrong and why."""
    if len(items) > MAX_ATTACHMENTS:
        raise Invalid(f"at most {MAX_ATTACHMENTS} attachments per step, not {len(items)}")
    cleaned, total = [], 0
    for index, item in enumerate(items):
        stored, size = _clean(index, item)
        cleaned.append(stored)
        total += size
    if total > MAX_TOTAL_BYTES:
        raise Invalid(f"attachments total {total} bytes, over the limit of {MAX_TOTAL_BYTES}")
    return cleaned
