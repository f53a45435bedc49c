"""SHADE: station-day anomaly detection on energy per connector in 15-minute buckets (pure numpy).

    from csar import shade
    analysis = shade.analyze_station_day(day, connector_energy, history, params=None)
    analysis.to_dict()

`connector_energy` maps connector id -> 96 kWh values (bucket b covers minutes [15b, 15b+15) of
`day`, UTC); `history` maps earlier dates -> the same mapping. A connector known from history but
absent today is taken as 96 zeros (a dead connector has no sessions at all).

Baseline (per connector, per bucket): the median and MAD of the same weekday over the previous
`window_weeks` weeks, shrunk toward the station's profile of the same day type (Mon-Fri or
Sat-Sun, all days of that type in the window) with weight n_same / (n_same + prior_days), so two
Saturdays of history lean on the weekend profile rather than on weekdays. Activity probabilities
(how often a span of the day is silent) come from all same-day-type days: they need many days to
resolve a small probability. Fewer than `min_history_days` history days in the window: no
detection at all (new stations stay silent), uptime 1.0.

Detections (at most one per type and connector; see docs/engine.md, section SHADE):
- zero_energy_day: the station delivered nothing all day, although it usually delivers at least
  `min_expected_kwh` and a silent day is rare (Laplace-smoothed frequency <= `alpha`).
- connector_offline: a connector is silent for a run of >= `min_offline_buckets` that is rarely
  silent on same-type days (smoothed frequency <= `alpha`) and normally carries energy.
- energy_drop: the connectors that were available delivered much less than their baseline
  (relative drop >= `min_relative_drop`, widened when history is short, and robust z >= `min_z`).

Uptime of a connector for the day = 1 - minutes inside its offline run / 1440 (0 for every
connector with history on a zero-energy day; 1.0 otherwise). Idle is not down: without status
notifications, silence only counts as unavailability when history says it is implausible.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Mapping, Sequence

import numpy as np

MODEL_ID = "shade"
MODEL_VERSION = "1.0.0"
BUCKETS_PER_DAY = 96
BUCKET_MINUTES = 15
DETECTION_TYPES = ("energy_drop", "zero_energy_day", "connector_offline")
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ShadeParams:
    window_weeks: int = 8               # baseline history: same weekday, previous 4-8 weeks
    min_history_days: int = 14          # fewer history days in the window: no detections
    prior_days: float = 4.0             # shrinkage strength toward the day-type profile
    max_streak_days: int = 3            # connector_offline looks back this many consecutive silent days
    alpha: float = 0.02                 # max Poisson probability of a silence for it to be anomalous
    history_alpha: float = 0.12         # ... and max smoothed frequency of a comparable silence in history
    min_expected_kwh: float = 5.0       # zero_energy_day: the day must normally carry this much
    min_offline_buckets: int = 16       # connector_offline: >= 4 h of silence
    min_offline_expected_kwh: float = 2.0
    min_missed_activity: float = 2.0    # ... missing >= 2 bucket-equivalents of usual activity
    offline_margin: float = 1.5         # ... and history days rarely missed even 1/1.5 of that
    min_relative_drop: float = 0.6      # energy_drop: delivered <= 40 % of expected ...
    short_history_extra_drop: float = 0.2  # ... up to 75 % drop required with almost no same-weekday days
    min_z: float = 3.0                  # ... and robust z of the day total >= 3
    min_sigma_fraction: float = 0.1     # sigma floor as a fraction of the expected day total
    silence_kwh: float = 0.01           # a bucket/span with less than this is silent


DEFAULT_PARAMS = ShadeParams()


@dataclass
class Detection:
    type: str
    startMinute: int
    endMinute: int
    score: float
    expectedKwh: float
    actualKwh: float
    connectorId: str | None = None


@dataclass
class ConnectorDay:
    connectorId: str
    energyKwh: float
    uptime: float
    expectedKwh: float
    buckets: list[float] = field(default_factory=list)


@dataclass
class StationDayAnalysis:
    day: str
    dayScore: float
    isAnomaly: bool
    totalKwh: float
    expectedKwh: float
    historyDays: int
    sameWeekdayDays: int
    detections: list[Detection]
    connectors: list[ConnectorDay]
    modelId: str = MODEL_ID
    modelVersion: str = MODEL_VERSION

    def to_dict(self) -> dict:
        """Plain JSON-serialisable Python (camelCase, as the API)."""
        return asdict(self)


def _as_day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _vector(values) -> np.ndarray:
    array = np.zeros(BUCKETS_PER_DAY) if values is None else np.asarray(values, dtype=float).reshape(-1)
    if array.shape[0] != BUCKETS_PER_DAY:
        raise ValueError(f"expected {BUCKETS_PER_DAY} buckets, got {array.shape[0]}")
    return np.where(np.isfinite(array), np.maximum(array, 0.0), 0.0)


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def _smoothed_frequency(hits: int, total: int) -> float:
    """Laplace (add-one) estimate: 0 hits in 10 days is 1/12, not 0."""
    return (hits + 1.0) / (total + 2.0)


def _silence_probability(hits: int, total: int, model_probability: float, params: "ShadeParams") -> float | None:
    """How likely a silence this long is, or None when history contradicts "rare".

    Two conditions, because neither suffices alone: the Poisson chance that none of the usual
    sessions happened (exp(-sessions expected), which resolves small probabilities that 8 weeks
    cannot), and history itself rarely showing a comparable silence (Laplace-smoothed), which
    catches connectors whose usage is burstier than Poisson."""
    if model_probability > params.alpha or _smoothed_frequency(hits, total) > params.history_alpha:
        return None
    return model_probability


def _activity_runs(active: np.ndarray) -> np.ndarray:
    """Number of runs of active buckets per row (~ sessions per day)."""
    padded = np.concatenate((np.zeros((active.shape[0], 1), dtype=bool), active), axis=1).astype(np.int8)
    return (np.diff(padded, axis=1) > 0).sum(axis=1)


def _surprise_score(probability: float, alpha: float) -> float:
    """0.5 at the threshold, 1.0 at a probability 30x below it."""
    probability = max(probability, 1e-12)
    strength = min(1.0, max(0.0, np.log10(alpha / probability) / 1.5))
    return 0.5 + 0.5 * strength


def _robust(matrix: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(matrix, axis=axis)
    mad = np.median(np.abs(matrix - np.expand_dims(median, axis)), axis=axis)
    return median, mad


def _longest_silent_runs(silent: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) bucket spans of consecutive silent buckets."""
    padded = np.concatenate(([0], silent.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _missed_activity(silent: np.ndarray, activity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per day (rows of `silent`): the largest sum of `activity` over one run of silent buckets,
    and the (start, end) of that run. Night silence weighs ~0, a silent rush hour weighs a lot."""
    days = silent.shape[0]
    segment = np.cumsum(~silent, axis=1) + (np.arange(days) * (BUCKETS_PER_DAY + 1))[:, None]
    weights = np.where(silent, activity[None, :], 0.0)
    sums = np.bincount(segment[silent], weights=weights[silent], minlength=days * (BUCKETS_PER_DAY + 1))
    sums = sums.reshape(days, BUCKETS_PER_DAY + 1)
    best_segment = sums.argmax(axis=1)
    return sums.max(axis=1), best_segment


def _offline_run(today: np.ndarray, history: np.ndarray, expected: np.ndarray, params: ShadeParams,
                 previous_days: list[np.ndarray] = ()):
    """(probability, start, end, expected kWh) of today's most implausible silent run, or None.

    The statistic is the activity a silent run misses (activity[b] = share of same-type days on
    which the connector delivered energy in bucket b), computed the same way on every history day:
    today's run is only anomalous if history days rarely had a run missing even 1/margin of it.
    Comparing the same statistic (not today's exact span) avoids picking the span because it is
    silent today and then finding that exact span rarely silent before.
    """
    silent_history = history < params.silence_kwh
    activity = 1.0 - silent_history.mean(axis=0)
    silent_today = today < params.silence_kwh
    if not silent_today.any():
        return None
    history_missed, _ = _missed_activity(silent_history, activity)
    best = None
    for start, end in _longest_silent_runs(silent_today):
        missed = float(activity[start:end].sum())
        if best is None or missed > best[0]:
            best = (missed, start, end)
    missed, start, end = best
    if end - start < params.min_offline_buckets or missed < params.min_missed_activity:
        return None
    expected_span = float(expected[start:end].sum())
    if expected_span < params.min_offline_expected_kwh:
        return None
    exceeding = int((history_missed >= missed / params.offline_margin).sum())
    # sessions that start inside the span on a typical day: Poisson chance that none does
    starts = np.diff(np.concatenate((np.zeros((history.shape[0], 1), dtype=bool), ~silent_history), axis=1).astype(np.int8), axis=1) > 0
    per_bucket_starts = starts.mean(axis=0)
    sessions_in_span = float(per_bucket_starts[start:end].sum())
    if start == 0:
        # the silence began before midnight: the days before (newest first) add their silent tails
        for earlier in previous_days:
            silent_earlier = earlier < params.silence_kwh
            tail = BUCKETS_PER_DAY - (int(np.flatnonzero(~silent_earlier)[-1]) + 1 if (~silent_earlier).any() else 0)
            sessions_in_span += float(per_bucket_starts[BUCKETS_PER_DAY - tail:].sum())
            if tail < BUCKETS_PER_DAY:
                break
    probability = _silence_probability(exceeding, history.shape[0], float(np.exp(-sessions_in_span)), params)
    if probability is None:
        return None
    return probability, start, end, expected_span


def analyze_station_day(day, connector_energy: Mapping[str, Sequence[float]],
                        history: Mapping[object, Mapping[str, Sequence[float]]] | None = None,
                        params: ShadeParams | None = None) -> StationDayAnalysis:
    params = params or DEFAULT_PARAMS
    day = _as_day(day)
    first_day = day - timedelta(weeks=params.window_weeks)
    window = {}
    for when, energy in (history or {}).items():
        when = _as_day(when)
        if first_day <= when < day:
            window[when] = energy
    history_days = sorted(window)
    connectors = sorted(set(connector_energy) | {c for d in history_days for c in window[d]})
    today = np.array([_vector(connector_energy.get(c)) for c in connectors]).reshape(len(connectors), BUCKETS_PER_DAY)

    # history cube: days x connectors x buckets
    cube = np.array([[_vector(window[d].get(c)) for c in connectors] for d in history_days]).reshape(
        len(history_days), len(connectors), BUCKETS_PER_DAY)
    same_weekday = np.array([d.weekday() == day.weekday() for d in history_days], dtype=bool)
    same_type = np.array([_is_weekend(d) == _is_weekend(day) for d in history_days], dtype=bool)
    if not same_type.any():
        same_type = np.ones(len(history_days), dtype=bool)
    n_same = int(same_weekday.sum())
    n_type = int(same_type.sum())
    weight = n_same / (n_same + params.prior_days)

    if history_days:
        type_median, type_mad = _robust(cube[same_type])
        weekday_median = _robust(cube[same_weekday])[0] if n_same else type_median
        # the per-bucket baseline (median, MAD) shrunk toward the day-type profile
        baseline = weight * weekday_median + (1 - weight) * type_median
        baseline_mad = type_mad
        # Medians of sparse buckets are ~0, so energy *levels* come from robust day totals per
        # connector, spread over the day by the day-type mean profile.
        connector_totals = cube.sum(axis=2)                                   # days x connectors
        type_totals = np.median(connector_totals[same_type], axis=0)
        weekday_totals = np.median(connector_totals[same_weekday], axis=0) if n_same else type_totals
        expected_per_connector = weight * weekday_totals + (1 - weight) * type_totals
        mean_profile = cube[same_type].mean(axis=0)
        mass = mean_profile.sum(axis=1, keepdims=True)
        shape = np.divide(mean_profile, mass, out=np.full_like(mean_profile, 1.0 / BUCKETS_PER_DAY), where=mass > 0)
        expected_buckets = shape * expected_per_connector[:, None]
    else:
        baseline = baseline_mad = np.zeros_like(today)
        expected_per_connector = np.zeros(len(connectors))
        expected_buckets = np.zeros_like(today)
        connector_totals = np.zeros((0, len(connectors)))

    actual_per_connector = today.sum(axis=1)
    expected_total = float(expected_per_connector.sum())
    actual_total = float(actual_per_connector.sum())
    enough_history = len(history_days) >= params.min_history_days and n_type > 0
    detections: list[Detection] = []
    uptime = np.ones(len(connectors))

    if enough_history:
        type_cube = cube[same_type]
        # ---- zero_energy_day
        if actual_total < params.silence_kwh and expected_total >= params.min_expected_kwh:
            silent_days = int((type_cube.sum(axis=(1, 2)) < params.silence_kwh).sum())
            sessions_per_day = float(sum(_activity_runs(type_cube[:, c, :] >= params.silence_kwh).mean()
                                         for c in range(len(connectors))))
            probability = _silence_probability(silent_days, n_type, float(np.exp(-sessions_per_day)), params)
            if probability is not None:
                detections.append(Detection("zero_energy_day", 0, 24 * 60, round(_surprise_score(probability, params.alpha), 4),
                                            round(expected_total, 3), round(actual_total, 3)))
                uptime[expected_per_connector > 0] = 0.0
        # ---- connector_offline (a zero-energy day already says every connector was down)
        offline = np.zeros(len(connectors), dtype=bool)
        if not detections:
            for index, connector in enumerate(connectors):
                found = _offline_run(today[index], type_cube[:, index, :], expected_buckets[index], params,
                                     [cube[-k, index] for k in range(1, len(history_days) + 1)
                                      if history_days[-k] == day - timedelta(days=k)][:params.max_streak_days])
                if found is not None:
                    probability, start, end, expected_span = found
                    offline[index] = True
                    uptime[index] = 1.0 - (end - start) / BUCKETS_PER_DAY
                    detections.append(Detection("connector_offline", start * BUCKET_MINUTES, end * BUCKET_MINUTES,
                                                round(_surprise_score(probability, params.alpha), 4),
                                                round(expected_span, 3), 0.0, connector))
        # ---- energy_drop on the connectors that were available
        if not any(d.type == "zero_energy_day" for d in detections):
            available = ~offline
            expected_available = float(expected_per_connector[available].sum())
            actual_available = float(actual_per_connector[available].sum())
            # scale the robust day-total spread to the available share of the station
            available_totals = connector_totals[:, available].sum(axis=1)
            type_mad = _robust(available_totals[same_type])[1]
            weekday_mad = _robust(available_totals[same_weekday])[1] if n_same else type_mad
            total_mad = weight * weekday_mad + (1 - weight) * type_mad
            sigma = max(_MAD_TO_SIGMA * total_mad, params.min_sigma_fraction * expected_available)
            required_drop = params.min_relative_drop + params.short_history_extra_drop * (1 - weight)
            if expected_available >= params.min_expected_kwh and sigma > 0:
                relative_drop = 1.0 - actual_available / expected_available
                z = (expected_available - actual_available) / sigma
                if relative_drop >= required_drop and z >= params.min_z:
                    deficit = (expected_buckets[available] - today[available]).sum(axis=0)
                    running = np.concatenate(([0.0], np.cumsum(deficit)))
                    lowest = np.minimum.accumulate(running)
                    end = int(np.argmax(running - lowest))
                    start = int(np.flatnonzero(running[: end + 1] == lowest[end])[-1]) if end > 0 else 0
                    strength = 0.5 * min(1.0, (relative_drop - required_drop) / max(1e-9, 1 - required_drop)) \
                        + 0.5 * min(1.0, (z - params.min_z) / params.min_z)
                    detections.append(Detection("energy_drop", start * BUCKET_MINUTES, max(end, start + 1) * BUCKET_MINUTES,
                                                round(0.5 + 0.5 * strength, 4), round(expected_available, 3),
                                                round(actual_available, 3)))

    if detections:
        day_score = max(d.score for d in detections)
    elif enough_history and expected_total > 0:
        # below every threshold: a continuous "how far under baseline" in [0, 0.5)
        day_score = 0.49 * min(1.0, max(0.0, 1.0 - actual_total / expected_total) / params.min_relative_drop) * weight
    else:
        day_score = 0.0
    detections.sort(key=lambda d: (-d.score, d.startMinute))
    return StationDayAnalysis(
        day=day.isoformat(),
        dayScore=round(float(day_score), 4),
        isAnomaly=bool(detections),
        totalKwh=round(actual_total, 4),
        expectedKwh=round(expected_total, 4),
        historyDays=len(history_days),
        sameWeekdayDays=n_same,
        detections=detections,
        connectors=[ConnectorDay(c, round(float(actual_per_connector[i]), 4), round(float(uptime[i]), 4),
                                 round(float(expected_per_connector[i]), 4), [round(float(v), 4) for v in today[i]])
                    for i, c in enumerate(connectors)],
    )
