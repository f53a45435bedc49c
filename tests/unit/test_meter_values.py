import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chargewatch import limits, meter_values
from chargewatch.schemas.sessions import MeterValueRequest


@pytest.mark.parametrize(
    "unit,value,expected",
    [
        ("Wh", 5500, (5.5, "kWh")),
        ("kWh", 5.5, (5.5, "kWh")),
        ("W", 22000, (22.0, "kW")),
        ("kW", 22, (22, "kW")),
        ("Percent", 80, (80, "Percent")),
    ],
)
def test_normalise(unit, value, expected):
    normalised, normalised_unit = meter_values.normalise(value, unit)
    assert normalised == pytest.approx(expected[0]) and normalised_unit == expected[1]


def test_ocpp_defaults_when_measurand_or_unit_is_missing():
    reading = MeterValueRequest(timestamp="2026-02-27T10:00:00Z", value="1500")
    assert reading.measurand == "Energy.Active.Import.Register"
    assert reading.unit == "Wh" and reading.value == 1500.0
    power = MeterValueRequest(timestamp="2026-02-27T10:00:00Z", value=7, measurand="power.active.import", unit="kw")
    assert power.measurand == "Power.Active.Import" and power.unit == "kW"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"value": 1, "measurand": "Energy.Bogus"}, "measurand"),
        ({"value": 1, "unit": "Percent"}, "unit"),
        ({"value": "abc"}, "value"),
        ({"value": float("nan")}, "value"),
        ({"value": 120, "measurand": "SoC", "unit": "Percent"}, "SoC"),
        ({"value": 1, "phase": "L9"}, "phase"),
    ],
)
def test_invalid_readings_name_the_problem(payload, field):
    with pytest.raises(Exception) as raised:
        MeterValueRequest(timestamp="2026-02-27T10:00:00Z", **payload)
    assert field in str(raised.value)


def test_naive_timestamps_are_utc():
    reading = MeterValueRequest(timestamp="2026-02-27T10:00:00", value=1)
    assert reading.timestamp.utcoffset().total_seconds() == 0
    shifted = MeterValueRequest(timestamp="2026-02-27T12:00:00+02:00", value=1)
    assert shifted.timestamp.hour == 10


# ------------------------------------------------------------------ bounds and types


FIELDS = ("timestamp", "value", "measurand", "unit", "phase", "location", "reconstructed")
VALID = {"timestamp": "2026-02-27T10:00:00Z", "value": 1.5, "measurand": "Energy.Active.Import.Register", "unit": "kWh"}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**38), max_value=10**38)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["2026-02-27T10:00:00Z", "9999-12-31T23:59:59Z", "1e18", "NaN", "Wh", "SoC", "L1", "EV"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_any_json_value_in_any_field_is_parsed_or_a_clean_validation_error(field, value):
    try:
        reading = MeterValueRequest.model_validate({**VALID, field: value})
    except ValidationError as error:
        for detail in error.errors():  # every error is one the API can report (errors.validation_details)
            assert isinstance(detail["msg"], str) and detail["loc"] is not None
        return
    # what was accepted is storable: finite, within the documented bound of its measurand
    stored, _ = meter_values.normalise(reading.value, reading.unit)
    assert abs(stored) <= meter_values.magnitude_bound(reading.measurand)
    assert limits.EARLIEST_TIMESTAMP <= reading.timestamp


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_numbers(value):
    with pytest.raises(ValidationError, match="boolean"):
        MeterValueRequest(timestamp="2026-02-27T10:00:00Z", value=value)


@pytest.mark.parametrize(
    "measurand,unit,value",
    [
        ("Energy.Active.Import.Register", "kWh", limits.MAX_ENERGY_KWH * 1.01),
        ("Energy.Active.Import.Register", "Wh", limits.MAX_ENERGY_KWH * 1000 * 1.01),
        ("Power.Active.Import", "W", -limits.MAX_POWER_KW * 1000 * 1.01),
        ("Current.Import", "A", 1e6),
        ("Voltage", "V", 1e18),
        ("Power.Factor", None, 1.5),
        ("SoC", "Percent", -0.1),
    ],
)
def test_values_beyond_the_documented_bounds_are_refused_naming_value(measurand, unit, value):
    with pytest.raises(ValidationError) as raised:
        MeterValueRequest(timestamp="2026-02-27T10:00:00Z", value=value, measurand=measurand, unit=unit)
    assert raised.value.errors()[0]["ctx"]["field"] == "value"


def test_values_at_the_bounds_are_accepted():
    reading = MeterValueRequest(timestamp="2026-02-27T10:00:00Z", value=limits.MAX_ENERGY_KWH * 1000, unit="Wh")
    assert meter_values.normalise(reading.value, reading.unit)[0] == pytest.approx(limits.MAX_ENERGY_KWH)


@pytest.mark.parametrize(
    "timestamp", ["1999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", 0, "2026-02-27"]
)
def test_timestamps_outside_the_window_or_not_rfc3339_are_refused(timestamp):
    with pytest.raises(ValidationError) as raised:
        MeterValueRequest(timestamp=timestamp, value=1)
    assert raised.value.errors()[0]["loc"] == ("timestamp",)
