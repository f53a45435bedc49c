"""POST /v1/sessions/batch and GET /v1/sessions/batch/{batch_id}: seed 003 shapes, the SQS consumer
(run like Lambda's poller), idempotent counting, poison messages, validation by index, isolation."""

import json

import boto3
import pytest
from seed_examples import energy_session, seed_session
from test_read_side import _org_of, assert_counters_equal_recount

from chargewatch.dal import batches as batches_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch_tools.emulator.queues import QueuePoller

SUBMIT_FIELDS = {"batchId", "totalSessions", "status"}
STATUS_FIELDS = {
    "batchId",
    "status",
    "totalSessions",
    "processedSessions",
    "failedSessions",
    "results",
    "page",
    "pageSize",
    "createdAt",
    "completedAt",
}
DROP = {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:40:00Z", "unit": "Wh", "value": 500}


def _sqs():
    return boto3.client("sqs", region_name="eu-west-1")


@pytest.fixture
def poller(gateway):
    return QueuePoller(gateway.registry, _sqs(), failed_visibility_seconds=0)


def _queue_depth(stack, logical_id):
    attributes = _sqs().get_queue_attributes(QueueUrl=stack.refs[logical_id], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _submit(api, sessions):
    response = api.post("/v1/sessions/batch", {"sessions": sessions})
    assert response.status == 200, response.body
    return response.json()


def test_submit_and_status_have_the_seed_shapes(api, poller):
    submitted = _submit(
        api, [seed_session("sess-abc-001"), energy_session("e-1"), energy_session("e-short", readings=1)]
    )
    assert set(submitted) == SUBMIT_FIELDS
    assert submitted["totalSessions"] == 3 and submitted["status"] == "pending"
    batch_id = submitted["batchId"]

    pending = api.get(f"/v1/sessions/batch/{batch_id}").json()
    assert set(pending) == STATUS_FIELDS
    assert (pending["status"], pending["processedSessions"], pending["failedSessions"], pending["results"]) == (
        "pending",
        0,
        0,
        [],
    )
    assert pending["completedAt"] is None and pending["page"] == 0 and pending["pageSize"] == 20

    assert poller.drain() == 1  # three sessions, one part, one message
    done = api.get(f"/v1/sessions/batch/{batch_id}").json()
    assert (done["status"], done["totalSessions"], done["processedSessions"], done["failedSessions"]) == (
        "completed",
        3,
        3,
        0,
    )
    assert done["completedAt"] >= done["createdAt"]
    results = {result["sessionId"]: result for result in done["results"]}
    assert list(results) == ["sess-abc-001", "e-1", "e-short"]  # submit order
    seed_result = results["sess-abc-001"]
    for field in (
        "sessionId",
        "status",
        "isAnomaly",
        "anomalyScore",
        "anomalyConfidence",
        "isIncident",
        "isRecurring",
        "anomalies",
        "analyzedAt",
        "socReconstructed",
        "createdAt",
    ):
        assert field in seed_result, field
    assert seed_result["isAnomaly"] is True and seed_result["anomalies"][0]["bucketRange"]
    assert "at least 3 meter values" in results["e-short"]["message"]

    # stored exactly as a single create: the session answers GET /v1/sessions/{id} with the same analysis
    detail = api.get("/v1/sessions/sess-abc-001").json()
    assert {k: detail[k] for k in ("isAnomaly", "anomalyScore", "anomalies", "analyzedAt")} == {
        k: seed_result[k] for k in ("isAnomaly", "anomalyScore", "anomalies", "analyzedAt")
    }
    # the literal segment wins over /v1/sessions/{session_id}, and an unknown batch is a 404
    missing = api.get("/v1/sessions/batch/no-such-batch")
    assert missing.status == 404 and missing.json()["error"]["code"] == "batch_not_found"


def test_results_are_paginated_by_submit_position(api, poller):
    sessions = [energy_session(f"p-{i:02d}", readings=3) for i in range(25)]
    batch_id = _submit(api, sessions)["batchId"]
    poller.drain()
    page = api.get(f"/v1/sessions/batch/{batch_id}", query="page=2&pageSize=10").json()
    assert (page["page"], page["pageSize"]) == (2, 10)
    assert [result["sessionId"] for result in page["results"]] == [f"p-{i:02d}" for i in range(20, 25)]
    assert api.get(f"/v1/sessions/batch/{batch_id}", query="page=3&pageSize=10").json()["results"] == []
    assert api.get(f"/v1/sessions/batch/{batch_id}", query="pageSize=101").status == 400


def test_batch_and_single_create_store_the_same_thing(make_org, client_for, poller):
    single_org, single_key = make_org("Single", organization_id="single")
    batch_org, batch_key = make_org("Batch", organization_id="batch")
    bodies = [
        seed_session("s-1"),
        energy_session("s-2", readings=8),
        {**energy_session("s-3", readings=8), "meterValues": energy_session("x", readings=8)["meterValues"] + [DROP]},
    ]
    single, batch = client_for(single_key), client_for(batch_key)
    single_results = [single.post("/v1/sessions", body).json() for body in bodies]
    _submit(batch, bodies)
    poller.drain()
    ignored = {"analyzedAt", "createdAt"}
    for body, expected in zip(bodies, single_results, strict=True):
        got = batch.get(f"/v1/sessions/{body['sessionId']}").json()
        assert {k: v for k, v in got.items() if k not in ignored | {"meterValues", "metadata", "updatedAt"}} == {
            k: v for k, v in expected.items() if k not in ignored
        }
        single_item = sessions_dal.get_session(single_org, body["sessionId"])
        batch_item = sessions_dal.get_session(batch_org, body["sessionId"])
        assert batch_item.requestHash == single_item.requestHash  # same body -> same idempotency hash
    assert single.get("/v1/statistics").json() == batch.get("/v1/statistics").json()
    for path in ("/v1/stations/CP-1", "/v1/stations/CP-1/connectors", "/v1/stations/CP-NL-AMS-0042"):
        single_station, batch_station = single.get(path).json(), batch.get(path).json()
        single_station.pop("id", None), batch_station.pop("id", None)  # opaque uuids
        assert single_station == batch_station


def test_existing_session_is_idempotent_and_a_conflict_is_a_failed_result(api, poller):
    assert api.post("/v1/sessions", energy_session("same")).status == 200
    assert api.post("/v1/sessions", energy_session("other", readings=4)).status == 200
    batch_id = _submit(api, [energy_session("same"), energy_session("other", readings=9), energy_session("new")])[
        "batchId"
    ]
    poller.drain()
    batch = api.get(f"/v1/sessions/batch/{batch_id}").json()
    assert (batch["status"], batch["processedSessions"], batch["failedSessions"]) == ("completed_with_failures", 2, 1)
    failed = [result for result in batch["results"] if result["status"] == "failed"]
    assert [result["sessionId"] for result in failed] == ["other"]
    assert "already exists with a different body" in failed[0]["message"]
    assert api.get("/v1/statistics").json()["totalSessions"] == 3


def test_a_failed_item_leaves_no_phantom_station(api, poller):
    assert api.post("/v1/sessions", energy_session("taken", station="CP-REAL")).status == 200
    conflicting = energy_session("taken", station="CP-PHANTOM", readings=9)
    assert api.post("/v1/sessions", conflicting).status == 409
    batch_id = _submit(api, [conflicting, energy_session("fine", station="CP-REAL")])["batchId"]
    poller.drain()
    assert api.get(f"/v1/sessions/batch/{batch_id}").json()["failedSessions"] == 1
    assert api.get("/v1/stations/lookup").json()["items"] == ["CP-REAL"]
    stations = api.get("/v1/stations").json()
    assert [station["chargingStationId"] for station in stations["content"]] == ["CP-REAL"]
    assert stations["pagination"]["totalCount"] == 1
    assert api.get("/v1/stations/CP-PHANTOM").status == 404


def test_invalid_sessions_fail_at_their_index_and_the_valid_ones_are_processed(api, stack, poller):
    sessions = [energy_session(f"v-{i}") for i in range(5)]
    sessions[3]["meterValues"][0]["value"] = "not a number"
    sessions.append(energy_session("v-0"))  # 5: a duplicate id within the batch
    sessions.append("not a session")  # 6: not even an object
    sessions.append({"sessionId": "no-station"})  # 7: a required field missing
    submitted = api.post("/v1/sessions/batch", {"sessions": sessions})
    assert submitted.status == 200, submitted.body
    assert submitted.json()["totalSessions"] == 8
    batch_id = submitted.json()["batchId"]
    early = api.get(f"/v1/sessions/batch/{batch_id}").json()
    assert early["failedSessions"] == 4 and early["processedSessions"] == 0  # rejected at submit already

    poller.drain()
    status = api.get(f"/v1/sessions/batch/{batch_id}", query="pageSize=20").json()
    assert status["status"] == "completed_with_failures"
    assert (status["processedSessions"], status["failedSessions"], status["totalSessions"]) == (4, 4, 8)
    results = status["results"]
    assert [r["status"] for r in results] == ["active"] * 3 + ["failed"] + ["active"] + ["failed"] * 3
    assert results[3]["sessionId"] == "v-3"
    assert results[3]["message"].startswith("sessions[3].meterValues[0].value: ")
    assert results[5]["message"] == "sessions[5].sessionId: duplicate of sessions[0].sessionId"
    assert results[6]["sessionId"] == "sessions[6]" and results[6]["message"].startswith("sessions[6]: ")
    assert results[7]["sessionId"] == "no-station"
    assert results[7]["message"].startswith("sessions[7].chargingStationId: ")

    # only the valid sessions exist; the first v-0 kept its own body
    assert api.get("/v1/sessions/v-3").status == 404
    assert api.get("/v1/statistics").json()["totalSessions"] == 4


def test_a_batch_without_one_valid_session_is_400_and_stores_nothing(api, stack):
    bad = energy_session("v-bad")
    bad["meterValues"][0]["value"] = "not a number"
    response = api.post("/v1/sessions/batch", {"sessions": [bad, {"sessionId": "x"}]})
    assert response.status == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [detail["field"] for detail in error["details"]] == [
        "sessions[0].meterValues[0].value",
        "sessions[1].chargingStationId",
    ]
    for envelope in ({"sessions": []}, {}, {"sessions": {"a": 1}}, {"sessions": None}, []):
        refused = api.post("/v1/sessions/batch", envelope)
        assert refused.status == 400, envelope
        assert refused.json()["error"]["details"][0]["field"].startswith(("sessions", "body")), refused.body

    # nothing was stored or enqueued
    assert _queue_depth(stack, "BatchAnalysisQueue") == 0
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert s3.list_objects_v2(Bucket=stack.refs["PayloadBucket"], Prefix="batches/").get("KeyCount", 0) == 0
    assert api.get("/v1/statistics").json()["totalSessions"] == 0


def test_a_redelivered_message_changes_nothing(api, gateway, stack, poller):
    sessions = [seed_session("r-1"), energy_session("r-2", readings=8)]
    batch_id = _submit(api, sessions)["batchId"]
    message = _sqs().receive_message(QueueUrl=stack.refs["BatchAnalysisQueue"], MaxNumberOfMessages=1)["Messages"][0]
    _sqs().change_message_visibility(
        QueueUrl=stack.refs["BatchAnalysisQueue"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    poller.drain()
    before = api.get(f"/v1/sessions/batch/{batch_id}").json()
    statistics = api.get("/v1/statistics").json()
    station = api.get("/v1/stations/CP-NL-AMS-0042").json()

    # the same message again (SQS delivers at least once), once through the queue, once directly
    _sqs().send_message(QueueUrl=stack.refs["BatchAnalysisQueue"], MessageBody=message["Body"])
    assert poller.drain() == 1
    event = {
        "Records": [
            {
                "messageId": "again",
                "receiptHandle": "x",
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "2"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": stack.arns["BatchAnalysisQueue"],
                "awsRegion": "eu-west-1",
            }
        ]
    }
    assert gateway.registry.invoke("BatchWorkerFunction", event) == {"batchItemFailures": []}

    assert api.get(f"/v1/sessions/batch/{batch_id}").json() == before
    assert (before["processedSessions"], before["failedSessions"]) == (2, 0)
    assert api.get("/v1/statistics").json() == statistics
    assert api.get("/v1/stations/CP-NL-AMS-0042").json() == station


def test_counting_is_idempotent_per_batch_and_session(stack):
    batches_dal.put_batch(
        batches_dal.new_batch_item(
            "org-1",
            "b-1",
            status="pending",
            totalSessions=3,
            partCount=1,
            payloadPrefix="batches/x/",
            createdAt="2026-01-01T00:00:00Z",
        )
    )

    def result(position, outcome, anomalous=0):
        return batches_dal.new_result_item(
            "org-1",
            "b-1",
            position,
            sessionId=f"s{position}",
            outcome=outcome,
            isAnomaly=anomalous,
            result={"sessionId": f"s{position}", "status": "x"},
            recordedAt="2026-01-01T00:00:00Z",
        )

    assert batches_dal.record_results("org-1", "b-1", [result(0, "processed", 1), result(1, "failed")]) == 2
    # a redelivery of 0 and 1 together with the new 2: only 2 counts
    assert (
        batches_dal.record_results(
            "org-1", "b-1", [result(0, "processed", 1), result(1, "failed"), result(2, "processed")]
        )
        == 1
    )
    batch = batches_dal.get_batch("org-1", "b-1")
    assert (batch.processedSessions, batch.failedSessions, batch.anomalousSessions) == (2, 1, 1)
    assert batches_dal.mark_completed("org-1", "b-1", "completed_with_failures", "2026-01-01T00:00:01Z") is True
    assert batches_dal.mark_completed("org-1", "b-1", "completed", "2026-01-01T00:00:02Z") is False
    assert batches_dal.get_batch("org-1", "b-1").completedAt == "2026-01-01T00:00:01Z"


def test_a_poison_message_ends_in_the_dlq_and_fails_its_sessions(api, stack, poller):
    batch_id = _submit(api, [energy_session("ok-later"), energy_session("poisoned")])["batchId"]
    # break the part's payload: every receive fails until SQS moves the message to the DLQ
    s3 = boto3.client("s3", region_name="eu-west-1")
    key = s3.list_objects_v2(Bucket=stack.refs["PayloadBucket"], Prefix="batches/")["Contents"][0]["Key"]
    s3.put_object(Bucket=stack.refs["PayloadBucket"], Key=key, Body=b"not gzip")
    for _ in range(10):
        poller.drain()
    assert _queue_depth(stack, "BatchAnalysisQueue") == 0
    assert _queue_depth(stack, "BatchAnalysisDLQ") == 1
    batch = api.get(f"/v1/sessions/batch/{batch_id}").json()
    assert (batch["status"], batch["processedSessions"], batch["failedSessions"]) == ("completed_with_failures", 0, 2)
    assert batch["completedAt"] is not None
    for result in batch["results"]:
        assert result["status"] == "failed"
        assert "could not be processed after 5 attempts" in result["message"]
    assert api.get("/v1/statistics").json()["totalSessions"] == 0


def test_another_tenants_batch_is_not_found(make_org, client_for, poller):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    batch_id = _submit(acme, [energy_session("shared")])["batchId"]
    poller.drain()
    response = corp.get(f"/v1/sessions/batch/{batch_id}")
    assert response.status == 404 and response.json()["error"]["code"] == "batch_not_found"
    assert corp.get("/v1/sessions/shared").status == 404
    assert corp.get("/v1/statistics").json()["totalSessions"] == 0
    assert acme.get(f"/v1/sessions/batch/{batch_id}").json()["status"] == "completed"
    assert client_for(None).get(f"/v1/sessions/batch/{batch_id}").status == 401
    assert client_for(None).post("/v1/sessions/batch", {"sessions": [energy_session("x")]}).status == 401


def _synth_sessions(count, stations):
    from chargewatch_tools.synth import generate

    for index, session in enumerate(generate(count, seed=7)):
        yield {
            "sessionId": f"synth-{index:04d}",
            "chargingStationId": f"CP-S-{index % stations}",
            "connectorId": str(1 + index % 2),
            "meterValues": session["meterValues"],
            "metadata": session["metadata"],
        }


def _mixed_sessions(synthetic, small):
    """Realistic synthetic sessions (≈ 225 meter values each), then small ones, every tenth of those
    with a register drop."""
    sessions = list(_synth_sessions(synthetic, stations=12))
    for index in range(small):
        body = energy_session(
            f"small-{index:04d}",
            station=f"CP-E-{index % 40}",
            readings=4,
            connector=str(1 + index % 3),
            day=f"2026-02-{1 + index % 27:02d}",
        )
        if index % 10 == 0:
            body["meterValues"].append({**DROP, "timestamp": f"2026-02-{1 + index % 27:02d}T10:40:00Z"})
        sessions.append(body)
    return sessions


def test_a_batch_of_many_parts_completes_with_correct_counts(api, poller, monkeypatch):
    """Ten parts, ten pages of results, anomalies of both kinds, counters equal to a recount. Parts
    of five sessions instead of a hundred: the same path as a 1,000-session batch at a twentieth of
    the work (its throughput is measured by tests/perf/bench_batch.py, not here)."""
    from chargewatch.services import batches as batches_service

    monkeypatch.setattr(batches_service, "PART_MAX_SESSIONS", 5)
    sessions = _mixed_sessions(5, 45)
    batch_id = _submit(api, sessions)["batchId"]
    assert poller.drain() == 10  # one message per part

    batch = api.get(f"/v1/sessions/batch/{batch_id}", query="pageSize=5").json()
    assert (batch["status"], batch["totalSessions"], batch["processedSessions"], batch["failedSessions"]) == (
        "completed",
        50,
        50,
        0,
    )
    results = [
        result
        for page in range(10)
        for result in api.get(f"/v1/sessions/batch/{batch_id}", query=f"page={page}&pageSize=5").json()["results"]
    ]
    assert [result["sessionId"] for result in results] == [session["sessionId"] for session in sessions]
    flagged = {result["sessionId"] for result in results if result["isAnomaly"]}
    assert any(name.startswith("synth-") for name in flagged)  # the synthetic anomalies were found
    assert {f"small-{index:04d}" for index in range(0, 45, 10)} <= flagged  # and every register drop

    organization_id = _org_of(api)
    *_, totals = assert_counters_equal_recount(organization_id, [session["sessionId"] for session in sessions])
    statistics = api.get("/v1/statistics").json()
    assert statistics["totalSessions"] == totals["totalSessions"] == 50
    assert statistics["sessionsWithAnomaliesCount"] == totals["sessionsWithAnomalies"] == len(flagged)
    assert statistics["totalAnomaliesCount"] == totals["totalAnomalies"]


def test_a_1000_session_submit_fits_the_body_limit_and_is_split_into_parts(api, stack):
    """1,000 sessions of the realistic mix (≈ 4.5 MB, under the 6 MB body limit) in one submit are
    accepted as ten parts of a hundred (analysing many parts is the test above, smaller)."""
    sessions = _mixed_sessions(150, 850)
    assert len(json.dumps({"sessions": sessions})) < 6 * 1024 * 1024
    submitted = _submit(api, sessions)
    assert (submitted["totalSessions"], submitted["status"]) == (1000, "pending")
    assert _queue_depth(stack, "BatchAnalysisQueue") == 10


def test_worker_knows_the_queues_max_receive_count():
    from chargewatch_tools.infra import load_template

    resources = load_template()["Resources"]
    worker = resources["BatchWorkerFunction"]["Properties"]
    queue = resources["BatchAnalysisQueue"]["Properties"]
    assert int(worker["Environment"]["Variables"]["BATCH_MAX_RECEIVES"]) == int(
        queue["RedrivePolicy"]["maxReceiveCount"]
    )
    assert int(queue["VisibilityTimeout"]) >= 6 * int(worker["Timeout"])
    assert worker["Events"]["BatchQueue"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
