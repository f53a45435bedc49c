"""The engine never raises, whatever it is fed, and its outputs keep the seed-003 shape."""

from __future__ import annotations

import json
import math
import random

import pytest
from csar_session_builders import ENERGY, POWER, START, categories, iso, session
from hypothesis import given, settings
from hypothesis import strategies as st

import csar

SEED_003_KEYS = {
    "isAnomaly",
    "anomalyScore",
    "anomalyConfidence",
    "isIncident",
    "isRecurring",
    "socReconstructed",
    "message",
    "anomalies",
}
ANOMALY_KEYS = {"category", "score", "confidence", "bucketRange", "timeRange", "details"}


def assert_well_formed(result: csar.SessionAnalysis) -> None:
    body = result.to_dict()
    assert set(body) == SEED_003_KEYS
    json.dumps(body, allow_nan=False)  # plain Python, no numpy scalars, no NaN
    assert 0.0 <= body["anomalyScore"] <= 1.0 and 0.0 <= body["anomalyConfidence"] <= 1.0
    for item in body["anomalies"]:
        assert set(item) == ANOMALY_KEYS
        assert item["category"] in csar.CATEGORIES
        assert 0.0 <= item["score"] <= 1.0 and 0.0 <= item["confidence"] <= 1.0
        assert item["bucketRange"]["startUnit"] <= item["bucketRange"]["endUnit"]
        assert item["timeRange"]["startTimestamp"].endswith("Z")


@pytest.mark.parametrize("readings", [[], None, [{}], [{"timestamp": iso(0), "value": 1}]])
def test_empty_and_single_reading_sessions_are_not_analysed(readings):
    result = csar.analyze_session(readings)
    assert not result.is_anomaly and result.anomalies == []
    assert "fewer than 3" in result.message
    assert_well_formed(result)


def test_two_readings_are_not_analysed():
    result = csar.analyze_session([{"timestamp": iso(0), "value": 1}, {"timestamp": iso(600), "value": 0}])
    assert not result.is_anomaly and "fewer than 3" in result.message


def test_garbage_values_and_timestamps_are_dropped_and_reported():
    readings, _, _ = session(11.0, minutes=30)
    readings += [
        {"timestamp": iso(100), "value": float("nan")},
        {"timestamp": iso(110), "value": float("inf"), "measurand": POWER},
        {"timestamp": iso(120), "value": None},
        {"timestamp": iso(130), "value": "twelve"},
        {"timestamp": iso(140), "value": {"nested": 1}},
        {"timestamp": "yesterday", "value": 5},
        {"timestamp": None, "value": 5},
        {"timestamp": 1772186400, "value": 5},
        {"timestamp": "0001-01-01T00:00:00Z", "value": 5},
        {"timestamp": iso(150), "value": 5, "unit": "furlongs"},
        {"timestamp": iso(160), "value": 5, "measurand": ["not", "hashable"]},
        "not a dict",
        None,
        42,
    ]
    result = csar.analyze_session(readings)
    assert_well_formed(result)
    assert not result.is_anomaly
    assert "timestamps" in result.message and "non-numeric" in result.message and "units" in result.message


def test_numeric_strings_and_wh_w_units_are_normalised():
    readings, _, _ = session(11.0, minutes=30)
    as_wh = []
    for r in readings:
        r = dict(r)
        if r["measurand"] == ENERGY:
            r["value"], r["unit"] = str(round(r["value"] * 1000.0, 3)), "Wh"
        else:
            r["value"], r["unit"] = str(r["value"] * 1000.0), "W"
        as_wh.append(r)
    native, converted = csar.analyze_session(readings), csar.analyze_session(as_wh)
    assert converted.to_dict() == native.to_dict()
    assert math.isclose(converted.energy_kwh, native.energy_kwh, rel_tol=1e-9)


def test_missing_unit_and_measurand_mean_the_ocpp_defaults():
    readings = [{"timestamp": iso(i * 60), "value": 1000.0 + i * 183.3} for i in range(30)]  # Wh register
    readings += [{"timestamp": iso(i * 60), "value": 11000.0, "measurand": POWER} for i in range(30)]
    result = csar.analyze_session(readings, {"maxPowerKw": 11})
    assert not result.is_anomaly
    assert math.isclose(result.energy_kwh, 29 * 0.1833, rel_tol=1e-6)


