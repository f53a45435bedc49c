"""Small physical charging sessions for the engine tests (independent of tools/synth)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

START = datetime(2026, 2, 27, 10, 0, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


def iso(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def session(
    power_kw,
    minutes: float = 60,
    interval_s: float = 60,
    register_start_kwh: float = 1000.0,
    resolution_kwh: float = 0.001,
    with_power: bool = True,
    soc_start: float | None = None,
    capacity_kwh: float = 60.0,
    efficiency: float = 0.9,
    jitter_s=None,
):
    """Readings of a session whose true power is power_kw(t_seconds) (or a constant).

    Energy is integrated exactly (fine steps), then quantised like a meter register.
    Returns (readings, sample_times, true_register_values).
    """
    profile = power_kw if callable(power_kw) else (lambda t, p=power_kw: p)
    count = int(minutes * 60 // interval_s) + 1
    times = [i * interval_s for i in range(count)]
    energy, registers, step = 0.0, [], 5.0
    t_prev = 0.0
    for t in times:
        while t_prev < t:
            energy += profile(t_prev) * step / 3600.0
            t_prev += step
        registers.append(math.floor((register_start_kwh + energy) / resolution_kwh + 1e-9) * resolution_kwh)
    readings = []
    for i, t in enumerate(times):
        stamp = iso(t + (jitter_s(i) if jitter_s else 0.0))
        readings.append({"timestamp": stamp, "measurand": ENERGY, "unit": "kWh", "value": round(registers[i], 6)})
        if with_power:
            readings.append({"timestamp": stamp, "measurand": POWER, "unit": "kW", "value": round(profile(t), 3)})
        if soc_start is not None:
            soc = soc_start + (registers[i] - registers[0]) * efficiency / capacity_kwh * 100.0
            readings.append({"timestamp": stamp, "measurand": SOC, "unit": "Percent", "value": round(min(soc, 100.0))})
    return readings, times, registers


def energy_readings(readings):
    return [r for r in readings if r["measurand"] == ENERGY]


def set_energy(readings, sample_index: int, value: float):
    energy_readings(readings)[sample_index]["value"] = value


def categories(result) -> set[str]:
    return {a.category for a in result.anomalies}


def anomaly(result, category: str):
    return next(a for a in result.anomalies if a.category == category)
