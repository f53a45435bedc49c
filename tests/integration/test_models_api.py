"""/v1/models and /v1/models/fine-tune (seed 003 shapes): base + tenant models, activation that
changes later analyses of one tenant only, fine-tune jobs end to end through the gateway and the
fine-tune queue (QueuePoller), failure paths and tenant isolation."""

import json

import boto3
import pytest
import requests
from seed_examples import energy_session

from chargewatch.services import fine_tune, models
from chargewatch_tools.emulator.queues import QueuePoller
from chargewatch_tools.synth.quirks import quirky_sessions

SUMMARY_FIELDS = {"id", "name", "type", "version", "isBase", "baseModel", "metrics", "status", "createdAt"}
DETAIL_FIELDS = SUMMARY_FIELDS | {"s3Path", "description"}
CREATED_FIELDS = {"jobId", "status", "baseModelId", "createdAt"}
JOB_FIELDS = {
    "jobId",
    "status",
    "baseModelId",
    "resultModelId",
    "config",
    "createdAt",
    "startedAt",
    "completedAt",
    "errorMessage",
}


@pytest.fixture
def poller(gateway):
    return QueuePoller(gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0)


@pytest.fixture
def two_orgs(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    return client_for(acme_key), client_for(corp_key)


@pytest.fixture(scope="module")
def quirky_jsonl():
    # a tenant whose meters lag by a third: CSAR-2 reports ENERGY_POWER_MISMATCH on most sessions
    return "\n".join(json.dumps(session) for session in quirky_sessions(60, seed=3)).encode()


def _upload(url, blob):
    response = requests.put(url, data=blob)
    assert response.status_code == 200, response.text


def _fine_tune(api, body):
    response = api.post("/v1/models/fine-tune", body)
    assert response.status == 200, response.body
    return response.json()


def _quirky_session(session_id):
    session = next(quirky_sessions(1, seed=11, anomaly_fraction=0.0))
    return {
        "sessionId": session_id,
        "chargingStationId": "CP-Q",
        "connectorId": "1",
        "meterValues": session["meterValues"],
        "metadata": session["metadata"],
    }


def test_base_models_are_listed_for_every_tenant(api):
    listed = api.get("/v1/models")
    assert listed.status == 200
    body = listed.json()
    assert set(body) == {"models"}
    by_id = {model["id"]: model for model in body["models"]}
    assert set(by_id) == {"csar-2", "shade-1"}
    for model in body["models"]:
        assert set(model) == SUMMARY_FIELDS and model["isBase"] is True
    assert by_id["csar-2"]["type"] == "csar_2" and by_id["csar-2"]["status"] == "active"
    detail = api.get("/v1/models/csar-2").json()
    assert set(detail) == DETAIL_FIELDS and detail["version"]
    assert api.get("/v1/models/nope").status == 404
    assert api.get("/v1/models/fine-tune/nope").status == 404


def test_fine_tune_upload_end_to_end_and_activation_for_one_tenant(two_orgs, poller, quirky_jsonl):
    acme, corp = two_orgs
    created = _fine_tune(
        acme,
        {
            "baseModelId": "csar-2",
            "name": "lagging meters",
            "trainingConfig": {"holdoutFraction": 0.3, "seed": 1},
            "dataSource": {"type": "upload"},
        },
    )
    assert CREATED_FIELDS <= set(created) and created["status"] == "queued" and created["uploadUrl"]
    job = acme.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert JOB_FIELDS <= set(job) and job["status"] == "queued" and job["resultModelId"] is None
    assert corp.get(f"/v1/models/fine-tune/{created['jobId']}").status == 404

    _upload(created["uploadUrl"], quirky_jsonl)
    poller.drain()
    job = acme.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert job["status"] == "succeeded", job
    assert job["startedAt"] and job["completedAt"] and job["errorMessage"] is None
    metrics = job["metrics"]
    assert metrics["tuned"]["f1"] > metrics["base"]["f1"]
    assert metrics["tuned"]["falsePositives"] < metrics["base"]["falsePositives"]
    assert metrics["base"]["sessions"] == metrics["tuned"]["sessions"] == metrics["holdout"]["sessions"]

    model_id = job["resultModelId"]
    detail = acme.get(f"/v1/models/{model_id}").json()
    assert set(detail) == DETAIL_FIELDS
    assert detail["isBase"] is False and detail["baseModel"] == "csar-2" and detail["status"] == "available"
    assert detail["metrics"] == metrics and detail["s3Path"].startswith("s3://")
    assert model_id in {m["id"] for m in acme.get("/v1/models").json()["models"]}
    # the other tenant never sees it, cannot read or activate it
    assert model_id not in {m["id"] for m in corp.get("/v1/models").json()["models"]}
    assert corp.get(f"/v1/models/{model_id}").status == 404
    assert corp.patch(f"/v1/models/{model_id}", {"active": True}).status == 404

    before = acme.post("/v1/sessions", _quirky_session("q-before")).json()
    assert "ENERGY_POWER_MISMATCH" in {a["category"] for a in before["anomalies"]}

    activated = acme.patch(f"/v1/models/{model_id}", {"active": True})
    assert activated.status == 200 and activated.json()["status"] == "active"
    assert {m["id"]: m["status"] for m in acme.get("/v1/models").json()["models"]}["csar-2"] == "available"

    after = acme.post("/v1/sessions", _quirky_session("q-after")).json()
    assert "ENERGY_POWER_MISMATCH" not in {a["category"] for a in after["anomalies"]}
    from chargewatch.dal import sessions as sessions_dal

    stored = sessions_dal.get_analysis(sessions_dal.get_session("acme", "q-after"))
    assert stored.modelId == model_id and stored.modelVersion == detail["version"]
    # a PATCH re-analysis of an older session uses the active model too
    patched = acme.patch("/v1/sessions/q-before", {"status": "completed"}).json()
    assert "ENERGY_POWER_MISMATCH" not in {a["category"] for a in patched["anomalies"]}

    # the other tenant still runs the base model
    other = corp.post("/v1/sessions", _quirky_session("q-other")).json()
    assert "ENERGY_POWER_MISMATCH" in {a["category"] for a in other["anomalies"]}
    assert models.active_model("acme-corp").model_id == "csar-2"

    # deactivation returns to the base model; a redelivered job message changes nothing
    assert acme.patch(f"/v1/models/{model_id}", {"active": False}).json()["status"] == "available"
    assert models.active_model("acme").model_id == "csar-2"
    models.process_job_message({"organizationId": "acme", "jobId": created["jobId"]})
    assert len([m for m in acme.get("/v1/models").json()["models"] if not m["isBase"]]) == 1


def test_fine_tune_validation(api):
    unknown = api.post("/v1/models/fine-tune", {"baseModelId": "gpt-9", "name": "x", "dataSource": {"type": "upload"}})
    assert unknown.status == 400 and unknown.json()["error"]["code"] == "unknown_base_model"
    shade = api.post("/v1/models/fine-tune", {"baseModelId": "shade-1", "name": "x", "dataSource": {"type": "upload"}})
    assert shade.status == 400 and shade.json()["error"]["code"] == "fine_tune_not_supported"
    bad_source = api.post("/v1/models/fine-tune", {"baseModelId": "csar-2", "name": "x", "dataSource": {"type": "ftp"}})
    assert bad_source.status == 400
    bad_range = api.post(
        "/v1/models/fine-tune",
        {
            "baseModelId": "csar-2",
            "name": "x",
            "dataSource": {
                "type": "sessions",
                "sessionFilter": {"dateFrom": "2026-03-01T00:00:00Z", "dateTo": "2026-02-01T00:00:00Z"},
            },
        },
    )
    assert bad_range.status == 400
    assert api.patch("/v1/models/csar-2", {"active": "maybe"}).status == 400
    assert api.patch("/v1/models/shade-1", {"active": True}).status == 400


def test_no_labels_fails_the_job_with_a_clear_message(api, poller):
    for index in range(3):
        assert api.post("/v1/sessions", energy_session(f"clean-{index}")).status == 200
    created = _fine_tune(
        api,
        {
            "baseModelId": "csar-2",
            "name": "from my sessions",
            "dataSource": {
                "type": "sessions",
                "sessionFilter": {"chargingStationIds": ["CP-1"], "dateFrom": "2026-02-01T00:00:00Z"},
            },
        },
    )
    assert "uploadUrl" not in created or created["uploadUrl"] is None
    poller.drain()
    job = api.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert job["status"] == "failed" and job["resultModelId"] is None
    assert "too few labels" in job["errorMessage"] and "found 3 labelled session(s)" in job["errorMessage"]


def test_corrupt_upload_fails_the_job(api, poller):
    created = _fine_tune(api, {"baseModelId": "csar-2", "name": "x", "dataSource": {"type": "upload"}})
    _upload(created["uploadUrl"], b'{"meterValues": [], "labels": []}\n{not json\n')
    poller.drain()
    job = api.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert job["status"] == "failed" and job["errorMessage"].startswith("upload line 2: not valid JSON")


def test_sessions_source_learns_from_dismissed_issues(make_org, client_for, poller):
    """Labels from the issue workflow: dismissing the quirk's anomalies teaches the model."""
    from chargewatch.dal import anomalies as anomalies_dal

    _, key = make_org("Quirky", organization_id="quirky")
    api = client_for(key)
    for index, session in enumerate(quirky_sessions(24, seed=5, anomaly_fraction=0.0)):
        body = {
            "sessionId": f"s-{index}",
            "chargingStationId": "CP-Q",
            "connectorId": str(index % 3),
            "meterValues": session["meterValues"],
            "metadata": session["metadata"],
        }
        assert api.post("/v1/sessions", body).status == 200
    issue_ids = {issue.id for issue in anomalies_dal.list_issues("quirky")}
    assert issue_ids
    for issue_id in issue_ids:
        response = api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "DISMISSED"})
        assert response.status == 200, response.body
    created = _fine_tune(api, {"baseModelId": "csar-2", "name": "dismissed quirk", "dataSource": {"type": "sessions"}})
    poller.drain()
    job = api.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert job["status"] == "succeeded", job
    assert job["metrics"]["tuned"]["falsePositives"] < job["metrics"]["base"]["falsePositives"]


