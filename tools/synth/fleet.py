"""Labelled synthetic station fleets over weeks, for SHADE (station-day) evaluation and demos.

Each station has 1-4 connectors and a usage level; sessions arrive per connector as a Poisson
process whose rate follows a daily profile (weekday: commuter peaks; weekend: one broad midday
hump, fewer sessions). Each session charges at a constant power (AC 7-22 kW or DC 50-150 kW)
for its duration; its energy is spread over the 15-minute buckets it overlaps.

Injected, labelled events (one per station at most, placed in the last `eval_days`):
- connector_offline: one connector dies at a minute between 06:00 and 14:00 and stays dead
  1-3 days (labelled every day it is dead);
- energy_drop: a day on which every session delivers 10-35 % of its normal energy;
- zero_energy_day: a day on which the station delivers nothing.

Every label carries `expectedSessions` (the generator's own Poisson mean of the sessions the event
suppressed: arrivals in the dead span, including the dead tail of the day before, for an outage;
arrivals of the whole station-day otherwise) and `observable`. An event is observable when even an
oracle knowing the true arrival rates could tell it from chance: a silence whose chance
exp(-expectedSessions) is above `OBSERVABLE_SILENCE` (5 %) happens by itself on 1 connector-day in
20, so it cannot be flagged without flooding clean days; an energy drop on a day without a single
session left nothing to measure. Unobservable labels are "don't care" in the evaluation (neither
a miss nor, when something fires, a false alarm); they stay in `labels` because the event did
happen.
Hard negatives (unlabelled): holiday-like quiet days (45-70 % of normal sessions), new stations
with 0-10 days of history, stations whose history is only 2-3 weeks long, ordinary Poisson noise.

    from chargewatch_tools.synth.fleet import generate_fleet
    fleet = generate_fleet(stations=40, weeks=8, seed=0)
    for station in fleet: station.energy[day] -> {connectorId: [96 kWh]}, station.labels[day] -> {type, ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

BUCKETS = 96
HOURS = np.arange(24)
# relative arrival intensity per hour (normalised below)
_WEEKDAY = np.array([1, 1, 1, 1, 1, 2, 5, 9, 10, 8, 6, 6, 7, 6, 6, 7, 9, 10, 9, 7, 5, 4, 2, 1], dtype=float)
_WEEKEND = np.array([1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2, 2, 1], dtype=float)
_WEEKDAY /= _WEEKDAY.sum()
_WEEKEND /= _WEEKEND.sum()
OBSERVABLE_SILENCE = 0.05
WEEKEND_RATE = 0.6


def _arrivals(day: date, rate: float, factor: float, from_minute: float = 0.0) -> float:
    """Poisson mean of one connector's arrivals in [from_minute, 24:00) of `day`."""
    weekend = day.weekday() >= 5
    profile = _WEEKEND if weekend else _WEEKDAY
    hour, fraction = int(from_minute // 60), 1.0 - (from_minute % 60) / 60.0
    mass = profile[hour] * fraction + profile[hour + 1 :].sum() if from_minute < 24 * 60 else 0.0
    return rate * (WEEKEND_RATE if weekend else 1.0) * factor * float(mass)


@dataclass
class SyntheticSession:
    connector_id: str
    start_minute: float  # minutes from the day's midnight (UTC)
    duration_minutes: float
    power_kw: float


@dataclass
class SyntheticStation:
    station_id: str
    connectors: list[str]
    first_day: date
    energy: dict[date, dict[str, list[float]]] = field(default_factory=dict)
    sessions: dict[date, list[SyntheticSession]] = field(default_factory=dict)
    labels: dict[date, list[dict]] = field(default_factory=dict)  # day -> [{type, connectorId?, startMinute}]
    negatives: dict[date, str] = field(default_factory=dict)  # day -> hard-negative kind

    def history_for(self, day: date) -> dict[date, dict[str, list[float]]]:
        return {d: e for d, e in self.energy.items() if d < day}


def _bucket_energy(sessions: list[SyntheticSession], connectors: list[str]) -> dict[str, list[float]]:
    energy = {c: np.zeros(BUCKETS) for c in connectors}
    edges = np.arange(BUCKETS + 1) * 15.0
    for session in sessions:
        start, end = session.start_minute, min(24 * 60.0, session.start_minute + session.duration_minutes)
        overlap = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None)
        energy[session.connector_id] += overlap / 60.0 * session.power_kw
    return {c: np.round(v, 4).tolist() for c, v in energy.items()}


def _day_sessions(
    rng: np.random.Generator, day: date, connectors: list[str], rate: float, dc: bool, factor: float = 1.0
) -> list[SyntheticSession]:
    weekend = day.weekday() >= 5
    profile = _WEEKEND if weekend else _WEEKDAY
    sessions = []
    for connector in connectors:
        count = rng.poisson(rate * (WEEKEND_RATE if weekend else 1.0) * factor)
        hours = rng.choice(24, size=count, p=profile)
        for hour in hours:
            start = float(hour * 60 + rng.uniform(0, 60))
            if dc:
                duration, power = rng.uniform(20, 50), rng.uniform(50, 150)
            else:
                duration, power = rng.uniform(60, 240), rng.choice([7.4, 11.0, 22.0])
            sessions.append(SyntheticSession(connector, start, float(duration), float(power)))
    # one car at a time per connector: drop overlapping sessions
    sessions.sort(key=lambda s: (s.connector_id, s.start_minute))
    kept, busy_until = [], {}
    for session in sessions:
        if session.start_minute >= busy_until.get(session.connector_id, -1.0):
            kept.append(session)
            busy_until[session.connector_id] = session.start_minute + session.duration_minutes
    return kept


