"""SHADE: station-day anomaly detection on energy per connector in 15-minute buckets (pure numpy).

    from csar import shade
    analysis = shade.analyze_station_day(day, connector_energy, history, params=None, holidays=None)
    analysis.to_dict()

`connector_energy` maps connector id -> 96 kWh values (bucket b covers minutes [15b, 15b+15) of
`day`, UTC); `history` maps earlier dates -> the same mapping. A connector known from history but
absent today is taken as 96 zeros (a dead connector has no sessions at all).

Baseline: energy levels per connector from the median day total of the same weekday over the
previous `window_weeks` weeks, shrunk toward the day type (Mon-Fri or Sat-Sun) with weight
n_same / (n_same + prior_days). `holidays` (optional) are judged and learnt as Sundays. Fewer than
`min_history_days` history days in the window: no detection at all (new stations stay silent),
uptime 1.0.

Silences are judged by how improbable they are under the station's own demand model (session
starts per bucket, per connector or for the station as a whole; the rate's uncertainty and
today's demand as gamma factors; a quiet-day mixture for unlisted holidays), never by a fixed
count. Detections (at most one per type and connector; see docs/engine.md, section SHADE):
- zero_energy_day: the station delivered nothing, although it usually delivers at least
  `min_expected_kwh` and the chance of no session start is <= `zero_day_alpha`.
- connector_offline: a connector silent for >= `min_offline_buckets` at an implausible chance, or
  every connector of a station that stopped part-way through the day.
- energy_drop: a run of sessions that drew well under their connector's usual power (derating),
  or a collapse of the day total below even the station's quietest normal level.

Uptime of a connector for the day = 1 - minutes inside its offline run / 1440 (0 for every
connector with history on a zero-energy day; 1.0 otherwise). Idle is not down: without status
notifications, silence only counts as unavailability when the demand model says it is implausible.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

MODEL_ID = "shade"
MODEL_VERSION = "2.0.0"
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
    min_offline_expected_kwh: float = 2.0  # ... usually delivering this much (unless continuing an outage)
    min_span_sessions: float = 1.0  # ... and the silent span of today alone usually sees >= 1 session start
    offline_margin: float = 1.5  # ... and history days rarely missed even 1/1.5 of its usual sessions
    min_relative_drop: float = 0.5  # dayScore without a detection: 0.49 at this fraction under expected
    derate_ratio: float = 0.6  # energy_drop by power: sessions under 60 % of the connector's median peak ...
    derate_alpha: float = 1e-3  # ... in a run of consecutive sessions this improbable under history
    min_derated_sessions: int = 2  # ... of at least this many sessions
    min_history_sessions: int = 8  # ... judged against at least this many sessions of history
    below_quiet_fraction: float = 0.5  # energy_drop by total: also under half the station's quietest normal level
    min_total_drop: float = 0.85  # energy_drop without a power signal: <= 15 % of expected ...
    min_z: float = 4.0  # ... and robust z of the day total >= 4
    min_sigma_fraction: float = 0.1  # sigma floor as a fraction of the expected day total
    silence_kwh: float = 0.01  # a bucket/span with less than this is silent
    min_day_shape: float = 2.0  # today's demand multiplier ~ Gamma(shape) a priori, shape from the
    max_day_shape: float = 20.0  # history's day-to-day dispersion, within these bounds
    quiet_day_prior: float = 0.04  # without a calendar: chance a day is an unlisted holiday (~13 a year)
    listed_quiet_day_prior: float = 0.002  # with one: closures nobody listed (a calendar is trusted)


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


def _smoothed_frequency(hits: int, total: int) -> float:
    """Laplace (add-one) estimate: 0 hits in 10 days is 1/12, not 0."""
    return (hits + 1.0) / (total + 2.0)


def _starts(active: np.ndarray) -> np.ndarray:
    """Buckets where a run of active buckets begins (~ a session start), along the last axis."""
    starts = active.copy()
    starts[..., 1:] &= ~active[..., :-1]
    return starts


def _quiet_mixture(chance: Callable[[float], float], quiet_ratio: float, prior: float) -> float:
    """Chance of a silence when today may also be a quiet normal day (probability `prior`) on
    which demand falls to the station's quietest kind of day: an office silent on a holiday nobody
    listed is plausible, a motorway charger silent is not. `chance(ceiling)`: the silence's chance
    with today's demand at most that fraction of the usual."""
    return (1.0 - prior) * chance(1.0) + prior * chance(quiet_ratio)


