"""Everything the rules share about a batch: the measurand series, per-session
ratings, meter resolution and the cumulative delivered energy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from .params import CsarParams
from .parsing import ENERGY, LINE_PHASE, POWER, POWER_OFFERED, SOC, ReadingTable, parse_values
from .series import (
    DisorderEvents,
    Series,
    build_series,
    cumulative_within_sessions,
    interp_at,
    last_per_session,
    offsets_from_sessions,
    percentile_per_session,
    run_ids,
    segment_reduce,
    unique_timeline,
)

# Register resolutions a meter may quantise to (kWh), coarsest first.
_RESOLUTIONS = (1.0, 0.1, 0.01, 0.001)
UNMOVED_REGISTER_RESOLUTION_KWH = 0.01
# Power samples below this are idle (plugged in, not charging) and do not describe the rating.
IDLE_POWER_KW = 0.5


@dataclass
class SessionMetadata:
    max_power_kw: np.ndarray  # NaN when unknown
    battery_capacity_kwh: np.ndarray
    start_soc: np.ndarray


@dataclass
class BatchContext:
    params: CsarParams
    n_sessions: int
    span: float  # key stride that keeps sessions apart in searchable_time
    start_time: np.ndarray  # epoch seconds of each session's first usable reading (NaN if none)
    reading_count: np.ndarray
    energy: Series  # Energy.Active.Import.Register in kWh, unit-mismatch corrected
    power: Series  # kW
    soc: Series  # %, only readings the sender did not reconstruct
    offered: Series  # Power.Offered, kW
    timeline: Series  # distinct reading times over all measurands
    disorder: list[DisorderEvents]
    duplicates_removed: np.ndarray
    soc_reconstructed_input: np.ndarray  # bool: SoC readings were flagged reconstructed
    metadata: SessionMetadata
    rated_kw: np.ndarray  # rating used to judge energy increments
    resolution_kwh: np.ndarray  # register quantum per session (0 when unquantised)
    delivered: np.ndarray  # per energy row: energy delivered since the first reading
    delivered_total: np.ndarray  # per session
    power_at_energy: np.ndarray  # power interpolated at energy rows (NaN where unknown)
    coverage: np.ndarray  # 0..1 per session: how much telemetry backs a verdict
    unit_corrected_rows: np.ndarray  # per session count of rescaled energy readings
    # Register excursions of 1-3 readings that return to the trend (removed from `energy`):
    # direction +1 = jumped up (a transient ENERGY_SPIKE), -1 = dipped (a transient KWH_DECREASE).
    excursions: Excursions
    unit_runs: UnitRuns  # readings rescaled by UNIT_MISMATCH

    def interval_rated_energy(self, series: Series) -> np.ndarray:
        """Most energy the rating allows over each interval of `series`, with clock slack."""
        dt = np.diff(series.time)
        rated = self.rated_kw[series.session[:-1]]
        return self.params.spike_power_factor * rated * (dt + self.params.clock_tolerance_s) / 3600.0


def read_metadata(metadatas: Sequence[Any]) -> SessionMetadata:
    dicts = [m if type(m) is dict else (dict(m) if isinstance(m, Mapping) else {}) for m in metadatas]

    def column(key: str) -> np.ndarray:
        raw = list(map(dict.get, dicts, repeat(key)))
        if any(type(x) is bool for x in raw):  # True is not a power rating
            raw = [None if type(x) is bool else x for x in raw]
        return parse_values(raw)

    max_power = column("maxPowerKw")
    max_power[~(np.isfinite(max_power) & (max_power > 0))] = np.nan
    capacity = column("batteryCapacityKwh")
    capacity[~(np.isfinite(capacity) & (capacity > 0))] = np.nan
    start_soc = column("startSoc")
    start_soc[~((start_soc >= 0) & (start_soc <= 100))] = np.nan
    return SessionMetadata(max_power, capacity, start_soc)


def register_resolution(energy: Series) -> np.ndarray:
    """Coarsest of 1/0.1/0.01/0.001 kWh that every register value of a session is a
    multiple of; 0 when the values are not quantised at all."""
    n = len(energy.offsets) - 1
    resolution = np.zeros(n)
    undecided = np.ones(n, dtype=bool)
    if len(energy) == 0:
        return resolution
    # A register that never moves says nothing about its resolution (0 is a multiple
    # of everything): assume a common 10 Wh meter for those.
    moved = np.zeros(n, dtype=bool)
    if len(energy) > 1:
        same = energy.same_session_next()
        moved[energy.session[:-1][same & (np.diff(energy.value) != 0)]] = True
    resolution[~moved] = UNMOVED_REGISTER_RESOLUTION_KWH
    undecided &= moved
    for step in _RESOLUTIONS:
        scaled = energy.value / step
        off_grid = np.abs(scaled - np.rint(scaled)) > 1e-3
        violations = np.bincount(energy.session, weights=off_grid, minlength=n)
        fits = undecided & (violations == 0)
        resolution[fits] = step
        undecided &= ~fits
    return resolution


@dataclass
class UnitRuns:
    """Energy readings sent in the wrong unit (found and rescaled in build_context)."""

    session: np.ndarray
    time_first: np.ndarray
    time_last: np.ndarray
    factor: np.ndarray  # applied to the raw values: 1e-3 (Wh sent as kWh) or 1e3
    delivered_kwh: np.ndarray  # energy truly delivered across the run

    @classmethod
    def empty(cls) -> UnitRuns:
        z = np.empty(0)
        return cls(np.empty(0, dtype=np.int64), z, z, z, z)


def _unit_mismatch_factors(energy: Series, params: CsarParams) -> tuple[np.ndarray, UnitRuns]:
    """Find runs of energy readings that jump by ~1000x and back (Wh sent as kWh, or
    the reverse) and return per-row correction factors plus the runs found."""
    v = energy.value
    factors = np.ones(len(v))
    if len(v) < 3:
        return factors, UnitRuns.empty()
    same = energy.same_session_next()
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log10(v[1:] / v[:-1])
    usable = same & (v[1:] > 0) & (v[:-1] > 0)
    tolerance = params.unit_ratio_log10_tolerance
    up = usable & (np.abs(log_ratio - 3.0) <= tolerance)
    down = usable & (np.abs(log_ratio + 3.0) <= tolerance)
    jumps = np.flatnonzero(up | down)  # the jump lands on row jumps + 1
    if len(jumps) < 2:
        return factors, UnitRuns.empty()
    is_up = up[jumps]
    same_session = energy.session[jumps[1:]] == energy.session[jumps[:-1]]
    too_big = is_up[:-1] & ~is_up[1:] & same_session  # up, then back down
    used = np.zeros(len(jumps), dtype=bool)
    used[:-1] |= too_big
    used[1:] |= too_big
    too_small = ~is_up[:-1] & is_up[1:] & same_session & ~used[:-1] & ~used[1:]
    firsts: list[np.ndarray] = []
    lasts: list[np.ndarray] = []
    run_factors: list[np.ndarray] = []
    for pair_mask, factor in ((too_big, 1e-3), (too_small, 1e3)):
        pair = np.flatnonzero(pair_mask)
        first = jumps[pair] + 1
        last = jumps[pair + 1]
        # The corrected run must fit between its neighbours, as a true register would.
        slack = 0.05 + 0.01 * np.abs(v[first - 1])
        fits = (v[first] * factor >= v[first - 1] - slack) & (v[last] * factor <= v[last + 1] + slack)
        firsts.append(first[fits])
        lasts.append(last[fits])
        run_factors.append(np.full(int(fits.sum()), factor))
    first, last, run_factor = np.concatenate(firsts), np.concatenate(lasts), np.concatenate(run_factors)
    if not len(first):
        return factors, UnitRuns.empty()
    run_of_row = run_ids(first, last, len(v))
    factors = np.where(run_of_row >= 0, run_factor[np.maximum(run_of_row, 0)], 1.0)
    runs = UnitRuns(
        session=energy.session[first],
        time_first=energy.time[first],
        time_last=energy.time[last],
        factor=run_factor,
        delivered_kwh=np.maximum(v[last + 1] - v[first - 1], 0.0),
    )
    return factors, runs


@dataclass
class Excursions:
    session: np.ndarray
    time_before: np.ndarray  # last reading on the trend before the excursion
    time_after: np.ndarray  # first reading back on the trend
    direction: np.ndarray  # +1 up, -1 down
    size_kwh: np.ndarray  # largest distance from the trend
    interval_s: np.ndarray  # length of the jump interval (for the implied power)

    @classmethod
    def empty(cls) -> Excursions:
        z = np.empty(0)
        return cls(np.empty(0, dtype=np.int64), z, z, z, z, z)


def _register_excursions(
    energy: Series, rated_kw: np.ndarray, resolution: np.ndarray, params: CsarParams
) -> tuple[np.ndarray, Excursions]:
    """Find 1-3 readings that leave the register's trend and come back to it.

    A single bad reading (a glitch up, or a dip) is one fault, not a jump plus a fall;
    its readings are removed from the series so no other rule counts it twice.
    Returns (rows to keep, the excursions).
    """
    v, t, s = energy.value, energy.time, energy.session
    n = len(v)
    keep = np.ones(n, dtype=bool)
    if n < 3:
        return keep, Excursions.empty()
    rate = params.spike_power_factor * rated_kw[s] / 3600.0  # kWh per second allowed
    step_tolerance = resolution[s] + params.decrease_min_kwh
    # Only a reading that leaves the trend (too big a step up, or a step down) can start one.
    step = v[1:] - v[:-1]
    leaves = (s[1:] == s[:-1]) & (
        (step > rate[:-1] * (t[1:] - t[:-1] + params.clock_tolerance_s) + step_tolerance[:-1])
        | (step < -step_tolerance[:-1])
    )
    anchors = np.flatnonzero(leaves)
    found_first, found_last, found_dir = [], [], []
    taken = np.zeros(n, dtype=bool)
    for length in range(1, params.excursion_max_readings + 1):
        a = anchors[anchors + length + 1 < n]  # reading before the excursion
        b = a + length + 1  # first reading back on the trend
        same = s[a] == s[b]
        budget = rate[a] * (t[b] - t[a] + params.clock_tolerance_s) + step_tolerance[a]
        back_on_trend = same & (v[b] >= v[a] - step_tolerance[a]) & (v[b] <= v[a] + budget)
        # every reading of the excursion lies beyond the trend, on the same side
        inner = np.stack([v[a + k] for k in range(1, length + 1)])
        up_limit = v[a] + rate[a] * (t[a + 1] - t[a] + params.clock_tolerance_s) + step_tolerance[a]
        went_up = back_on_trend & np.all(inner > np.maximum(up_limit, v[b] + step_tolerance[a]), axis=0)
        went_down = back_on_trend & np.all(inner < v[a] - step_tolerance[a], axis=0)
        # An excursion found earlier must not serve as anchor, content or return here.
        untouched = ~np.any(np.stack([taken[a + k] for k in range(length + 2)]), axis=0)
        hit = (went_up | went_down) & untouched
        rows = a[hit]
        for k in range(1, length + 1):
            taken[rows + k] = True
        found_first.append(rows + 1)
        found_last.append(rows + length)
        found_dir.append(np.where(went_up[hit], 1.0, -1.0))
    first = np.concatenate(found_first)
    last = np.concatenate(found_last)
    direction = np.concatenate(found_dir)
    if not len(first):
        return keep, Excursions.empty()
    keep[taken] = False
    # Largest distance from the reading before, over the (at most 3) excursion readings.
    size = np.zeros(len(first))
    for k in range(params.excursion_max_readings):
        inside = first + k <= last
        size[inside] = np.maximum(size[inside], np.abs(v[first[inside] + k] - v[first[inside] - 1]))
    return keep, Excursions(
        session=s[first],
        time_before=t[first - 1],
        time_after=t[last + 1],
        direction=direction,
        size_kwh=size,
        interval_s=t[first] - t[first - 1],
    )


def build_context(table: ReadingTable, metadatas: Sequence[Any], params: CsarParams) -> BatchContext:
    n = table.n_sessions
    session, kind, t_abs = table.session, table.kind, table.timestamp
    start_time = segment_reduce(np.minimum, t_abs, offsets_from_sessions(session, n), np.nan)
    t_rel = t_abs - start_time[session] if len(session) else t_abs
    span = float(np.max(t_rel)) + 3600.0 if len(t_rel) else 3600.0
    reading_count = np.bincount(session, minlength=n)

    disorder: list[DisorderEvents] = []
    duplicates = np.zeros(n, dtype=np.int64)

    def collect(rows_session: np.ndarray, rows_time: np.ndarray, rows_value: np.ndarray) -> Series:
        """Sorted, de-duplicated series; its disorder and duplicates are recorded."""
        nonlocal duplicates
        series, events, removed = build_series(rows_session, rows_time, rows_value, n)
        disorder.append(events)
        duplicates = duplicates + removed
        return series

    def rows_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.flatnonzero(mask)
        return session[rows], t_rel[rows], table.value[rows]

    energy = collect(*_outlet_totals(kind == ENERGY, table, t_rel, n))
    power = collect(*_outlet_totals(kind == POWER, table, t_rel, n))
    soc = collect(*rows_of((kind == SOC) & ~table.reconstructed))
    offered = collect(*rows_of(kind == POWER_OFFERED))
    timeline = unique_timeline(session, t_rel, n)
    soc_flagged = np.bincount(session[(kind == SOC) & table.reconstructed], minlength=n) > 0

    metadata = read_metadata(metadatas)
    energy, unit_runs, unit_corrected_rows = _correct_unit_mismatch(energy, params, n)
    rated = _rated_kw(power, metadata, params, n)
    resolution = register_resolution(energy)
    keep, excursions = _register_excursions(energy, rated, resolution, params)
    if not keep.all():
        energy = Series(
            energy.session[keep], energy.time[keep], energy.value[keep], offsets_from_sessions(energy.session[keep], n)
        )

    power_at_energy, _ = interp_at(power, energy.session, energy.time, span)

    ctx = BatchContext(
        params=params,
        n_sessions=n,
        span=span,
        start_time=start_time,
        reading_count=reading_count,
        energy=energy,
        power=power,
        soc=soc,
        offered=offered,
        timeline=timeline,
        disorder=disorder,
        duplicates_removed=duplicates,
        soc_reconstructed_input=soc_flagged,
        metadata=metadata,
        rated_kw=rated,
        resolution_kwh=resolution,
        delivered=np.zeros(len(energy)),
        delivered_total=np.zeros(n),
        power_at_energy=power_at_energy,
        coverage=np.zeros(n),
        unit_corrected_rows=unit_corrected_rows,
        excursions=excursions,
        unit_runs=unit_runs,
    )
    coverage = np.clip(timeline.counts / 12.0, 0.0, 1.0) * (0.6 + 0.2 * (power.counts > 0) + 0.2 * (soc.counts > 0))
    ctx.coverage = coverage
    return ctx


def _correct_unit_mismatch(energy: Series, params: CsarParams, n: int) -> tuple[Series, UnitRuns, np.ndarray]:
    """The energy series with readings sent in the wrong unit rescaled, the runs found and
    how many rows of each session were rescaled."""
    factors, unit_runs = _unit_mismatch_factors(energy, params)
    unit_corrected_rows = np.zeros(n, dtype=np.int64)
    if len(unit_runs.session):
        energy = Series(energy.session, energy.time, energy.value * factors, energy.offsets)
        unit_corrected_rows = np.bincount(energy.session[factors != 1.0], minlength=n)
    return energy, unit_runs, unit_corrected_rows


def _rated_kw(power: Series, metadata: SessionMetadata, params: CsarParams, n: int) -> np.ndarray:
    """Rated power per session: from the metadata, else estimated from the power series."""
    # Rating from what the session actually drew while charging: idle samples after the
    # battery is full would otherwise drag the percentile down to nothing.
    # Only sessions without a rated power in their metadata need the estimate.
    active = (power.value >= IDLE_POWER_KW) & ~np.isfinite(metadata.max_power_kw[power.session])
    charging_power = Series(
        power.session[active], power.time[active], power.value[active], offsets_from_sessions(power.session[active], n)
    )
    p95 = percentile_per_session(charging_power, 0.95)
    from_power = charging_power.counts >= 2
    return np.where(
        np.isfinite(metadata.max_power_kw),
        metadata.max_power_kw,
        np.where(from_power, params.spike_p95_factor * np.nan_to_num(p95), params.spike_default_rated_kw),
    )


def set_delivered(ctx: BatchContext, increments: np.ndarray) -> None:
    """Cumulative delivered energy per energy row from per-interval increments."""
    energy = ctx.energy
    if len(energy) == 0:
        return
    counted = np.concatenate(([0.0], np.where(energy.same_session_next(), increments, 0.0)))
    ctx.delivered = cumulative_within_sessions(counted, energy.session, energy.offsets, 1e-6)
    ctx.delivered_total = np.nan_to_num(last_per_session(ctx.delivered, energy.offsets, 0.0))


def _outlet_totals(
    is_kind: np.ndarray, table: ReadingTable, t_rel: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session, time, value) rows of one measurand in arrival order: Outlet readings
    (another location only where a session has no Outlet one) and totals; per-phase
    readings only for sessions without a total, summed over L1..L3 per timestamp."""
    session = table.session
    at_outlet = np.bincount(session[is_kind & ~table.off_outlet], minlength=n) > 0
    is_kind = is_kind & ~(table.off_outlet & at_outlet[session])
    totals = is_kind & (table.phased == 0)
    has_total = np.bincount(session[totals], minlength=n) > 0
    phase_only = is_kind & (table.phased == LINE_PHASE) & ~has_total[session]
    total_rows = np.flatnonzero(totals)
    if not phase_only.any():
        return session[total_rows], t_rel[total_rows], table.value[total_rows]
    rows = np.flatnonzero(phase_only)
    rows = rows[np.lexsort((t_rel[rows], session[rows]))]
    s, t, v = session[rows], t_rel[rows], table.value[rows]
    starts = np.flatnonzero(np.concatenate(([True], (s[1:] != s[:-1]) | (t[1:] != t[:-1]))))
    merged_session = np.concatenate((session[total_rows], s[starts]))
    order = np.argsort(merged_session, kind="stable")  # sessions come from one source each
    return (
        merged_session[order],
        np.concatenate((t_rel[total_rows], t[starts]))[order],
        np.concatenate((table.value[total_rows], np.add.reduceat(v, starts)))[order],
    )
