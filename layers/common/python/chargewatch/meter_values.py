"""OCPP 1.6 measurands and units, and the normalisation applied before storage.

Energy is stored in kWh and power in kW whatever the charger sent (Wh, W), so every reader —
the engine, statistics, exports — sees one unit per measurand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from chargewatch import limits

ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
SOC = "SoC"

# measurand -> (allowed units, OCPP default unit when none is sent)
_ACTIVE_ENERGY = ({"Wh", "kWh"}, "Wh")
_REACTIVE_ENERGY = ({"varh", "kvarh"}, "varh")
_ACTIVE_POWER = ({"W", "kW"}, "W")
_REACTIVE_POWER = ({"var", "kvar"}, "var")
MEASURAND_UNITS: dict[str, tuple[set[str], str | None]] = {
    "Energy.Active.Import.Register": _ACTIVE_ENERGY,
    "Energy.Active.Export.Register": _ACTIVE_ENERGY,
    "Energy.Active.Import.Interval": _ACTIVE_ENERGY,
    "Energy.Active.Export.Interval": _ACTIVE_ENERGY,
    "Energy.Reactive.Import.Register": _REACTIVE_ENERGY,
    "Energy.Reactive.Export.Register": _REACTIVE_ENERGY,
    "Energy.Reactive.Import.Interval": _REACTIVE_ENERGY,
    "Energy.Reactive.Export.Interval": _REACTIVE_ENERGY,
    "Power.Active.Import": _ACTIVE_POWER,
    "Power.Active.Export": _ACTIVE_POWER,
    "Power.Offered": _ACTIVE_POWER,
    "Power.Reactive.Import": _REACTIVE_POWER,
    "Power.Reactive.Export": _REACTIVE_POWER,
    "Power.Factor": (set(), None),
    "Current.Import": ({"A"}, "A"),
    "Current.Export": ({"A"}, "A"),
    "Current.Offered": ({"A"}, "A"),
    "Voltage": ({"V"}, "V"),
    "Frequency": ({"Hz"}, None),
    "Temperature": ({"Celsius", "Fahrenheit", "K"}, "Celsius"),
    "SoC": ({"Percent"}, "Percent"),
    "RPM": (set(), None),
}
PHASES = ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")
LOCATIONS = ("Body", "Cable", "EV", "Inlet", "Outlet")

# base unit -> (normalised unit, factor)
_SCALE_DOWN = {"Wh": ("kWh", 1e-3), "W": ("kW", 1e-3), "varh": ("kvarh", 1e-3), "var": ("kvar", 1e-3)}
_UNIT_SPELLINGS = {unit.lower(): unit for units, _ in MEASURAND_UNITS.values() for unit in units}
_UNIT_SPELLINGS.update({"%": "Percent", "percent": "Percent", "celcius": "Celsius"})
_MEASURAND_SPELLINGS = {name.lower(): name for name in MEASURAND_UNITS}


def _any_case_pattern(spellings: Iterable[str]) -> str:
    """A JSON Schema pattern matching any of `spellings` in any letter case, with surrounding
    whitespace or empty: what canonical_measurand/canonical_unit accept, stated for the contract."""

    def any_case(text: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)

    return r"^(\s*(" + "|".join(any_case(text) for text in sorted(spellings)) + r")\s*)?$"


MEASURAND_PATTERN = _any_case_pattern(_MEASURAND_SPELLINGS)
UNIT_PATTERN = _any_case_pattern(_UNIT_SPELLINGS)


def canonical_measurand(measurand: str | None) -> str:
    """The OCPP spelling of a measurand; OCPP's default when none is given. KeyError if unknown."""
    if measurand is None or measurand == "":
        return ENERGY_IMPORT_REGISTER
    return _MEASURAND_SPELLINGS[measurand.strip().lower()]


def canonical_unit(measurand: str, unit: str | None) -> str | None:
    """The unit for `measurand`, defaulted as OCPP does. ValueError if it does not fit the measurand."""
    allowed, default = MEASURAND_UNITS[measurand]
    if unit is None or unit == "":
        return default
    spelled = _UNIT_SPELLINGS.get(unit.strip().lower())
    if spelled is None or spelled not in allowed:
        expected = ", ".join(sorted(allowed)) or "no unit"
        raise ValueError(f"unit {unit!r} does not fit measurand {measurand} (expected {expected})")
    return spelled


def normalise(value: float, unit: str | None) -> tuple[float, str | None]:
    """Wh -> kWh, W -> kW (and reactive likewise); other units pass through."""
    if unit in _SCALE_DOWN:
        target, factor = _SCALE_DOWN[unit]
        return value * factor, target
    return value, unit


# measurand family (its first dotted part) -> largest magnitude in the stored unit
_MAGNITUDE_BOUNDS = {
    "Energy": limits.MAX_ENERGY_KWH,
    "Power": limits.MAX_POWER_KW,
    "Current": limits.MAX_CURRENT_A,
    "Voltage": limits.MAX_VOLTAGE_V,
    "Frequency": limits.MAX_FREQUENCY_HZ,
    "Temperature": limits.MAX_TEMPERATURE,
    "RPM": limits.MAX_RPM,
}


def magnitude_bound(measurand: str) -> float:
    """The largest plausible |value| of `measurand` in its stored unit (limits.py says why)."""
    if measurand == "Power.Factor":
        return limits.MAX_POWER_FACTOR
    if measurand == SOC:
        return limits.MAX_SOC_PERCENT
    return _MAGNITUDE_BOUNDS[measurand.split(".")[0]]


def check_value(measurand: str, unit: str | None, value: float) -> str | None:
    """Why `value` (in `unit`) is not a plausible reading of `measurand`, or None when it is."""
    if not math.isfinite(value):
        return "must be a finite number"
    if measurand == SOC:
        if not limits.MIN_SOC_PERCENT <= value <= limits.MAX_SOC_PERCENT:
            return "SoC must be between 0 and 100 percent"
        return None
    stored, stored_unit = normalise(value, unit)
    bound = magnitude_bound(measurand)
    if abs(stored) > bound:
        return f"{measurand} must be between -{bound:,.10g} and {bound:,.10g} {stored_unit or ''}".rstrip()
    return None
