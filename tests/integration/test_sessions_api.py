"""/v1/sessions through the local gateway: behaviour, validation, idempotency, listing."""

import json

import pytest
from seed_examples import energy_session, seed_session


def _count(api):
    return api.get("/v1/sessions").json()["pagination"]["totalCount"]


def test_create_normalises_units_and_stores_readings(api):
    body = energy_session("s-units", readings=4)
    response = api.post("/v1/sessions", body)
    assert response.status == 200, response.body
    detail = api.get("/v1/sessions/s-units").json()
    energy = [v for v in detail["meterValues"] if v["measurand"] == "Energy.Active.Import.Register"]
    power = [v for v in detail["meterValues"] if v["measurand"] == "Power.Active.Import"]
    assert {v["unit"] for v in energy} == {"kWh"} and {v["unit"] for v in power} == {"kW"}
    assert energy[1]["value"] == pytest.approx(0.9167)  # 916.7 Wh
    assert power[0]["value"] == pytest.approx(11.0)
    assert detail["meterValueCount"] == 8


def test_session_without_enough_readings_is_stored_unanalysed(api):
    response = api.post("/v1/sessions", {"sessionId": "empty", "chargingStationId": "CP-1"})
    assert response.status == 200
    body = response.json()
    assert body["isAnomaly"] is None and "at least 3" in body["message"]
    listed = api.get("/v1/sessions").json()["content"][0]
    assert listed["lastAnalyzedAt"] is None and listed["isAnomaly"] is False

    two = api.patch("/v1/sessions/empty", {"meterValues": seed_session()["meterValues"][:2]}).json()
    assert two["analyzedAt"] is None
    three = api.patch("/v1/sessions/empty", {"meterValues": seed_session()["meterValues"][3:4]}).json()
    assert three["analyzedAt"] is not None and three["meterValueCount"] == 3


def test_create_is_idempotent_on_session_id(api):
    first = api.post("/v1/sessions", seed_session("idem"))
    second = api.post("/v1/sessions", seed_session("idem"))
    assert first.status == second.status == 200
    assert first.json() == second.json()
    different = seed_session("idem")
    different["meterValues"][3]["value"] = 6.0
    conflict = api.post("/v1/sessions", different)
    assert conflict.status == 409
    assert conflict.json()["error"]["code"] == "session_exists"
    assert api.get("/v1/sessions/idem").json()["meterValues"][3]["value"] == 5.5


def test_empty_patch_returns_current_state_without_change(api):
    created = api.post("/v1/sessions", seed_session("p")).json()
    same = api.patch("/v1/sessions/p", {"meterValues": []})
    assert same.status == 200
    assert same.json()["analyzedAt"] == created["analyzedAt"]


def test_patch_appends_and_reanalyses(api):
    api.post("/v1/sessions", energy_session("grow", readings=4))
    before = api.get("/v1/sessions/grow").json()
    appended = api.patch(
        "/v1/sessions/grow",
        {
            "meterValues": [
                {
                    "measurand": "Energy.Active.Import.Register",
                    "timestamp": "2026-02-27T10:20:00Z",
                    "unit": "kWh",
                    "value": 1.0,
                },
            ]
        },
    )
    assert appended.status == 200
    after = api.get("/v1/sessions/grow").json()
    assert after["meterValueCount"] == before["meterValueCount"] + 1
    # the register fell from 2.75 kWh to 1.0 kWh: the re-analysis must see it
    assert "KWH_DECREASE" in {a["category"] for a in after["anomalies"]}


