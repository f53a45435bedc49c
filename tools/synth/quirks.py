"""Synthetic tenants whose chargers share a quirk: sessions the base engine flags although the
tenant knows they are fine, so fine-tuning has false positives to learn away.

    from chargewatch_tools.synth.quirks import quirky_sessions
    sessions = list(quirky_sessions(80, seed=1, quirk="lagging_meter"))

Quirks (applied to every session of the tenant; labels are the generator's, the quirk itself is
never labelled an anomaly):
- `lagging_meter`: the energy register counts only `register_fraction` of the energy (default
  0.67: a three-phase meter with one current transformer missing, so it lags by a third) while
  the power readings are right.
- `overreading_power`: the power readings are `power_factor` x the real power (default 1.4,
  a power meter that reports apparent power), the register is right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .generator import generate

QUIRKS = ("lagging_meter", "overreading_power")
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def _same_type(original: Any, value: float) -> Any:
    return f"{value}" if isinstance(original, str) else value


def apply_quirk(
    session: dict[str, Any], quirk: str, *, register_fraction: float = 0.67, power_factor: float = 1.4
) -> dict[str, Any]:
    if quirk not in QUIRKS:
        raise ValueError(f"unknown quirk {quirk!r}; known: {', '.join(QUIRKS)}")
    readings = []
    first: dict[str, float] = {}
    for reading in session["meterValues"]:
        reading = dict(reading)
        if quirk == "lagging_meter" and reading["measurand"] == ENERGY:
            value = float(reading["value"])
            start = first.setdefault(reading.get("unit", "kWh"), value)
            reading["value"] = _same_type(reading["value"], round(start + (value - start) * register_fraction, 4))
        elif quirk == "overreading_power" and reading["measurand"] == POWER:
            reading["value"] = _same_type(reading["value"], round(float(reading["value"]) * power_factor, 3))
        readings.append(reading)
    return {**session, "meterValues": readings, "quirk": quirk}


def quirky_sessions(
    n: int,
    seed: int = 0,
    quirk: str = "lagging_meter",
    *,
    anomaly_fraction: float = 0.3,
    categories: tuple[str, ...] = ("KWH_DECREASE", "TIME_GAP", "ZERO_ENERGY"),
    **quirk_options: Any,
) -> Iterator[dict[str, Any]]:
    """n labelled sessions of one quirky tenant (deterministic for a seed). The injected anomalies
    default to categories the quirk does not touch, so a fine-tuned model can keep finding them."""
    for session in generate(
        n, seed=seed, hard_negatives_fraction=0.0, anomaly_fraction=anomaly_fraction, categories=categories
    ):
        yield apply_quirk(session, quirk, **quirk_options)
