"""Per-measurand time series of many sessions, concatenated, plus segment helpers.

A Series holds one measurand of every session back to back: rows are sorted by
(session, time), with `offsets[s]:offsets[s+1]` the rows of session s. All helpers
here work on that layout so the rules never loop over readings in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass
class Series:
    session: np.ndarray  # int64, non-decreasing
    time: np.ndarray  # float64 seconds since the session's first reading
    value: np.ndarray  # float64
    offsets: np.ndarray  # int64, len n_sessions + 1

    def __len__(self) -> int:
        return len(self.session)

    @cached_property
    def counts(self) -> np.ndarray:
        return self.offsets[1:] - self.offsets[:-1]

    @cached_property
    def _same_session_next(self) -> np.ndarray:
        return self.session[1:] == self.session[:-1]

    def same_session_next(self) -> np.ndarray:
        """For interval i (rows i, i+1): True when both rows belong to one session."""
        return self._same_session_next

    def searchable_time(self, span: float) -> np.ndarray:
        """Monotonic key over the whole batch, for np.interp/np.searchsorted per session."""
        return self.session * span + self.time


@dataclass
class DisorderEvents:
    session: np.ndarray
    time_low: np.ndarray
    time_high: np.ndarray


def offsets_from_sessions(session: np.ndarray, n_sessions: int) -> np.ndarray:
    counts = np.bincount(session, minlength=n_sessions) if len(session) else np.zeros(n_sessions, np.int64)
    offsets = np.zeros(n_sessions + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def segment_reduce(ufunc: np.ufunc, values: np.ndarray, offsets: np.ndarray, empty: float) -> np.ndarray:
    """ufunc.reduceat per session, with `empty` for sessions without rows."""
    counts = offsets[1:] - offsets[:-1]
    out = np.full(len(counts), empty, dtype=np.float64)
    nonempty = counts > 0
    if len(values) and nonempty.any():
        out[nonempty] = ufunc.reduceat(values, offsets[:-1][nonempty])
    return out


def first_per_session(values: np.ndarray, offsets: np.ndarray, empty: float = np.nan) -> np.ndarray:
    counts = offsets[1:] - offsets[:-1]
    out = np.full(len(counts), empty, dtype=np.float64)
    nonempty = counts > 0
    out[nonempty] = values[offsets[:-1][nonempty]]
    return out


def last_per_session(values: np.ndarray, offsets: np.ndarray, empty: float = np.nan) -> np.ndarray:
    counts = offsets[1:] - offsets[:-1]
    out = np.full(len(counts), empty, dtype=np.float64)
    nonempty = counts > 0
    out[nonempty] = values[offsets[1:][nonempty] - 1]
    return out


def true_runs(mask: np.ndarray, session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) indices of maximal runs of True that stay inside one session."""
    if len(mask) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    same = session[1:] == session[:-1]
    continues_from_previous = np.concatenate(([False], mask[:-1] & same))
    continues_to_next = np.concatenate((mask[1:] & same, [False]))
    return np.flatnonzero(mask & ~continues_from_previous), np.flatnonzero(mask & ~continues_to_next)


def run_ids(starts: np.ndarray, ends: np.ndarray, size: int) -> np.ndarray:
    """Label every row with the index of the run covering it, -1 elsewhere."""
    marks = np.zeros(size + 1, dtype=np.int64)
    np.add.at(marks, starts, np.arange(1, len(starts) + 1))
    np.add.at(marks, ends + 1, -np.arange(1, len(starts) + 1))
    return np.cumsum(marks[:-1]) - 1


def window_reduce(ufunc: np.ufunc, values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """ufunc over values[first..last] (inclusive) for many windows. Each window is reduced
    on its own, so a session's result never depends on the rest of the batch."""
    if not len(first):
        return np.empty(0)
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2] = first
    bounds[1::2] = last + 1
    padded = np.concatenate((np.asarray(values, dtype=np.float64), [0.0]))
    return ufunc.reduceat(padded, bounds)[0::2]  # odd segments (between windows) are discarded


def cumulative_within_sessions(
    contribution: np.ndarray, session: np.ndarray, offsets: np.ndarray, unit: float
) -> np.ndarray:
    """Running sum of `contribution` restarting at every session, exact to `unit`.

    Summed as integers (wrapping int64 arithmetic is exact modulo 2**64 and a session's
    own total is far smaller), so a session gets the same numbers alone or in a batch.
    """
    if not len(contribution):
        return np.zeros(0)
    steps = np.rint(np.clip(np.nan_to_num(contribution / unit), -1e15, 1e15)).astype(np.int64)
    running = np.cumsum(steps)
    counts = offsets[1:] - offsets[:-1]
    base = np.zeros(len(counts), dtype=np.int64)
    nonempty = counts > 0
    base[nonempty] = running[offsets[:-1][nonempty]] - steps[offsets[:-1][nonempty]]
    return (running - base[session]).astype(np.float64) * unit


