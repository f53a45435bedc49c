"""Turn seed-shaped meter-value dicts of many sessions into flat numpy columns.

Everything downstream works on one concatenated table with a session index per row,
so the rules are vectorised across sessions. Unusable readings (bad timestamp, value
or unit) are dropped here and counted per session for the analysis message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from .result import parse_timestamp

# Measurand kinds. Missing measurand means the OCPP default, the import register.
ENERGY, POWER, SOC, CURRENT, VOLTAGE, POWER_OFFERED, OTHER = range(7)
MEASURAND_KIND = {
    None: ENERGY,
    "": ENERGY,
    "Energy.Active.Import.Register": ENERGY,
    "Power.Active.Import": POWER,
    "SoC": SOC,
    "Current.Import": CURRENT,
    "Voltage": VOLTAGE,
    "Power.Offered": POWER_OFFERED,
}

# Unit codes; the scale table below says which unit is valid for which kind.
UNIT_CODE = {None: 0, "": 0, "Wh": 1, "kWh": 2, "W": 3, "kW": 4, "Percent": 5, "A": 6, "V": 7}
_UNKNOWN_UNIT = 8
_NAN = np.nan
# rows: kind, columns: unit code -> factor to kWh / kW / % / A / V (NaN = invalid pair)
UNIT_SCALE = np.array(
    [
        # default  Wh     kWh   W      kW    %     A     V     unknown
        [0.001, 0.001, 1.0, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN],  # ENERGY
        [0.001, _NAN, _NAN, 0.001, 1.0, _NAN, _NAN, _NAN, _NAN],  # POWER
        [1.0, _NAN, _NAN, _NAN, _NAN, 1.0, _NAN, _NAN, _NAN],  # SOC
        [1.0, _NAN, _NAN, _NAN, _NAN, _NAN, 1.0, _NAN, _NAN],  # CURRENT
        [1.0, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, 1.0, _NAN],  # VOLTAGE
        [0.001, _NAN, _NAN, 0.001, 1.0, _NAN, _NAN, _NAN, _NAN],  # POWER_OFFERED
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # OTHER (unused)
    ]
)

# Phase codes: line phases of one sample add up to the total; the neutral does not.
LINE_PHASE, OTHER_PHASE = 1, 2


def phase_code(phase: Any) -> int:
    """0 for a total (no phase), LINE_PHASE for L1/L2/L3 (also "L1-N"...), else OTHER_PHASE."""
    if not isinstance(phase, str) or not phase:
        return 0
    return LINE_PHASE if phase.startswith("L") else OTHER_PHASE


# Timestamps outside this window are garbage for a charging session (epoch seconds).
EARLIEST_PLAUSIBLE = 946684800.0  # 2000-01-01
LATEST_PLAUSIBLE = 4102444800.0  # 2100-01-01


@dataclass
class ReadingTable:
    """Usable readings of all sessions, in input order (session, then arrival)."""

    session: np.ndarray  # int64 session index
    kind: np.ndarray  # int8 measurand kind
    phased: np.ndarray  # int8: 0 total, LINE_PHASE (L1/L2/L3...), OTHER_PHASE (N, ...)
    off_outlet: np.ndarray  # bool: measured at the Inlet/EV/Cable rather than the Outlet
    timestamp: np.ndarray  # float64 epoch seconds
    value: np.ndarray  # float64 in kWh / kW / % / A / V
    reconstructed: np.ndarray  # bool: flagged as reconstructed by the sender
    n_sessions: int
    dropped_timestamp: np.ndarray  # per session counts
    dropped_value: np.ndarray
    dropped_unit: np.ndarray


def _safe_float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return np.nan


def parse_values(raw: list[Any]) -> np.ndarray:
    """Numbers or numeric strings to float64; anything else becomes NaN."""
    try:
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.array([_safe_float(x) for x in raw], dtype=np.float64)


def _lookup(mapping: dict[Any, int], keys: list[Any], default: int) -> list[int]:
    try:
        return [mapping.get(k, default) for k in keys]
    except TypeError:  # an unhashable garbage value somewhere
        return [mapping.get(k, default) if isinstance(k, (str, type(None))) else default for k in keys]


_WIDTH = 32
# Byte columns of the digits in YYYY-MM-DDTHH:MM:SS.
_DIGIT_COLUMNS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _tail_seconds(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fraction and UTC offset after the seconds field, for rows that have one:
    returns (seconds to add, ok)."""
    n = len(b)
    b = b.astype(np.int32)
    has_fraction = b[:, 19] == 46  # '.'
    frac_digits = b[:, 20:29] - 48
    frac_is_digit = (frac_digits >= 0) & (frac_digits <= 9) & has_fraction[:, None]
    frac_len = np.cumprod(frac_is_digit, axis=1).sum(axis=1)
    place = 10.0 ** -np.arange(1, 10)
    fraction = np.where(np.arange(9)[None, :] < frac_len[:, None], frac_digits * place, 0.0).sum(axis=1)
    tail = np.minimum(np.where(has_fraction, 20 + frac_len, 19), _WIDTH - 7)
    rows = np.arange(n)
    c0, c1 = b[rows, tail], b[rows, tail + 1]
    zulu = ((c0 == 90) | (c0 == 122)) & (c1 == 0)
    naive = c0 == 0  # no zone: UTC
    sign = np.where(c0 == 43, 1, np.where(c0 == 45, -1, 0))
    zone = b[rows[:, None], tail[:, None] + np.arange(1, 7)[None, :]]
    zone_digits = zone[:, [0, 1, 3, 4]] - 48
    with_offset = (
        (sign != 0) & np.all((zone_digits >= 0) & (zone_digits <= 9), axis=1) & (zone[:, 2] == 58) & (zone[:, 5] == 0)
    )
    offset = sign * (
        (zone_digits[:, 0] * 10 + zone_digits[:, 1]) * 3600 + (zone_digits[:, 2] * 10 + zone_digits[:, 3]) * 60
    )
    ok = (~has_fraction | (frac_len > 0)) & (zulu | naive | with_offset)
    return fraction - np.where(with_offset, offset, 0), ok


