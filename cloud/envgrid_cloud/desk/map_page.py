"""``/map``: the user's area drawn from the registry (no map tiles exist offline): sites at their
coordinates coloured by their worst open case, rivers from upstream to downstream, village
names. Tap a site for its page."""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.client import Client

from envgrid_cloud.api import scope
from envgrid_cloud.api.sql import fetch_all
from envgrid_cloud.desk.context import desk
from envgrid_cloud.desk.i18n import CATEGORIES, SEVERITIES, label, t
from envgrid_cloud.desk.layout import frame
from envgrid_cloud.desk.live import follow_cases
from envgrid_cloud.desk.signin import to_login
from envgrid_cloud.desk.sql import fetch_all as fetch_desk
from envgrid_cloud.desk.visit import Visit, visit_of

COLOURS = {
    "critical": "#c10015",
    "high": "#e65100",
    "medium": "#f2c037",
    "low": "#9e9e9e",
    None: "#21ba45",  # nothing open
}
RIVER = "#1976d2"
MIN_ZOOM, MAX_ZOOM = 3, 17
ARROW_SHARE = 0.12  # the arrowhead's length as a share of its river segment (at most)
ARROW_ANGLE = math.radians(25)


def arrowhead(start: tuple[float, float], end: tuple[float, float]) -> list[list[float]]:
    """Two short strokes at ``end`` pointing along start → end: the way the water flows."""
    (lat1, lon1), (lat2, lon2) = start, end
    back = math.atan2(lat1 - lat2, lon1 - lon2)
    length = ARROW_SHARE * math.hypot(lat1 - lat2, lon1 - lon2)
    wing = [
        [lat2 + length * math.sin(back + turn), lon2 + length * math.cos(back + turn)]
        for turn in (ARROW_ANGLE, -ARROW_ANGLE)
    ]
    return [wing[0], [lat2, lon2], wing[1]]


def view_of(sites: list[dict[str, Any]]) -> tuple[tuple[float, float], int]:
    """Centre and zoom that show every placed site on a phone-sized map."""
    placed = [(s["lat"], s["lon"]) for s in sites if s["lat"] is not None and s["lon"] is not None]
    if not placed:
        return (0.0, 0.0), 2
    lats, lons = [p[0] for p in placed], [p[1] for p in placed]
    centre = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    # A tile is 256 px for 360° / 2^zoom of longitude; fit the span into about 300 px.
    span = max(max(lons) - min(lons), (max(lats) - min(lats)) * 1.2, 1e-4)
    zoom = math.floor(math.log2(300 / 256 * 360 / span))
    return centre, max(MIN_ZOOM, min(MAX_ZOOM, zoom))


async def _map_data(visit: Visit) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    async with desk().pool.connection() as conn:
        sites = [
            dict(r)
            for r in await fetch_desk(conn, "desk_map_sites", area=scope.area(visit.principal))
        ]
        edges = await fetch_all(conn, "site_downstream_edges")
    placed = {s["id"] for s in sites if s["lat"] is not None and s["lon"] is not None}
    rivers = [
        (e["site_id"], e["downstream_id"])
        for e in edges
        if e["site_id"] in placed and e["downstream_id"] in placed
    ]
    return sites, rivers


def _legend(locale: str) -> None:
    with ui.row().classes("gap-3 items-center eg-muted").props("data-testid=map-legend"):
        for severity, colour in COLOURS.items():
            ui.icon("circle").style(f"color: {colour}")
            ui.label(label(SEVERITIES, severity, locale) if severity else t("none_open", locale))
        ui.icon("trending_flat").style(f"color: {RIVER}")
        ui.label(t("river_flow", locale))