def test_put_replaces_everything_and_needs_a_reading(api):
    api.post("/v1/sessions", seed_session("r"))
    refused = api.put("/v1/sessions/r", {"meterValues": []})
    assert refused.status == 400 and refused.json()["error"]["details"][0]["field"] == "meterValues"
    replaced = api.put("/v1/sessions/r", {"meterValues": seed_session()["meterValues"][:1], "status": "completed"})
    assert replaced.status == 200
    body = replaced.json()
    assert body["status"] == "completed" and body["meterValueCount"] == 1 and body["analyzedAt"] is None
    assert len(api.get("/v1/sessions/r").json()["meterValues"]) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_unknown_session_is_404(api, method):
    body = None if method == "GET" else json.dumps({"meterValues": seed_session()["meterValues"]})
    response = api.request(method, "/v1/sessions/nope", raw_body=body)
    assert response.status == 404
    assert response.json()["error"]["code"] == "session_not_found"


# ---------------------------------------------------------------------------- bad input

BAD_BODIES = [
    ("malformed json", '{"sessionId": "x", ', "body", "invalid_json"),
    ("not an object", "[1, 2]", "body", "validation_error"),
    ("missing station", json.dumps({"sessionId": "x"}), "chargingStationId", "validation_error"),
    (
        "wrong type",
        json.dumps({"sessionId": "x", "chargingStationId": "c", "meterValues": "many"}),
        "meterValues",
        "validation_error",
    ),
    (
        "unknown measurand",
        json.dumps(
            {
                "sessionId": "x",
                "chargingStationId": "c",
                "meterValues": [{"timestamp": "2026-02-27T10:00:00Z", "value": 1, "measurand": "Energy.Magic"}],
            }
        ),
        "meterValues[0].measurand",
        "validation_error",
    ),
    (
        "non-finite",  # NaN is no JSON number (RFC 8259): the strict parser refuses the body
        '{"sessionId": "x", "chargingStationId": "c", '
        '"meterValues": [{"timestamp": "2026-02-27T10:00:00Z", "value": NaN}]}',
        "body",
        "invalid_json",
    ),
    (
        "infinite string",
        json.dumps(
            {
                "sessionId": "x",
                "chargingStationId": "c",
                "meterValues": [{"timestamp": "2026-02-27T10:00:00Z", "value": "inf"}],
            }
        ),
        "meterValues[0].value",
        "validation_error",
    ),
    (
        "bad timestamp",
        json.dumps(
            {"sessionId": "x", "chargingStationId": "c", "meterValues": [{"timestamp": "yesterday", "value": 1}]}
        ),
        "meterValues[0].timestamp",
        "validation_error",
    ),
    (
        "unit misfit",
        json.dumps(
            {
                "sessionId": "x",
                "chargingStationId": "c",
                "meterValues": [{"timestamp": "2026-02-27T10:00:00Z", "value": 1, "unit": "V"}],
            }
        ),
        "meterValues[0]",
        "validation_error",
    ),
    ("bad id", json.dumps({"sessionId": "has space", "chargingStationId": "c"}), "sessionId", "validation_error"),
]


