"""The desk's pure parts: charts, limits, the map's drawing, photos, sign-in redirects, language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from starlette.requests import Request

from envgrid_cloud.api.models.cases import Case, CaseFile, CaseReading
from envgrid_cloud.cases.errors import Invalid
from envgrid_cloud.desk.case_chart import beijing_ms, case_chart_options, limits_of
from envgrid_cloud.desk.i18n import TEXTS, locale_of, t
from envgrid_cloud.desk.map_page import arrowhead, view_of
from envgrid_cloud.desk.photos import MAX_SIDE, shrink_photo
from envgrid_cloud.desk.signin import safe_next
from envgrid_cloud.desk.site_limits import limit_text, site_limits

T = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def _file(detail: dict[str, object], metric: str | None = "cod") -> CaseFile:
    case = Case.model_validate(
        {
            "id": 1, "site_id": "river", "rule_id": "cod", "township_id": "luxi",
            "node_id": "n1", "metric": metric, "severity": "high", "state": "dispatched",
            "title": "COD", "detail": detail, "source": "rule", "first_seen_at": T,
            "last_seen_at": T, "raised_at": T, "occurrences": 1, "first_value": 45.0,
            "last_value": 45.0, "peak_value": 45.0, "cleared_at": None, "assignee_id": "o",
            "assigned_cell_id": "v", "escalation_level": 0, "ack_due_at": None,
            "close_due_at": None, "closed_at": None, "updated_at": T,
        }
    )  # fmt: skip
    readings = [
        CaseReading(node_id=node, ts=T + timedelta(minutes=i), seq=i, values=values,
                    flags=None, historical=False)
        for i, (node, values) in enumerate(
            [("n1", {"cod": 12.0}), ("n1", {"cod": 45.0}), ("n2", {"cod": 30.0}),
             ("n1", {"nh3n": 1.0})]
        )
    ]  # fmt: skip
    return CaseFile(
        case=case, events=[], notifications=[], readings_start=T - timedelta(hours=1),
        readings_end=T + timedelta(hours=1), readings=readings, readings_limit=2000,
        readings_truncated=False,
    )  # fmt: skip


def test_case_chart_draws_the_limit_and_one_line_per_node_in_beijing_time() -> None:
    options = case_chart_options(_file({"limit": 20.0, "above": 20.0, "direction": "above"}), "zh")
    assert options is not None
    series = options["series"]
    assert [s["name"] for s in series] == ["n1", "n2"]
    assert [p[1] for p in series[0]["data"]] == [12.0, 45.0]  # the nh3n-only reading left out
    assert series[0]["markLine"]["data"] == [{"yAxis": 20.0}]
    assert "限值" in series[0]["markLine"]["label"]["formatter"]
    assert options["useUTC"] is True
    # 05:00 UTC is drawn as 13:00 on the chart's (UTC) clock: Beijing's wall time.
    assert (
        series[0]["data"][0][0] == int(datetime(2026, 12, 6, 13, 0, tzinfo=UTC).timestamp()) * 1000
    )
    assert options["xAxis"]["min"] == beijing_ms(T - timedelta(hours=1))


def test_case_chart_none_without_a_metric_or_values() -> None:
    assert case_chart_options(_file({}, metric=None), "en") is None
    assert case_chart_options(_file({}, metric="ph"), "en") is None


def test_limits_of_a_band_and_of_nothing() -> None:
    assert limits_of({"above": 9, "below": 6, "limit": 9}) == [6.0, 9.0]
    assert limits_of({"since": "x"}) == []


def test_site_limits_follow_the_water_class_and_overrides() -> None:
    base = {"id": "r", "category": "water_body", "target_class": "III", "water_type": "river"}
    assert site_limits(base)["cod"] == (None, 20.0)
    assert site_limits({**base, "target_class": "V"})["cod"] == (None, 40.0)
    assert site_limits({**base, "rule_overrides": {"cod": {"enabled": False}}}).get("cod") is None
    assert limit_text((6.0, 9.0)) == "6–9"
    assert limit_text((None, 1.5)) == "≤ 1.5"
    assert limit_text((5.0, None)) == "≥ 5"
    assert limit_text(None) == "—"


def test_arrowhead_points_downstream() -> None:
    wing1, tip, wing2 = arrowhead((0.0, 0.0), (0.0, 1.0))  # flowing east
    assert tip == [0.0, 1.0]
    assert wing1[1] < 1.0  # both wings trail behind the tip
    assert wing2[1] < 1.0
    assert wing1[0] == pytest.approx(-wing2[0])


def test_map_view_fits_the_sites() -> None:
    sites: list[dict[str, Any]] = [
        {"lat": 27.60, "lon": 114.00},
        {"lat": 27.64, "lon": 114.06},
        {"lat": None, "lon": None},
    ]
    (lat, lon), zoom = view_of(sites)
    assert (lat, lon) == pytest.approx((27.62, 114.03))
    assert 11 <= zoom <= 14
    assert view_of([]) == ((0.0, 0.0), 2)


def test_a_phone_photo_is_shrunk_to_a_jpeg() -> None:
    image = np.zeros((3000, 4000, 3), dtype=np.uint8)
    image[:, :2000] = (0, 0, 255)
    ok, png = cv2.imencode(".png", image)
    assert ok
    data, name = shrink_photo(png.tobytes(), "现场.png")
    assert name == "现场.jpg"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape[:2] == (1200, MAX_SIDE)
    with pytest.raises(Invalid, match="not a photo"):
        shrink_photo(b"%PDF-1.4 not an image", "report.pdf")


def test_after_sign_in_only_paths_of_this_desk() -> None:
    assert safe_next("/cases/5?x=1") == "/cases/5?x=1"
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil", None, ""):
        assert safe_next(elsewhere) == "/"


def _request(cookie: str = "", accept: str = "") -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    return Request({"type": "http", "headers": headers})


def test_language_the_browser_switch_then_the_user_then_the_browser() -> None:
    assert locale_of(_request()) == "zh-CN"
    assert locale_of(_request(accept="en-US,en;q=0.9")) == "en"
    assert locale_of(_request(accept="en-US"), "zh-CN") == "zh-CN"
    assert locale_of(_request(cookie="envgrid_lang=en"), "zh-CN") == "en"
    assert locale_of(_request(cookie="envgrid_lang=fr", accept="en")) == "en"


def test_every_text_exists_in_both_languages() -> None:
    for key, (zh, en) in TEXTS.items():
        assert zh, key
        assert en, key
    assert t("ack_selected", "en", n=3) == "Acknowledge selected (3)"
