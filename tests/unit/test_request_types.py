"""Request schemas take JSON's own types: what the contract (docs/openapi.json) says, the server does."""

import re

import pytest
from pydantic import ValidationError

from chargewatch import meter_values
from chargewatch.schemas.explain import ExplainRequest
from chargewatch.schemas.models import TrainingConfig
from chargewatch.schemas.organization import UpdateOrganizationRequest
from chargewatch.schemas.sessions import CreateSessionRequest, MeterValueRequest, SessionMetadata

READING = {"timestamp": "2026-02-27T10:00:00Z", "value": 1}


@pytest.mark.parametrize("value", ["1500", " 1.5e3 ", "-0.5", ".5", 12, 12.5])
def test_a_reading_is_a_number_or_a_decimal_string_as_ocpp_sends_it(value):
    assert MeterValueRequest(**{**READING, "value": value}).value == float(value)


@pytest.mark.parametrize("value", [True, "1_000", "inf", "nan", "", "0x10", "1e999", "1" * 39, None])
def test_anything_else_is_not_a_reading(value):
    with pytest.raises(ValidationError):
        MeterValueRequest(**{**READING, "value": value})


@pytest.mark.parametrize("flag", [0, 1, "true"])
def test_booleans_are_json_booleans(flag):
    with pytest.raises(ValidationError):
        MeterValueRequest(**{**READING, "reconstructed": flag})
    with pytest.raises(ValidationError):
        ExplainRequest(regenerate=flag)
    assert MeterValueRequest(**{**READING, "reconstructed": True}).reconstructed is True


@pytest.mark.parametrize("bad", [False, "0.3", None])
def test_numbers_are_json_numbers(bad):
    with pytest.raises(ValidationError):
        UpdateOrganizationRequest(pricePerKwh=bad if bad is not None else "x")
    with pytest.raises(ValidationError):
        SessionMetadata(maxPowerKw=bad if bad is not None else "22")
    with pytest.raises(ValidationError):
        TrainingConfig(seed=True)


def test_metadata_bounds_reach_the_json_schema_as_json_schema_keywords():
    schema = SessionMetadata.model_json_schema()["properties"]["maxPowerKw"]["anyOf"][0]
    assert (schema["exclusiveMinimum"], schema["maximum"]) == (0, 2000) and "gt" not in schema


def test_connector_and_evse_ids_may_be_ocpp_integers():
    session = CreateSessionRequest(sessionId="s-1", chargingStationId="CP-1", connectorId=2, evseId=0)
    assert (session.connectorId, session.evseId) == ("2", "0")


@pytest.mark.parametrize("spelling", ["Energy.Active.Import.Register", " soc ", "POWER.ACTIVE.IMPORT", ""])
def test_the_measurand_pattern_states_exactly_what_the_server_takes(spelling):
    assert re.match(meter_values.MEASURAND_PATTERN, spelling)
    MeterValueRequest(**{**READING, "measurand": spelling, "unit": None, "value": 10})


@pytest.mark.parametrize("spelling", ["   ", "Energy", "soc%"])
def test_unknown_measurands_match_neither(spelling):
    assert not re.match(meter_values.MEASURAND_PATTERN, spelling)
    with pytest.raises(ValidationError):
        MeterValueRequest(**{**READING, "measurand": spelling})


def test_an_emi3_evse_id_is_accepted_and_a_space_is_not():
    body = {"sessionId": "s-1", "chargingStationId": "CP-1", "evseId": "NL*CWT*E0042*1"}
    assert CreateSessionRequest.model_validate(body).evseId == "NL*CWT*E0042*1"
    with pytest.raises(ValidationError):
        CreateSessionRequest.model_validate({**body, "evseId": "NL CWT"})
