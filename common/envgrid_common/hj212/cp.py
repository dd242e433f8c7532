"""The data area CP=&&...&&: items into fields and pollutant factors, with their grammar."""

from __future__ import annotations

import re
from typing import NamedTuple

from envgrid_common.hj212.errors import FrameError, Reason
from envgrid_common.hj212.times import valid_time

VALUE_FIELDS = frozenset(
    ("Rtd", "Avg", "Min", "Max", "Cou", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax", "ZsCou")
)
"""Fields that carry a measured number; a code with one of them is a factor."""
EQUIPMENT_FIELDS = frozenset(("RS", "RT"))
"""Treatment-equipment state and running time, ``SBn-RS`` / ``SBn-RT`` (2021, 2041)."""
TIME_FIELDS = frozenset(
    ("DataTime", "SampleTime", "BeginTime", "EndTime", "RestartTime", "SystemTime", "QN")
)
_NAME = r"[A-Za-z0-9_]+"
_NUMBER_TEXT = r"-?[0-9]{1,14}(?:\.[0-9]{1,8})?"
_NUMBER = re.compile(_NUMBER_TEXT)
_VALUE_NAMES = "|".join(sorted(VALUE_FIELDS))
_ITEM = (
    rf"(?:{_NAME}-(?:{_VALUE_NAMES})={_NUMBER_TEXT}"
    rf"|{_NAME}-Flag=[A-Z]"
    rf"|{_NAME}(?:-(?!(?:{_VALUE_NAMES}|Flag)=){_NAME})?=[^;,=]*)"
)
# One pass in C checks the whole grammar; items are then split without further checks.
# A body that fails it goes through the item-by-item checks, which name the fault.
_GRAMMAR = re.compile(rf"{_ITEM}(?:[;,]{_ITEM})*", re.ASCII)
_ITEMS = re.compile(r"([A-Za-z0-9_]+)(?:-([A-Za-z0-9_]+))?=([^;,]*)")


class CpData(NamedTuple):
    """A parsed data area: ``factors`` code → {field → value}; other items in ``fields``."""

    fields: dict[str, str]
    factors: dict[str, dict[str, str]]

    @property
    def data_time(self) -> str | None:
        """``DataTime`` as sent (14 or 17 digits), or None."""
        return self.fields.get("DataTime")


def _bad(reason: Reason, message: str) -> FrameError:
    return FrameError(reason, message)


def _is_number(value: str) -> bool:
    return _NUMBER.fullmatch(value) is not None


def _is_name(name: str) -> bool:
    return name.isascii() and name.replace("_", "").isalnum()


def parse_cp(text: str) -> CpData:
    """Split a CP body (between the ``&&``s) into fields and factors, checking its grammar."""
    if not text:
        return CpData({}, {})
    if _GRAMMAR.fullmatch(text) is None:
        return _parse_checked(text)
    fields: dict[str, str] = {}
    grouped: dict[str, dict[str, str]] = {}
    for code, field, value in _ITEMS.findall(text):
        if field:
            known = grouped.get(code)
            if known is None:
                grouped[code] = {field: value}
            elif field not in known:
                known[field] = value
            elif field == "Flag" and known[field] == "N":
                # "01-Rtd=…,01-Flag=N;01-ZsRtd=…,01-Flag=D": a code's flag repeats per item;
                # a flag other than N must not be hidden by an earlier N.
                known[field] = value
        elif code not in fields:
            fields[code] = value
    data_time = fields.get("DataTime")
    if data_time is not None and not valid_time(data_time):
        raise _bad(Reason.BAD_TIME, f"DataTime={data_time[:20]!r}")
    if len(fields) > (data_time is not None):  # other fields than DataTime
        for name in TIME_FIELDS.intersection(fields):
            if not valid_time(fields[name]):
                raise _bad(Reason.BAD_TIME, f"{name}={fields[name][:20]!r}")
    if "SampleTime" in text:
        _check_sample_times(grouped)
    return _classify(fields, grouped)


def _parse_checked(text: str) -> CpData:
    if not text:
        return CpData({}, {})
    fields: dict[str, str] = {}
    grouped: dict[str, dict[str, str]] = {}
    for group in text.split(";"):
        for item in group.split(","):
            name, eq, value = item.partition("=")
            if not eq or "=" in value:
                raise _bad(Reason.BAD_CP_ITEM, f"CP item {item[:40]!r} is not NAME=VALUE")
            code, dash, field = name.partition("-")
            if not dash:
                if not _is_name(name):
                    raise _bad(Reason.BAD_CP_ITEM, f"CP field name {name[:40]!r}")
                if name in TIME_FIELDS and not valid_time(value):
                    raise _bad(Reason.BAD_TIME, f"{name}={value[:20]!r}")
                # A repeated plain field keeps its first value (as the first one read wins).
                fields.setdefault(name, value)
                continue
            if not (_is_name(code) and _is_name(field)):
                raise _bad(Reason.BAD_CP_ITEM, f"CP field name {name[:40]!r}")
            if field in VALUE_FIELDS:
                if not _is_number(value):
                    raise _bad(Reason.BAD_VALUE, f"{name}={value[:20]!r} is not a number")
            elif field == "Flag" and (len(value) != 1 or not "A" <= value <= "Z"):
                raise _bad(Reason.BAD_VALUE, f"{name}={value[:20]!r} is not a data flag")
            known = grouped.get(code)
            if known is None:
                grouped[code] = {field: value}
            elif field not in known or (field == "Flag" and known[field] == "N"):
                known[field] = value
    _check_sample_times(grouped)
    return _classify(fields, grouped)


def _check_sample_times(grouped: dict[str, dict[str, str]]) -> None:
    for code, values in grouped.items():
        sampled = values.get("SampleTime")
        if sampled is not None and not valid_time(sampled):
            raise _bad(Reason.BAD_TIME, f"{code}-SampleTime={sampled[:20]!r}")


def _classify(fields: dict[str, str], grouped: dict[str, dict[str, str]]) -> CpData:
    isdisjoint = VALUE_FIELDS.isdisjoint
    others = [code for code, values in grouped.items() if isdisjoint(values)]
    for code in others:
        values = grouped[code]
        if code.startswith("SB") and not EQUIPMENT_FIELDS.isdisjoint(values):
            continue
        # Vendor extensions ("CON-RT", "100000-Ia"): kept as fields, not as pollutants.
        del grouped[code]
        for field, value in values.items():
            fields.setdefault(f"{code}-{field}", value)
    return CpData(fields, grouped)


def format_cp(fields: dict[str, str], factors: dict[str, dict[str, str]]) -> str:
    """A CP body: the fields ``;``-joined, then each factor's fields ``,``-joined."""
    parts = [f"{name}={value}" for name, value in fields.items()]
    parts.extend(
        ",".join(f"{code}-{field}={value}" for field, value in values.items())
        for code, values in factors.items()
    )
    return ";".join(parts)
