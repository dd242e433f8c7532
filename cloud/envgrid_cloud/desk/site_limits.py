"""A site's limits per metric, from the rules that judge it (its pack, class and overrides)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from envgrid_cloud.rules.model import ThresholdRule
from envgrid_cloud.rules.packs import SiteRules, rules_for_site
from envgrid_common.registry import SiteCategory

log = logging.getLogger("envgrid.desk")


def site_limits(row: Mapping[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """Per metric, the (lowest, highest) value the site's threshold rules allow."""
    site = SiteRules(
        site_id=row["id"],
        category=SiteCategory(row["category"]),
        target_class=row.get("target_class"),
        water_type=row.get("water_type"),
        overrides=row.get("rule_overrides") or {},
    )
    try:
        rules = rules_for_site(site)
    except ValueError as error:  # overrides the packs no longer know: show no limits
        log.warning("site %s: its rules cannot be resolved: %s", row["id"], error)
        return {}
    limits: dict[str, tuple[float | None, float | None]] = {}
    for rule in rules:
        # Instantaneous limits only: a daily mean's limit is not what one reading is held to.
        if not isinstance(rule, ThresholdRule):
            continue
        metric, above, below = rule.metric, rule.above, rule.below
        low, high = limits.get(metric, (None, None))
        limits[metric] = (
            below if low is None else (low if below is None else max(low, below)),
            above if high is None else (high if above is None else min(high, above)),
        )
    return limits


def limit_text(limit: tuple[float | None, float | None] | None) -> str:
    """``≤ 1.5``, ``≥ 5``, ``6–9``, or a dash without a limit."""
    if limit is None:
        return "—"
    low, high = limit
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    return f"≤ {high:g}" if high is not None else f"≥ {low:g}"