def _surprise_score(probability: float, alpha: float) -> float:
    """0.5 at the threshold, 1.0 at a probability 30x below it."""
    probability = max(probability, 1e-12)
    strength = min(1.0, max(0.0, np.log10(alpha / probability) / 1.5))
    return 0.5 + 0.5 * strength


def _robust(matrix: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(matrix, axis=axis)
    mad = np.median(np.abs(matrix - np.expand_dims(median, axis)), axis=axis)
    return median, mad


def _spans(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, end) of every run of True buckets in each row of `mask` (rows x 96, or 96)."""
    rows = mask.reshape(-1, BUCKETS_PER_DAY)
    padded = np.zeros((rows.shape[0], BUCKETS_PER_DAY + 2), dtype=np.int8)
    padded[:, 1:-1] = rows
    edges = np.diff(padded, axis=1)
    row, start = np.nonzero(edges == 1)
    return row, start, np.nonzero(edges == -1)[1]


def _silent_runs(silent: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) bucket spans of consecutive silent buckets."""
    _, start, end = _spans(silent)
    return list(zip(start.tolist(), end.tolist(), strict=True))


def _missed_sessions(silent: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Per row of `silent`: the largest sum of `rates` (usual session starts per bucket) over one
    run of silent buckets. Night silence weighs ~0, a silent rush hour weighs a lot."""
    rows = silent.shape[0]
    segment = np.cumsum(~silent, axis=1) + (np.arange(rows) * (BUCKETS_PER_DAY + 1))[:, None]
    weights = np.broadcast_to(rates, silent.shape)
    sums = np.bincount(segment[silent], weights=weights[silent], minlength=rows * (BUCKETS_PER_DAY + 1))
    return sums.reshape(rows, BUCKETS_PER_DAY + 1).max(axis=1)


def _usual_in_history(hits_by_day: np.ndarray, continued_days: int, params: ShadeParams) -> bool:
    """Whether history days (of today's type) had the thing often (Laplace > `history_alpha`):
    burstier than the model says. The trailing days of the current outage (`continued_days`) are
    the same event, not evidence that it is usual."""
    hits = int(hits_by_day.sum()) - min(continued_days, int(hits_by_day[::-1].cumprod().sum()))
    return _smoothed_frequency(hits, hits_by_day.size) > params.history_alpha


def _silence_usual_in_history(
    silent_days: np.ndarray, rates: np.ndarray, missed_today: float, continued_days: int, params: ShadeParams
) -> bool:
    """`_usual_in_history` of days whose longest silence missed >= 1/`offline_margin` as many usual
    starts (per-bucket `rates`) as today's (the same statistic on every day)."""
    comparable = _missed_sessions(silent_days, rates) >= max(missed_today, 1e-9) / params.offline_margin
    return _usual_in_history(comparable, continued_days, params)


def _most_implausible(
    silent: np.ndarray, chance: Callable[[int, int], float | None], params: ShadeParams
) -> tuple[float, int, int, float] | None:
    """(probability, start, end, threshold) of the silent run of >= `min_offline_buckets` whose
    `chance(start, end)` (None: not judged) is lowest against its threshold, if under it. A dead
    connector stays dead: a silence that ended in a session needs stronger evidence (it is one of
    many spans tried)."""
    best: tuple[float, int, int, float] | None = None
    for start, end in _silent_runs(silent):
        if end - start < params.min_offline_buckets:
            continue
        probability = chance(start, end)
        if probability is None:
            continue
        threshold = params.alpha if end == BUCKETS_PER_DAY else params.recovered_alpha
        if probability <= threshold and (best is None or probability / threshold < best[0] / best[3]):
            best = (probability, start, end, threshold)
    return best


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
    """Usual session starts in the silent tails of the days before (`rates`: per-bucket starts of
    each of those days, newest first, as its kind of day usually has them)."""
    return float(sum(rates[k, BUCKETS_PER_DAY - tail :].sum() for k, tail in enumerate(tails)))


def analyze_station_day(
    day: date | str,
    connector_energy: ConnectorEnergy,
    history: History | None = None,
    params: ShadeParams | None = None,
    holidays: Collection[date | str] | None = None,
) -> StationDayAnalysis:
    """`holidays`: the station's public holidays (any dates; those in the window matter). A holiday
    is judged, and learnt from, as a Sunday. None: no calendar, so any day may be an unlisted quiet
    day (`quiet_day_prior`); with a calendar, only `listed_quiet_day_prior`."""
    params = params or DEFAULT_PARAMS
    station = _station_window(_as_day(day), connector_energy, history, params, holidays)
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
    kinds: np.ndarray  # per history day: weekday 0-6, a holiday counted as a Sunday (6)
    quiet_prior: float  # chance that today is a quiet day nobody listed (closure, bridge day, ...)


def _day_kind(day: date, holidays: set[date]) -> int:
    return 6 if day in holidays else day.weekday()


def _station_window(
    day: date,
    connector_energy: ConnectorEnergy,
    history: History | None,
    params: ShadeParams,
    holidays: Collection[date | str] | None = None,
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
    calendar = {_as_day(h) for h in holidays or ()}
    kind = _day_kind(day, calendar)
    kinds = np.array([_day_kind(d, calendar) for d in history_days], dtype=int)
    same_weekday = kinds == kind
    same_type = (kinds >= 5) == (kind >= 5)
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
        kinds=kinds,
        quiet_prior=params.quiet_day_prior if holidays is None else params.listed_quiet_day_prior,
    )


@dataclass(frozen=True)
class _Baseline:
    per_connector: np.ndarray  # expected kWh of the day per connector
    buckets: np.ndarray  # expected kWh per connector and bucket
    connector_totals: np.ndarray  # history days x connectors
    quiet_ratio: float  # the station's quietest kind of day (median total) over today's expectation, <= 1


def _baseline(station: _StationWindow) -> _Baseline:
    count = len(station.connectors)
    if not station.days:
        return _Baseline(np.zeros(count), np.zeros_like(station.today), np.zeros((0, count)), 1.0)
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
    # how quiet a normal day of this station can be (an office's Sunday, a depot's holiday): the
    # level an unlisted holiday falls to, so a silence is only surprising beyond it
    station_totals = connector_totals.sum(axis=1)
    levels = [float(np.median(station_totals[station.kinds == k])) for k in range(7) if (station.kinds == k).sum() >= 2]
    expected_total = float(expected_per_connector.sum())
    quiet_ratio = min(1.0, min(levels) / expected_total) if levels and expected_total > 0 else 1.0
    return _Baseline(
        expected_per_connector, shape * expected_per_connector[:, None], connector_totals, max(0.0, quiet_ratio)
    )


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
        zero_day = _zero_energy_day(station, baseline, model, previous, actual_total, expected_total, params)
        if zero_day is not None:
            # a zero-energy day already says every connector was down
            uptime[baseline.per_connector > 0] = 0.0
            return [zero_day]
    today_active = station.today >= params.silence_kwh
    today_starts = _starts(today_active)
    detections, offline = _offline_detections(station, baseline, model, today_starts, previous, uptime, params)
    drop = _energy_drop(station, baseline, ~offline, params)
    if drop is not None:
        detections.append(drop)
    return detections


def _silence_model(
    station: _StationWindow, history_active: np.ndarray, history_starts: np.ndarray, params: ShadeParams
) -> _SilenceModel:
    """Session starts per connector and bucket on this kind of day, as a hazard: starts per day on
    which the connector was idle just before (a car can only start on a free connector, so
    a busy connector's few runs hide a much higher arrival rate; during a silence the
    connector is idle throughout and exposed to all of it). The same weekday's counts lean on
    `prior_days` days of the day type (a shop's Sunday is not its Saturday; two Sundays of history
    are not enough alone), and each connector's on the station's per-connector mean (count-aware:
    a sparse connector with a short history borrows from its neighbours rather than trusting 2
    sessions in 6 days)."""
    count, n_type = len(station.connectors), station.n_type
    idle_before = np.ones(history_starts.shape, dtype=bool)
    idle_before[..., 1:] = ~history_active[..., :-1]
    type_counts = history_starts[station.same_type].sum(axis=0).astype(float)  # connectors x buckets
    type_exposure = idle_before[station.same_type].sum(axis=0).astype(float)
    same_counts = history_starts[station.same_weekday].sum(axis=0).astype(float)
    same_exposure = idle_before[station.same_weekday].sum(axis=0).astype(float)
    days = station.n_same + params.prior_days
    start_counts = same_counts + params.prior_days * type_counts / n_type
    exposure = same_exposure + params.prior_days * type_exposure / n_type
    # the station as a whole: its arrival rate (a car takes any free connector), for silences of
    # every connector at once, where no connector's busy hours inflate an idle hazard
    station_counts = start_counts.sum(axis=0)
    station_rate = station_counts / days
    prior_scale = params.rate_prior_days / days
    start_counts = start_counts + prior_scale * start_counts.mean(axis=0)
    exposure = exposure + prior_scale * exposure.mean(axis=0)
    hazard = start_counts / np.maximum(exposure, 1e-9)
    runs_per_day = start_counts / (days + params.rate_prior_days)
    # the days before today (a silence at midnight continues theirs), each at the hazard of its
    # own kind of day: a silent holiday or Sunday before is not a silent working day
    day_starts, day_idle = history_starts.sum(axis=1), idle_before.sum(axis=1)  # days x buckets
    weekend = station.kinds >= 5

    def kind_hazard(kind: int) -> np.ndarray:
        # half a day of the day type keeps a kind seen on few days finite
        same, of_type = station.kinds == kind, weekend == (kind >= 5)
        type_rate = day_starts[of_type].sum(axis=0) / np.maximum(day_idle[of_type].sum(axis=0), 1e-9)
        pseudo = 0.5 * count
        return (day_starts[same].sum(axis=0) + pseudo * type_rate) / (day_idle[same].sum(axis=0) + pseudo)

    kinds = station.kinds[::-1][: params.max_streak_days]
    night_hazard = np.array([kind_hazard(int(k)) for k in kinds]).reshape(len(kinds), BUCKETS_PER_DAY)
    # day-to-day demand varies more than Poisson (weather, events, a trend): a negative-binomial
    # dispersion by the method of moments on the station's daily starts against their kind's mean
    daily = day_starts.sum(axis=1).astype(float)
    usual = np.array([daily[station.kinds == k].mean() for k in station.kinds]) if daily.size else daily
    excess = float(((daily - usual) ** 2).sum() - usual.sum())
    dispersion = max(0.0, excess / max(float((usual**2).sum()), 1e-9))
    return _SilenceModel(
        hazard=np.concatenate((np.zeros((count, 1)), np.cumsum(hazard, axis=1)), axis=1),
        counts=np.concatenate((np.zeros((count, 1)), np.cumsum(start_counts, axis=1)), axis=1),
        runs=np.concatenate((np.zeros((count, 1)), np.cumsum(runs_per_day, axis=1)), axis=1),
        bucket_hazard=hazard,
        night_hazard=night_hazard,
        day_shape=float(np.clip(1.0 / max(dispersion, 1e-9), params.min_day_shape, params.max_day_shape)),
        station_hazard=np.concatenate(([0.0], np.cumsum(station_rate))),
        station_counts=np.concatenate(([0.0], np.cumsum(station_counts))),
    )


def _zero_energy_day(
    station: _StationWindow,
    baseline: _Baseline,
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
    probability = _quiet_mixture(
        lambda ceiling: model.silence(
            float(model.station_hazard[-1]),
            float(model.station_counts[-1]),
            len(station.connectors) * _tail_sessions(tails, model.night_hazard),
            ceiling=ceiling,
        ),
        baseline.quiet_ratio,
        station.quiet_prior,
    )
    # written as "not (plausible)" so a NaN probability is never a detection
    if not (probability <= params.zero_day_alpha and not _usual_in_history(station_day_silent, streak_days, params)):
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
    """connector_offline per connector, then for every connector of a station that stopped as a
    whole part-way through the day; which connectors were offline; lowers their `uptime`."""
    count = len(station.connectors)
    detections: list[Detection] = []
    offline = np.zeros(count, dtype=bool)
    today_runs = np.concatenate((np.zeros((count, 1)), np.cumsum(today_starts, axis=1)), axis=1)
    found_runs: dict[int, tuple[float, int, int, float, float]] = {}
    for index in range(count):
        found = _offline_run(index, station, baseline, model, today_runs, previous, params)
        if found is not None:
            found_runs[index] = found
    outage = _station_outage(station, baseline, model, today_runs, previous, params)
    if outage is not None:
        # each connector silent through the station's silence, from its own last delivery
        probability, start, end, threshold = outage
        for index in range(count):
            if index in found_runs or baseline.per_connector[index] <= 0:
                continue
            own_start = start
            while own_start > 0 and station.today[index, own_start - 1] < params.silence_kwh:
                own_start -= 1
            expected_span = float(baseline.buckets[index, own_start:end].sum())
            found_runs[index] = (probability, own_start, end, expected_span, threshold)
    for index, (probability, start, end, expected_span, threshold) in sorted(found_runs.items()):
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
                station.connectors[index],
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
    night_hazard: np.ndarray  # per-bucket starts per connector on each of the days before, newest first

    day_shape: float  # gamma shape of the day-to-day demand multiplier (prior of today's demand)
    station_hazard: np.ndarray  # cumulative station arrivals per day over buckets
    station_counts: np.ndarray  # ... and the starts they were estimated from

    def silence(
        self,
        hazard: float,
        counts: float,
        extra_hazard: float = 0.0,
        demand: tuple[float, float] = (0.0, 0.0),
        ceiling: float = 1.0,
    ) -> float:
        """Predictive chance of no start over a span with cumulative `hazard` estimated from
        `counts` starts, `extra_hazard` (the silent night before) added at the same precision.

        Two uncertain factors multiply the usual rate: the rate itself, Gamma(counts + 1/2)
        (fewer starts seen, wider), and today's demand, Gamma(day_shape + observed, day_shape +
        usual) from `demand` = (starts seen today where the silence cannot hide them, starts
        usually seen there), its mean capped at `ceiling`. Their product is taken as one gamma
        (the variances of the log add, so the shapes add harmonically)."""
        total = hazard + extra_hazard
        if total <= 0:
            return 1.0
        rate_shape = (counts + 0.5) * (total / hazard if hazard > 0 else 1.0)
        observed, usual = demand
        demand_shape = self.day_shape + observed
        mean = min(ceiling, demand_shape / (self.day_shape + usual))
        shape = 1.0 / (1.0 / rate_shape + 1.0 / demand_shape)
        return float((1.0 + mean * total / shape) ** -shape)


def _outside(today: np.ndarray, usual: np.ndarray, start: int, end: int) -> tuple[float, float]:
    """(starts seen today, starts usually seen) outside [start, end), from cumulative runs per
    connector (rows x 97) or of the station (97)."""

    def total(runs: np.ndarray) -> float:
        return float(np.sum(runs[..., -1]) - np.sum(runs[..., end] - runs[..., start]))

    return total(today), total(usual)


def _demand(today_runs: np.ndarray, usual_runs: np.ndarray, index: int, start: int, end: int) -> tuple[float, float]:
    """Evidence of today's demand, (starts seen, starts usually seen), where a silence of connector
    `index` over [start, end) cannot have hidden them: the other connectors all day plus this one
    before the silence (a normal day elsewhere leaves the full expectation), or, if that says less
    because the others went silent too (the station failed), every connector outside the span."""
    others = np.arange(today_runs.shape[0]) != index
    elsewhere = (
        float(today_runs[others, -1].sum() + today_runs[index, start]),
        float(usual_runs[others, -1].sum() + usual_runs[index, start]),
    )
    outside = _outside(today_runs, usual_runs, start, end)
    return max(elsewhere, outside, key=lambda seen: (seen[0] + 1.0) / (seen[1] + 1.0))


def _offline_run(
    index: int,
    station: _StationWindow,
    baseline: _Baseline,
    model: _SilenceModel,
    today_runs: np.ndarray,
    previous: list[int],
    params: ShadeParams,
) -> tuple[float, int, int, float, float] | None:
    """(probability, start, end, expected kWh, threshold) of the connector's most implausible silent run, or None.

    Probability = predictive chance that no session started during the run (the connector's idle
    start hazard over the run, `_SilenceModel.silence`) at today's demand (`_demand`), mixed with
    the chance that today is a quiet normal day (`_quiet_mixture`). A run starting at midnight
    continues the silent tails of the days before (up to `max_streak_days`)."""
    cube, same_type = station.cube, station.same_type
    night_tails = _streak([cube[-k, index] for k in previous], params.silence_kwh)[0] if previous else []

    def chance(start: int, end: int) -> float | None:
        tails = night_tails if start == 0 else []
        span_hazard = float(model.hazard[index, end] - model.hazard[index, start])
        if span_hazard < params.min_span_sessions:
            return None  # today's part says nothing by itself (a night): yesterday's outage, reported then
        span_counts = float(model.counts[index, end] - model.counts[index, start])
        tail_hazard = _tail_sessions(tails, model.night_hazard)
        demand = _demand(today_runs, model.runs, index, start, end)
        return _quiet_mixture(
            lambda ceiling: model.silence(span_hazard, span_counts, tail_hazard, demand, ceiling),
            baseline.quiet_ratio,
            station.quiet_prior,
        )

    best = _most_implausible(station.today[index] < params.silence_kwh, chance, params)
    if best is None:
        return None
    probability, start, end, threshold = best
    tails = night_tails if start == 0 else []
    expected_span = float(baseline.buckets[index, start:end].sum())
    if expected_span < params.min_offline_expected_kwh and not tails:
        return None
    # today's silence counted with the tails it continues
    missed_today = float(model.hazard[index, end] - model.hazard[index, start]) + _tail_sessions(
        tails, model.night_hazard
    )
    silent_days = cube[same_type, index] < params.silence_kwh
    if _silence_usual_in_history(silent_days, model.bucket_hazard[index], missed_today, len(tails), params):
        return None
    return probability, start, end, expected_span, threshold


def _station_outage(
    station: _StationWindow,
    baseline: _Baseline,
    model: _SilenceModel,
    today_runs: np.ndarray,
    previous: list[int],
    params: ShadeParams,
) -> tuple[float, int, int, float] | None:
    """(probability, start, end, threshold) of the most implausible span in which every connector
    was silent (the station stopped part-way through the day), or None. The connectors' hazards add
    up, so a site whose connectors are each too quiet to judge alone is judged together; today's
    demand comes from the starts outside the span (a site dead from 08:27 had a normal morning)."""
    silent: np.ndarray = np.all(station.today < params.silence_kwh, axis=0)
    hazard, counts = model.station_hazard, model.station_counts
    tails, _ = _streak([station.cube[-k].sum(axis=0) for k in previous], params.silence_kwh)
    tail_hazard = len(station.connectors) * _tail_sessions(tails, model.night_hazard)
    today_all, usual_all = today_runs.sum(axis=0), model.runs.sum(axis=0)

    def chance(start: int, end: int) -> float | None:
        span_hazard, span_counts = float(hazard[end] - hazard[start]), float(counts[end] - counts[start])
        if (start == 0 and end == BUCKETS_PER_DAY) or span_hazard < params.min_span_sessions:
            return None  # a whole silent day is zero_energy_day's
        demand = _outside(today_all, usual_all, start, end)
        extra = tail_hazard if start == 0 else 0.0
        return _quiet_mixture(
            lambda ceiling: model.silence(span_hazard, span_counts, extra, demand, ceiling),
            baseline.quiet_ratio,
            station.quiet_prior,
        )

    best = _most_implausible(silent, chance, params)
    if best is None:
        return None
    _, start, end, _ = best
    continued = tails if start == 0 else []
    if float(baseline.buckets[:, start:end].sum()) < params.min_offline_expected_kwh and not continued:
        return None
    missed_today = float(hazard[end] - hazard[start]) + (tail_hazard if continued else 0.0)
    silent_days = (station.cube[station.same_type] < params.silence_kwh).all(axis=1)
    if _silence_usual_in_history(silent_days, np.diff(hazard), missed_today, len(continued), params):
        return None
    return best


def _energy_drop(
    station: _StationWindow, baseline: _Baseline, available: np.ndarray, params: ShadeParams
) -> Detection | None:
    """energy_drop on the available connectors, or None: the stronger of two kinds of evidence.

    Power (`_derating`): consecutive sessions that each drew well under their connector's usual
    power, as improbable as their run is under the connector's own history (a 3.7 kW car on a
    22 kW charger happens; eight in a row at every connector does not). A quiet day has fewer
    sessions at the usual power, so it never looks like this; one slow car is not enough.
    Total: the day far below its robust baseline and below the station's quietest normal level
    (an empty office Saturday is normal for an office), when no power signal explains it."""
    expected_available = float(baseline.per_connector[available].sum())
    actual_available = float(station.today[available].sum())
    if expected_available < params.min_expected_kwh:
        return None
    derating = _derating(station, available, params)
    if derating is not None:
        probability, start, end = derating
        return Detection(
            "energy_drop",
            start * BUCKET_MINUTES,
            end * BUCKET_MINUTES,
            round(_surprise_score(probability, params.derate_alpha), 4),
            round(expected_available, 3),
            round(actual_available, 3),
        )
    relative_drop = 1.0 - actual_available / expected_available
    quiet_available = baseline.quiet_ratio * expected_available
    if relative_drop < params.min_total_drop or actual_available >= params.below_quiet_fraction * quiet_available:
        return None
    available_totals = baseline.connector_totals[:, available].sum(axis=1)
    type_mad = _robust(available_totals[station.same_type])[1]
    weekday_mad = _robust(available_totals[station.same_weekday])[1] if station.n_same else type_mad
    weight = station.weight
    sigma = np.maximum(
        _MAD_TO_SIGMA * (weight * weekday_mad + (1 - weight) * type_mad), params.min_sigma_fraction * expected_available
    )
    total_z = float((expected_available - actual_available) / sigma)
    if total_z < params.min_z:
        return None
    strength = 0.5 * min(
        1.0, (relative_drop - params.min_total_drop) / max(1e-9, 1 - params.min_total_drop)
    ) + 0.5 * min(1.0, (total_z - params.min_z) / params.min_z)
    # the span with the largest cumulative deficit
    deficit = (baseline.buckets[available] - station.today[available]).sum(axis=0)
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


def _runs(energy: np.ndarray, silence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, end, peak) of every run of active buckets in each row of `energy` (rows x 96):
    a charging session, its peak bucket ~ its power / 4 once it fills a bucket."""
    rows = energy.reshape(-1, BUCKETS_PER_DAY)
    row, start, end = _spans(rows >= silence)
    if not row.size:
        return row, start, end, np.zeros(0)
    flat = np.append(rows.reshape(-1), 0.0)  # reduceat needs every index inside the array
    offsets = row * BUCKETS_PER_DAY
    peaks = np.maximum.reduceat(flat, np.ravel(np.column_stack((offsets + start, offsets + end))))[::2]
    return row, start, end, peaks


def _derating(station: _StationWindow, available: np.ndarray, params: ShadeParams) -> tuple[float, int, int] | None:
    """(probability, start, end bucket) of the most improbable block of consecutive low-power
    sessions today, per connector or across the station in time order, or None.

    A session is low when its peak bucket is under `derate_ratio` of its connector's median
    session peak; each connector's chance of a low session is its history's share of them
    (add-half smoothed; the station's sessions when the connector has few). Sessions shorter than
    two buckets are skipped in history and today alike (their peak is a partial bucket)."""
    count = len(station.connectors)
    history_runs = [_runs(station.cube[:, c], params.silence_kwh) for c in range(count)]
    long_peaks = [peaks[(end - start) >= 2] for _, start, end, peaks in history_runs]
    pooled = np.concatenate(long_peaks) if long_peaks else np.zeros(0)
    if pooled.size < params.min_history_sessions:
        return None
    sessions: list[tuple[int, int, int, float, bool]] = []  # connector, start, end, log p, low
    for c in np.flatnonzero(available):
        peaks = long_peaks[c] if long_peaks[c].size >= params.min_history_sessions else pooled
        low_level = params.derate_ratio * float(np.median(peaks))
        log_p = float(np.log(((peaks <= low_level).sum() + 0.5) / (peaks.size + 1.0)))
        _, start, end, today_peaks = _runs(station.today[c], params.silence_kwh)
        for s, e, peak in zip(start.tolist(), end.tolist(), today_peaks.tolist(), strict=True):
            if e - s >= 2:
                sessions.append((int(c), s, e, log_p, peak <= low_level))
    best: tuple[float, int, int] | None = None  # log probability, start, end
    scopes = [sorted(sessions, key=lambda b: (b[1], b[0]))] + [
        [b for b in sessions if b[0] == c] for c in sorted({b[0] for b in sessions})
    ]
    for scope in scopes:
        run_log_p, run_start, run_count = 0.0, 0, 0
        for _, s, e, log_p, low in scope:
            if not low:
                run_log_p, run_count = 0.0, 0
                continue
            if run_count == 0:
                run_start = s
            run_log_p += log_p
            run_count += 1
            if run_count >= params.min_derated_sessions and (best is None or run_log_p < best[0]):
                best = (run_log_p, run_start, e)
    if best is None or best[0] > np.log(params.derate_alpha):
        return None
    return float(np.exp(best[0])), best[1], best[2]