def generate_fleet(
    stations: int = 40, weeks: int = 8, seed: int = 0, eval_days: int = 14, start: date = date(2026, 1, 5)
) -> list[SyntheticStation]:
    """`stations` stations over `weeks` weeks ending with `eval_days` days that carry the events."""
    rng = np.random.default_rng(seed)
    total_days = weeks * 7 + eval_days
    days = [start + timedelta(days=i) for i in range(total_days)]
    eval_from = days[-eval_days]
    fleet = []
    for index in range(stations):
        connectors = [str(i + 1) for i in range(int(rng.integers(1, 5)))]
        dc = bool(rng.random() < 0.3)
        rate = float(rng.uniform(3, 9))
        kind = rng.choice(["normal", "normal", "new", "short"], p=[0.55, 0.15, 0.15, 0.15])
        if kind == "new":
            first = eval_from - timedelta(days=int(rng.integers(0, 11)))
        elif kind == "short":
            first = eval_from - timedelta(days=int(rng.integers(14, 22)))
        else:
            first = days[0]
        station = SyntheticStation(f"SYN-{seed}-{index:04d}", connectors, first)
        event_day = eval_from + timedelta(days=int(rng.integers(0, eval_days - 3)))
        event = rng.choice(["none", "connector_offline", "energy_drop", "zero_energy_day"], p=[0.4, 0.25, 0.2, 0.15])
        if kind == "new":
            event = "none"
        quiet_days = {eval_from + timedelta(days=int(d)) for d in rng.choice(eval_days, size=2, replace=False)} - {
            event_day
        }
        dead_connector = rng.choice(connectors)
        dead_from = float(rng.uniform(6 * 60, 14 * 60))
        dead_days = int(rng.integers(1, 4))
        previous_factor = 1.0  # the day before's demand factor (a dead day looks back across midnight)
        for day in days:
            if day < first:
                continue
            factor = 1.0
            if day in quiet_days:
                factor = float(rng.uniform(0.45, 0.7))
                station.negatives[day] = "quiet_day"
            sessions = _day_sessions(rng, day, connectors, rate, dc, factor)
            labels = []
            station_day_arrivals = _arrivals(day, rate, factor) * len(connectors)
            if event == "energy_drop" and day == event_day:
                drop = float(rng.uniform(0.1, 0.35))
                sessions = [
                    SyntheticSession(s.connector_id, s.start_minute, s.duration_minutes, s.power_kw * drop)
                    for s in sessions
                ]
                labels.append(
                    {
                        "type": "energy_drop",
                        "startMinute": 0,
                        "expectedSessions": station_day_arrivals,
                        "observable": bool(sessions),
                    }
                )
            elif event == "zero_energy_day" and day == event_day:
                sessions = []
                labels.append({"type": "zero_energy_day", "startMinute": 0, "expectedSessions": station_day_arrivals})
            elif event == "connector_offline" and event_day <= day < event_day + timedelta(days=dead_days):
                sessions, label = _connector_outage(
                    day, sessions, connectors, dead_connector, dead_from, event_day, rate, factor, previous_factor
                )
                labels.append(label)
            for label in labels:
                label["expectedSessions"] = round(float(label["expectedSessions"]), 3)
                label.setdefault("observable", bool(np.exp(-label["expectedSessions"]) <= OBSERVABLE_SILENCE))
            previous_factor = factor
            if kind in ("new", "short") and day >= eval_from:
                station.negatives.setdefault(day, f"{kind}_station")
            station.sessions[day] = sessions
            station.energy[day] = _bucket_energy(sessions, connectors)
            if labels:
                station.labels[day] = labels
        fleet.append(station)
    return fleet


def _connector_outage(
    day: date,
    sessions: list[SyntheticSession],
    connectors: list[str],
    dead_connector: str,
    dead_from: float,
    event_day: date,
    rate: float,
    factor: float,
    previous_factor: float,
) -> tuple[list[SyntheticSession], dict]:
    """The sessions left on a day of a connector outage (dead from `dead_from` on `event_day`, all
    day after), and its label."""
    cut = dead_from if day == event_day else 0.0
    sessions = [s for s in sessions if s.connector_id != dead_connector or s.start_minute + s.duration_minutes <= cut]
    # the silence an observer sees started at the outage, so a later dead day adds the
    # day before's dead span (a detector may look back across midnight too)
    suppressed = _arrivals(day, rate, factor, cut)
    if day > event_day:
        previous = day - timedelta(days=1)
        suppressed += _arrivals(previous, rate, previous_factor, dead_from if previous == event_day else 0.0)
    if len(connectors) == 1 and cut == 0.0:
        # the only connector dead all day: what is observable is a zero-energy day
        return sessions, {"type": "zero_energy_day", "startMinute": 0, "expectedSessions": suppressed}
    label = {
        "type": "connector_offline",
        "connectorId": str(dead_connector),
        "startMinute": int(cut),
        "expectedSessions": suppressed,
    }
    return sessions, label


def evaluation_days(station: SyntheticStation, eval_days: int = 14) -> list[date]:
    days = sorted(station.energy)
    return days[-eval_days:]


def session_meter_values(day: date, session: SyntheticSession, step_minutes: float = 5.0) -> list[dict]:
    """OCPP-style energy register readings (kWh) of a synthetic session, for the sessions API."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    steps = max(2, int(session.duration_minutes // step_minutes) + 1)
    minutes = np.linspace(session.start_minute, session.start_minute + session.duration_minutes, steps)
    register = (minutes - minutes[0]) / 60.0 * session.power_kw
    return [
        {
            "measurand": "Energy.Active.Import.Register",
            "unit": "kWh",
            "value": round(float(v), 4),
            "timestamp": (midnight + timedelta(minutes=float(m))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for m, v in zip(minutes, register, strict=True)
    ]
