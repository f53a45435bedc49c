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
- zero_energy_day: the station delivered nothing, although it usually delivers at least
  `min_expected_kwh` and the predictive chance of no session start (idle-time start hazard,
  Gamma-Poisson) is <= `zero_day_alpha`.
- connector_offline: a connector is silent for >= `min_offline_buckets` while its start hazard
  over the run, scaled by how busy the rest of the station is today, makes that implausible.
- energy_drop: the available connectors delivered far below baseline and their sessions drew a
  fraction of their usual power (or, without that power signal, almost nothing at all).

Uptime of a connector for the day = 1 - minutes inside its offline run / 1440 (0 for every
connector with history on a zero-energy day; 1.0 otherwise). Idle is not down: without status
notifications, silence only counts as unavailability when history says it is implausible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

MODEL_ID = "shade"
MODEL_VERSION = "1.1.0"
BUCKETS_PER_DAY = 96
BUCKET_MINUTES = 15
DETECTION_TYPES = ("energy_drop", "zero_energy_day", "connector_offline")
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ShadeParams:
    window_weeks: int = 8  # baseline history: same weekday, previous 4-8 weeks
    min_history_days: int = 14  # fewer history days in the window: no detections
    prior_days: float = 4.0  # shrinkage strength toward the day-type profile
    max_streak_days: int = 3  # a silence at midnight looks back this many consecutive silent days
    alpha: float = 0.01  # max predictive probability of a silence still going at midnight
    recovered_alpha: float = 0.002  # ... of a silence the connector came back from (one of many spans tried)
    zero_day_alpha: float = 0.005  # ... of a whole station-day without a session
    history_alpha: float = 0.12  # ... and max smoothed frequency of a comparable silence in history
    rate_prior_days: float = 2.0  # a connector's start rates lean this many days on the station's
    min_expected_kwh: float = 5.0  # zero_energy_day / energy_drop: the day must normally carry this much
    min_offline_buckets: int = 16  # connector_offline: >= 4 h of silence
    min_offline_expected_kwh: float = 2.0
    offline_margin: float = 1.5  # ... and history days rarely missed even 1/1.5 of its usual sessions
    min_relative_drop: float = 0.5  # energy_drop: delivered <= 50 % of expected ...
    short_history_extra_drop: float = 0.2  # ... up to 70 % drop required with almost no same-weekday days
    max_power_ratio: float = 0.6  # ... and sessions drew <= 60 % of their usual power ...
    min_power_z: float = 3.0  # ... with a robust z of the mean log power ratio >= 3
    min_power_sigma: float = 0.2  # floor of the log-power spread (identical sessions in history)
    min_total_drop: float = 0.85  # energy_drop without a power signal: <= 15 % of expected ...
    min_z: float = 4.0  # ... and robust z of the day total >= 4
    min_sigma_fraction: float = 0.1  # sigma floor as a fraction of the expected day total
    silence_kwh: float = 0.01  # a bucket/span with less than this is silent


DEFAULT_PARAMS = ShadeParams()

# kWh per bucket by connector id; by day (a date or an ISO date string) in a history
ConnectorEnergy = Mapping[str, Sequence[float]]
History = Mapping[date, ConnectorEnergy] | Mapping[str, ConnectorEnergy]


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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable Python (camelCase, as the API)."""
        return asdict(self)


def _as_day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _vector(values: Sequence[float] | None) -> np.ndarray:
    array = np.zeros(BUCKETS_PER_DAY) if values is None else np.asarray(values, dtype=float).reshape(-1)
    if array.shape[0] != BUCKETS_PER_DAY:
        raise ValueError(f"expected {BUCKETS_PER_DAY} buckets, got {array.shape[0]}")
    return np.where(np.isfinite(array), np.maximum(array, 0.0), 0.0)


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def _smoothed_frequency(hits: int, total: int) -> float:
    """Laplace (add-one) estimate: 0 hits in 10 days is 1/12, not 0."""
    return (hits + 1.0) / (total + 2.0)


def _predictive_silence(shape: float, rate: float, factor: float = 1.0) -> float:
    """P(no session) under a Gamma(shape, rate) posterior of the Poisson session rate (negative
    binomial predictive): the sessions history saw (`shape` ~ count + 1/2) over `rate` ~ days.
    Few days of history widen it, so 3 sessions in 1 day is far less sure than 120 in 40."""
    return float((rate / (rate + factor)) ** shape) if rate > 0 else 1.0


def _starts(active: np.ndarray) -> np.ndarray:
    """Buckets where a run of active buckets begins (~ a session start), along the last axis."""
    starts = active.copy()
    starts[..., 1:] &= ~active[..., :-1]
    return starts


def _run_peaks(energy: np.ndarray, active: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Peak bucket energy of every run of active buckets (rows of `energy` flattened): a charging
    session's power / 4 when it fills a bucket. Runs never cross rows: a row's first active bucket
    is a start."""
    values = energy.reshape(-1, BUCKETS_PER_DAY)[active.reshape(-1, BUCKETS_PER_DAY)]
    first = np.flatnonzero(starts.reshape(-1, BUCKETS_PER_DAY)[active.reshape(-1, BUCKETS_PER_DAY)])
    return np.maximum.reduceat(values, first) if first.size else np.zeros(0)


