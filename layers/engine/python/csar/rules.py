"""The twelve CSAR-2 category rules, each vectorised over all sessions of a batch.

Every rule appends candidate events (session, time span, margin past its threshold,
corroboration, energy involved) to an EventLog. A margin of 0 means "exactly at the
threshold"; scores and confidences are derived from margins in one place (EventLog.add)
so the categories stay comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .context import BatchContext, set_delivered
from .result import CATEGORIES
from .series import (
    Series,
    cumulative_within_sessions,
    first_per_session,
    interp_at,
    last_per_session,
    offsets_from_sessions,
    run_ids,
    segment_reduce,
    true_runs,
    window_reduce,
)

CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}

# KWH_DECREASE details.kind codes
RESET, ROLLOVER, TRANSIENT = 0, 1, 2
DECREASE_KINDS = ("reset", "rollover", "transient")

# Counters that wrap at a power of ten (display registers) or at 2**32 / 2**31 Wh.
_BINARY_WRAPS_KWH = (4294967.296, 2147483.648)


@dataclass
class EventLog:
    ctx: BatchContext
    parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def add(
        self,
        category: str,
        session: np.ndarray,
        time_start: np.ndarray,
        time_end: np.ndarray,
        margin: np.ndarray,
        corroboration: np.ndarray | float = 0.5,
        energy_kwh: np.ndarray | float = 0.0,
        detail_code: np.ndarray | None = None,
        detail_value: np.ndarray | None = None,
    ) -> None:
        count = len(session)
        if count == 0:
            return
        p = self.ctx.params
        margin = np.maximum(np.nan_to_num(np.asarray(margin, dtype=np.float64), nan=0.0, posinf=5.0), 0.0)
        # Score: 0.5 exactly at the threshold, approaching 1 with the margin.
        score = 1.0 - 0.5 * np.exp(-margin)
        confidence = (
            p.confidence_base
            + p.confidence_margin_weight * (1.0 - np.exp(-margin))
            + p.confidence_coverage_weight * self.ctx.coverage[session]
            + p.confidence_corroboration_weight * np.clip(np.broadcast_to(corroboration, (count,)), 0.0, 1.0)
        )
        self.parts.append(
            (
                np.full(count, CATEGORY_INDEX[category], dtype=np.int64),
                np.asarray(session, dtype=np.int64),
                np.asarray(time_start, dtype=np.float64),
                np.asarray(time_end, dtype=np.float64),
                score,
                np.clip(confidence, 0.0, 1.0),
                np.nan_to_num(np.broadcast_to(np.asarray(energy_kwh, dtype=np.float64), (count,)).copy()),
                np.full(count, -1, np.int64) if detail_code is None else np.asarray(detail_code, dtype=np.int64),
                np.full(count, np.nan) if detail_value is None else np.asarray(detail_value, dtype=np.float64),
            )
        )

    def sessions_with(self, categories: tuple[str, ...]) -> np.ndarray:
        """Bool per session: any event of these categories logged so far."""
        wanted = [CATEGORY_INDEX[c] for c in categories]
        flagged = np.zeros(self.ctx.n_sessions, dtype=bool)
        for part in self.parts:
            if part[0][0] in wanted:
                flagged[part[1]] = True
        return flagged

    def covers(self, category: str, session: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Bool per query span: it lies inside an event of `category` of the same session."""
        wanted = CATEGORY_INDEX[category]
        parts = [part for part in self.parts if part[0][0] == wanted]
        if not parts or not len(session):
            return np.zeros(len(session), dtype=bool)
        span = self.ctx.span
        ev_start = np.concatenate([part[1] * span + part[2] for part in parts])
        ev_end = np.concatenate([part[1] * span + part[3] for part in parts])
        order = np.argsort(ev_start)
        ev_start, ev_end = ev_start[order], np.maximum.accumulate(ev_end[order])
        latest = np.searchsorted(ev_start, session * span + start, side="right") - 1
        inside = latest >= 0
        inside[inside] = ev_end[latest[inside]] >= (session * span + end)[inside]
        return inside

    def columns(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.empty(0) for _ in range(9))
        return tuple(np.concatenate(column) for column in zip(*self.parts, strict=True))


