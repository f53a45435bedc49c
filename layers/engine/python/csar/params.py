"""Every threshold and weight the CSAR-2 rules use, in one frozen dataclass.

Defaults are the numbers of the engine specification. Fine-tuned models
are variants of this dataclass; they travel as plain dicts via to_dict/from_dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class CsarParams:
    # --- session level -------------------------------------------------------
    anomaly_threshold: float = 0.5  # noisy-OR score at which a session is anomalous
    incident_min_kwh: float = 0.5  # billing-relevant energy that makes an incident
    recurring_window_days: float = 7.0
    bucket_seconds: float = 300.0  # one bucket unit = 5 minutes
    min_readings: int = 3
    event_merge_seconds: float = 600.0  # same-category events closer than this are one anomaly

    # --- tolerances shared by several rules -----------------------------------
    # Station clocks jitter by a few seconds; increments are judged against the
    # interval widened by this much so jitter alone never looks like excess power.
    clock_tolerance_s: float = 10.0
    min_charging_power_kw: float = 1.4  # IEC 61851 minimum (6 A single phase)

    # A glitch of up to this many readings that returns to the register's trend is one
    # transient fault (ENERGY_SPIKE up, KWH_DECREASE down), not a jump plus a fall.
    excursion_max_readings: int = 3

    # --- KWH_DECREASE ---------------------------------------------------------
    decrease_min_kwh: float = 0.01
    rollover_near_wrap_fraction: float = 0.9  # previous value within 10 % of a power of ten

    # --- ENERGY_SPIKE ---------------------------------------------------------
    spike_power_factor: float = 1.5
    spike_p95_factor: float = 1.2
    spike_default_rated_kw: float = 350.0

    # --- ENERGY_POWER_MISMATCH ------------------------------------------------
    mismatch_min_intervals: int = 3
    mismatch_relative: float = 0.2
    mismatch_min_kwh: float = 0.5

    # --- FROZEN_TELEMETRY -----------------------------------------------------
    frozen_min_readings: int = 2  # one flat interval; duration and missed energy decide
    frozen_min_seconds: float = 600.0
    frozen_min_power_kw: float = 1.0
    frozen_min_soc_rise: float = 2.0  # SoC evidence when no power is reported

    # --- ENERGY_PIT -----------------------------------------------------------
    pit_window_seconds: float = 1800.0
    pit_min_history_seconds: float = 600.0
    pit_drop_fraction: float = 0.3
    pit_recover_fraction: float = 0.7
    pit_min_seconds: float = 600.0
    pit_recover_within_seconds: float = 900.0
    # A dip to (almost) nothing is the EV suspending (SuspendedEV), not a pit.
    pit_pause_fraction: float = 0.05
    pit_pause_kw: float = 0.5
    pit_min_reference_kw: float = 1.0

    # --- SOC_DECREASE ---------------------------------------------------------
    soc_drop_points: float = 2.0
    soc_import_min_kwh: float = 0.05

    # --- SOC_ENERGY_INCONSISTENT ---------------------------------------------
    soc_efficiency: float = 0.9
    soc_capacity_min_kwh: float = 10.0
    soc_capacity_max_kwh: float = 250.0
    soc_judge_min_points: float = 10.0
    soc_judge_min_kwh: float = 5.0

    # --- TIME_GAP -------------------------------------------------------------
    gap_min_seconds: float = 900.0
    gap_median_factor: float = 5.0

    # --- ZERO_ENERGY ----------------------------------------------------------
    zero_min_seconds: float = 600.0
    zero_max_kwh: float = 0.1

    # --- POWER_OVER_RATING ----------------------------------------------------
    over_rating_factor: float = 1.1

    # --- UNIT_MISMATCH --------------------------------------------------------
    unit_ratio_log10_tolerance: float = 0.5  # a jump of 10**(3 +- 0.5)

    # --- confidence -----------------------------------------------------------
    confidence_base: float = 0.5
    confidence_margin_weight: float = 0.3
    confidence_coverage_weight: float = 0.1
    confidence_corroboration_weight: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CsarParams:
        """Build from a dict, ignoring unknown keys and coercing to the field types."""
        if not data:
            return cls()
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            field = known.get(name)
            if field is None:
                continue
            values[name] = int(value) if field.type in ("int", int) else float(value)
        return cls(**values)


DEFAULT_PARAMS = CsarParams()
