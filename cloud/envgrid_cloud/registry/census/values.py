"""The words and numbers of a census list's cells: categories, coordinates, water classes."""

from __future__ import annotations

import re

from envgrid_common.registry import SiteCategory, WaterClass, WaterType

# Each category's name in the census list first (it is quoted back when a value is unknown).
CATEGORY_WORDS: dict[SiteCategory, tuple[str, ...]] = {
    SiteCategory.LIVESTOCK_FARM: (
        "畜禽养殖场",
        "养殖场",
        "畜禽养殖",
        "规模养殖场",
        "畜禽规模养殖场",
        "livestock farm",
    ),
    SiteCategory.WATER_BODY: (
        "重要水域",
        "水域",
        "河流",
        "河段",
        "湖库",
        "湖泊",
        "水库",
        "水体",
        "water body",
    ),
    SiteCategory.REFUSE_POINT: (
        "垃圾收运点",
        "垃圾中转站",
        "垃圾转运站",
        "垃圾收集点",
        "refuse point",
    ),
    SiteCategory.INDUSTRIAL: ("工业企业", "企业", "industrial enterprise"),
    SiteCategory.ROAD_SECTION: ("重要路段", "道路", "路段", "road section"),
    SiteCategory.FARMLAND: ("农田", "秸秆禁烧区", "farmland"),
}
# A water body's category word may also say whether it is running or still water.
WATER_TYPE_OF_CATEGORY: dict[str, WaterType] = {
    "河流": WaterType.RIVER,
    "河段": WaterType.RIVER,
    "湖库": WaterType.LAKE,
    "湖泊": WaterType.LAKE,
    "水库": WaterType.LAKE,
}
WATER_TYPE_WORDS: dict[str, WaterType] = {
    "河流": WaterType.RIVER,
    "河": WaterType.RIVER,
    "河道": WaterType.RIVER,
    "river": WaterType.RIVER,
    "湖库": WaterType.LAKE,
    "湖泊": WaterType.LAKE,
    "湖": WaterType.LAKE,
    "水库": WaterType.LAKE,
    "lake": WaterType.LAKE,
    "reservoir": WaterType.LAKE,
}
_ROMAN = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"}
_ARABIC = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
_DEGREES = re.compile(
    r"""^(?P<hemi1>[NSEW东西南北])?\s*
        (?P<deg>[+-]?\d+(?:\.\d+)?)\s*(?:°|度)?\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|分)\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|”|''|秒)\s*)?
        (?P<hemi2>[NSEW东西南北])?$""",
    re.VERBOSE | re.IGNORECASE,
)
_NEGATIVE_HEMISPHERES = set("SWsw西南")


def _key(word: str) -> str:
    return re.sub(r"[\s_-]+", " ", word.strip().lower())


_CATEGORY_BY_WORD: dict[str, SiteCategory] = {
    _key(word): category for category, words in CATEGORY_WORDS.items() for word in words
} | {_key(category.value): category for category in SiteCategory}


def parse_category(text: str) -> SiteCategory:
    """The category a census word names (畜禽养殖场, 河流, ``water_body`` …)."""
    found = _CATEGORY_BY_WORD.get(_key(text))
    if found is None:
        known = ", ".join(words[0] for words in CATEGORY_WORDS.values())
        raise ValueError(f"category {text!r} is not one of {known}")
    return found


def parse_water_type(text: str) -> WaterType:
    """River or lake from 河流/湖库/``river``/``lake``."""
    found = WATER_TYPE_WORDS.get(_key(text))
    if found is None:
        raise ValueError(f"water type {text!r} is neither 河流 (river) nor 湖库 (lake)")
    return found


def parse_water_class(text: str) -> WaterClass:
    """A GB 3838-2002 class from Ⅲ类, III, 3, ``III类水`` …"""
    core = text.strip().upper().removeprefix("GB3838").strip()
    core = re.sub(r"(类水质|类水|类|水质|CLASS)", "", core, flags=re.IGNORECASE).strip()
    core = _ROMAN.get(core, _ARABIC.get(core, core))
    try:
        return WaterClass(core)
    except ValueError:
        raise ValueError(f"water class {text!r} is not one of Ⅰ, Ⅱ, Ⅲ, Ⅳ, Ⅴ类") from None


def parse_degrees(text: str, what: str, limit: float) -> float:
    """Decimal degrees from ``116.12``, ``116.12°``, ``E116.12``, ``116°7′12″`` …, within ±limit."""
    match = _DEGREES.match(text.strip())
    if match is None:
        raise ValueError(f"{what} {text!r} is not a number of degrees")
    value = float(match["deg"])
    minutes, seconds = match["min"], match["sec"]
    if minutes is not None or seconds is not None:
        sign = -1.0 if value < 0 else 1.0
        value = sign * (abs(value) + float(minutes or 0) / 60 + float(seconds or 0) / 3600)
    hemispheres = {h for h in (match["hemi1"], match["hemi2"]) if h}
    if hemispheres & _NEGATIVE_HEMISPHERES:
        value = -abs(value)
    if not -limit <= value <= limit:
        raise ValueError(f"{what} {value:g} is out of range (-{limit:g} to {limit:g})")
    # Seven decimals is about a centimetre: enough, and 7′12″ does not read back as …11999.
    return round(value, 7)


def parse_references(text: str) -> tuple[str, ...]:
    """Downstream sites listed in one cell, separated by 、 , ; or line breaks."""
    parts = re.split(r"[、,，;；/\n]+", text)
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
