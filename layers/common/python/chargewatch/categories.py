"""CSAR-2 anomaly categories as the API names and explains them (rules: docs/engine.md).

The list itself is the engine's (csar.categories, numpy-free); tests/unit/test_categories.py fails
when a category has no name and description here or one here is not the engine's.
"""

from __future__ import annotations

CATEGORY_INFO: dict[str, tuple[str, str]] = {
    "KWH_DECREASE": (
        "Energy register decrease",
        "The energy register fell between readings (meter reset or rollover).",
    ),
    "ENERGY_SPIKE": ("Energy spike", "An energy increment implies a power far above what the charger can deliver."),
    "ENERGY_POWER_MISMATCH": (
        "Energy/power mismatch",
        "Metered energy and integrated reported power disagree over several intervals.",
    ),
    "FROZEN_TELEMETRY": ("Frozen telemetry", "The energy register stayed constant while power was being reported."),
    "ENERGY_PIT": ("Power pit", "Power dropped well below its recent level for a while and then recovered."),
    "SOC_DECREASE": ("State of charge decrease", "The vehicle's state of charge fell while energy was imported."),
    "SOC_ENERGY_INCONSISTENT": (
        "SoC/energy inconsistency",
        "Energy and SoC gain imply an impossible battery capacity.",
    ),
    "TIME_GAP": ("Time gap", "Readings stopped for much longer than the session's normal interval."),
    "TIMESTAMP_DISORDER": ("Timestamp disorder", "Readings arrived out of order or one timestamp carried two values."),
    "ZERO_ENERGY": ("Zero energy", "A session of ten minutes or more delivered almost no energy."),
    "POWER_OVER_RATING": ("Power over rating", "Reported power exceeded the connector's rated power."),
    "UNIT_MISMATCH": ("Unit mismatch", "Energy readings jumped by about 1000x and back (Wh sent as kWh)."),
}


def category_name(code: str) -> str:
    return CATEGORY_INFO.get(code, (code, ""))[0]


def category_description(code: str) -> str | None:
    return CATEGORY_INFO.get(code, (code, None))[1]
