"""SHADE station-day engine: detections, uptime and hard negatives on controlled fleets."""

import json
from datetime import date, timedelta

import numpy as np
import pytest

from csar import shade

DAY = date(2026, 3, 11)  # a Wednesday


def _profile(rng, weekend=False, level=1.0):
    """Two connectors with sessions in busy hours; weekends are quieter and later."""
    energy = {}
    for connector in ("1", "2"):
        buckets = np.zeros(96)
        hours = (10, 12, 14) if weekend else (7, 9, 12, 17, 19)
        for hour in hours:
            start = hour * 4 + int(rng.integers(0, 3))
            buckets[start : start + 6] = 11.0 / 4 * level * rng.uniform(0.8, 1.2)
        energy[connector] = buckets.tolist()
    return energy


def _history(rng, days=56, start=DAY):
    return {
        start - timedelta(days=k): _profile(rng, (start - timedelta(days=k)).weekday() >= 5) for k in range(1, days + 1)
    }


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_normal_day_is_silent_and_fully_up(rng):
    analysis = shade.analyze_station_day(DAY, _profile(rng), _history(rng))
    assert not analysis.isAnomaly and analysis.detections == []
    assert [c.uptime for c in analysis.connectors] == [1.0, 1.0]
    assert 0 <= analysis.dayScore < 0.5
    assert analysis.historyDays == 56 and analysis.sameWeekdayDays == 8


def test_zero_energy_day(rng):
    analysis = shade.analyze_station_day(DAY, {}, _history(rng))
    assert [d.type for d in analysis.detections] == ["zero_energy_day"]
    assert analysis.detections[0].startMinute == 0 and analysis.dayScore >= 0.5
    assert [c.uptime for c in analysis.connectors] == [0.0, 0.0]


def test_connector_offline_from_a_minute(rng):
    today = _profile(rng)
    today["2"] = [0.0] * 96  # dead since midnight, no sessions at all
    history = _history(rng)
    analysis = shade.analyze_station_day(DAY, {"1": today["1"]}, history)  # connector 2 known from history only
    offline = [d for d in analysis.detections if d.type == "connector_offline"]
    assert [(d.connectorId, d.startMinute) for d in offline] == [("2", 0)]
    uptime = {c.connectorId: c.uptime for c in analysis.connectors}
    assert uptime["1"] == 1.0 and uptime["2"] < 0.2
    assert "energy_drop" not in {d.type for d in analysis.detections}  # the available connector is fine


def test_energy_drop(rng):
    today = {c: (np.array(v) * 0.15).tolist() for c, v in _profile(rng).items()}
    analysis = shade.analyze_station_day(DAY, today, _history(rng))
    assert [d.type for d in analysis.detections] == ["energy_drop"]
    drop = analysis.detections[0]
    assert drop.actualKwh < 0.3 * drop.expectedKwh and 0 <= drop.startMinute < 24 * 60 and drop.score >= 0.5


def test_weekend_is_judged_against_weekends(rng):
    saturday = date(2026, 3, 14)
    analysis = shade.analyze_station_day(saturday, _profile(rng, weekend=True), _history(rng, start=saturday))
    assert not analysis.isAnomaly


def _sessions_at(rng, hours, level=1.0, connectors=("1", "2")):
    """Sessions of ~90 minutes at 11 kW x level starting at `hours` on every connector."""
    energy = {}
    for connector in connectors:
        buckets = np.zeros(96)
        for hour in hours:
            start = hour * 4 + int(rng.integers(0, 3))
            buckets[start : start + 6] = 11.0 / 4 * level * rng.uniform(0.8, 1.2)
        energy[connector] = buckets.tolist()
    return energy


def test_quiet_holiday_with_short_history_is_silent(rng):
    """A quiet day has fewer sessions at their usual power (2 of 5 here)."""
    history = _history(rng, days=16)
    assert not shade.analyze_station_day(DAY, _sessions_at(rng, (12, 17)), history).isAnomaly


def test_derated_connector_is_an_energy_drop(rng):
    """Every session of connector 1 ran at a third of its usual power; connector 2 was normal."""
    today = _profile(rng)
    today["1"] = _sessions_at(rng, (7, 9, 12, 17, 19), level=0.33)["1"]
    analysis = shade.analyze_station_day(DAY, today, _history(rng))
    assert [d.type for d in analysis.detections] == ["energy_drop"]
    assert 6 * 60 <= analysis.detections[0].startMinute <= 8 * 60


def test_one_slow_session_is_not_an_energy_drop(rng):
    today = _profile(rng)
    slow = _sessions_at(rng, (12,), level=0.3)["1"]
    today["1"] = [slow[b] if 48 <= b < 60 else v for b, v in enumerate(today["1"])]
    assert not shade.analyze_station_day(DAY, today, _history(rng)).isAnomaly


