"""Generic unsupervised baselines on per-session features: IsolationForest and ECOD.

The features reuse csar's parsing and unit normalisation (so the comparison is about
the detector, not the parser) and are computed vectorised over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csar.context import build_context
from csar.params import DEFAULT_PARAMS
from csar.parsing import (
    MEASURAND_KIND,
    OTHER,
    UNIT_CODE,
    UNIT_SCALE,
    ReadingTable,
    build_reading_table,
    phase_code,
)
from csar.result import parse_timestamp
from csar.series import Series, first_per_session, last_per_session, segment_reduce

FEATURE_NAMES = (
    "readings",
    "duration_h",
    "energy_kwh",
    "min_energy_step",
    "max_energy_step",
    "max_implied_kw",
    "mean_power_kw",
    "max_power_kw",
    "std_power_kw",
    "power_over_metadata",
    "soc_gain",
    "min_soc_step",
    "max_gap_min",
    "energy_per_power_integral",
    "negative_steps",
    "zero_steps_fraction",
)


def _interval_stats(series: Series, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per session: min step, max step, max step rate (per hour), count of negative steps."""
    if len(series) < 2:
        zeros = np.zeros(n)
        return zeros, zeros, zeros, zeros
    same = series.same_session_next()
    step = np.diff(series.value)[same]
    dt = np.diff(series.time)[same]
    owner = series.session[:-1][same]
    order = np.argsort(owner, kind="stable")
    offsets = np.searchsorted(owner[order], np.arange(n + 1))
    rate = step / np.maximum(dt, 1.0) * 3600.0
    min_step = np.nan_to_num(segment_reduce(np.minimum, step[order], offsets, 0.0))
    max_step = np.nan_to_num(segment_reduce(np.maximum, step[order], offsets, 0.0))
    max_rate = np.nan_to_num(segment_reduce(np.maximum, rate[order], offsets, 0.0))
    negative = np.bincount(owner, weights=step < 0, minlength=n)
    return min_step, max_step, max_rate, negative


def conventional_reading_table(meter_value_lists: Sequence[Any]) -> ReadingTable:
    """The reading table built the conventional way, one reading at a time in Python
    (datetime.fromisoformat, float()), as a feature pipeline without a bulk decoder does."""
    session, kinds, phased, off_outlet, stamps, values, reconstructed = [], [], [], [], [], [], []
    n = len(meter_value_lists)
    dropped = np.zeros(n, dtype=np.int64)
    for index, readings in enumerate(meter_value_lists):
        for reading in readings or []:
            kind = MEASURAND_KIND.get(reading.get("measurand"), OTHER)
            scale = UNIT_SCALE[kind, UNIT_CODE.get(reading.get("unit"), 8)]
            stamp = parse_timestamp(reading.get("timestamp"))
            try:
                value = float(reading.get("value")) * scale
            except (TypeError, ValueError):
                value = float("nan")
            if stamp is None or not np.isfinite(value) or kind == OTHER:
                dropped[index] += 1
                continue
            session.append(index)
            kinds.append(kind)
            phased.append(phase_code(reading.get("phase")))
            off_outlet.append(reading.get("location") not in (None, "", "Outlet"))
            stamps.append(stamp)
            values.append(value)
            reconstructed.append(reading.get("reconstructed") is True)
    return ReadingTable(
        session=np.array(session, dtype=np.int64),
        kind=np.array(kinds, dtype=np.int8),
        phased=np.array(phased, dtype=np.int8),
        off_outlet=np.array(off_outlet, dtype=bool),
        timestamp=np.array(stamps, dtype=np.float64),
        value=np.array(values, dtype=np.float64),
        reconstructed=np.array(reconstructed, dtype=bool),
        n_sessions=n,
        dropped_timestamp=dropped,
        dropped_value=np.zeros(n, dtype=np.int64),
        dropped_unit=np.zeros(n, dtype=np.int64),
    )


def session_features(sessions: Sequence[dict[str, Any]], table_builder=build_reading_table) -> np.ndarray:
    """Per-session feature matrix; table_builder chooses how readings are parsed."""
    table = table_builder([s.get("meterValues") for s in sessions])
    ctx = build_context(table, [s.get("metadata") for s in sessions], DEFAULT_PARAMS)
    n = len(sessions)
    energy, power, soc, line = ctx.energy, ctx.power, ctx.soc, ctx.timeline
    duration = np.nan_to_num(last_per_session(line.time, line.offsets) - first_per_session(line.time, line.offsets))
    delivered = np.nan_to_num(
        last_per_session(energy.value, energy.offsets) - first_per_session(energy.value, energy.offsets)
    )
    e_min, e_max, e_rate, e_neg = _interval_stats(energy, n)
    s_min, _, _, _ = _interval_stats(soc, n)
    _, gap_max, _, _ = _interval_stats(Series(line.session, line.time, line.time, line.offsets), n)
    p_count = np.maximum(power.counts, 1)
    p_sum = np.bincount(power.session, weights=power.value, minlength=n)
    p_sq = np.bincount(power.session, weights=power.value**2, minlength=n)
    p_mean = p_sum / p_count
    p_std = np.sqrt(np.maximum(p_sq / p_count - p_mean**2, 0.0))
    p_max = np.nan_to_num(segment_reduce(np.maximum, power.value, power.offsets, 0.0))
    over_meta = np.nan_to_num(p_max / ctx.metadata.max_power_kw, nan=0.0)
    soc_gain = np.nan_to_num(last_per_session(soc.value, soc.offsets) - first_per_session(soc.value, soc.offsets))
    power_kwh = p_mean * duration / 3600.0
    ratio = np.where(power_kwh > 0.05, delivered / np.maximum(power_kwh, 1e-9), 1.0)
    if len(energy) > 1:
        same = energy.same_session_next()
        zero_steps = np.bincount(energy.session[:-1][same], weights=np.diff(energy.value)[same] == 0, minlength=n)
    else:
        zero_steps = np.zeros(n)
    zero_fraction = zero_steps / np.maximum(energy.counts - 1, 1)
    features = np.column_stack(
        (
            ctx.reading_count,
            duration / 3600.0,
            delivered,
            e_min,
            e_max,
            e_rate,
            p_mean,
            p_max,
            p_std,
            over_meta,
            soc_gain,
            s_min,
            gap_max / 60.0,
            ratio,
            e_neg,
            zero_fraction,
        )
    )
    # Heavy tails (registers in the thousands of kWh) would dominate: compress them.
    return np.sign(features) * np.log1p(np.abs(np.nan_to_num(features)))


class IsolationForestBaseline:
    name = "IsolationForest"

    def __init__(self, seed: int = 0):
        from sklearn.ensemble import IsolationForest

        self.model = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1)

    def fit(self, features: np.ndarray) -> IsolationForestBaseline:
        self.model.fit(features)
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        return -self.model.score_samples(features)  # higher = more anomalous


class EcodBaseline:
    name = "PyOD ECOD"

    def __init__(self, seed: int = 0):
        from pyod.models.ecod import ECOD

        self.model = ECOD()

    def fit(self, features: np.ndarray) -> EcodBaseline:
        self.model.fit(features)
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.model.decision_function(features)
