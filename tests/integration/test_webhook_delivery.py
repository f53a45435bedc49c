"""Signed delivery through SQS: Standard Webhooks signatures (verified with the reference library),
secret rotation grace, retry schedule, idempotency, 410, auto-disable, SSRF at delivery time."""

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook as ReferenceVerifier
from standardwebhooks.webhooks import WebhookVerificationError

from chargewatch import clock
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.services import webhook_delivery, webhook_events, webhook_signing

ORG = "acme"


@pytest.fixture
def org_client(make_org, client_for, local_mode):
    _, key = make_org("Acme", organization_id=ORG)
    return client_for(key)


def _webhook(client, url, events=("session.analyzed",)):
    response = client.post("/v1/webhooks", {"url": url, "events": list(events)})
    assert response.status == 200, response.body
    return response.json()


def _delivery(webhook_id):
    (item,) = webhooks_dal.recent_deliveries(ORG, webhook_id, 5)
    return item


def test_deliveries_verify_with_the_reference_library(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "sess-1"})
    deliveries.run()
    (request,) = receiver.requests
    payload = ReferenceVerifier(hook["secret"]).verify(request["body"], request["headers"])
    assert payload["type"] == "session.analyzed" and payload["data"] == {"sessionId": "sess-1"}
    assert payload["organizationId"] == ORG
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert request["headers"]["webhook-id"] == _delivery(hook["id"]).deliveryId

    verifier = ReferenceVerifier(hook["secret"])
    with pytest.raises(WebhookVerificationError):  # tampered body
        verifier.verify(request["body"].replace(b"sess-1", b"sess-2"), request["headers"])
    with pytest.raises(WebhookVerificationError):  # tampered timestamp
        verifier.verify(
            request["body"],
            {**request["headers"], "webhook-timestamp": str(int(request["headers"]["webhook-timestamp"]) + 1)},
        )
    with pytest.raises(WebhookVerificationError):  # another webhook's secret
        ReferenceVerifier(webhook_signing.generate_secret()).verify(request["body"], request["headers"])
    fake_clock.advance(minutes=5, seconds=1)
    with pytest.raises(WebhookVerificationError, match="too old"):  # a replay after 5 minutes
        verifier.verify(request["body"], request["headers"])


def test_rotation_signs_with_both_secrets_for_24_hours(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    old_secret = hook["secret"]
    new_secret = org_client.post(f"/v1/webhooks/{hook['id']}/rotate-secret").json()["secret"]

    fake_clock.advance(hours=23, minutes=59)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "inside-grace"})
    deliveries.run()
    inside = receiver.requests[-1]
    assert len(inside["headers"]["webhook-signature"].split(" ")) == 2
    ReferenceVerifier(new_secret).verify(inside["body"], inside["headers"])
    ReferenceVerifier(old_secret).verify(inside["body"], inside["headers"])

    fake_clock.advance(minutes=2)  # 24 h and 1 min after the rotation
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "after-grace"})
    deliveries.run()
    after = receiver.requests[-1]
    assert len(after["headers"]["webhook-signature"].split(" ")) == 1
    ReferenceVerifier(new_secret).verify(after["body"], after["headers"])
    with pytest.raises(WebhookVerificationError):
        ReferenceVerifier(old_secret).verify(after["body"], after["headers"])