def test_station_dead_part_way_is_offline_on_every_connector(rng):
    """The first sessions of the morning, then nothing from 09:00: not a quiet day, each connector
    reported from its own last delivery."""
    today = _sessions_at(rng, (7,))
    analysis = shade.analyze_station_day(DAY, today, _history(rng))
    offline = {d.connectorId: d for d in analysis.detections if d.type == "connector_offline"}
    assert set(offline) == {"1", "2"}
    assert all(8 * 60 <= d.startMinute <= 9 * 60 and d.endMinute == 24 * 60 for d in offline.values())
    assert all(c.uptime < 0.7 for c in analysis.connectors)


def _office_history(rng, days=56):
    """Busy weekdays, silent weekends."""
    return {
        DAY - timedelta(days=k): ({} if (DAY - timedelta(days=k)).weekday() >= 5 else _profile(rng))
        for k in range(1, days + 1)
    }


def test_public_holidays_come_from_a_calendar(rng):
    """An office silent on a Wednesday: an outage on a listed working day, normal on a listed
    holiday, and without a calendar a possible unlisted holiday (its weekends are silent)."""
    history = _office_history(rng)
    assert [d.type for d in shade.analyze_station_day(DAY, {}, history, holidays=[]).detections] == ["zero_energy_day"]
    assert not shade.analyze_station_day(DAY, {}, history, holidays=[DAY.isoformat()]).isAnomaly
    assert not shade.analyze_station_day(DAY, {}, history).isAnomaly


def test_holidays_in_history_are_learnt_as_sundays(rng):
    """Silent holidays in the history do not make a silent working day look usual."""
    history = _office_history(rng)
    holidays = [DAY - timedelta(days=7 * k) for k in (1, 2, 3)]  # three silent Wednesdays
    for day in holidays:
        history[day] = {}
    detections = shade.analyze_station_day(DAY, {}, history, holidays=holidays).detections
    assert [d.type for d in detections] == ["zero_energy_day"]


def test_third_day_of_a_connector_outage_is_detected(rng):
    history = _history(rng)
    today = _profile(rng)
    for k in (1, 2):
        history[DAY - timedelta(days=k)]["2"] = [0.0] * 96
    analysis = shade.analyze_station_day(DAY, {"1": today["1"]}, history)
    assert [(d.type, d.connectorId, d.startMinute) for d in analysis.detections] == [("connector_offline", "2", 0)]


def test_new_station_without_history_is_silent(rng):
    for today in ({}, _profile(rng), {"1": [0.0] * 96}):
        analysis = shade.analyze_station_day(DAY, today, {})
        assert not analysis.isAnomaly and analysis.dayScore == 0.0
        assert all(c.uptime == 1.0 for c in analysis.connectors)


def test_noise_produces_few_alarms(rng):
    history = _history(rng)
    alarms = sum(shade.analyze_station_day(DAY, _profile(rng), history).isAnomaly for _ in range(50))
    assert alarms == 0


def test_history_outside_the_window_is_ignored(rng):
    old = {DAY - timedelta(days=100 + k): _profile(rng) for k in range(30)}
    analysis = shade.analyze_station_day(DAY, {}, old)
    assert analysis.historyDays == 0 and not analysis.isAnomaly


def test_to_dict_is_plain_json(rng):
    result = shade.analyze_station_day(DAY.isoformat(), {}, _history(rng)).to_dict()
    assert json.loads(json.dumps(result)) == result
    assert result["detections"][0]["type"] == "zero_energy_day"
    assert len(result["connectors"][0]["buckets"]) == 96


def test_bad_bucket_count_is_rejected():
    with pytest.raises(ValueError):
        shade.analyze_station_day(DAY, {"1": [1.0] * 95}, {})


def test_fewer_sessions_at_usual_power_is_not_an_energy_drop(rng):
    """A holiday-like day (2 of 5 sessions on each connector) is demand, not a drop in delivery."""
    today = _profile(rng)
    for connector, values in today.items():
        buckets = np.array(values)
        buckets[: 12 * 4] = 0.0  # the morning sessions did not happen
        today[connector] = buckets.tolist()
    analysis = shade.analyze_station_day(DAY, today, _history(rng))
    assert "energy_drop" not in {d.type for d in analysis.detections}


def test_rarely_used_connector_silent_is_not_offline(rng):
    history = _history(rng)
    for k, energy in enumerate(history.values()):
        if k % 3:
            energy["2"] = [0.0] * 96  # connector 2 is used one day in three
    today = _profile(rng)
    today["2"] = [0.0] * 96
    assert not [d for d in shade.analyze_station_day(DAY, today, history).detections if d.type == "connector_offline"]


def test_second_day_of_an_outage_is_still_detected(rng):
    """The first dead day in the history is the same outage, not evidence that silence is usual."""
    history = _history(rng)
    history[DAY - timedelta(days=1)] = {"1": [0.0] * 96, "2": [0.0] * 96}
    assert [d.type for d in shade.analyze_station_day(DAY, {}, history).detections] == ["zero_energy_day"]
    today = _profile(rng)
    history[DAY - timedelta(days=1)] = {"1": today["1"], "2": [0.0] * 96}
    offline = [
        d
        for d in shade.analyze_station_day(DAY, {"1": today["1"]}, history).detections
        if d.type == "connector_offline"
    ]
    assert [(d.connectorId, d.startMinute) for d in offline] == [("2", 0)]
