"""Seed 003 /v1/sessions: the create example, and every field the seed lists, with its casing."""

from seed_examples import (
    ANALYSIS_RESPONSE_FIELDS,
    ANOMALY_FIELDS,
    LIST_ITEM_FIELDS,
    SEED_APPEND_SESSION,
    SEED_REPLACE_SESSION,
    seed_session,
)


def _assert_analysis_shape(body):
    for field in ANALYSIS_RESPONSE_FIELDS:
        assert field in body, field
    assert isinstance(body["sessionId"], str) and isinstance(body["status"], str)
    assert isinstance(body["isAnomaly"], bool)
    assert 0.0 <= body["anomalyScore"] <= 1.0 and 0.0 <= body["anomalyConfidence"] <= 1.0
    assert isinstance(body["isIncident"], bool) and isinstance(body["isRecurring"], bool)
    assert isinstance(body["socReconstructed"], bool)
    assert body["analyzedAt"].endswith("Z") and body["createdAt"].endswith("Z")
    for anomaly in body["anomalies"]:
        for field in ANOMALY_FIELDS:
            assert field in anomaly, field
        assert set(anomaly["bucketRange"]) >= {"startUnit", "endUnit"}
        assert anomaly["bucketRange"]["startUnit"] <= anomaly["bucketRange"]["endUnit"]
        assert set(anomaly["timeRange"]) >= {"startTimestamp", "endTimestamp"}
        assert 0 <= anomaly["score"] <= 1 and 0 <= anomaly["confidence"] <= 1


def test_seed_create_example_returns_every_listed_field(api):
    response = api.post("/v1/sessions", seed_session())
    assert response.status == 200, response.body
    body = response.json()
    _assert_analysis_shape(body)
    assert body["sessionId"] == "sess-abc-001" and body["status"] == "active"
    # SoC falls from 80 to 50 % while 11 kWh are imported: the engine must say so
    assert "SOC_DECREASE" in {anomaly["category"] for anomaly in body["anomalies"]}
    assert body["isAnomaly"] is True


def test_seed_detail_replace_and_append(api):
    api.post("/v1/sessions", seed_session())
    detail = api.get("/v1/sessions/sess-abc-001").json()
    _assert_analysis_shape(detail)
    assert len(detail["meterValues"]) == 9
    for value in detail["meterValues"]:
        assert set(value) >= {"timestamp", "value", "measurand", "unit", "phase", "location", "reconstructed"}

    replaced = api.put("/v1/sessions/sess-abc-001", SEED_REPLACE_SESSION)
    assert replaced.status == 200
    _assert_analysis_shape(replaced.json())
    appended = api.patch("/v1/sessions/sess-abc-001", SEED_APPEND_SESSION)
    assert appended.status == 200
    _assert_analysis_shape(appended.json())
    assert len(api.get("/v1/sessions/sess-abc-001").json()["meterValues"]) == 4


def test_seed_list_shape(api):
    api.post("/v1/sessions", seed_session())
    body = api.get("/v1/sessions").json()
    assert set(body) == {"content", "pagination"}
    assert set(body["pagination"]) == {"totalCount", "page", "size"}
    item = body["content"][0]
    for field in LIST_ITEM_FIELDS:
        assert field in item, field
    assert item["anomalyCount"] >= 1 and item["isAnomaly"] is True