def test_retries_follow_the_schedule_then_succeed(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(statuses=[500, 502, 429, 503])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.run()
    times = [request["at"] for request in receiver.requests]
    assert [int((b - a).total_seconds()) for a, b in zip(times[:-1], times[1:], strict=True)] == [5, 300, 1800, 7200]
    bodies = {request["body"] for request in receiver.requests}
    ids = {request["headers"]["webhook-id"] for request in receiver.requests}
    assert len(bodies) == 1 and len(ids) == 1  # the same message on every attempt
    delivery = _delivery(hook["id"])
    assert (delivery.status, int(delivery.attemptCount), int(delivery.httpStatus)) == ("succeeded", 5, 200)
    assert [attempt["httpStatus"] for attempt in delivery.attempts] == [500, 502, 429, 503, 200]
    detail = org_client.get(f"/v1/webhooks/{hook['id']}").json()
    assert detail["failureCount"] == 0 and detail["recentDeliveries"][0]["attemptCount"] == 5


def test_exhausted_delivery_fails_and_lands_in_the_dlq(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(default=500)
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.run()
    times = [request["at"] for request in receiver.requests]
    assert [int((b - a).total_seconds()) for a, b in zip(times[:-1], times[1:], strict=True)] == list(
        webhook_delivery.RETRY_DELAYS
    )
    delivery = _delivery(hook["id"])
    assert (delivery.status, int(delivery.attemptCount)) == ("failed", webhook_delivery.MAX_ATTEMPTS)
    assert delivery.responseBody and delivery.completedAt
    (dead,) = deliveries.dead_letters()
    assert dead["deliveryId"] == delivery.deliveryId and dead["attempt"] == webhook_delivery.MAX_ATTEMPTS
    detail = org_client.get(f"/v1/webhooks/{hook['id']}").json()
    assert detail["failureCount"] == 1 and detail["enabled"] is True  # 3.2 days of failures: not yet 5


def test_long_waits_are_chained_under_the_sqs_delay_cap(org_client, receiver_factory, fake_clock, monkeypatch):
    import os

    from chargewatch import settings

    os.environ["WEBHOOK_MAX_DELAY_SECONDS"] = "900"
    settings.reload_settings()
    sent = []

    class _Queue:
        def send_message(self, QueueUrl, MessageBody, DelaySeconds=0):
            sent.append((json.loads(MessageBody), DelaySeconds))

    monkeypatch.setattr(webhook_delivery, "_sqs_client", lambda: _Queue())
    receiver = receiver_factory(statuses=[500, 500, 500, 500])
    _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    hops = 0
    while sent:
        message, delay = sent.pop(0)
        assert 0 <= delay <= 900
        fake_clock.advance(seconds=delay)
        webhook_delivery.process_delivery_message(message)
        hops += 1
    times = [request["at"] for request in receiver.requests]
    assert [int((b - a).total_seconds()) for a, b in zip(times[:-1], times[1:], strict=True)] == [5, 300, 1800, 7200]
    # 5 attempts + the extra links for 1800 s (2 messages) and 7200 s (8 messages)
    assert hops == 5 + 1 + 7


def test_a_redelivered_message_never_posts_the_same_attempt_twice(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    (message,) = deliveries.pending_messages()
    # SQS delivers the same message again (e.g. the first consumer's delete was lost)
    deliveries.sqs.send_message(QueueUrl=deliveries.queue_url, MessageBody=json.dumps(message))
    deliveries.run()
    webhook_delivery.process_delivery_message(message)  # and once more, much later
    assert len(receiver.requests) == 1
    assert _delivery(hook["id"]).status == "succeeded"


def test_a_claimed_attempt_in_flight_is_not_repeated_and_a_dead_one_counts_as_failed(
    org_client, receiver_factory, deliveries, fake_clock
):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    (message,) = deliveries.pending_messages()
    delivery = _delivery(hook["id"])
    webhooks_dal.claim_attempt(delivery, 1, fake_clock.now().isoformat())  # another invocation is on it
    with pytest.raises(webhook_delivery.AttemptInProgress):
        webhook_delivery.process_delivery_message(message)
    assert receiver.requests == []
    fake_clock.advance(seconds=webhook_delivery.STALE_CLAIM.total_seconds() + 1)  # ...and it died
    deliveries.run()
    delivery = _delivery(hook["id"])
    assert delivery.status == "succeeded" and int(delivery.attemptCount) == 2 and len(receiver.requests) == 1
    assert "interrupted" in delivery.attempts[0]["error"]


def test_410_disables_the_webhook_at_once(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(statuses=[410])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.run()
    assert len(receiver.requests) == 1
    detail = org_client.get(f"/v1/webhooks/{hook['id']}").json()
    assert detail["enabled"] is False and detail["disabledAt"] and "410" in detail["disabledReason"]
    assert detail["recentDeliveries"][0]["status"] == "failed"
    assert webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s2"}) == []  # no more deliveries


def test_five_days_of_failures_disable_and_put_enabled_resets(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(default=500)
    hook = _webhook(org_client, receiver.url)
    started = fake_clock.now()
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "first"})
    deliveries.run()  # all 10 attempts fail over ~3.2 days
    assert org_client.get(f"/v1/webhooks/{hook['id']}").json()["enabled"] is True

    fake_clock.set(started + timedelta(days=4))
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "second"})
    deliveries.run()
    detail = org_client.get(f"/v1/webhooks/{hook['id']}").json()
    assert detail["enabled"] is False and detail["failureCount"] == 2
    disabled_at = clock.parse_iso(detail["disabledAt"])
    assert timedelta(days=5) <= disabled_at - started < timedelta(days=5, hours=12)
    second = detail["recentDeliveries"][0]
    assert second["status"] == "failed" and second["attemptCount"] < webhook_delivery.MAX_ATTEMPTS

    enabled = org_client.put(f"/v1/webhooks/{hook['id']}", {"enabled": True}).json()
    assert enabled["enabled"] is True and enabled["failureCount"] == 0 and enabled["disabledAt"] is None
    receiver.default = 200
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "third"})
    deliveries.run()
    assert org_client.get(f"/v1/webhooks/{hook['id']}").json()["recentDeliveries"][0]["status"] == "succeeded"


def test_a_success_resets_the_failure_run(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(statuses=[500])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.pending_messages()
    deliveries.poller.poll_once()  # first attempt fails
    assert org_client.get(f"/v1/webhooks/{hook['id']}").json()["failureCount"] == 1
    deliveries.run()
    assert org_client.get(f"/v1/webhooks/{hook['id']}").json()["failureCount"] == 0
    assert webhooks_dal.get_webhook(ORG, hook["id"]).failingSince is None


def test_ssrf_at_delivery_time_is_a_failed_attempt(org_client, receiver_factory, deliveries, fake_clock, monkeypatch):
    from chargewatch import outbound

    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34"])
    hook = _webhook(org_client, "https://hooks.example.com/in")
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["169.254.169.254"])  # DNS now rebinds
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.pending_messages()
    deliveries.poller.poll_once()
    delivery = _delivery(hook["id"])
    assert delivery.httpStatus is None and delivery.error.startswith("refused:") and "link-local" in delivery.error
    assert delivery.status == "pending" and int(delivery.attemptCount) == 1  # retried like any failure