def test_offsets_and_fractional_seconds_are_understood():
    readings, _, _ = session(11.0, minutes=30, with_power=False)
    for r in readings:
        moment = r["timestamp"].replace("Z", "")
        hour = int(moment[11:13]) + 2
        r["timestamp"] = f"{moment[:11]}{hour:02d}{moment[13:]}.000+02:00"
    result = csar.analyze_session(readings)
    assert not result.is_anomaly
    assert (
        csar.analyze_session(readings).to_dict()
        == csar.analyze_session(session(11.0, minutes=30, with_power=False)[0]).to_dict()
    )


def test_unsorted_input_gives_the_sorted_result_plus_disorder():
    readings, _, _ = session(22.0, minutes=60, soc_start=20)
    shuffled = readings[:]
    random.Random(7).shuffle(shuffled)
    ordered, scrambled = csar.analyze_session(readings), csar.analyze_session(shuffled)
    assert categories(scrambled) == categories(ordered) | {"TIMESTAMP_DISORDER"}
    assert math.isclose(scrambled.energy_kwh, ordered.energy_kwh)


def test_inlet_register_next_to_the_outlet_one_is_not_a_second_value():
    readings, _, _ = session(11.0, minutes=30)
    inlet = [dict(r, location="Inlet", value=r["value"] * 1.02) for r in readings]
    outlet = [dict(r, location="Outlet") for r in readings]
    assert csar.analyze_session(outlet + inlet).to_dict() == csar.analyze_session(readings).to_dict()


def test_per_phase_power_is_summed_when_no_total_is_sent():
    readings, _, _ = session(lambda t: 14.0 if 600 <= t < 1200 else 11.0, minutes=30)
    phases = []
    for r in readings:
        if r["measurand"] == POWER:
            phases += [dict(r, phase=p, value=r["value"] / 3) for p in ("L1", "L2", "L3")]
        else:
            phases.append(r)
    assert categories(csar.analyze_session(phases, {"maxPowerKw": 11})) == {"POWER_OVER_RATING"}


def test_exact_duplicates_are_ignored():
    readings, _, _ = session(11.0, minutes=30)
    doubled = [r for r in readings for _ in range(2)]
    result = csar.analyze_session(doubled)
    assert not result.is_anomaly
    assert "ignored" in result.message


def test_analyze_batch_equals_analyze_session_per_session():
    readings_a, _, _ = session(11.0, minutes=30)
    readings_b, _, registers = session(50.0, minutes=40, soc_start=10)
    readings_b[20]["value"] = 0.0  # an energy reading dropping to zero
    readings_c, _, _ = session(0.0, minutes=20)
    batch = [
        {"meterValues": readings_a, "metadata": {"maxPowerKw": 11}},
        {"meterValues": readings_b, "metadata": None, "history": None},
        {"meterValues": []},
        {"meterValues": readings_c, "metadata": {"maxPowerKw": "bad"}},
        "not a session",
    ]
    results = csar.analyze_batch(batch)
    assert len(results) == len(batch)
    for item, result in zip(batch, results, strict=True):
        item = item if isinstance(item, dict) else {}
        alone = csar.analyze_session(item.get("meterValues"), item.get("metadata"), item.get("history"))
        assert result.to_dict() == alone.to_dict()
    assert csar.analyze_batch([]) == []