def _window_sums(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Sum of values[first..last] (inclusive) for many windows at once."""
    return window_reduce(np.add, values, first, last)


def _run_max(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Maximum of values[first..last] (inclusive) for many windows at once."""
    return window_reduce(np.maximum, values, first, last)


# --------------------------------------------------------------------------- energy register


def energy_register_rules(ctx: BatchContext, log: EventLog) -> None:
    """UNIT_MISMATCH and KWH_DECREASE on the (corrected) register; also fills the
    cumulative delivered energy that later rules use."""
    p = ctx.params
    energy = ctx.energy
    runs = ctx.unit_runs
    if len(runs.session):
        log.add(
            "UNIT_MISMATCH",
            runs.session,
            runs.time_first,
            runs.time_last,
            margin=np.full(len(runs.session), 3.0),
            corroboration=1.0,
            energy_kwh=runs.delivered_kwh,
            detail_value=runs.factor,
        )
    dips = ctx.excursions.direction < 0
    if dips.any():
        excursion = ctx.excursions
        log.add(
            "KWH_DECREASE",
            excursion.session[dips],
            excursion.time_before[dips],
            excursion.time_after[dips],
            margin=np.log10(excursion.size_kwh[dips] / p.decrease_min_kwh),
            corroboration=1.0,  # the register itself came back to its trend
            energy_kwh=excursion.size_kwh[dips],
            detail_code=np.full(int(dips.sum()), TRANSIENT),
            detail_value=excursion.size_kwh[dips],
        )
    if len(energy) < 2:
        set_delivered(ctx, np.zeros(max(len(energy) - 1, 0)))
        return
    v, t = energy.value, energy.time
    same = energy.same_session_next()
    step = np.diff(v)
    allowed = ctx.interval_rated_energy(energy) + ctx.resolution_kwh[energy.session[:-1]]

    dropped = np.flatnonzero(same & (step < -p.decrease_min_kwh))
    before, after = v[dropped], v[dropped + 1]
    # Rollover: the previous value sat just below a wrap and the wrapped increment is
    # one the rating allows; then the increment still counts as delivered energy.
    wrapped_increment = np.zeros(len(step))
    is_rollover = np.zeros(len(dropped), dtype=bool)
    decimal_wrap = 10.0 ** np.ceil(np.log10(np.maximum(before, 1e-9) * (1 + 1e-12)))
    for wrap in (decimal_wrap, *_BINARY_WRAPS_KWH):
        increment = after + wrap - before
        fits = (
            ~is_rollover
            & (before <= wrap)
            & (before >= p.rollover_near_wrap_fraction * wrap)
            & (increment >= 0)
            & (increment <= allowed[dropped])
        )
        wrapped_increment[dropped[fits]] = increment[fits]
        is_rollover |= fits
    set_delivered(ctx, np.where(step > 0, step, wrapped_increment))
    if not len(dropped):
        return
    drop = before - after
    sessions = energy.session[dropped]
    power_seen = np.isfinite(ctx.power_at_energy[dropped]) | np.isfinite(ctx.power_at_energy[dropped + 1])
    log.add(
        "KWH_DECREASE",
        sessions,
        t[dropped],
        t[dropped + 1],
        margin=np.log10(drop / p.decrease_min_kwh),
        corroboration=np.where(power_seen, 1.0, 0.5),
        # What a biller computing end - start would lose, at most the session's energy.
        energy_kwh=np.minimum(drop, ctx.delivered_total[sessions]),
        detail_code=np.where(is_rollover, ROLLOVER, RESET),
        detail_value=drop,
    )


# --------------------------------------------------------------------------- energy vs power


def energy_power_mismatch(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    energy = ctx.energy
    if len(energy) < 2:
        return
    v, t, pw = energy.value, energy.time, ctx.power_at_energy
    same = energy.same_session_next()
    step = np.diff(v)
    dt = np.diff(t)
    p_lo = np.fmin(pw[:-1], pw[1:])
    p_hi = np.fmax(pw[:-1], pw[1:])
    # Power sampled at both ends brackets the true average unless it changed
    # direction inside the interval; the band absorbs taper, pauses and steps.
    lo = p_lo * dt / 3600.0
    hi = p_hi * dt / 3600.0
    mid = 0.5 * (lo + hi)
    # Clock jitter moves energy between neighbouring intervals but cancels over a run:
    # half the tolerance per interval, the full tolerance once on the run total.
    slack = ctx.resolution_kwh[energy.session[:-1]] + p_hi * 0.5 * p.clock_tolerance_s / 3600.0
    known = same & np.isfinite(lo) & np.isfinite(hi) & (step >= 0)
    deviation = np.where(step > hi, step - hi, np.where(step < lo, step - lo, 0.0))
    deviation = np.where(known, deviation, 0.0)
    mid = np.where(known, mid, 0.0)  # NaN would poison the batch-wide cumulative sums
    still_counting = step > 0
    for sign in (1.0, -1.0):
        flagged = known & still_counting & (sign * deviation > p.mismatch_relative * mid + slack)
        first, last = true_runs(flagged, energy.session[:-1])
        long_enough = (last - first + 1) >= p.mismatch_min_intervals
        first, last = first[long_enough], last[long_enough]
        if not len(first):
            continue
        total_dev = np.abs(_window_sums(deviation, first, last))
        total_mid = _window_sums(mid, first, last)
        jitter = _run_max(np.nan_to_num(p_hi), first, last) * p.clock_tolerance_s / 3600.0
        big = (total_dev > p.mismatch_min_kwh + jitter) & (total_dev > p.mismatch_relative * total_mid + jitter)
        first, last, total_dev, total_mid = first[big], last[big], total_dev[big], total_mid[big]
        relative = total_dev / np.maximum(total_mid, 1e-9)
        log.add(
            "ENERGY_POWER_MISMATCH",
            energy.session[first],
            t[first],
            t[last + 1],
            margin=(np.minimum(relative, 5.0) - p.mismatch_relative) / p.mismatch_relative
            + (last - first + 1 - p.mismatch_min_intervals) / p.mismatch_min_intervals,
            corroboration=1.0,
            energy_kwh=total_dev,
            detail_value=np.full(len(first), sign),
        )


def energy_spike(ctx: BatchContext, log: EventLog) -> None:
    """An energy increment implying more than 1.5x the rated power: a jump in the
    register, or a glitch of a few readings that comes back (found in build_context)."""
    p = ctx.params
    energy = ctx.energy
    glitches = ctx.excursions.direction > 0
    if glitches.any():
        excursion = ctx.excursions
        sessions = excursion.session[glitches]
        allowed = (
            p.spike_power_factor
            * ctx.rated_kw[sessions]
            * (excursion.interval_s[glitches] + p.clock_tolerance_s)
            / 3600.0
            + ctx.resolution_kwh[sessions]
        )
        log.add(
            "ENERGY_SPIKE",
            sessions,
            excursion.time_before[glitches],
            excursion.time_after[glitches],
            margin=2.0 * np.log(np.maximum(excursion.size_kwh[glitches] / allowed, 1.0)),
            corroboration=1.0,  # the register itself came back to its trend
            energy_kwh=excursion.size_kwh[glitches],
            detail_value=excursion.size_kwh[glitches] / np.maximum(excursion.interval_s[glitches], 1.0) * 3600.0,
        )
    if len(energy) < 2:
        return
    v, t = energy.value, energy.time
    same = energy.same_session_next()
    step = np.diff(v)
    dt = np.diff(t)
    allowed = ctx.interval_rated_energy(energy) + ctx.resolution_kwh[energy.session[:-1]]
    too_fast = same & (step > allowed) & (step > 0)
    if not too_fast.any():
        return
    # A spike is a jump. Sustained over-counting against reported power is an
    # ENERGY_POWER_MISMATCH: runs with power known on every reading, and intervals
    # inside a mismatch already reported, are left to that rule.
    power_known = np.isfinite(ctx.power_at_energy)
    run_first, run_last = true_runs(too_fast, energy.session[:-1])
    readings_with_power = _window_sums(power_known * 1.0, run_first, run_last + 1)
    sustained = ((run_last - run_first + 1) >= p.mismatch_min_intervals) & (
        readings_with_power == run_last - run_first + 2
    )
    if sustained.any():
        covered = run_ids(run_first[sustained], run_last[sustained], len(too_fast)) >= 0
        too_fast &= ~covered
    too_fast &= ~log.covers("ENERGY_POWER_MISMATCH", energy.session[:-1], t[:-1], t[1:])
    spiked = np.flatnonzero(too_fast)
    if not len(spiked):
        return
    sessions = energy.session[spiked]
    rated_energy = ctx.rated_kw[sessions] * dt[spiked] / 3600.0
    # Corroborated when the reported power stayed within the rating.
    p_max = np.fmax(ctx.power_at_energy[spiked], ctx.power_at_energy[spiked + 1])
    log.add(
        "ENERGY_SPIKE",
        sessions,
        t[spiked],
        t[spiked + 1],
        margin=2.0 * np.log(step[spiked] / allowed[spiked]),
        corroboration=np.where(np.isfinite(p_max), (p_max <= ctx.rated_kw[sessions]) * 1.0, 0.5),
        energy_kwh=np.maximum(step[spiked] - rated_energy, 0.0),
        detail_value=step[spiked] / np.maximum(dt[spiked], 1.0) * 3600.0,
    )


def frozen_telemetry(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    energy = ctx.energy
    if len(energy) < 2:
        return
    v, t = energy.value, energy.time
    flat = energy.same_session_next() & (np.diff(v) == 0.0)
    first, last_interval = true_runs(flat, energy.session[:-1])
    last = last_interval + 1  # last reading of the constant run
    readings = last - first + 1
    duration = t[last] - t[first]
    # Judged by how long the register stood still and how much energy it missed meanwhile (below),
    # not by how many readings it took: at 5-minute sampling 20 frozen minutes are 5 readings.
    keep = (readings >= p.frozen_min_readings) & (duration >= p.frozen_min_seconds)
    first, last, readings, duration = first[keep], last[keep], readings[keep], duration[keep]
    if not len(first):
        return
    sessions = energy.session[first]
    pw = ctx.power_at_energy
    power_known = np.isfinite(pw)
    known_rows = _window_sums(power_known * 1.0, first, last)
    mean_power = _window_sums(np.nan_to_num(pw), first, last) / np.maximum(known_rows, 1)
    charging_rows = _window_sums((np.nan_to_num(pw) >= p.frozen_min_power_kw) * 1.0, first, last)
    has_power = known_rows >= 0.8 * readings
    # A coarse register legitimately stands still for resolution / power hours.
    expected_kwh = mean_power * duration / 3600.0
    by_power = (
        has_power & (charging_rows >= 0.8 * readings) & (expected_kwh >= 2.0 * ctx.resolution_kwh[sessions] + 0.05)
    )
    soc_start, in_start = interp_at(ctx.soc, sessions, t[first], ctx.span)
    soc_end, in_end = interp_at(ctx.soc, sessions, t[last], ctx.span)
    # Without power, a SoC rise proves charging only if even the smallest plausible
    # battery would have moved a coarse register by two steps.
    needed_rise = np.maximum(p.frozen_min_soc_rise, 2.0 * ctx.resolution_kwh[sessions] * 100.0 / p.soc_capacity_min_kwh)
    by_soc = ~has_power & in_start & in_end & (soc_end - soc_start >= needed_rise)
    frozen = by_power | by_soc
    log.add(
        "FROZEN_TELEMETRY",
        sessions[frozen],
        t[first[frozen]],
        t[last[frozen]],
        # longer, and (with power) more energy missed against what a coarse register hides
        margin=(duration[frozen] / p.frozen_min_seconds - 1.0)
        + np.where(
            by_power[frozen],
            np.log1p(expected_kwh[frozen] / (2.0 * ctx.resolution_kwh[sessions[frozen]] + 0.05)),
            0.5,
        ),
        corroboration=np.where(by_power[frozen], 1.0, 0.6),
        energy_kwh=np.where(by_power[frozen], expected_kwh[frozen], 0.0),
    )


# --------------------------------------------------------------------------- power shape


def _trailing_mean(series: Series, window: float, min_history: float, span: float) -> np.ndarray:
    """Time-weighted mean of each series row's preceding `window` seconds (trapezoids);
    NaN where less than `min_history` seconds of history exist."""
    t, x = series.time, series.value
    same = series.same_session_next()
    area = np.where(same, 0.5 * (x[1:] + x[:-1]) * np.diff(t), 0.0)  # kW s, per interval
    cumulative = cumulative_within_sessions(np.concatenate(([0.0], area)), series.session, series.offsets, 1e-3)
    session_start = first_per_session(t, series.offsets)[series.session]
    window_start = np.maximum(t - window, session_start)
    key = series.searchable_time(span)
    at_window_start = np.interp(series.session * span + window_start, key, cumulative)
    length = t - window_start
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (cumulative - at_window_start) / length
    mean[length < min_history] = np.nan
    return mean


def _power_profile(ctx: BatchContext) -> tuple[Series, np.ndarray]:
    """Reported power; for sessions that report none, the average power of each energy
    interval (at the interval's first reading), when the register is fine enough for it.
    Also returns which rows are such interval averages."""
    power, energy = ctx.power, ctx.energy
    n = ctx.n_sessions
    if len(energy) < 2:
        return power, np.zeros(len(power), dtype=bool)
    same = energy.same_session_next()
    mean_step = ctx.delivered_total / np.maximum(energy.counts - 1, 1)
    derive = (power.counts < 3) & (energy.counts >= 4) & (ctx.resolution_kwh <= 0.2 * mean_step)
    intervals = np.flatnonzero(same & derive[energy.session[:-1]])
    if not len(intervals):
        return power, np.zeros(len(power), dtype=bool)
    dt = np.maximum(energy.time[intervals + 1] - energy.time[intervals], 1.0)
    derived = np.maximum(energy.value[intervals + 1] - energy.value[intervals], 0.0) / dt * 3600.0
    reported = ~derive[power.session]
    session = np.concatenate((power.session[reported], energy.session[intervals]))
    order = np.argsort(session, kind="stable")  # each session comes from one source, already in time order
    time = np.concatenate((power.time[reported], energy.time[intervals]))[order]
    value = np.concatenate((power.value[reported], derived))[order]
    is_average = np.concatenate((np.zeros(int(reported.sum()), dtype=bool), np.ones(len(intervals), dtype=bool)))[order]
    session = session[order]
    return Series(session, time, value, offsets_from_sessions(session, n)), is_average


def energy_pit(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    power, is_average = _power_profile(ctx)
    if len(power) < 3:
        return
    t, x, s = power.time, power.value, power.session
    n = len(power)
    trailing = _trailing_mean(power, p.pit_window_seconds, p.pit_min_history_seconds, ctx.span)
    same_prev = np.concatenate(([False], s[1:] == s[:-1]))
    reference = np.where(same_prev, np.concatenate(([np.nan], trailing[:-1])), np.nan)
    entering = (x < p.pit_drop_fraction * reference) & (reference >= p.pit_min_reference_kw)
    entry_first, _ = true_runs(entering, s)
    if not len(entry_first):
        return
    # Judge the whole dip against the level before it started, not a mean it drags down.
    marker = np.full(n, -1, dtype=np.int64)
    marker[entry_first] = entry_first
    latest_entry = np.maximum.accumulate(marker)
    anchored = (latest_entry >= 0) & (s[np.maximum(latest_entry, 0)] == s)
    anchor = np.where(anchored, reference[np.maximum(latest_entry, 0)], np.nan)
    low = anchored & (x < p.pit_drop_fraction * anchor)
    first, last = true_runs(low, s)
    first = first[np.isin(first, entry_first)]
    _, last_all = true_runs(low, s)
    last = last_all[np.searchsorted(last_all, first)]
    if not len(first):
        return
    base = anchor[first]
    after = last + 1
    has_after = (after < n) & (s[np.minimum(after, n - 1)] == s[first])
    left = t[first] - t[first - 1]
    right = np.where(has_after, t[np.minimum(after, n - 1)] - t[last], 0.0)
    duration = (t[last] - t[first]) + 0.5 * (left + right)
    recovered = np.zeros(len(first), dtype=bool)
    for ahead in (1, 2):
        row = np.minimum(last + ahead, n - 1)
        ok = (last + ahead < n) & (s[row] == s[first]) & (t[row] - t[last] <= p.pit_recover_within_seconds)
        recovered |= ok & (x[row] >= p.pit_recover_fraction * base)
    level = _window_sums(x, first, last) / (last - first + 1)
    # Any (near-)zero sample inside the dip means the EV suspended: a pause, not a pit.
    lowest = -_run_max(-x, first, last)
    pause = lowest < np.maximum(p.pit_pause_fraction * base, p.pit_pause_kw)
    # Interval averages smear a pause over its neighbours; a pause shorter than two
    # intervals can leave two partial averages, so averages need three low intervals.
    enough = ~is_average[first] | ((last - first + 1) >= 3)
    pit = (duration >= p.pit_min_seconds) & recovered & ~pause & enough
    sessions = s[first]
    # Curtailment: when the offered power dropped with it, the station asked for the dip.
    offered_before, ok_before = interp_at(ctx.offered, sessions, t[first - 1], ctx.span)
    offered_during, ok_during = interp_at(ctx.offered, sessions, t[first], ctx.span)
    curtailed = ok_before & ok_during & (offered_during < p.pit_recover_fraction * offered_before)
    pit &= ~curtailed
    # Corroborated when the register also slowed down during the dip.
    e_start, in_start = interp_at(ctx.energy, sessions, t[first], ctx.span)
    e_end, in_end = interp_at(ctx.energy, sessions, t[last], ctx.span)
    span_h = np.maximum(t[last] - t[first], 1.0) / 3600.0
    slowed = in_start & in_end & ((e_end - e_start) / span_h < p.pit_drop_fraction * base * 1.5)
    log.add(
        "ENERGY_PIT",
        sessions[pit],
        t[first[pit]],
        t[last[pit]],
        margin=((p.pit_drop_fraction - level / base) / 0.1 + (duration - p.pit_min_seconds) / p.pit_min_seconds)[pit],
        corroboration=np.where(in_start & in_end, slowed * 1.0, 0.5)[pit],
        energy_kwh=((base - level) * duration / 3600.0)[pit],
    )


def power_over_rating(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    power = ctx.power
    if len(power) == 0:
        return
    rating = ctx.metadata.max_power_kw[power.session]
    over = np.isfinite(rating) & (power.value > p.over_rating_factor * rating)
    first, last = true_runs(over, power.session)
    if not len(first):
        return
    peak = _run_max(power.value, first, last)
    limit = p.over_rating_factor * rating[first]
    log.add(
        "POWER_OVER_RATING",
        power.session[first],
        power.time[first],
        power.time[last],
        margin=(peak / limit - 1.0) / 0.1 + (last - first) / 3.0,
        corroboration=1.0,
        detail_value=peak,
    )


# --------------------------------------------------------------------------- state of charge


def soc_decrease(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    soc = ctx.soc
    if len(soc) < 2:
        return
    s, t = soc.session, soc.time
    x = np.clip(soc.value, -500.0, 500.0)
    offset = s * 2000.0  # keeps the running maximum inside each session
    running_max = np.maximum.accumulate(x + offset) - offset
    # An excursion is the stretch below the previous peak; it is a decrease when it
    # goes deeper than the threshold (integer SoC jitter stays within a point).
    below_peak = running_max - x > 0.5
    first, last = true_runs(below_peak, s)
    if not len(first):
        return
    depth = _run_max(running_max - x, first, last)
    deep = depth > p.soc_drop_points
    first, last, depth = first[deep], last[deep], depth[deep]
    if not len(first):
        return
    peak_marker = np.where(x >= running_max, np.arange(len(x)), -1)
    peak_row = np.maximum.accumulate(peak_marker)[first]
    # The anomaly is the fall itself: from the peak to the excursion's lowest reading.
    run_of_row = run_ids(first, last, len(x))
    in_run = run_of_row >= 0
    at_depth = in_run & (running_max - x >= depth[np.maximum(run_of_row, 0)])
    trough_row = last.copy()
    np.minimum.at(trough_row, run_of_row[at_depth], np.flatnonzero(at_depth))
    last = trough_row
    sessions = s[first]
    e_peak, in_peak = interp_at(_delivered_series(ctx), sessions, t[peak_row], ctx.span)
    e_low, in_low = interp_at(_delivered_series(ctx), sessions, t[last], ctx.span)
    p_mean, p_known = interp_at(ctx.power, sessions, 0.5 * (t[peak_row] + t[last]), ctx.span)
    energy_known = in_peak & in_low
    importing = np.where(
        energy_known,
        (e_low - e_peak) >= p.soc_import_min_kwh,
        np.where(p_known, p_mean >= p.frozen_min_power_kw, True),  # no evidence either way: report it
    )
    importing |= p_known & (p_mean >= p.frozen_min_power_kw)
    corroborated = np.where(energy_known | p_known, 1.0, 0.3)
    log.add(
        "SOC_DECREASE",
        sessions[importing],
        t[peak_row[importing]],
        t[last[importing]],
        margin=((depth - p.soc_drop_points) / p.soc_drop_points)[importing],
        corroboration=corroborated[importing],
        energy_kwh=np.where(energy_known, e_low - e_peak, 0.0)[importing],
        detail_value=depth[importing],
    )


def _delivered_series(ctx: BatchContext) -> Series:
    energy = ctx.energy
    return Series(energy.session, energy.time, ctx.delivered, energy.offsets)


def soc_energy_inconsistent(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    soc, energy = ctx.soc, ctx.energy
    if len(soc) < 2 or len(energy) < 2:
        return
    # A register already shown to miscount (frozen, spiking, disagreeing with power)
    # explains an odd energy/SoC ratio by itself; don't report the same fault twice.
    register_faulty = log.sessions_with(("FROZEN_TELEMETRY", "ENERGY_SPIKE", "ENERGY_POWER_MISMATCH"))
    sessions = np.flatnonzero((soc.counts >= 2) & (energy.counts >= 2) & ~register_faulty)
    if not len(sessions):
        return
    soc_t0 = first_per_session(soc.time, soc.offsets)[sessions]
    soc_t1 = last_per_session(soc.time, soc.offsets)[sessions]
    e_t0 = first_per_session(energy.time, energy.offsets)[sessions]
    e_t1 = last_per_session(energy.time, energy.offsets)[sessions]
    delivered = _delivered_series(ctx)
    # When SoC first reaches its highest value: a SoC that races to 100 % and then
    # sits there while energy keeps flowing is judged on its rising stretch too.
    top = segment_reduce(np.maximum, soc.value, soc.offsets, np.nan)
    at_top = np.flatnonzero(soc.value >= top[soc.session])
    first_top = np.full(ctx.n_sessions, np.inf)
    np.minimum.at(first_top, soc.session[at_top], soc.time[at_top])
    first_top = first_top[sessions]

    def implied_capacity(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(capacity kWh, judged, energy kWh) over [start, end] (both measurands present)."""
        d0, _ = interp_at(delivered, sessions, np.clip(start, e_t0, e_t1), ctx.span)
        d1, _ = interp_at(delivered, sessions, np.clip(end, e_t0, e_t1), ctx.span)
        q0, _ = interp_at(soc, sessions, np.clip(start, soc_t0, soc_t1), ctx.span)
        q1, _ = interp_at(soc, sessions, np.clip(end, soc_t0, soc_t1), ctx.span)
        gained_kwh, gained_points = d1 - d0, q1 - q0
        judged = (end > start) & ((gained_points >= p.soc_judge_min_points) | (gained_kwh >= p.soc_judge_min_kwh))
        with np.errstate(divide="ignore", invalid="ignore"):
            capacity = np.where(gained_points > 0, p.soc_efficiency * gained_kwh / (gained_points / 100.0), np.inf)
        return capacity, judged, gained_kwh

    start = np.maximum(soc_t0, e_t0)  # only the stretch both measurands cover
    end = np.minimum(soc_t1, e_t1)
    whole, whole_judged, whole_kwh = implied_capacity(start, end)
    rising, rising_judged, _ = implied_capacity(start, np.minimum(end, first_top))

    def outside(capacity: np.ndarray) -> np.ndarray:
        return (capacity < p.soc_capacity_min_kwh) | (capacity > p.soc_capacity_max_kwh)

    whole_bad = whole_judged & outside(whole)
    rising_bad = rising_judged & outside(rising) & np.isfinite(rising)
    fire = whole_bad | rising_bad
    capacity = np.where(whole_bad, whole, rising)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.where(
            capacity < p.soc_capacity_min_kwh,
            3.0 * np.log(p.soc_capacity_min_kwh / np.maximum(capacity, 1e-6)),
            3.0 * np.log(capacity / p.soc_capacity_max_kwh),
        )
    log.add(
        "SOC_ENERGY_INCONSISTENT",
        sessions[fire],
        start[fire],
        end[fire],
        margin=np.minimum(np.nan_to_num(margin, posinf=5.0), 5.0)[fire],
        corroboration=1.0,
        energy_kwh=whole_kwh[fire],
        detail_value=np.where(np.isfinite(capacity), capacity, np.nan)[fire],
    )


# --------------------------------------------------------------------------- time axis


def time_gap(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    line = ctx.timeline
    if len(line) < 2:
        return
    same = line.same_session_next()
    dt = np.where(same, np.diff(line.time), 0.0)
    candidate_sessions = np.unique(line.session[:-1][dt > p.gap_min_seconds])
    if not len(candidate_sessions):
        return
    # Median sampling interval, only for the few sessions that have a long interval.
    in_candidate = np.isin(line.session[:-1], candidate_sessions) & same
    sub_session = line.session[:-1][in_candidate]
    sub_dt = dt[in_candidate]
    order = np.lexsort((sub_dt, sub_session))
    sub_session, sub_dt = sub_session[order], sub_dt[order]
    starts = np.searchsorted(sub_session, candidate_sessions)
    counts = np.searchsorted(sub_session, candidate_sessions, side="right") - starts
    # Lower median: with few intervals the gap itself must not inflate the "typical" one.
    median = sub_dt[starts + (counts - 1) // 2]
    threshold = np.full(ctx.n_sessions, np.inf)
    threshold[candidate_sessions] = np.maximum(p.gap_min_seconds, p.gap_median_factor * median)
    gap = np.flatnonzero(same & (dt > threshold[line.session[:-1]]))
    if not len(gap):
        return
    sessions = line.session[gap]
    before, _ = interp_at(_delivered_series(ctx), sessions, line.time[gap], ctx.span)
    after, _ = interp_at(_delivered_series(ctx), sessions, line.time[gap + 1], ctx.span)
    log.add(
        "TIME_GAP",
        sessions,
        line.time[gap],
        line.time[gap + 1],
        margin=2.0 * np.log(dt[gap] / threshold[sessions]),
        corroboration=1.0,
        energy_kwh=np.nan_to_num(after - before),
        detail_value=dt[gap],
    )


def timestamp_disorder(ctx: BatchContext, log: EventLog) -> None:
    sessions = np.concatenate([d.session for d in ctx.disorder])
    if not len(sessions):
        return
    low = np.concatenate([d.time_low for d in ctx.disorder])
    high = np.concatenate([d.time_high for d in ctx.disorder])
    per_session = np.bincount(sessions, minlength=ctx.n_sessions)
    log.add(
        "TIMESTAMP_DISORDER",
        sessions,
        low,
        high,
        margin=1.0 + np.log(per_session[sessions]),
        corroboration=1.0,
    )


def zero_energy(ctx: BatchContext, log: EventLog) -> None:
    p = ctx.params
    line, energy, power = ctx.timeline, ctx.energy, ctx.power
    duration = np.nan_to_num(last_per_session(line.time, line.offsets) - first_per_session(line.time, line.offsets))
    has_energy = energy.counts >= 2
    has_power = power.counts >= 2
    # Power integral per session (trapezoids), for sessions that report power.
    same = power.same_session_next()
    area = np.where(same, 0.5 * (power.value[1:] + power.value[:-1]) * np.diff(power.time), 0.0) / 3600.0
    power_kwh = (
        np.bincount(power.session[:-1][same], weights=area[same], minlength=ctx.n_sessions)
        if len(power) > 1
        else np.zeros(ctx.n_sessions)
    )
    resolution = ctx.resolution_kwh
    # A coarse register needs long enough to show two steps at the minimum charging power.
    resolvable = duration >= 2.0 * resolution / p.min_charging_power_kw * 3600.0
    quiet_energy = has_energy & (ctx.delivered_total < p.zero_max_kwh) & resolvable
    # Power that says the car charged (>= the frozen-telemetry threshold on average) makes
    # a still register FROZEN_TELEMETRY's business; idle or standby power does not.
    mean_power_kw = power_kwh / np.maximum(duration, 1.0) * 3600.0
    quiet_power = has_power & ((power_kwh < p.zero_max_kwh) | (mean_power_kw < p.frozen_min_power_kw))
    zero = (duration >= p.zero_min_seconds) & (
        (quiet_energy & (quiet_power | ~has_power)) | (~has_energy & quiet_power)
    )
    sessions = np.flatnonzero(zero)
    delivered = np.where(has_energy, ctx.delivered_total, power_kwh)[sessions]
    log.add(
        "ZERO_ENERGY",
        sessions,
        first_per_session(line.time, line.offsets)[sessions],
        last_per_session(line.time, line.offsets)[sessions],
        margin=np.minimum(duration[sessions] / p.zero_min_seconds - 1.0, 3.0)
        + (p.zero_max_kwh - delivered) / p.zero_max_kwh,
        corroboration=np.where((has_energy & has_power)[sessions], 1.0, 0.5),
        detail_value=delivered,
    )


ALL_RULES = (
    energy_power_mismatch,
    energy_spike,  # after the mismatch rule, whose runs it leaves alone
    frozen_telemetry,
    energy_pit,
    power_over_rating,
    soc_decrease,
    soc_energy_inconsistent,
    time_gap,
    timestamp_disorder,
    zero_energy,
)


def run_rules(ctx: BatchContext) -> EventLog:
    log = EventLog(ctx)
    energy_register_rules(ctx, log)  # first: fills delivered energy
    for rule in ALL_RULES:
        rule(ctx, log)
    return log
