"""Units as installers write them, and the linear conversions to envgrid's canonical units."""

from __future__ import annotations

# Spellings seen on instrument labels and typed on ASCII keyboards → the catalogue's spelling.
_ALIASES: dict[str, str] = {
    "ug/m3": "µg/m³",
    "μg/m³": "µg/m³",  # Greek mu, not the micro sign
    "μg/m3": "µg/m³",
    "µg/m3": "µg/m³",
    "mg/m3": "mg/m³",
    "ng/m3": "ng/m³",
    "mg/l": "mg/L",
    "ug/l": "µg/L",
    "μg/l": "µg/L",
    "µg/l": "µg/L",
    "g/l": "g/L",
    "us/cm": "µS/cm",
    "μs/cm": "µS/cm",
    "µs/cm": "µS/cm",
    "ms/cm": "mS/cm",
    "ms/m": "mS/m",
    "s/m": "S/m",
    "degc": "°C",
    "℃": "°C",
    "c": "°C",
    "degf": "°F",
    "℉": "°F",
    "k": "K",
    "ph": "1",
    "%rh": "%",
    "l/s": "L/s",
    "l/min": "L/min",
    "m3/h": "m³/h",
    "m3/s": "m³/s",
    "m3/d": "m³/d",
    "ntu": "NTU",
}

# unit → (quantity, factor, offset): value in the quantity's base unit = value × factor + offset.
_LINEAR: dict[str, tuple[str, float, float]] = {
    "mg/m³": ("air concentration", 1.0, 0.0),
    "µg/m³": ("air concentration", 1e-3, 0.0),
    "ng/m³": ("air concentration", 1e-6, 0.0),
    "mg/L": ("water concentration", 1.0, 0.0),
    "µg/L": ("water concentration", 1e-3, 0.0),
    "g/L": ("water concentration", 1e3, 0.0),
    "µS/cm": ("conductivity", 1.0, 0.0),
    "mS/cm": ("conductivity", 1e3, 0.0),
    "mS/m": ("conductivity", 10.0, 0.0),
    "S/m": ("conductivity", 1e4, 0.0),
    "°C": ("temperature", 1.0, 0.0),
    "K": ("temperature", 1.0, -273.15),
    "°F": ("temperature", 5 / 9, -32 * 5 / 9),
    "L/s": ("flow", 1.0, 0.0),
    "L/min": ("flow", 1 / 60, 0.0),
    "m³/h": ("flow", 1000 / 3600, 0.0),
    "m³/s": ("flow", 1000.0, 0.0),
    "m³/d": ("flow", 1000 / 86400, 0.0),
}


def normalise(unit: str) -> str:
    """The catalogue spelling of ``unit`` (unchanged if it is not a known alias)."""
    text = unit.strip()
    return _ALIASES.get(text.lower(), text)


def conversion(unit: str, canonical: str) -> tuple[float, float] | None:
    """``(factor, offset)`` taking values in ``unit`` to ``canonical``; None if not linear-known."""
    source = normalise(unit)
    if source == canonical:
        return (1.0, 0.0)
    a, b = _LINEAR.get(source), _LINEAR.get(canonical)
    if a is None or b is None or a[0] != b[0]:
        return None
    return (a[1] / b[1], (a[2] - b[2]) / b[1])


def convertible_from(canonical: str) -> list[str]:
    """Units that convert to ``canonical`` (for error messages)."""
    quantity = _LINEAR.get(canonical, (None, 0.0, 0.0))[0]
    return [u for u, (q, _, _) in _LINEAR.items() if q == quantity and quantity is not None]