def test_batch_results_do_not_depend_on_the_other_sessions():
    # Quantised registers make rounding ties common: sums must not pick up batch-wide
    # floating-point error.
    rng = random.Random(3)
    batch = []
    for i in range(60):
        power = rng.choice((3.7, 11.0, 22.0, 50.0, 150.0))
        dip_at = rng.randint(600, 2400)
        readings, _, _ = session(
            lambda t, p=power, d=dip_at: p * (0.5 if d <= t < d + 900 else 1.0),
            minutes=rng.randint(20, 90),
            interval_s=rng.choice((30, 60, 300)),
            register_start_kwh=rng.choice((0.0, 12345.678, 99990.0)),
            soc_start=rng.choice((None, 20.0)),
        )
        energies = [r for r in readings if r["measurand"] == ENERGY]
        if i % 3 == 0:
            for r in energies[len(energies) // 2 :]:
                r["value"] = round(r["value"] * 0.7, 3)
        batch.append({"meterValues": readings, "metadata": {"maxPowerKw": power} if i % 2 else None})
    for item, result in zip(batch, csar.analyze_batch(batch), strict=True):
        assert result.to_dict() == csar.analyze_session(item["meterValues"], item["metadata"]).to_dict()


def test_to_dict_from_dict_round_trip():
    readings, _, registers = session(11.0, minutes=30)
    readings[20]["value"] = 1.0
    result = csar.analyze_session(readings)
    assert result.anomalies
    assert_well_formed(result)
    rebuilt = csar.SessionAnalysis.from_dict(json.loads(json.dumps(result.to_dict())))
    assert rebuilt.to_dict() == result.to_dict()
    assert rebuilt.anomalies[0].energy_kwh == pytest.approx(result.anomalies[0].energy_kwh, abs=1e-4)


def test_recurring_only_for_the_same_category_in_the_previous_seven_days():
    readings, _, _ = session(0.0, minutes=30)
    day = 86400
    recent = [{"category": "ZERO_ENERGY", "timestamp": iso(-3 * day)}]
    old = [{"category": "ZERO_ENERGY", "timestamp": iso(-8 * day)}]
    other = [{"category": "KWH_DECREASE", "timestamp": iso(-1 * day)}, {"category": "ZERO_ENERGY", "timestamp": "junk"}]
    assert csar.analyze_session(readings, history=recent).is_recurring
    assert not csar.analyze_session(readings, history=old).is_recurring
    assert not csar.analyze_session(readings, history=other).is_recurring
    assert not csar.analyze_session(readings, history="garbage").is_recurring


@pytest.mark.parametrize("rating", [float("inf"), float("nan"), True, "fast", -11, 0, None, "11"])
def test_unusable_or_string_ratings(rating):
    readings, _, _ = session(11.0, minutes=30)
    result = csar.analyze_session(readings, {"maxPowerKw": rating, "unknownKey": object()})
    assert not result.is_anomaly


def test_datetime_and_decimal_objects_are_accepted():
    from datetime import timedelta
    from decimal import Decimal

    readings = [
        {"timestamp": START + timedelta(minutes=i), "value": Decimal(str(round(i * 0.183, 3))), "unit": "kWh"}
        for i in range(30)
    ]
    result = csar.analyze_session(readings, history=[{"category": "ZERO_ENERGY", "timestamp": START}])
    assert result.reading_count == 30 and not result.is_anomaly


def test_soc_reconstructed_when_soc_missing_but_capacity_and_start_known():
    readings, _, _ = session(11.0, minutes=30)
    assert csar.analyze_session(readings, {"batteryCapacityKwh": 60, "startSoc": 20}).soc_reconstructed
    assert not csar.analyze_session(readings, {"batteryCapacityKwh": 60}).soc_reconstructed


def test_params_flow_through_and_round_trip():
    params = csar.CsarParams.from_dict({"zero_min_seconds": 3600, "unknown": 1})
    assert params.zero_min_seconds == 3600
    assert csar.CsarParams.from_dict(params.to_dict()) == params
    readings, _, _ = session(0.0, minutes=30)
    assert "ZERO_ENERGY" in categories(csar.analyze_session(readings))
    assert "ZERO_ENERGY" not in categories(csar.analyze_session(readings, params=params))
    assert "ZERO_ENERGY" not in categories(csar.analyze_batch([{"meterValues": readings}], params=params)[0])
    assert csar.MODEL_ID == "csar-2" and csar.MODEL_VERSION == "2.0.0"
    assert len(csar.CATEGORIES) == 12 and csar.BILLING_RELEVANT < set(csar.CATEGORIES)


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
_reading = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.one_of(_scalar, st.integers(0, 7200).map(iso)),
        "value": st.one_of(_scalar, st.floats(-1e6, 1e6).map(str)),
        "measurand": st.sampled_from([ENERGY, POWER, "SoC", "Voltage", "Temperature", "", None]),
        "unit": st.sampled_from(["Wh", "kWh", "W", "kW", "Percent", "A", None, "x"]),
        "phase": st.sampled_from([None, "L1", "L2", "N", ""]),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(_reading, _scalar), max_size=40),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=20), _scalar, max_size=4)),
)
def test_arbitrary_input_never_raises(readings, metadata):
    result = csar.analyze_session(readings, metadata)
    assert_well_formed(result)


def test_start_constant_matches_builder():
    assert iso(0) == START.strftime("%Y-%m-%dT%H:%M:%SZ")
