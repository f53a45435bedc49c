"""Hostile and careless input through the gateway: a clear 4xx naming the field, never a 500, and a
refused request writes nothing (the limits are in chargewatch.limits and docs/errors.md)."""

from __future__ import annotations

import boto3
import pytest
from seed_examples import energy_session, seed_session

from chargewatch import limits
from chargewatch_tools.emulator.queues import QueuePoller

READING = {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:00:00Z", "unit": "kWh"}


def _count(api):
    return api.get("/v1/sessions").json()["pagination"]["totalCount"]


def _error(response, status=400):
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


def _fields(error):
    return [detail["field"] for detail in error["details"]]


@pytest.fixture
def poller(gateway):
    return QueuePoller(gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0)


# ------------------------------------------------------------------ meter values


@pytest.mark.parametrize("value", [1e18, -1e18, 1e300, "1e18", 2e10])
def test_implausible_values_are_refused_before_anything_is_stored(api, value):
    body = seed_session("huge")
    body["meterValues"][3]["value"] = value
    error = _error(api.post("/v1/sessions", body))
    assert _fields(error) == ["meterValues[3].value"] and error["code"] == "value_out_of_range"
    assert _count(api) == 0
    assert api.get("/v1/sessions/huge").status == 404
    assert api.get("/v1/stations").json()["pagination"]["totalCount"] == 0


def test_values_at_the_bounds_are_stored_and_read_back(api):
    body = energy_session("edge", readings=4)
    body["meterValues"][0].update(unit="kWh", value=limits.MAX_ENERGY_KWH)
    body["meterValues"][1].update(unit="kW", value=limits.MAX_POWER_KW)
    body["meterValues"].append({**READING, "measurand": "Voltage", "unit": "V", "value": limits.MAX_VOLTAGE_V})
    assert api.post("/v1/sessions", body).status == 200
    detail = api.get("/v1/sessions/edge")
    assert detail.status == 200 and max(v["value"] for v in detail.json()["meterValues"]) == limits.MAX_ENERGY_KWH


def test_a_huge_value_on_put_patch_and_batch_is_refused_and_the_session_stays_readable(api):
    api.post("/v1/sessions", seed_session("healthy"))
    before = api.get("/v1/sessions/healthy").json()
    huge = {**READING, "value": 1e18}
    assert _fields(_error(api.put("/v1/sessions/healthy", {"meterValues": [huge] * 3})))[0] == "meterValues[0].value"
    assert _fields(_error(api.patch("/v1/sessions/healthy", {"meterValues": [huge]}))) == ["meterValues[0].value"]
    alone = {"sessions": [seed_session("bad", meterValues=[huge])]}
    assert _fields(_error(api.post("/v1/sessions/batch", alone))) == ["sessions[0].meterValues[0].value"]
    after = api.get("/v1/sessions/healthy")
    assert after.status == 200 and after.json() == before
    assert _count(api) == 1
    # beside a valid session it is that batch's failed result, at its index: the valid one goes on
    mixed = {"sessions": [seed_session("other"), seed_session("bad", meterValues=[huge])]}
    batch_id = api.post("/v1/sessions/batch", mixed).json()["batchId"]
    (rejected,) = api.get(f"/v1/sessions/batch/{batch_id}").json()["results"]  # the other is queued
    assert rejected["status"] == "failed" and rejected["message"].startswith("sessions[1].meterValues[0].value: ")


@pytest.mark.parametrize("value", [True, False, None, [], {}, "x", "NaN", "Infinity"])
def test_booleans_and_non_numbers_are_not_meter_values(api, value):
    body = seed_session("typed")
    body["meterValues"][0]["value"] = value
    assert _fields(_error(api.post("/v1/sessions", body))) == ["meterValues[0].value"]
    assert _count(api) == 0


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 1772186400, "1772186400", "2026-02-27", "yesterday", None, True],
)
def test_timestamps_are_rfc3339_within_the_window(api, timestamp):
    body = seed_session("when")
    body["meterValues"][0]["timestamp"] = timestamp
    assert _fields(_error(api.post("/v1/sessions", body))) == ["meterValues[0].timestamp"]
    assert _count(api) == 0


def test_soc_and_metadata_numbers_are_bounded(api):
    body = seed_session("soc", metadata={"batteryCapacityKwh": True})
    assert _fields(_error(api.post("/v1/sessions", body))) == ["metadata.batteryCapacityKwh"]


# ------------------------------------------------------------------ ids


@pytest.mark.parametrize("field", ["evseId", "connectorId"])
def test_null_optional_ids_are_absent(api, poller, field):
    created = api.post("/v1/sessions", seed_session("nulls", **{field: None}))
    assert created.status == 200, created.body
    assert created.json()[field] is None
    submitted = api.post("/v1/sessions/batch", {"sessions": [seed_session("nulls-batch", **{field: None})]})
    assert submitted.status == 200, submitted.body
    poller.drain()
    assert api.get("/v1/sessions/nulls-batch").status == 200


def test_a_session_read_back_can_be_sent_again(api):
    api.post("/v1/sessions", seed_session("echo"))
    echoed = api.get("/v1/sessions/echo").json()
    assert echoed["evseId"] is None
    echoed["sessionId"] = "echo-2"
    response = api.post("/v1/sessions", echoed)
    assert response.status == 200, response.body


@pytest.mark.parametrize("session_id", ["a/b", "a b", "a%2Fb", "a?b", "a#b", "x" * 129, "", "-lead"])
def test_unsafe_session_ids_are_refused_at_create(api, session_id):
    assert _fields(_error(api.post("/v1/sessions", seed_session(None, sessionId=session_id)))) == ["sessionId"]
    assert _count(api) == 0