def test_parse_upload_rejects_unknown_categories():
    with pytest.raises(fine_tune.FineTuneFailed, match="line 1: unknown label category BOGUS"):
        fine_tune.parse_upload(b'{"meterValues": [], "labels": [{"category": "BOGUS"}]}', ("KWH_DECREASE",))


def test_an_upload_job_waits_for_its_upload_without_failing_receives_then_fails_when_the_url_expires(
    api, poller, stack, monkeypatch
):
    from datetime import timedelta

    from chargewatch import clock

    created = _fine_tune(api, {"baseModelId": "csar-2", "name": "x", "dataSource": {"type": "upload"}})
    queue = stack.refs["FineTuneQueue"]
    sqs = boto3.client("sqs", region_name="eu-west-1")
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    # no upload yet: handled (no exception, so no receive counts towards the DLQ), looked at again later
    models.process_job_message(json.loads(message["Body"]))
    assert api.get(f"/v1/models/fine-tune/{created['jobId']}").json()["status"] == "queued"
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"]) == 1

    later = clock.now() + timedelta(seconds=models.UPLOAD_URL_SECONDS + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    models.process_job_message(json.loads(message["Body"]))
    job = api.get(f"/v1/models/fine-tune/{created['jobId']}").json()
    assert job["status"] == "failed" and job["errorMessage"] == "no upload arrived before the upload URL expired"


def test_the_upload_url_names_the_public_endpoint_when_one_is_set(api, monkeypatch):
    from chargewatch import settings

    monkeypatch.setenv("S3_PUBLIC_ENDPOINT_URL", "http://127.0.0.1:4566")
    settings.reload_settings()
    try:
        created = _fine_tune(api, {"baseModelId": "csar-2", "name": "x", "dataSource": {"type": "upload"}})
    finally:
        monkeypatch.delenv("S3_PUBLIC_ENDPOINT_URL")
        settings.reload_settings()
    url = created["uploadUrl"]
    assert url.startswith("http://127.0.0.1:4566/") and f"/{created['jobId']}.jsonl?" in url
    assert "X-Amz-Signature=" in url
