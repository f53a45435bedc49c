"""The anomaly categories the engine detects: the one list every other module reads.

No numpy here: the API's read routes import it (through chargewatch.categories) without loading the
engine.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "KWH_DECREASE",
    "ENERGY_SPIKE",
    "ENERGY_POWER_MISMATCH",
    "FROZEN_TELEMETRY",
    "ENERGY_PIT",
    "SOC_DECREASE",
    "SOC_ENERGY_INCONSISTENT",
    "TIME_GAP",
    "TIMESTAMP_DISORDER",
    "ZERO_ENERGY",
    "POWER_OVER_RATING",
    "UNIT_MISMATCH",
)

# Categories whose anomalies change what a driver is billed.
BILLING_RELEVANT: frozenset[str] = frozenset(
    {"KWH_DECREASE", "ENERGY_SPIKE", "ENERGY_POWER_MISMATCH", "UNIT_MISMATCH", "FROZEN_TELEMETRY"}
)

# Energy these anomalies carry was reported by the meter but received by no car (a jump beyond what
# the charger can deliver, Wh sent as kWh): it is not billable, and it is what a bill would overcharge.
PHANTOM_ENERGY: frozenset[str] = frozenset({"ENERGY_SPIKE", "UNIT_MISMATCH"})
