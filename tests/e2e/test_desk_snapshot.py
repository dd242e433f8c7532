"""A camera's snapshot in the desk's case file, in a real headless Chromium: a camera node on
farmland sees smoke, the cloud opens a case, and the officer's case file shows the JPEG the
camera sent, loaded by the browser with the desk's session (not merely an <img> tag)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import cv2
import numpy as np
import orjson
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from envgrid_common.clock import SHANGHAI
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from tests.e2e.desk_support import (
    DESKTOP,
    OFFICER,
    OTHER_OFFICER,
    DeskServer,
    browser,  # noqa: F401 - fixture
    desk_server,  # noqa: F401 - fixture
    new_visitor,
    playwright,  # noqa: F401 - fixture
    shoot,
    sign_in,
)
from tests.polling import wait_until

pytestmark = pytest.mark.slow

FIELD, CAMERA, EVENT = "luxi-field-t1", "luxi-field-t1-cam", "burn-0001"
WIDTH, HEIGHT = 320, 240


def smoky_field() -> bytes:
    """A 320 × 240 JPEG: green field, grey plume (drawn here, no image from elsewhere)."""
    image = np.full((HEIGHT, WIDTH, 3), (40, 140, 60), dtype=np.uint8)
    image[: HEIGHT // 3] = (235, 200, 150)  # sky
    cv2.circle(image, (160, 110), 60, (170, 170, 170), -1)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def publish(server: DeskServer, messages: list[tuple[str, bytes]]) -> None:
    """QoS 1 messages, as the township gateway forwards them to the cloud."""
    address = BrokerAddress.parse(server.mqtt_url)
    client = new_client(f"desk-test-{uuid.uuid4().hex[:6]}", address)
    connect(client, address)
    client.loop_start()
    try:
        wait_until(client.is_connected, 10, "the broker to accept the test's publisher")
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_case_file_shows_the_cameras_snapshot(
    desk_server: DeskServer,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    server = desk_server
    with psycopg.connect(server.database_url) as conn:
        conn.execute(
            "INSERT INTO sites (id, name, category, cell_id) "
            "VALUES (%s, '枫林村晚稻田', 'farmland', 'luxi-fenglin-g2')",
            (FIELD,),
        )
        conn.execute(
            "INSERT INTO nodes (id, site_id, kind) VALUES (%s, %s, 'camera')", (CAMERA, FIELD)
        )
    ts = datetime.now(SHANGHAI).replace(microsecond=0).isoformat()
    detection = {
        "seq": 1, "ts": ts, "event_id": EVENT, "kind": "smoke", "phase": "new",
        "confidence": 0.92, "bbox": [100, 50, 120, 120], "has_snapshot": True,
    }  # fmt: skip
    # The snapshot may reach the cloud before its detection: they are linked when read.
    publish(
        server,
        [
            (server.topics.snapshot(CAMERA, EVENT), smoky_field()),
            (server.topics.detections(CAMERA), orjson.dumps(detection)),
        ],
    )
    deadline = time.monotonic() + 30
    case_id = None
    while case_id is None and time.monotonic() < deadline:
        case_id = server.scalar(
            "SELECT c.id FROM cases c JOIN case_snapshots s ON s.case_id = c.id "
            "WHERE c.site_id = %s",
            FIELD,
        )
        time.sleep(0.1)
    assert case_id is not None, "the detection and its snapshot did not become a case's"

    officer = new_visitor(browser, server.base, DESKTOP)
    page = officer.page
    sign_in(page, OFFICER, f"/cases/{case_id}")
    image = page.get_by_test_id("snapshot-image")
    expect(image).to_have_count(1, timeout=10000)
    expect(image).to_be_visible()
    wait_until(
        lambda: image.evaluate("el => el.complete && el.naturalWidth > 0"),
        10,
        "the snapshot to load",
    )
    assert image.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [WIDTH, HEIGHT]
    box = image.bounding_box()
    assert box is not None
    assert box["height"] > HEIGHT / 2, f"the snapshot is not shown: {box}"
    expect(page.get_by_test_id("case-snapshot")).to_contain_text(CAMERA)
    shoot(page, "desktop-zh-case-file-snapshot")
    assert officer.foreign_requests == []

    # Another village's officer gets neither the case nor its image.
    stranger = new_visitor(browser, server.base, DESKTOP)
    sign_in(stranger.page, OTHER_OFFICER, f"/cases/{case_id}")
    expect(stranger.page.get_by_test_id("not-found")).to_be_visible()
    url = f"/api/v1/cases/{case_id}/snapshots/{CAMERA}/{EVENT}"
    assert stranger.page.request.get(url).status == 404
    assert page.request.get(url).headers["content-type"] == "image/jpeg"