def _parse_distinct(text: np.ndarray) -> np.ndarray:
    """Bulk-decode fixed-width ISO byte strings; NaN where the shape is unusual."""
    n = len(text)
    b = text.view(np.uint8).reshape(n, _WIDTH)
    digits = b[:, _DIGIT_COLUMNS] - np.uint8(48)  # non-digits wrap around to >= 10
    ok = np.all(digits <= 9, axis=1)
    d = digits.astype(np.int32)
    ok &= (b[:, 4] == 45) & (b[:, 7] == 45) & (b[:, 13] == 58) & (b[:, 16] == 58)
    ok &= (b[:, 10] == 84) | (b[:, 10] == 32) | (b[:, 10] == 116)  # 'T', ' ', 't'
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    hour = d[:, 8] * 10 + d[:, 9]
    minute = d[:, 10] * 10 + d[:, 11]
    second = d[:, 12] * 10 + d[:, 13]
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (hour <= 23) & (minute <= 59) & (second <= 60)
    seconds = _days_from_civil(year, month, day) * 86400.0 + (hour * 3600 + minute * 60 + second)
    # The common tails, 'Z' or nothing, need no further work.
    plain = ((b[:, 19] == 90) & (b[:, 20] == 0)) | (b[:, 19] == 0)
    other = np.flatnonzero(ok & ~plain)
    if len(other):
        extra, tail_ok = _tail_seconds(b[other])
        seconds[other] += extra
        ok[other] &= tail_ok
    seconds[~ok] = np.nan
    return seconds


def parse_timestamps(raw: Sequence[Any]) -> np.ndarray:
    """ISO-8601 strings to float64 epoch seconds (NaN when unparseable or implausible).

    The common shapes (YYYY-MM-DDTHH:MM:SS, optional fraction, then Z, an offset or
    nothing = UTC) are decoded as bytes in bulk, once per run of equal strings (the
    measurands of one sample share a timestamp); anything else goes through
    datetime.fromisoformat one by one.
    """
    n = len(raw)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    try:
        text = np.array(raw, dtype=f"S{_WIDTH}")
    except (UnicodeEncodeError, TypeError, ValueError):
        text = np.array([x if isinstance(x, str) and x.isascii() else "" for x in raw], dtype=f"S{_WIDTH}")
    starts_run = np.empty(n, dtype=bool)
    starts_run[0] = True
    np.not_equal(text[1:], text[:-1], out=starts_run[1:])
    heads = np.flatnonzero(starts_run)
    distinct = _parse_distinct(text[heads])
    for i in np.flatnonzero(np.isnan(distinct)).tolist():  # rare shapes only
        parsed = parse_timestamp(raw[heads[i]])
        if parsed is not None:
            distinct[i] = parsed
    distinct[(distinct < EARLIEST_PLAUSIBLE) | (distinct > LATEST_PLAUSIBLE)] = np.nan
    return distinct[np.cumsum(starts_run) - 1]


