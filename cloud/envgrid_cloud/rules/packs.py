"""Rule packs: one versioned YAML file per site category, resolved and overridden per site.

A pack rule may give its limits per GB 3838 water class (``above_by_class``,
``below_by_class``), with lake and reservoir values (``lake_above_by_class``, …) and a
restriction to some water types (``water_types: [lake]``). A site resolves them with its target
class (class III when it has none: the class most township waters are assigned) and its water
type (a river when unknown: lakes and reservoirs must be declared for their stricter limits).
A site's overrides then replace fields of its rules by rule id; ``enabled: false`` drops a rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envgrid_cloud.rules import aqi
from envgrid_cloud.rules.model import AqiRule, Limit, Rule, RuleError, explain, parse_rule
from envgrid_common.registry import SiteCategory

__all__ = [
    "Pack",
    "PackEntry",
    "RuleError",
    "SiteRules",
    "load_packs",
    "parse_pack",
    "rules_for_site",
    "validate_overrides",
]

PACKS = "envgrid_cloud.rules.data.packs"
WaterClass = Literal["I", "II", "III", "IV", "V"]
WaterType = Literal["river", "lake"]
WATER_CLASSES: tuple[WaterClass, ...] = get_args(WaterClass)
WATER_TYPES: tuple[WaterType, ...] = get_args(WaterType)
DEFAULT_CLASS: WaterClass = "III"
DEFAULT_WATER_TYPE: WaterType = "river"
# A rule's identity and what it measures are the pack's; a site changes limits and timing.
FIXED_FIELDS = frozenset({"id", "type", "metric"})

ByClass = dict[WaterClass, Limit]


class ClassLimits(BaseModel):
    """The per-class part of a pack rule (the rest is the rule itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    above_by_class: ByClass | None = None
    below_by_class: ByClass | None = None
    lake_above_by_class: ByClass | None = None
    lake_below_by_class: ByClass | None = None
    water_types: Annotated[tuple[WaterType, ...], Field(min_length=1)] = WATER_TYPES

    @model_validator(mode="after")
    def _every_class(self) -> ClassLimits:
        for name in ("above_by_class", "below_by_class"):
            for key in (name, f"lake_{name}"):
                table = getattr(self, key)
                if table is not None and set(table) != set(WATER_CLASSES):
                    missing = [c for c in WATER_CLASSES if c not in table]
                    raise ValueError(f"{key}: no limit for class {', '.join(missing)}")
        return self

    @property
    def by_class(self) -> bool:
        """Whether any limit depends on the water class."""
        return any(getattr(self, k) is not None for k in CLASS_KEYS if k != "water_types")

    def limits(self, target_class: WaterClass, water_type: WaterType) -> dict[str, float]:
        """Concrete ``above``/``below`` for a class and water type (lake values win for lakes)."""
        out: dict[str, float] = {}
        for side in ("above", "below"):
            table = getattr(self, f"lake_{side}_by_class") if water_type == "lake" else None
            table = table or getattr(self, f"{side}_by_class")
            if table is not None:
                out[side] = table[target_class]
        return out


CLASS_KEYS = frozenset(ClassLimits.model_fields)


@dataclass(frozen=True, slots=True)
class PackEntry:
    """One rule as a pack writes it: its fields, and its per-class limits if any."""

    id: str
    fields: Mapping[str, Any]
    class_limits: ClassLimits

    def applies(self, water_type: WaterType) -> bool:
        """Whether the rule is for this water type at all (TN: lakes and reservoirs only)."""
        return water_type in self.class_limits.water_types

    def resolve(self, target_class: WaterClass, water_type: WaterType) -> dict[str, Any]:
        """The rule's fields with its limits for this class and water type."""
        return {**self.fields, **self.class_limits.limits(target_class, water_type)}

    def variants(self) -> Iterator[tuple[WaterClass, WaterType]]:
        """Every (class, water type) the rule resolves differently for."""
        classes = WATER_CLASSES if self.class_limits.by_class else (DEFAULT_CLASS,)
        for water_type in self.class_limits.water_types:
            for target_class in classes:
                yield target_class, water_type


@dataclass(frozen=True, slots=True)
class Pack:
    """The rules of one site category, as a versioned file gives them."""

    category: SiteCategory
    version: str
    source: str
    entries: tuple[PackEntry, ...]
    note: str | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The pack's rule ids, in file order."""
        return tuple(e.id for e in self.entries)

    def entry(self, rule_id: str) -> PackEntry | None:
        """The pack rule ``rule_id``, if there is one."""
        return next((e for e in self.entries if e.id == rule_id), None)

    def rules(
        self,
        target_class: WaterClass = DEFAULT_CLASS,
        water_type: WaterType = DEFAULT_WATER_TYPE,
    ) -> list[Rule]:
        """The pack's rules for a class and water type, without site overrides."""
        return [
            parse_rule(e.resolve(target_class, water_type), f"{self.category.value}, {e.id}")
            for e in self.entries
            if e.applies(water_type)
        ]


class _PackFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: SiteCategory
    version: Annotated[str, Field(pattern=r"^\d{4}\.\d+$")]
    source: Annotated[str, Field(min_length=1)]
    note: str | None = None
    rules: Annotated[list[Any], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class SiteRules:
    """What decides a site's rules: its category, water class and type, and its overrides."""

    site_id: str
    category: SiteCategory
    target_class: str | None = None  # "I".."V", water bodies only
    water_type: str | None = None  # "river" or "lake", water bodies only
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def parse_pack(text: str, name: str) -> Pack:
    """A pack from YAML text; ``RuleError`` naming the file ``name`` and the rule otherwise."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{name}: not YAML: {exc}") from None
    try:
        head = _PackFile.model_validate(raw)
    except ValidationError as exc:
        raise RuleError(f"{name}: {explain(exc)}") from None
    entries: list[PackEntry] = []
    for number, item in enumerate(head.rules, 1):
        entry = _entry(item, name, number)
        if any(e.id == entry.id for e in entries):
            raise RuleError(f"{name}: rule id {entry.id!r} appears twice")
        for target_class, water_type in entry.variants():
            where = f"{name}, rule {entry.id!r}{_variant(entry, target_class, water_type)}"
            _check(parse_rule(entry.resolve(target_class, water_type), where), where)
        entries.append(entry)
    return Pack(head.pack, head.version, head.source, tuple(entries), head.note)


def _variant(entry: PackEntry, target_class: str, water_type: str) -> str:
    if entry.class_limits.by_class:
        return f" (class {target_class}, {water_type})"
    return ""


def _entry(item: Any, name: str, number: int) -> PackEntry:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise RuleError(f"{name}, rule #{number}: a rule is a mapping with a string 'id'")
    where = f"{name}, rule {item['id']!r}"
    fields = {k: v for k, v in item.items() if k not in CLASS_KEYS}
    try:
        limits = ClassLimits.model_validate({k: v for k, v in item.items() if k in CLASS_KEYS})
    except ValidationError as exc:
        raise RuleError(f"{where}: {explain(exc)}") from None
    return PackEntry(item["id"], fields, limits)


def _check(rule: Rule, where: str) -> None:
    # What a model cannot see alone: the AQI table it names, and the metrics that table knows.
    if isinstance(rule, AqiRule):
        table = aqi.load_table(rule.table)
        unknown = [m for m in rule.metrics if m not in table.metrics]
        if unknown:
            raise RuleError(f"{where}: AQI table {rule.table} has no scale for {unknown}")


def _pack_files() -> Iterable[Traversable]:
    return sorted(
        (f for f in resources.files(PACKS).iterdir() if f.name.endswith(".yaml")),
        key=lambda f: f.name,
    )


@cache
def load_packs() -> dict[SiteCategory, Pack]:
    """Every shipped pack, validated once, by category; ``RuleError`` if any is wrong."""
    packs: dict[SiteCategory, Pack] = {}
    for file in _pack_files():
        pack = parse_pack(file.read_text(encoding="utf-8"), file.name)
        if f"{pack.category.value}.yaml" != file.name:
            raise RuleError(f"{file.name}: holds pack {pack.category.value!r}")
        packs[pack.category] = pack
    missing = [c.value for c in SiteCategory if c not in packs]
    if missing:
        raise RuleError(f"no rule pack for {', '.join(missing)}")
    return packs


@cache
def _defaults(
    category: SiteCategory, target_class: WaterClass, water_type: WaterType
) -> dict[str, Rule]:
    return {r.id: r for r in load_packs()[category].rules(target_class, water_type)}


def _site_water(site: SiteRules) -> tuple[WaterClass, WaterType]:
    target_class = site.target_class or DEFAULT_CLASS
    water_type = site.water_type or DEFAULT_WATER_TYPE
    if target_class not in WATER_CLASSES:
        raise RuleError(f"site {site.site_id}: unknown target class {target_class!r}")
    if water_type not in WATER_TYPES:
        raise RuleError(f"site {site.site_id}: unknown water type {water_type!r}")
    return target_class, water_type


def _overridden(
    entry: PackEntry,
    target_class: WaterClass,
    water_type: WaterType,
    override: Any,
    where: str,
) -> Rule:
    where = f"{where}: override of rule {entry.id!r}{_variant(entry, target_class, water_type)}"
    if not isinstance(override, Mapping):
        raise RuleError(f"{where}: must be a mapping of fields")
    fixed = sorted(k for k in override if k in FIXED_FIELDS or k in CLASS_KEYS)
    if fixed:
        raise RuleError(
            f"{where}: {', '.join(fixed)} cannot be overridden "
            "(limits are overridden as 'above'/'below')"
        )
    rule = parse_rule({**entry.resolve(target_class, water_type), **override}, where)
    _check(rule, where)
    return rule


def _unknown_rules(pack: Pack, overrides: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(overrides) - set(pack.rule_ids))
    if unknown:
        raise RuleError(
            f"{where}: override names unknown rule {', '.join(map(repr, unknown))} "
            f"(pack {pack.category.value} {pack.version} has: {', '.join(pack.rule_ids)})"
        )


def rules_for_site(site: SiteRules) -> list[Rule]:
    """A site's enabled rules: its pack's, resolved for its water class, with its overrides."""
    pack = load_packs()[site.category]
    target_class, water_type = _site_water(site)
    where = f"site {site.site_id}"
    _unknown_rules(pack, site.overrides, where)
    defaults = _defaults(site.category, target_class, water_type)
    rules = []
    for entry in pack.entries:
        if not entry.applies(water_type):
            continue
        override = site.overrides.get(entry.id)
        if override is None:
            rule = defaults[entry.id]
        else:
            rule = _overridden(entry, target_class, water_type, override, where)
        if rule.enabled:
            rules.append(rule)
    return rules


def validate_overrides(category: SiteCategory, overrides: Mapping[str, Any]) -> None:
    """Raise ``RuleError`` unless ``overrides`` fit the category's pack for every water class."""
    pack = load_packs()[category]
    where = f"{category.value} overrides"
    _unknown_rules(pack, overrides, where)
    for rule_id, override in overrides.items():
        entry = pack.entry(rule_id)
        assert entry is not None  # names checked above
        for target_class, water_type in entry.variants():
            _overridden(entry, target_class, water_type, override, where)