@pytest.mark.parametrize("name,raw,field,code", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_create_bodies_are_4xx_naming_the_field_and_write_nothing(api, name, raw, field, code):
    response = api.post("/v1/sessions", raw_body=raw)
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert error["code"] == code
    assert any(detail["field"].startswith(field) for detail in error["details"]), error
    assert _count(api) == 0


def test_one_bad_reading_rejects_the_whole_append(api):
    api.post("/v1/sessions", seed_session("atomic"))
    values = [
        {"timestamp": "2026-02-27T10:45:00Z", "value": 1, "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"timestamp": "2026-02-27T10:50:00Z", "value": "x"},
    ]
    response = api.patch("/v1/sessions/atomic", {"meterValues": values})
    assert response.status == 400
    assert response.json()["error"]["details"][0]["field"] == "meterValues[1].value"
    assert len(api.get("/v1/sessions/atomic").json()["meterValues"]) == 9


def test_oversized_body_is_413_and_writes_nothing(api, monkeypatch):
    from chargewatch import settings

    monkeypatch.setenv("MAX_BODY_BYTES", "500")
    settings.reload_settings()
    try:
        response = api.post("/v1/sessions", seed_session("big"))
        assert response.status == 413 and response.json()["error"]["code"] == "payload_too_large"
    finally:
        monkeypatch.delenv("MAX_BODY_BYTES")
        settings.reload_settings()
    assert _count(api) == 0


def test_non_json_content_type_is_415(api):
    response = api.post(
        "/v1/sessions", raw_body="sessionId=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 415


@pytest.mark.parametrize(
    "query,field",
    [
        ("page=-1", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=1000", "pageSize"),
        ("minScore=2", "minScore"),
        ("isAnomaly=maybe", "isAnomaly"),
        ("dateFrom=notadate", "dateFrom"),
    ],
)
def test_bad_list_parameters(api, query, field):
    response = api.get("/v1/sessions", query=query)
    assert response.status == 400
    assert response.json()["error"]["details"][0]["field"] == field


# ---------------------------------------------------------------------------- listing


def test_list_filters_and_pagination(api):
    api.post("/v1/sessions", energy_session("a1", station="CP-A", start_hour=8, evse="E1"))
    api.post("/v1/sessions", energy_session("a2", station="CP-A", start_hour=9, day="2026-02-28"))
    api.post("/v1/sessions", energy_session("b1", station="CP-B", start_hour=10, day="2026-03-01", evse="E1"))
    api.post("/v1/sessions", seed_session("anomalous", chargingStationId="CP-B"))  # 2026-02-27 10:00

    everything = api.get("/v1/sessions").json()
    ids = [item["sessionId"] for item in everything["content"]]
    assert ids == ["b1", "a2", "anomalous", "a1"]  # most recent start first
    assert everything["pagination"] == {"totalCount": 4, "page": 0, "size": 20}

    page1 = api.get("/v1/sessions", query="page=1&pageSize=3").json()
    assert [i["sessionId"] for i in page1["content"]] == ["a1"]
    assert page1["pagination"] == {"totalCount": 4, "page": 1, "size": 3}

    def ids_for(query):
        return [item["sessionId"] for item in api.get("/v1/sessions", query=query).json()["content"]]

    assert ids_for("chargingStationId=CP-A") == ["a2", "a1"]
    assert ids_for("evseId=E1") == ["b1", "a1"]
    assert ids_for("isAnomaly=true") == ["anomalous"]
    assert set(ids_for("isAnomaly=false")) == {"a1", "a2", "b1"}
    assert ids_for("minScore=0.5") == ["anomalous"]
    assert ids_for("minConfidence=0.01&isAnomaly=true") == ["anomalous"]
    assert ids_for("dateFrom=2026-02-28") == ["b1", "a2"]
    assert ids_for("dateTo=2026-02-27") == ["anomalous", "a1"]
    assert ids_for("dateFrom=2026-02-27T09:00:00Z&dateTo=2026-02-28T23:00:00Z") == ["a2", "anomalous"]
    assert ids_for("chargingStationId=CP-B&dateFrom=2026-03-01") == ["b1"]
    assert ids_for("chargingStationId=nowhere") == []


def test_date_range_must_be_ordered(api):
    response = api.get("/v1/sessions", query="dateFrom=2026-03-01&dateTo=2026-02-01")
    assert response.status == 400 and response.json()["error"]["details"][0]["field"] == "dateFrom"


# ---------------------------------------------------------------------------- auth


def test_missing_invalid_and_mismatched_credentials(api, client_for):
    anonymous = client_for(None).get("/v1/sessions")
    assert anonymous.status == 401 and anonymous.json()["error"]["code"] == "missing_credentials"
    bogus = client_for("cw_test_" + "A" * 38).get("/v1/sessions")
    assert bogus.status == 401 and bogus.json()["error"]["code"] == "invalid_api_key"
    other_org = api.get("/v1/sessions", headers={"X-Organization-Id": "someone-else"})
    assert other_org.status == 403 and other_org.json()["error"]["code"] == "organization_mismatch"
    # an unauthenticated request learns nothing about its body
    assert client_for(None).post("/v1/sessions", raw_body="{broken").status == 401


def test_unknown_route_is_404(api):
    assert api.get("/v1/nothing-here").status == 404