def _surprise_score(probability: float, alpha: float) -> float:
    """0.5 at the threshold, 1.0 at a probability 30x below it."""
    probability = max(probability, 1e-12)
    strength = min(1.0, max(0.0, np.log10(alpha / probability) / 1.5))
    return 0.5 + 0.5 * strength


def _robust(matrix: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(matrix, axis=axis)
    mad = np.median(np.abs(matrix - np.expand_dims(median, axis)), axis=axis)
    return median, mad


def _silent_runs(silent: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) bucket spans of consecutive silent buckets."""
    padded = np.concatenate(([0], silent.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _missed_sessions(silent: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Per row of `silent`: the largest sum of `rates` (usual session starts per bucket) over one
    run of silent buckets. Night silence weighs ~0, a silent rush hour weighs a lot."""
    rows = silent.shape[0]
    segment = np.cumsum(~silent, axis=1) + (np.arange(rows) * (BUCKETS_PER_DAY + 1))[:, None]
    weights = np.broadcast_to(rates, silent.shape)
    sums = np.bincount(segment[silent], weights=weights[silent], minlength=rows * (BUCKETS_PER_DAY + 1))
    return sums.reshape(rows, BUCKETS_PER_DAY + 1).max(axis=1)


def _silent_tail(energy: np.ndarray, silence: float) -> int:
    """Buckets of silence at the end of a day (96: silent all day)."""
    active = np.flatnonzero(energy >= silence)
    return BUCKETS_PER_DAY - (int(active[-1]) + 1 if active.size else 0)


def _streak(previous_days: Sequence[np.ndarray], silence: float) -> tuple[list[int], int]:
    """Silent tails of the consecutive days before (newest first) that a silence at midnight
    continues, and how many whole silent days that is (the same outage, not independent history)."""
    tails = []
    for earlier in previous_days:
        tail = _silent_tail(earlier, silence)
        if tail == 0:
            break
        tails.append(tail)
        if tail < BUCKETS_PER_DAY:
            break
    return tails, sum(tail == BUCKETS_PER_DAY for tail in tails)


def _tail_sessions(tails: list[int], rates: np.ndarray) -> float:
    """Usual session starts in the silent tails of the days before (per-bucket `rates`)."""
    tail_mass = np.concatenate(([0.0], np.cumsum(rates[::-1])))
    return float(sum(tail_mass[tail] for tail in tails))


def analyze_station_day(
    day: date | str,
    connector_energy: ConnectorEnergy,
    history: History | None = None,
    params: ShadeParams | None = None,
) -> StationDayAnalysis:
    params = params or DEFAULT_PARAMS
    station = _station_window(_as_day(day), connector_energy, history, params)
    baseline = _baseline(station)
    actual_per_connector = station.today.sum(axis=1)
    expected_total = float(baseline.per_connector.sum())
    actual_total = float(actual_per_connector.sum())
    enough_history = len(station.days) >= params.min_history_days and station.n_type > 0
    uptime = np.ones(len(station.connectors))
    detections: list[Detection] = []
    if enough_history:
        detections = _detections(station, baseline, actual_total, expected_total, uptime, params)

    if detections:
        day_score = max(d.score for d in detections)
    elif enough_history and expected_total > 0:
        # below every threshold: a continuous "how far under baseline" in [0, 0.5)
        day_score = (
            0.49 * min(1.0, max(0.0, 1.0 - actual_total / expected_total) / params.min_relative_drop) * station.weight
        )
    else:
        day_score = 0.0
    detections.sort(key=lambda d: (-d.score, d.startMinute))
    return StationDayAnalysis(
        day=station.day.isoformat(),
        dayScore=round(float(day_score), 4),
        isAnomaly=bool(detections),
        totalKwh=round(actual_total, 4),
        expectedKwh=round(expected_total, 4),
        historyDays=len(station.days),
        sameWeekdayDays=station.n_same,
        detections=detections,
        connectors=[
            ConnectorDay(
                c,
                round(float(actual_per_connector[i]), 4),
                round(float(uptime[i]), 4),
                round(float(baseline.per_connector[i]), 4),
                [round(float(v), 4) for v in station.today[i]],
            )
            for i, c in enumerate(station.connectors)
        ],
    )


@dataclass(frozen=True)
class _StationWindow:
    """The day to judge and its history window as arrays over the same connectors."""

    day: date
    days: list[date]  # history days in the window, oldest first
    connectors: list[str]
    today: np.ndarray  # connectors x buckets
    cube: np.ndarray  # history days x connectors x buckets
    same_weekday: np.ndarray  # per history day
    same_type: np.ndarray  # per history day: same day type (all days when none is)
    n_same: int
    n_type: int
    weight: float  # of the same-weekday baseline against the day-type one


def _station_window(
    day: date,
    connector_energy: ConnectorEnergy,
    history: History | None,
    params: ShadeParams,
) -> _StationWindow:
    first_day = day - timedelta(weeks=params.window_weeks)
    window = {}
    for when, energy in (history or {}).items():
        when = _as_day(when)
        if first_day <= when < day:
            window[when] = energy
    history_days = sorted(window)
    connectors = sorted(set(connector_energy) | {c for d in history_days for c in window[d]})
    count = len(connectors)
    today = np.array([_vector(connector_energy.get(c)) for c in connectors]).reshape(count, BUCKETS_PER_DAY)
    cube = np.array([[_vector(window[d].get(c)) for c in connectors] for d in history_days]).reshape(
        len(history_days), count, BUCKETS_PER_DAY
    )
    same_weekday = np.array([d.weekday() == day.weekday() for d in history_days], dtype=bool)
    same_type = np.array([_is_weekend(d) == _is_weekend(day) for d in history_days], dtype=bool)
    if not same_type.any():
        same_type = np.ones(len(history_days), dtype=bool)
    n_same = int(same_weekday.sum())
    return _StationWindow(
        day=day,
        days=history_days,
        connectors=connectors,
        today=today,
        cube=cube,
        same_weekday=same_weekday,
        same_type=same_type,
        n_same=n_same,
        n_type=int(same_type.sum()),
        weight=n_same / (n_same + params.prior_days),
    )


@dataclass(frozen=True)
class _Baseline:
    per_connector: np.ndarray  # expected kWh of the day per connector
    buckets: np.ndarray  # expected kWh per connector and bucket
    connector_totals: np.ndarray  # history days x connectors


def _baseline(station: _StationWindow) -> _Baseline:
    count = len(station.connectors)
    if not station.days:
        return _Baseline(np.zeros(count), np.zeros_like(station.today), np.zeros((0, count)))
    # Medians of sparse buckets are ~0, so energy *levels* come from robust day totals per
    # connector (same weekday shrunk toward the day type), spread over the day by the
    # day-type mean profile.
    cube, same_type, weight = station.cube, station.same_type, station.weight
    connector_totals = cube.sum(axis=2)  # days x connectors
    type_totals = np.median(connector_totals[same_type], axis=0)
    weekday_totals = np.median(connector_totals[station.same_weekday], axis=0) if station.n_same else type_totals
    expected_per_connector = weight * weekday_totals + (1 - weight) * type_totals
    mean_profile = cube[same_type].mean(axis=0)
    mass = mean_profile.sum(axis=1, keepdims=True)
    shape = np.divide(mean_profile, mass, out=np.full_like(mean_profile, 1.0 / BUCKETS_PER_DAY), where=mass > 0)
    return _Baseline(expected_per_connector, shape * expected_per_connector[:, None], connector_totals)


def _detections(
    station: _StationWindow,
    baseline: _Baseline,
    actual_total: float,
    expected_total: float,
    uptime: np.ndarray,
    params: ShadeParams,
) -> list[Detection]:
    """zero_energy_day; otherwise connector_offline per connector, then energy_drop on the
    connectors that were available. Lowers `uptime` of the connectors found down."""
    history_active = station.cube >= params.silence_kwh
    history_starts = _starts(history_active)
    model = _silence_model(station, history_active, history_starts, params)
    previous = [
        k
        for k in range(1, min(params.max_streak_days, len(station.days)) + 1)
        if station.days[-k] == station.day - timedelta(days=k)
    ]
    if actual_total < params.silence_kwh and expected_total >= params.min_expected_kwh:
        zero_day = _zero_energy_day(station, model, previous, actual_total, expected_total, params)
        if zero_day is not None:
            # a zero-energy day already says every connector was down
            uptime[baseline.per_connector > 0] = 0.0
            return [zero_day]
    today_active = station.today >= params.silence_kwh
    today_starts = _starts(today_active)
    detections, offline = _offline_detections(station, baseline, model, today_starts, previous, uptime, params)
    drop = _energy_drop(
        station.today,
        station.cube,
        history_active,
        history_starts,
        today_active,
        today_starts,
        ~offline,
        baseline.per_connector,
        baseline.buckets,
        baseline.connector_totals,
        station.same_type,
        station.same_weekday,
        station.n_same,
        station.weight,
        params,
    )
    if drop is not None:
        detections.append(drop)
    return detections


def _silence_model(
    station: _StationWindow, history_active: np.ndarray, history_starts: np.ndarray, params: ShadeParams
) -> _SilenceModel:
    """Session starts per connector and bucket on this day type, as a hazard: starts per day on
    which the connector was idle just before (a car can only start on a free connector, so
    a busy connector's few runs hide a much higher arrival rate; during a silence the
    connector is idle throughout and exposed to all of it). Each connector's counts are
    shrunk toward the station's per-connector mean (count-aware: a sparse connector with a
    short history borrows from its neighbours rather than trusting 2 sessions in 6 days)."""
    count, n_type = len(station.connectors), station.n_type
    type_starts = history_starts[station.same_type]
    idle_before = np.ones(type_starts.shape, dtype=bool)
    idle_before[..., 1:] = ~history_active[station.same_type][..., :-1]
    start_counts = type_starts.sum(axis=0).astype(float)  # connectors x buckets
    exposure = idle_before.sum(axis=0).astype(float)
    prior_scale = params.rate_prior_days / n_type
    start_counts = start_counts + prior_scale * start_counts.mean(axis=0)
    exposure = exposure + prior_scale * exposure.mean(axis=0)
    hazard = start_counts / np.maximum(exposure, 1e-9)
    runs_per_day = start_counts / (n_type + params.rate_prior_days)
    all_idle = np.ones(history_starts.shape, dtype=bool)
    all_idle[..., 1:] = ~history_active[..., :-1]
    all_hazard = history_starts.sum(axis=(0, 1)) / np.maximum(all_idle.sum(axis=(0, 1)), 1e-9)  # any day type
    return _SilenceModel(
        hazard=np.concatenate((np.zeros((count, 1)), np.cumsum(hazard, axis=1)), axis=1),
        counts=np.concatenate((np.zeros((count, 1)), np.cumsum(start_counts, axis=1)), axis=1),
        runs=np.concatenate((np.zeros((count, 1)), np.cumsum(runs_per_day, axis=1)), axis=1),
        bucket_hazard=hazard,
        night_hazard=all_hazard,
    )


def _zero_energy_day(
    station: _StationWindow,
    model: _SilenceModel,
    previous: list[int],
    actual_total: float,
    expected_total: float,
    params: ShadeParams,
) -> Detection | None:
    """No session at all, against the predictive chance of that."""
    cube, same_type = station.cube, station.same_type
    tails, streak_days = _streak([cube[-k].sum(axis=0) for k in previous], params.silence_kwh)
    station_day_silent = cube[same_type].sum(axis=(1, 2)) < params.silence_kwh
    # silent days of the current outage are the same event, not evidence that silence is usual
    earlier_silent = int(station_day_silent.sum()) - min(streak_days, int(station_day_silent[::-1].cumprod().sum()))
    probability = model.silence(
        float(model.hazard[:, -1].sum()),
        float(model.counts[:, -1].sum()),
        len(station.connectors) * _tail_sessions(tails, model.night_hazard),
    )
    # written as "not (plausible)" so a NaN probability is never a detection
    if not (
        probability <= params.zero_day_alpha
        and _smoothed_frequency(earlier_silent, station.n_type) <= params.history_alpha
    ):
        return None
    return Detection(
        "zero_energy_day",
        0,
        24 * 60,
        round(_surprise_score(probability, params.zero_day_alpha), 4),
        round(expected_total, 3),
        round(actual_total, 3),
    )


def _offline_detections(
    station: _StationWindow,
    baseline: _Baseline,
    model: _SilenceModel,
    today_starts: np.ndarray,
    previous: list[int],
    uptime: np.ndarray,
    params: ShadeParams,
) -> tuple[list[Detection], np.ndarray]:
    """connector_offline per connector, and which connectors were offline; lowers their `uptime`."""
    count = len(station.connectors)
    detections: list[Detection] = []
    offline = np.zeros(count, dtype=bool)
    today_runs = np.concatenate((np.zeros((count, 1)), np.cumsum(today_starts, axis=1)), axis=1)
    for index, connector in enumerate(station.connectors):
        found = _offline_run(
            index,
            station.today[index],
            station.cube,
            station.same_type,
            model,
            today_runs,
            previous,
            baseline.buckets[index],
            params,
        )
        if found is None:
            continue
        probability, start, end, expected_span, threshold = found
        offline[index] = True
        uptime[index] = 1.0 - (end - start) / BUCKETS_PER_DAY
        detections.append(
            Detection(
                "connector_offline",
                start * BUCKET_MINUTES,
                end * BUCKET_MINUTES,
                round(_surprise_score(probability, threshold), 4),
                round(expected_span, 3),
                0.0,
                connector,
            )
        )
    return detections, offline


@dataclass(frozen=True)
class _SilenceModel:
    """Cumulative (over buckets, per connector) start hazard, start counts and runs per day."""

    hazard: np.ndarray
    counts: np.ndarray
    runs: np.ndarray
    bucket_hazard: np.ndarray
    night_hazard: np.ndarray

    @staticmethod
    def silence(hazard: float, counts: float, extra_hazard: float = 0.0, activity: float = 1.0) -> float:
        """Predictive chance of no start over a span with cumulative `hazard` estimated from
        `counts` starts: Gamma(counts + 1/2) posterior of the rate (fewer starts seen, wider),
        `extra_hazard` (the silent night before) added at the same precision."""
        shape = counts + 0.5
        if hazard + extra_hazard <= 0:
            return 1.0
        precision = shape / max(hazard, 1e-9) if hazard > 0 else 1.0
        return _predictive_silence(shape + precision * extra_hazard, precision, activity)


def _offline_run(
    index: int,
    today: np.ndarray,
    cube: np.ndarray,
    same_type: np.ndarray,
    model: _SilenceModel,
    today_runs: np.ndarray,
    previous: list[int],
    expected: np.ndarray,
    params: ShadeParams,
) -> tuple[float, int, int, float, float] | None:
    """(probability, start, end, expected kWh, threshold) of the connector's most implausible silent run, or None.

    Probability = predictive chance that no session started during the run (the connector's idle
    start hazard over the run, `_SilenceModel.silence`), scaled by how busy the station is today:
    the other connectors' runs and this connector's own before the silence, against their usual
    counts. A holiday-like quiet day lowers every connector's usage together, so a silence is less
    surprising; a normal day elsewhere at the station leaves the full expectation. A run starting
    at midnight continues the silent tails of the days before (up to `max_streak_days`)."""
    silent = today < params.silence_kwh
    if not silent.any():
        return None
    others = np.arange(cube.shape[1]) != index
    observed_elsewhere = float(today_runs[others, -1].sum())
    usual_elsewhere = float(model.runs[others, -1].sum())
    best: tuple[float, int, int, list[int], float] | None = None
    for start, end in _silent_runs(silent):
        if end - start < params.min_offline_buckets:
            continue
        observed = observed_elsewhere + float(today_runs[index, start])
        usual = usual_elsewhere + float(model.runs[index, start])
        activity = min(1.0, (observed + 1.0) / (usual + 1.0))
        tails: list[int] = []
        if start == 0 and previous:
            tails, _ = _streak([cube[-k, index] for k in previous], params.silence_kwh)
        probability = model.silence(
            float(model.hazard[index, end] - model.hazard[index, start]),
            float(model.counts[index, end] - model.counts[index, start]),
            _tail_sessions(tails, model.night_hazard),
            activity,
        )
        # a dead connector stays dead: a silence that ended in a session needs stronger evidence
        threshold = params.alpha if end == BUCKETS_PER_DAY else params.recovered_alpha
        if probability <= threshold and (best is None or probability / threshold < best[0] / best[4]):
            best = (probability, start, end, tails, threshold)
    if best is None:
        return None
    probability, start, end, tails, threshold = best
    expected_span = float(expected[start:end].sum())
    if expected_span < params.min_offline_expected_kwh and not tails:
        return None
    # burstier than Poisson? history days of this type rarely missed even 1/margin as much usual
    # start hazard in one silence (the same statistic on every day; the current outage's days excluded)
    missed_today = float(model.hazard[index, end] - model.hazard[index, start])
    missed = _missed_sessions(cube[same_type, index] < params.silence_kwh, model.bucket_hazard[index])
    comparable = missed >= max(missed_today, 1e-9) / params.offline_margin
    hits = int(comparable.sum()) - min(len(tails), int(comparable[::-1].cumprod().sum()))
    if _smoothed_frequency(hits, int(same_type.sum())) > params.history_alpha:
        return None
    return probability, start, end, expected_span, threshold


def _energy_drop(
    today: np.ndarray,
    cube: np.ndarray,
    history_active: np.ndarray,
    history_starts: np.ndarray,
    today_active: np.ndarray,
    today_starts: np.ndarray,
    available: np.ndarray,
    expected_per_connector: np.ndarray,
    expected_buckets: np.ndarray,
    connector_totals: np.ndarray,
    same_type: np.ndarray,
    same_weekday: np.ndarray,
    n_same: int,
    weight: float,
    params: ShadeParams,
) -> Detection | None:
    """energy_drop on the available connectors, or None.

    Two kinds of evidence. Power: every charging session's peak bucket (~ its power) against the
    station's sessions in the window (log ratio, robust spread); a drop with sessions still
    arriving shows as sessions drawing a fraction of their usual power, which a quiet day (fewer
    sessions at the usual power) never does. Total: the day total against its robust baseline,
    required to be far lower when no power signal backs it (fewer sessions alone is demand, and a
    holiday-like day drops 30-55 %)."""
    expected_available = float(expected_per_connector[available].sum())
    actual_available = float(today[available].sum())
    if expected_available < params.min_expected_kwh:
        return None
    relative_drop = 1.0 - actual_available / expected_available
    required_drop = params.min_relative_drop + params.short_history_extra_drop * (1 - weight)
    if relative_drop < required_drop:
        return None
    available_totals = connector_totals[:, available].sum(axis=1)
    type_mad = _robust(available_totals[same_type])[1]
    weekday_mad = _robust(available_totals[same_weekday])[1] if n_same else type_mad
    sigma = np.maximum(
        _MAD_TO_SIGMA * (weight * weekday_mad + (1 - weight) * type_mad), params.min_sigma_fraction * expected_available
    )
    total_z = float((expected_available - actual_available) / sigma)

    history_peaks = _run_peaks(cube[:, available], history_active[:, available], history_starts[:, available])
    today_peaks = _run_peaks(today[available], today_active[available], today_starts[available])
    power_z = power_ratio = 0.0
    if history_peaks.size >= 5 and today_peaks.size:
        log_history = np.log(history_peaks)
        centre = float(np.median(log_history))
        spread = max(params.min_power_sigma, _MAD_TO_SIGMA * float(np.median(np.abs(log_history - centre))))
        shift = float(np.mean(np.log(today_peaks)) - centre)
        power_ratio = float(np.exp(shift))
        power_z = -shift * np.sqrt(today_peaks.size) / spread
    power_signal = power_ratio <= params.max_power_ratio and power_z >= params.min_power_z
    total_signal = relative_drop >= max(required_drop, params.min_total_drop) and total_z >= params.min_z
    if not (power_signal or total_signal):
        return None
    if power_signal:
        strength = 0.5 * min(1.0, (power_z - params.min_power_z) / params.min_power_z) + 0.5 * min(
            1.0, (params.max_power_ratio - power_ratio) / params.max_power_ratio / 0.5
        )
    else:
        strength = 0.5 * min(
            1.0, (relative_drop - params.min_total_drop) / max(1e-9, 1 - params.min_total_drop)
        ) + 0.5 * min(1.0, (total_z - params.min_z) / params.min_z)
    # the span with the largest cumulative deficit
    deficit = (expected_buckets[available] - today[available]).sum(axis=0)
    running = np.concatenate(([0.0], np.cumsum(deficit)))
    lowest = np.minimum.accumulate(running)
    end = int(np.argmax(running - lowest))
    start = int(np.flatnonzero(running[: end + 1] == lowest[end])[-1]) if end > 0 else 0
    return Detection(
        "energy_drop",
        start * BUCKET_MINUTES,
        max(end, start + 1) * BUCKET_MINUTES,
        round(0.5 + 0.5 * strength, 4),
        round(expected_available, 3),
        round(actual_available, 3),
    )