def test_redirects_are_not_followed(org_client, receiver_factory, deliveries, fake_clock):
    receiver = receiver_factory(statuses=[302])
    hook = _webhook(org_client, receiver.url, events=("webhook.test",))
    result = org_client.post(f"/v1/webhooks/{hook['id']}/test").json()
    assert result["success"] is False and result["httpStatus"] == 302 and len(receiver.requests) == 1


def test_disabled_or_deleted_webhooks_end_their_pending_deliveries(
    org_client, receiver_factory, deliveries, fake_clock
):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    org_client.put(f"/v1/webhooks/{hook['id']}", {"enabled": False})
    deliveries.run()
    assert receiver.requests == []
    delivery = _delivery(hook["id"])
    assert delivery.status == "failed" and delivery.error == "webhook disabled"


def test_event_payload_helpers(org_client, receiver_factory, deliveries, fake_clock):
    from chargewatch.schemas.webhooks import BatchCompletedData, IssueUpdatedData, StationAnomalyDetectedData

    receiver = receiver_factory()
    _webhook(
        org_client,
        receiver.url,
        events=("batch.completed", "station.anomaly_detected", "issue.updated", "session.analyzed", "anomaly.detected"),
    )
    now = fake_clock.now().isoformat()
    webhook_events.publish_batch_completed(
        ORG,
        BatchCompletedData(
            batchId="b1",
            status="completed",
            totalSessions=3,
            analyzedSessions=3,
            failedSessions=0,
            anomalousSessions=1,
            completedAt=now,
        ),
    )
    webhook_events.publish_station_anomaly_detected(
        ORG,
        StationAnomalyDetectedData(
            chargingStationId="CP-1",
            date="2026-02-27",
            dayScore=0.8,
            anomalyMarkers=[{"startMinute": 600}],
            analyzedAt=now,
        ),
    )
    webhook_events.publish_issue_updated(
        ORG,
        IssueUpdatedData(
            issueId="i1",
            category="energy_register_regression",
            chargingStationId="CP-1",
            status="resolved",
            previousStatus="open",
            updatedAt=now,
        ),
    )

    class _Session:
        sessionId, chargingStationId, connectorId, evseId = "sess-1", "CP-1", "1", None

    result = {
        "isAnomaly": True,
        "anomalyScore": 0.9,
        "anomalyConfidence": 0.8,
        "isIncident": False,
        "isRecurring": False,
        "anomalies": [
            {"category": "power_spike", "score": 0.9, "confidence": 0.8, "timeRange": {"startTimestamp": now}}
        ],
    }
    assert len(webhook_events.publish_session_analysis(ORG, _Session(), result, now)) == 2
    deliveries.run()
    types = sorted(json.loads(request["body"])["type"] for request in receiver.requests)
    assert types == [
        "anomaly.detected",
        "batch.completed",
        "issue.updated",
        "session.analyzed",
        "station.anomaly_detected",
    ]
    anomaly = next(json.loads(r["body"]) for r in receiver.requests if b"anomaly.detected" in r["body"])
    assert anomaly["data"]["anomalies"][0]["category"] == "power_spike" and anomaly["data"]["sessionId"] == "sess-1"


def test_an_analysed_session_is_delivered_to_its_own_tenant_only(
    make_org, client_for, local_mode, receiver_factory, deliveries, fake_clock
):
    from seed_examples import seed_session

    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    acme_receiver, corp_receiver = receiver_factory(), receiver_factory()
    acme_hook = _webhook(acme, acme_receiver.url, events=("session.analyzed", "anomaly.detected"))
    _webhook(corp, corp_receiver.url, events=("session.analyzed", "anomaly.detected"))

    result = acme.post("/v1/sessions", seed_session("sess-e2e")).json()
    deliveries.run()
    types = sorted(json.loads(request["body"])["type"] for request in acme_receiver.requests)
    assert types == (["anomaly.detected", "session.analyzed"] if result.get("anomalies") else ["session.analyzed"])
    assert corp_receiver.requests == []
    analyzed = next(json.loads(r["body"]) for r in acme_receiver.requests if b"session.analyzed" in r["body"])
    ReferenceVerifier(acme_hook["secret"]).verify(
        acme_receiver.requests[0]["body"], acme_receiver.requests[0]["headers"]
    )
    assert analyzed["organizationId"] == "acme" and analyzed["data"]["sessionId"] == "sess-e2e"
    assert analyzed["data"]["isAnomaly"] == result["isAnomaly"]
    acme.post("/v1/sessions", seed_session("sess-e2e"))  # an idempotent retry analyses nothing new
    deliveries.run()
    assert len(acme_receiver.requests) == len(types)