def test_station_ids_with_a_slash_are_refused(api):
    assert _fields(_error(api.post("/v1/sessions", seed_session("s", chargingStationId="CP/1")))) == [
        "chargingStationId"
    ]


def test_an_encoded_slash_in_a_path_is_decoded_as_api_gateway_does(api):
    api.post("/v1/sessions", seed_session("sess-1"))
    # %2D is "-": the path parameter arrives decoded
    assert api.get("/v1/sessions/sess%2D1").json()["sessionId"] == "sess-1"
    # a decoded "/" leaves no route: a JSON 404, never a 500
    assert _error(api.get("/v1/sessions/a%2Fb"), 404)["code"] in ("route_not_found", "session_not_found")


# ------------------------------------------------------------------ bodies


JSON_ROUTES = [
    ("POST", "/v1/sessions"),
    ("PUT", "/v1/sessions/s1"),
    ("PATCH", "/v1/sessions/s1"),
    ("POST", "/v1/sessions/batch"),
    ("POST", "/v1/webhooks"),
    ("PATCH", "/v1/models/csar-2"),
    ("POST", "/v1/api-keys"),
    ("PUT", "/v1/organization"),
]


@pytest.mark.parametrize(
    "raw,code",
    [
        (b'{"sessionId": "\xff\xfe"}', "invalid_encoding"),
        ('{"value": ' + "1" * 5000 + "}", "number_too_long"),
        ("[" * 5000 + "]" * 5000, "json_too_deep"),
        ('{"a": ' * 40 + "1" + "}" * 40, "json_too_deep"),
        ('{"sessionId": "a", "sessionId": "b"}', "duplicate_json_key"),
        ('{"value": NaN}', "invalid_json"),
        ('{"value": 1e999}', "number_too_large"),
        ('{"value": ', "invalid_json"),
    ],
)
def test_bodies_that_are_not_strict_json_are_400_on_every_json_route(api, raw, code):
    for method, path in JSON_ROUTES:
        error = _error(api.request(method, path, raw_body=raw))
        assert (error["code"], _fields(error)) == (code, ["body"]), (method, path)
    assert _count(api) == 0


def test_metadata_has_its_own_size_cap(api):
    body = seed_session("meta", metadata={"note": "x" * limits.MAX_METADATA_BYTES})
    error = _error(api.post("/v1/sessions", body))
    assert error["code"] == "metadata_too_large" and _fields(error) == ["metadata"]
    big_but_allowed = seed_session("meta", metadata={"note": "x" * (limits.MAX_METADATA_BYTES - 100)})
    assert api.post("/v1/sessions", big_but_allowed).status == 200
    assert api.get("/v1/sessions/meta").status == 200
    patched = api.patch("/v1/sessions/meta", {"metadata": {"more": "y" * limits.MAX_METADATA_BYTES}})
    assert _error(patched)["code"] == "metadata_too_large"


# ------------------------------------------------------------------ webhooks


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.exa mple.com/x",
        "https://hooks.example.com:0/x",
        "https://hooks.example.com:70000/x",
        "https://hooks_example.com/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com\t/x",
    ],
)
def test_malformed_webhook_urls_are_refused(api, url):
    response = api.post("/v1/webhooks", {"url": url, "events": ["session.analyzed"]})
    assert "url" in _fields(_error(response))
    assert api.get("/v1/webhooks").json()["pagination"]["totalCount"] == 0


# ------------------------------------------------------------------ organization-wide model settings


def test_members_and_application_tokens_cannot_switch_models_or_fine_tune(make_org, client_for, make_user):
    organization_id, key = make_org("Acme", organization_id="acme")
    admin = client_for(key)
    secret = admin.post("/api/v1/applications", {"name": "cpms", "type": "cpms"}).json()
    application_id = secret["application"]["id"]
    token = client_for(secret["applicationSecret"]).post(
        f"/api/v1/applications/{application_id}/sessions", {"name": "agent"}
    )
    member = make_user("member@acme.example", org=organization_id, role="member")
    fine_tune = {"baseModelId": "csar-2", "name": "mine", "dataSource": {"type": "upload"}}
    for credential in (member.token, token.json()["token"]):
        caller = client_for(credential)
        for method, path, body in (
            ("PATCH", "/v1/models/csar-2", {"active": True}),
            ("POST", "/v1/models/fine-tune", fine_tune),
        ):
            refused = caller.request(method, path, json_body=body)
            assert _error(refused, 403)["code"] == "insufficient_privilege", (method, path)
        assert caller.get("/v1/models").status == 200  # reading stays open
    owner = client_for(make_user("admin@acme.example", org=organization_id, role="admin").token)
    assert owner.patch("/v1/models/csar-2", {"active": True}).status == 200
    assert owner.post("/v1/models/fine-tune", fine_tune).status == 200


def test_fine_tune_filters_and_key_expiry_with_edge_date_times_are_400(api):
    mixed = {
        "baseModelId": "csar-2",
        "name": "mine",
        "dataSource": {
            "type": "sessions",
            "sessionFilter": {"dateFrom": "2026-01-01T00:00:00", "dateTo": "2026-02-01T00:00:00+01:00"},
        },
    }
    assert api.post("/v1/models/fine-tune", mixed).status == 200  # offset-less and offset bounds compare
    mixed["dataSource"]["sessionFilter"]["chargingStationIds"] = ["CP/1"]
    assert _fields(_error(api.post("/v1/models/fine-tune", mixed))) == [
        "dataSource.sessionFilter.chargingStationIds[0]"
    ]
    overflow = api.post("/v1/api-keys", {"name": "ci", "expiresAt": "9999-12-31T23:59:59-01:00"})
    assert _fields(_error(overflow)) == ["expiresAt"]