def percentile_per_session(series: Series, q: float) -> np.ndarray:
    """Nearest-rank q-quantile of the values of each session (NaN if none); with few
    values it leans to the top, which is what a rating estimate needs."""
    if len(series) == 0:
        return np.full(len(series.offsets) - 1, np.nan)
    order = np.lexsort((series.value, series.session))
    ranked = series.value[order]
    counts = series.counts
    pick = series.offsets[:-1] + np.maximum(np.ceil(q * counts).astype(np.int64) - 1, 0)
    out = np.full(len(counts), np.nan)
    nonempty = counts > 0
    out[nonempty] = ranked[pick[nonempty]]
    return out


def interp_at(source: Series, session: np.ndarray, time: np.ndarray, span: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of `source` at (session, time) points.

    Returns (values, inside): `inside` is False where the session has no source rows
    or the time lies outside that session's source range (values are then NaN).
    """
    if len(source) == 0 or len(session) == 0:
        return np.full(len(session), np.nan), np.zeros(len(session), dtype=bool)
    first = first_per_session(source.time, source.offsets)[session]
    last = last_per_session(source.time, source.offsets)[session]
    inside = (time >= first) & (time <= last)
    values = np.interp(session * span + time, source.searchable_time(span), source.value)
    values[~inside] = np.nan
    return values, inside


def build_series(
    session: np.ndarray, time: np.ndarray, value: np.ndarray, n_sessions: int
) -> tuple[Series, DisorderEvents, np.ndarray]:
    """Sort one measurand's rows (given in arrival order) and drop duplicate timestamps.

    Returns the series, the disorder evidence (a reading older than the one received
    before it, or one timestamp with two different values) and per-session counts of
    exact duplicates removed.
    """
    same = session[1:] == session[:-1]
    went_back = np.flatnonzero(same & (time[1:] < time[:-1]))
    back_session, back_low, back_high = session[went_back + 1], time[went_back + 1], time[went_back]
    arrival = None
    if len(went_back):
        arrival = np.lexsort((time, session))  # stable: equal times keep arrival order
        session, time, value = session[arrival], time[arrival], value[arrival]
        same = session[1:] == session[:-1]
    duplicate = same & (time[1:] == time[:-1])
    if arrival is not None and duplicate.any():
        # A late re-send of a reading already received is a duplicate, not disorder.
        dup = np.flatnonzero(duplicate)
        exact = dup[np.abs(value[dup + 1] - value[dup]) <= 1e-9 * np.maximum(1.0, np.abs(value[dup]))]
        resent = np.zeros(len(session), dtype=bool)
        resent[arrival[exact]] = True
        resent[arrival[exact + 1]] = True
        genuine = ~resent[went_back + 1]
        back_session, back_low, back_high = back_session[genuine], back_low[genuine], back_high[genuine]
    ev_session, ev_low, ev_high = [back_session], [back_low], [back_high]
    removed = np.zeros(n_sessions, dtype=np.int64)
    if duplicate.any():
        dup = np.flatnonzero(duplicate)
        conflicting = np.abs(value[dup + 1] - value[dup]) > 1e-9 * np.maximum(1.0, np.abs(value[dup]))
        ev_session.append(session[dup[conflicting]])
        ev_low.append(time[dup[conflicting]])
        ev_high.append(time[dup[conflicting]])
        removed = np.bincount(session[dup[~conflicting]], minlength=n_sessions)
        keep = np.ones(len(session), dtype=bool)
        keep[dup] = False  # an exact repeat: keep one copy
        # Two different values for one instant: neither can be trusted, drop both so
        # the ambiguity is reported once (as disorder) and not again as a jump.
        keep[dup[conflicting] + 1] = False
        session, time, value = session[keep], time[keep], value[keep]
    series = Series(session, time, value, offsets_from_sessions(session, n_sessions))
    events = DisorderEvents(np.concatenate(ev_session), np.concatenate(ev_low), np.concatenate(ev_high))
    return series, events, removed


def unique_timeline(session: np.ndarray, time: np.ndarray, n_sessions: int) -> Series:
    """Distinct reading times of each session, over all measurands, sorted."""
    if len(session) == 0:
        return Series(session, time, np.zeros(0), offsets_from_sessions(session, n_sessions))
    same = session[1:] == session[:-1]
    if np.any(same & (time[1:] < time[:-1])):
        order = np.lexsort((time, session))
        session, time = session[order], time[order]
        same = session[1:] == session[:-1]
    keep = np.concatenate(([True], ~(same & (time[1:] == time[:-1]))))
    session, time = session[keep], time[keep]
    return Series(session, time, np.zeros(len(time)), offsets_from_sessions(session, n_sessions))