def _as_reading_list(meter_values: Any) -> list[Any]:
    if meter_values is None:
        return []
    if isinstance(meter_values, list):
        return meter_values
    try:
        return list(meter_values)
    except TypeError:
        return []


def _kinds_and_units(flat: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Measurand kind and unit code per reading; dict lookups mapped in C."""
    measurands = list(map(dict.get, flat, repeat("measurand")))
    units = list(map(dict.get, flat, repeat("unit")))
    try:
        kinds = np.array(list(map(MEASURAND_KIND.get, measurands, repeat(OTHER))), dtype=np.int8)
    except TypeError:  # unhashable garbage
        kinds = np.array(_lookup(MEASURAND_KIND, measurands, OTHER), dtype=np.int8)
    try:
        unit_codes = np.array(list(map(UNIT_CODE.get, units, repeat(_UNKNOWN_UNIT))), dtype=np.int8)
    except TypeError:
        unit_codes = np.array(_lookup(UNIT_CODE, units, _UNKNOWN_UNIT), dtype=np.int8)
    return kinds, unit_codes


def build_reading_table(meter_value_lists: Sequence[Any]) -> ReadingTable:
    n_sessions = len(meter_value_lists)
    lists = [_as_reading_list(m) for m in meter_value_lists]
    lengths = np.fromiter((len(m) for m in lists), dtype=np.int64, count=n_sessions)
    flat: list[Any] = [r for m in lists for r in m] if n_sessions != 1 else lists[0]
    try:  # dict.get mapped in C: no Python bytecode per reading
        raw_ts = list(map(dict.get, flat, repeat("timestamp")))
    except TypeError:  # a reading that is not a dict
        flat = [r if isinstance(r, dict) else dict(r) if isinstance(r, Mapping) else {} for r in flat]
        raw_ts = list(map(dict.get, flat, repeat("timestamp")))
    raw_values = list(map(dict.get, flat, repeat("value")))
    kinds, units = _kinds_and_units(flat)

    session = np.repeat(np.arange(n_sessions, dtype=np.int64), lengths)
    timestamp = parse_timestamps(raw_ts)
    value = parse_values(raw_values) * UNIT_SCALE[kinds, units]

    bad_time = np.isnan(timestamp)
    bad_unit = ~bad_time & np.isnan(UNIT_SCALE[kinds, units])
    bad_value = ~bad_time & ~bad_unit & ~np.isfinite(value)
    keep = ~(bad_time | bad_unit | bad_value) & (kinds != OTHER)

    # any() over the lazy map stops at the first hit and builds no list: most stations
    # send neither phases nor locations, so this costs one C-level pass.
    phased = np.zeros(len(flat), dtype=np.int8)
    if any(map(dict.get, flat, repeat("phase"))):
        phased[:] = [phase_code(r.get("phase")) for r in flat]
    # OCPP's default location is the Outlet; some stations also report the Inlet (or EV)
    # register at the same instant, which must not be mistaken for a second value.
    off_outlet = np.zeros(len(flat), dtype=bool)
    if any(map(dict.get, flat, repeat("location"))):
        locations = [r.get("location") for r in flat]
        off_outlet[:] = [isinstance(loc, str) and loc not in ("", "Outlet") for loc in locations]
    # The reconstructed flag only matters for SoC: read it sparsely.
    reconstructed = np.zeros(len(flat), dtype=bool)
    soc_rows = np.flatnonzero(keep & (kinds == SOC))
    if len(soc_rows):
        reconstructed[soc_rows] = [flat[i].get("reconstructed") is True for i in soc_rows.tolist()]

    def per_session(mask: np.ndarray) -> np.ndarray:
        return np.bincount(session[mask], minlength=n_sessions)

    return ReadingTable(
        session=session[keep],
        kind=kinds[keep],
        phased=phased[keep],
        off_outlet=off_outlet[keep],
        timestamp=timestamp[keep],
        value=value[keep],
        reconstructed=reconstructed[keep],
        n_sessions=n_sessions,
        dropped_timestamp=per_session(bad_time),
        dropped_value=per_session(bad_value),
        dropped_unit=per_session(bad_unit),
    )
