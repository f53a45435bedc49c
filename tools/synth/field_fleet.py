"""An independent fleet simulation for SHADE: written apart from the engine and from fleet.py.

Nothing here reuses the engine's model (Poisson starts per connector and bucket, weekday/weekend
profiles, median baselines). The simulation works the way a site does:

- Three kinds of site, each with its own demand shape in local time (Europe/Berlin, so UTC day
  boundaries fall at 23:00/22:00 local): AC destination chargers (office or retail, long dwell,
  7.4-22 kW, cars leaving plugged in after they are full), DC fast chargers on corridors (busy
  weekends and Friday/Sunday afternoons, 50-150 kW with a taper as the battery fills), and depots
  (vans arriving in the evening and leaving at dawn: sessions cross midnight).
- Cars arrive at the *site* (a non-homogeneous Poisson process) and take a free connector at random;
  when every connector is busy the driver leaves. Demand varies by day: weather (gamma noise), a
  popularity trend over the weeks, public holidays of the site's German state (`holidays`), and
  bridge days.
- Each car has its own energy need (lognormal) and power limit; a session lasts its dwell, charging
  only until the need is met.

Faults (in the last `eval_days`, one per site at most) and their labels, per UTC day:
- connector_dead: one connector stops delivering at a random local time for 2 h - 3 days;
  labelled `connector_offline` (that connector) on each UTC day it is dead.
- site_dead: every connector stops (grid or backend outage) for 3 h - 2 days; a UTC day with some
  delivery before the outage is labelled `connector_offline` for each connector, a UTC day dead
  throughout is labelled `zero_energy_day`.
- derated: one connector or the whole site is limited to a fraction of its power (3-4 kW on AC,
  20-40 kW on DC) for 1-3 days; labelled `energy_drop`.

Observability rule (a label is "don't care" when the data cannot show it): a silence is observable
when the demand in the dead span expects at least 3 sessions (chance of the silence by itself
<= 5 %), the dead span of the day before included: the site's demand shared over its connectors
for one dead connector, the whole site's demand when every connector is dead; a zero-energy day
when the site expects at least 3 sessions that day; a derating when at least 2 sessions ran
derated for 30 minutes or more at under 60 % of the power they would have had.
Days without a label are negatives; holidays, bridge days, days with demand below 65 % of the
site's usual (weather) and Sundays at offices are reported apart as quiet-but-normal days.

    from chargewatch_tools.synth.field_fleet import simulate_fleet
    fleet = simulate_fleet(stations=60, weeks=10, seed=0)   # same interface as fleet.generate_fleet
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
import numpy as np

from .fleet import SyntheticStation

BUCKETS = 96
LOCAL = ZoneInfo("Europe/Berlin")
OBSERVABLE_SESSIONS = 3.0  # exp(-3) = 5 %
STATES = ("BY", "BE", "NW", "HH", "BW", "SN")
# seeds start on different Mondays so evaluation windows cover Easter, May holidays, Christmas
STARTS = (date(2026, 2, 2), date(2026, 3, 9), date(2025, 10, 27), date(2026, 2, 23))


def _hourly(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array / array.sum()


# local-time arrival shapes (per hour) and the share of weekly demand per weekday (Mon..Sun)
ARCHETYPES = {
    "office": {
        "shape": _hourly([0, 0, 0, 0, 0, 0.2, 1, 5, 9, 6, 2, 1, 2, 2, 1, 1, 0.8, 0.6, 0.3, 0.2, 0.1, 0.1, 0, 0]),
        "weekday": [1.0, 1.05, 1.05, 1.0, 0.8, 0.12, 0.05],
        "holiday_factor": 0.1,
        "dwell_hours": (6.0, 0.35),
        "power_kw": (7.4, 11.0, 22.0),
        "per_connector_day": (0.8, 1.6),
        "connectors": (2, 8),
    },
    "retail": {
        "shape": _hourly([0, 0, 0, 0, 0, 0, 0.1, 0.4, 1, 2, 3, 3.5, 3.5, 3, 3, 3.2, 3.4, 3.6, 3, 2, 1, 0.3, 0, 0]),
        "weekday": [0.85, 0.85, 0.9, 0.95, 1.1, 1.3, 0.1],
        "holiday_factor": 0.15,
        "dwell_hours": (1.3, 0.5),
        "power_kw": (11.0, 22.0),
        "per_connector_day": (2.0, 4.0),
        "connectors": (2, 6),
    },
    "fast": {
        "shape": _hourly(
            [0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1, 2, 3, 3.5, 4, 4.5, 5, 5, 4.5, 4.5, 5, 5, 4, 3, 2, 1.5, 1, 0.6]
        ),
        "weekday": [0.85, 0.8, 0.85, 0.95, 1.25, 1.15, 1.3],
        "holiday_factor": 1.2,
        "dwell_hours": (0.45, 0.35),
        "power_kw": (50.0, 150.0),
        "per_connector_day": (4.0, 12.0),
        "connectors": (2, 6),
    },
    "depot": {
        "shape": _hourly(
            [0.4, 0.1, 0, 0, 0, 0, 0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 0.4, 0.3, 0.4, 1, 3, 5, 4, 2, 1, 0.8, 0.6]
        ),
        "weekday": [1.0, 1.0, 1.0, 1.0, 1.0, 0.35, 0.1],
        "holiday_factor": 0.2,
        "dwell_hours": (10.0, 0.2),
        "power_kw": (11.0, 22.0),
        "per_connector_day": (0.9, 1.2),
        "connectors": (4, 10),
    },
}
KIND_WEIGHTS = {"office": 0.25, "retail": 0.25, "fast": 0.3, "depot": 0.2}


@dataclass
class FieldStation(SyntheticStation):
    kind: str = ""
    state: str = ""
    holiday_days: set[date] = field(default_factory=set)


@dataclass
class _Car:
    dwell: float  # minutes plugged in
    need_kwh: float
    limit_kw: float
    dc: bool


def _is_bridge_day(day: date, calendar: set[date]) -> bool:
    """A Monday or Friday next to a public holiday."""
    return day.weekday() in (0, 4) and (day + timedelta(days=1 if day.weekday() == 4 else -1)) in calendar


def _utc_shift(origin: datetime) -> float:
    """Minutes from the UTC midnight before the simulation's first local midnight (`origin`) to
    `origin`: simulation minutes + this = minutes of the UTC frame the energy is bucketed in."""
    return 1440.0 - (origin.utcoffset() or timedelta()).total_seconds() / 60.0


def _demand_factors(rng: np.random.Generator, days: list[date], kind: str, calendar: set[date]) -> np.ndarray:
    spec = ARCHETYPES[kind]
    weather = rng.gamma(25.0, 1 / 25.0, size=len(days))
    growth = float(rng.uniform(0.0, 0.5))
    trend = 1.0 + growth * np.arange(len(days)) / len(days)
    weekday = np.array([spec["weekday"][d.weekday()] for d in days])
    factors = weather * trend * weekday
    for i, day in enumerate(days):
        if day in calendar:
            factors[i] *= spec["holiday_factor"]
        elif _is_bridge_day(day, calendar):
            factors[i] *= (1 + spec["holiday_factor"]) / 2
    return factors


def _arrival_minutes(
    rng: np.random.Generator, day: date, mean: float, shape: np.ndarray, origin: datetime
) -> np.ndarray:
    """Arrival instants on `day` (local) as minutes since `origin` (UTC), sorted."""
    count = rng.poisson(mean)
    hours = rng.choice(24, size=count, p=shape)
    local = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
    base = (local - origin).total_seconds() / 60.0
    # local hour h starts 60h minutes after local midnight (a DST day is off by an hour: negligible)
    minutes = base + hours * 60.0 + rng.uniform(0, 60, size=count)
    return np.sort(minutes)


def _power_curve(car: _Car, charger_kw: float, cap_kw: float | None) -> np.ndarray:
    """kW per minute of the session until the need is met (or the car leaves)."""
    peak = min(charger_kw, car.limit_kw)
    if cap_kw is not None:
        peak = min(peak, cap_kw)
    minutes = max(1, int(car.dwell))
    if car.dc:
        # taper: full power to ~55 % of the energy, then falling toward 30 % of peak
        curve = np.full(minutes, peak)
        delivered = np.cumsum(curve) / 60.0
        fraction = np.clip(delivered / max(car.need_kwh, 1e-6), 0, 1)
        curve = peak * np.where(fraction < 0.55, 1.0, 1.0 - 0.7 * (fraction - 0.55) / 0.45)
    else:
        curve = np.full(minutes, peak * 0.97)
    delivered = np.cumsum(curve) / 60.0
    return np.where(delivered - curve / 60.0 < car.need_kwh, curve, 0.0)


def simulate_fleet(stations: int = 60, weeks: int = 10, seed: int = 0, eval_days: int = 14) -> list[FieldStation]:
    rng = np.random.default_rng(10_000 + seed)
    start = STARTS[seed % len(STARTS)]
    total_days = weeks * 7
    days = [start + timedelta(days=i) for i in range(total_days)]
    eval_from = days[-eval_days]
    origin = datetime(start.year, start.month, start.day, tzinfo=LOCAL)
    shift = _utc_shift(origin)
    kinds = list(KIND_WEIGHTS)
    fleet = []
    for index in range(stations):
        kind = str(rng.choice(kinds, p=[KIND_WEIGHTS[k] for k in kinds]))
        spec = ARCHETYPES[kind]
        state = str(rng.choice(STATES))
        calendar = set(holiday_calendars.country_holidays("DE", subdiv=state, years=range(start.year, start.year + 2)))
        connectors = int(rng.integers(spec["connectors"][0], spec["connectors"][1] + 1))
        charger_kw = float(rng.choice(spec["power_kw"]))
        dc = kind == "fast"
        weekly_mean = connectors * float(rng.uniform(*spec["per_connector_day"]))
        factors = _demand_factors(rng, days, kind, calendar)
        fault = str(rng.choice(["none", "connector_dead", "site_dead", "derated"], p=[0.4, 0.22, 0.16, 0.22]))
        fault_start = eval_from + timedelta(days=int(rng.integers(0, eval_days - 3)))
        fault_local = datetime(fault_start.year, fault_start.month, fault_start.day, tzinfo=LOCAL) + timedelta(
            minutes=float(rng.uniform(5 * 60, 20 * 60))
        )
        fault_at = (fault_local - origin).total_seconds() / 60.0
        if fault == "connector_dead":
            fault_minutes = float(rng.uniform(2 * 60, 3 * 24 * 60))
        elif fault == "site_dead":
            fault_minutes = float(rng.uniform(3 * 60, 2 * 24 * 60))
        else:
            fault_minutes = float(rng.integers(1, 4) * 24 * 60)
        dead_connector = int(rng.integers(connectors))
        derate_all = bool(rng.random() < 0.5)
        cap_kw = float(rng.uniform(20, 40)) if dc else float(rng.uniform(3.0, 4.0))
        fault_end = fault_at + fault_minutes

        # the closures below are called within this iteration only
        def dead(connector: int, minute: float) -> bool:
            during = fault_at <= minute < fault_end  # noqa: B023
            if fault == "connector_dead":  # noqa: B023
                return connector == dead_connector and during  # noqa: B023
            return fault == "site_dead" and during  # noqa: B023

        def derated(connector: int, minute: float) -> bool:
            during = fault_at <= minute < fault_end  # noqa: B023
            return fault == "derated" and (derate_all or connector == dead_connector) and during  # noqa: B023

        # simulate every car of every day at the site, in time order
        busy_until = np.full(connectors, -1.0)
        per_connector_minutes: list[list[tuple[float, np.ndarray]]] = [[] for _ in range(connectors)]
        derated_sessions: dict[date, int] = {}
        for i, day in enumerate(days):
            arrivals = _arrival_minutes(rng, day, weekly_mean * factors[i], spec["shape"], origin)
            for minute in arrivals:
                free = np.flatnonzero(busy_until <= minute)
                if not free.size:
                    continue  # every connector busy: the driver leaves
                connector = int(rng.choice(free))
                mean_dwell, sigma = spec["dwell_hours"]
                dwell = float(np.clip(rng.lognormal(np.log(mean_dwell * 60), sigma), 10, 16 * 60))
                need = float(np.clip(rng.lognormal(np.log(22 if not dc else 30), 0.5), 2, 90))
                limit = float(rng.choice([3.7, 7.4, 11.0, 11.0, 22.0])) if not dc else float(rng.uniform(50, 250))
                car = _Car(dwell, need, limit, dc)
                busy_until[connector] = minute + dwell
                if dead(connector, minute):
                    continue  # a dead connector does not start a session (the car leaves or waits elsewhere)
                cap = cap_kw if derated(connector, minute) else None
                curve = _power_curve(car, charger_kw, cap)
                if dead(connector, minute + curve.size):
                    # the charger died mid-session: delivery stops at the fault
                    curve = curve[: max(0, int(fault_at - minute))]
                per_connector_minutes[connector].append((float(minute), curve))
                if cap is not None:
                    normal = _power_curve(car, charger_kw, None)
                    running = int(np.count_nonzero(curve > 0))
                    if running >= 30 and curve.max(initial=0) < 0.6 * normal.max(initial=0):
                        stamp = (origin + timedelta(minutes=minute)).astimezone(ZoneInfo("UTC")).date()
                        derated_sessions[stamp] = derated_sessions.get(stamp, 0) + 1

        station = FieldStation(
            station_id=f"FIELD-{seed}-{index:03d}",
            connectors=[str(c + 1) for c in range(connectors)],
            first_day=days[0],
            kind=kind,
            state=state,
            holiday_days={d for d in days if d in calendar},
        )
        utc_days = _utc_energy(station, per_connector_minutes, shift, days)
        expected_rate = _expected_rate(spec, weekly_mean, factors, days, origin, shift)
        _label(station, fault, fault_at + shift, fault_end + shift, dead_connector, expected_rate, derated_sessions)
        for day in utc_days:
            if day in station.labels or day < eval_from:
                continue
            local_factor = factors[min((day - days[0]).days, len(days) - 1)]
            usual = float(np.median(factors[[d.weekday() == day.weekday() for d in days]]))
            if day in calendar:
                station.negatives[day] = "holiday"
            elif _is_bridge_day(day, calendar):
                station.negatives[day] = "bridge_day"
            elif local_factor < 0.65 * usual:
                station.negatives[day] = "quiet_day"
            elif kind == "office" and day.weekday() >= 5:
                station.negatives[day] = "office_weekend"
        fleet.append(station)
    return fleet


def _utc_energy(
    station: FieldStation, per_connector_minutes: list[list[tuple[float, np.ndarray]]], shift: float, days: list[date]
) -> list[date]:
    """Fill station.energy with 96 UTC buckets per connector and whole UTC day; those days. The
    UTC frame starts the day before `days[0]` (`_utc_shift`)."""
    total_minutes = int((len(days) + 2) * 1440)
    utc_days = [days[0] + timedelta(days=i - 1) for i in range(len(days) + 2)]
    for index, sessions in enumerate(per_connector_minutes):
        power = np.zeros(total_minutes)
        for start, curve in sessions:
            first = int(start + shift)
            end = min(total_minutes, first + curve.size)
            if end > first:
                power[first:end] += curve[: end - first]
        buckets = power.reshape(-1, 15).sum(axis=1) / 60.0
        per_day = buckets.reshape(len(utc_days), BUCKETS)
        for d, day in enumerate(utc_days):
            station.energy.setdefault(day, {})[station.connectors[index]] = np.round(per_day[d], 4).tolist()
    # the first and last UTC days are partial (local midnight is not UTC midnight): drop them
    for day in (utc_days[0], utc_days[-1]):
        station.energy.pop(day, None)
    return utc_days[1:-1]


def _expected_rate(
    spec: dict, weekly_mean: float, factors: np.ndarray, days: list[date], origin: datetime, shift: float
) -> np.ndarray:
    """The site's expected arrivals per minute over the simulation (UTC frame, as _utc_energy)."""
    rate = np.zeros(int((len(days) + 2) * 1440))
    for i, day in enumerate(days):
        local = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
        base = int((local - origin).total_seconds() / 60.0 + shift)
        per_minute = np.repeat(spec["shape"] * weekly_mean * factors[i] / 60.0, 60)
        rate[base : base + 1440] += per_minute[: max(0, min(1440, rate.size - base))]
    return rate