async def _draw(
    the_map: ui.leaflet, sites: list[dict[str, Any]], rivers: list[tuple[str, str]], locale: str
) -> None:
    placed = {s["id"]: s for s in sites if s["lat"] is not None and s["lon"] is not None}
    await the_map.initialized()
    the_map.clear_layers()
    for upstream, downstream in rivers:
        a, b = placed[upstream], placed[downstream]
        start, end = (a["lat"], a["lon"]), (b["lat"], b["lon"])
        style = {"color": RIVER, "weight": 4, "opacity": 0.7}
        the_map.generic_layer(name="polyline", args=[[list(start), list(end)], style])
        the_map.generic_layer(name="polyline", args=[arrowhead(start, end), style])
    villages: dict[str, list[tuple[float, float]]] = {}
    for site in placed.values():
        if site["village_name"]:
            villages.setdefault(site["village_name"], []).append((site["lat"], site["lon"]))
        colour = COLOURS.get(site["worst_severity"], COLOURS[None])
        marker = the_map.generic_layer(
            name="circleMarker",
            args=[
                [site["lat"], site["lon"]],
                {"radius": 9, "color": "#fff", "weight": 2, "fillColor": colour,
                 "fillOpacity": 0.95, "className": f"eg-site eg-site-{site['id']}"},
            ],
        )  # fmt: skip
        open_cases = int(site["open_cases"] or 0)
        tip = f"{site['name']} · {label(CATEGORIES, site['category'], locale)}"
        if open_cases:
            tip += f" · {t('open_cases', locale, n=open_cases)}"
        the_map.run_layer_method(marker.id, "bindTooltip", tip, {"direction": "top"})
        target = orjson.dumps(f"/sites/{site['id']}").decode()
        the_map.run_layer_method(
            marker.id, ":on", "'click'", f"() => window.location.assign({target})"
        )
    for name, points in villages.items():
        lat = sum(p[0] for p in points) / len(points)
        lon = sum(p[1] for p in points) / len(points)
        label_layer = the_map.generic_layer(
            name="circleMarker", args=[[lat, lon], {"radius": 0, "opacity": 0}]
        )
        the_map.run_layer_method(
            label_layer.id,
            "bindTooltip",
            name,
            {"permanent": True, "direction": "center", "className": "eg-village"},
        )


VILLAGE_STYLE = """
<style>
.leaflet-tooltip.eg-village { background: transparent; border: none; box-shadow: none;
  font-weight: 600; color: #37474f; font-size: 13px; text-shadow: 0 0 3px #fff; }
.leaflet-tooltip.eg-village::before { display: none; }
.eg-map { width: 100%; height: calc(100vh - 170px); min-height: 320px; background: #eef3ee; }
</style>
"""


@ui.page("/map")
async def map_page(request: Request, client: Client) -> RedirectResponse | None:
    """The map of the user's area; it redraws when a case changes."""
    visit = await visit_of(request)
    if visit is None:
        return to_login(request)
    locale = visit.locale
    frame(visit.principal, locale, t("map", locale))
    ui.add_head_html(VILLAGE_STYLE)
    sites, rivers = await _map_data(visit)
    with ui.column().classes("eg-page gap-2") as page:
        _legend(locale)
        unplaced = [s["name"] for s in sites if s["lat"] is None or s["lon"] is None]
        if unplaced:
            ui.label(t("unplaced", locale, names="、".join(unplaced))).classes("eg-muted")
        centre, zoom = view_of(sites)
        the_map = ui.leaflet(center=centre, zoom=zoom, options={"attributionControl": False})
        # Leaflet adds OpenStreetMap's tiles by default: a township intranet cannot reach them
        # (and no page may load from another host), so they go before the map is sent.
        the_map.layers.clear()
        the_map.classes("eg-map").props("data-testid=map")

    async def redraw() -> None:
        fresh_sites, fresh_rivers = await _map_data(visit)
        await _draw(the_map, fresh_sites, fresh_rivers, locale)

    async def hear(event: str, data: str) -> None:
        if await desk().live_scope.allows(visit.principal, event, data):
            await redraw()

    follow_cases(client, page, hear, redraw)
    ui.timer(0.1, lambda: _draw(the_map, sites, rivers, locale), once=True)
    return None
