import pytest

from chargewatch import meter_values
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