def _label(
    station: FieldStation,
    fault: str,
    fault_at: float,
    fault_end: float,
    dead_connector: int,
    rate: np.ndarray,
    derated_sessions: dict[date, int],
) -> None:
    """Labels of the fault over [fault_at, fault_end) (UTC-frame minutes) per UTC day it touches."""
    if fault == "none":
        return
    connectors = len(station.connectors)
    start, end = int(fault_at), int(fault_end)
    expected_cumulative = np.concatenate(([0.0], np.cumsum(rate)))
    for d in range(rate.size // 1440):
        day = station.first_day + timedelta(days=d - 1)
        lo, hi = d * 1440, (d + 1) * 1440
        span_lo, span_hi = max(lo, start), min(hi, end)
        if span_hi <= span_lo or day not in station.energy:
            continue
        if fault == "derated":
            count = derated_sessions.get(day, 0)
            station.labels.setdefault(day, []).append(
                {"type": "energy_drop", "startMinute": span_lo - lo, "deratedSessions": count, "observable": count >= 2}
            )
            continue
        # the silence an observer sees began at the fault (a day after the first looks back to it)
        expected = float(expected_cumulative[span_hi] - expected_cumulative[max(start, lo - 1440)]) / connectors
        # what an observer sees: a site that delivered nothing all UTC day had a zero-energy day
        whole_day = span_lo == lo and span_hi == hi
        delivered = sum(sum(values) for values in station.energy[day].values())
        if fault == "site_dead" and (whole_day or delivered < 0.01):
            site_expected = float(expected_cumulative[hi] - expected_cumulative[lo])
            station.labels.setdefault(day, []).append(
                {
                    "type": "zero_energy_day",
                    "startMinute": 0,
                    "expectedSessions": round(site_expected, 3),
                    "observable": site_expected >= OBSERVABLE_SESSIONS,
                }
            )
            continue
        dead_ones = range(connectors) if fault == "site_dead" else [dead_connector]
        if fault == "site_dead":
            # every connector silent at once: the site's demand is the evidence, not one connector's
            expected *= connectors
        for connector in dead_ones:
            if connectors == 1 and whole_day:
                kind = "zero_energy_day"
            else:
                kind = "connector_offline"
            station.labels.setdefault(day, []).append(
                {
                    "type": kind,
                    "connectorId": station.connectors[connector] if kind == "connector_offline" else None,
                    "startMinute": span_lo - lo,
                    "expectedSessions": round(expected, 3),
                    "observable": expected >= OBSERVABLE_SESSIONS,
                }
            )


def evaluation_days(station: SyntheticStation, eval_days: int = 14) -> list[date]:
    return sorted(station.energy)[-eval_days:]
