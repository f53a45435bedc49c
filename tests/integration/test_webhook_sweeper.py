"""The webhook sweeper: pending deliveries whose SQS message was lost are re-queued (no Scan), and a
re-queue is harmless when the original message arrives too. Runs the template's
WebhookSweeperFunction as its EventBridge schedule would, with the fake clock of webhook_support."""

import json

import pytest
from botocore.exceptions import EndpointConnectionError
from standardwebhooks import Webhook as ReferenceVerifier

from chargewatch import clock
from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.services import webhook_delivery, webhook_events, webhook_signing

ORG = "acme"
JUST_OVERDUE = dict(seconds=webhook_delivery.SWEEP_GRACE.total_seconds() + 1)


@pytest.fixture
def org_client(make_org, client_for, local_mode):
    _, key = make_org("Acme", organization_id=ORG)
    return client_for(key)


@pytest.fixture
def queue_down(monkeypatch):
    """While active, every send to the webhook-delivery queue fails as it would without a network."""
    state = {"down": False, "failed": 0}
    real_client = webhook_delivery._sqs_client

    class _Client:
        def __init__(self, real):
            self.real = real

        def send_message(self, **kwargs):
            if state["down"]:
                state["failed"] += 1
                raise EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com")
            return self.real.send_message(**kwargs)

    monkeypatch.setattr(webhook_delivery, "_sqs_client", lambda: _Client(real_client()))
    return state


def _webhook(client, url, events=("session.analyzed",)):
    response = client.post("/v1/webhooks", {"url": url, "events": list(events)})
    assert response.status == 200, response.body
    return response.json()


def _sweep(gateway) -> dict:
    from chargewatch_tools.schedule import scheduled_event

    return gateway.registry.invoke("WebhookSweeperFunction", scheduled_event(None))


def _publish_while_down(queue_down, organization_id=ORG, session_id="s") -> str:
    queue_down["down"] = True
    try:
        (delivery_id,) = webhook_events.publish(organization_id, "session.analyzed", {"sessionId": session_id})
    finally:
        queue_down["down"] = False
    return delivery_id


def _take_queued(deliveries) -> list[dict]:
    """Everything on the delivery queue, removed from it (a lost message, or one to inspect)."""
    messages = []
    while True:
        batch = deliveries.sqs.receive_message(QueueUrl=deliveries.queue_url, MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            return messages
        for raw in batch["Messages"]:
            messages.append(json.loads(raw["Body"]))
            deliveries.sqs.delete_message(QueueUrl=deliveries.queue_url, ReceiptHandle=raw["ReceiptHandle"])


def _delivery(webhook_id, organization_id=ORG):
    (item,) = webhooks_dal.recent_deliveries(organization_id, webhook_id, 5)
    return item


def test_a_delivery_whose_send_failed_is_attempted_after_the_sweep(
    org_client, receiver_factory, deliveries, fake_clock, gateway, queue_down
):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    delivery_id = _publish_while_down(queue_down)  # publish itself does not fail
    assert queue_down["failed"] == 1 and deliveries.pending_messages() == []
    delivery = _delivery(hook["id"])
    assert delivery.deliveryId == delivery_id and delivery.status == "pending" and delivery.GSI1PK

    assert _sweep(gateway)["overdue"] == 0  # due now, not overdue by the grace period yet
    fake_clock.advance(seconds=webhook_delivery.SWEEP_GRACE.total_seconds())
    assert _sweep(gateway)["overdue"] == 0  # overdue by exactly the grace period: still left alone
    fake_clock.advance(seconds=1)
    assert _sweep(gateway) == {"overdue": 1, "requeued": 1, "skipped": 0, "errors": 0}
    (message,) = deliveries.pending_messages()
    assert (message["organizationId"], message["webhookId"], message["deliveryId"], message["attempt"]) == (
        ORG,
        hook["id"],
        delivery_id,
        1,
    )

    deliveries.run()
    (request,) = receiver.requests
    payload = ReferenceVerifier(hook["secret"]).verify(request["body"], request["headers"])
    assert payload["data"] == {"sessionId": "s"} and request["headers"]["webhook-id"] == delivery_id
    delivery = _delivery(hook["id"])
    assert (delivery.status, int(delivery.attemptCount), int(delivery.sweepCount)) == ("succeeded", 1, 1)
    assert delivery.GSI1PK is None and delivery.GSI1SK is None  # out of the pending index
    fake_clock.advance(days=1)
    assert _sweep(gateway)["overdue"] == 0


def test_a_lost_retry_message_is_requeued_with_its_attempt_number(
    org_client, receiver_factory, deliveries, fake_clock, gateway, queue_down
):
    receiver = receiver_factory(statuses=[500, 500])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    deliveries.poller.poll_once()  # attempt 1 fails; attempt 2 is queued (due in 5 s)
    fake_clock.advance(seconds=5)
    queue_down["down"] = True
    deliveries.poller.poll_once()  # attempt 2 fails; sending attempt 3 (in 5 min) fails: logged, not raised
    queue_down["down"] = False
    assert len(receiver.requests) == 2 and queue_down["failed"] == 1 and deliveries.pending_messages() == []
    delivery = _delivery(hook["id"])
    assert int(delivery.completedAttempts) == 2 and delivery.GSI1SK.startswith(delivery.nextAttemptAt[:19])

    fake_clock.advance(minutes=5)  # attempt 3 is due: not overdue yet
    assert _sweep(gateway)["requeued"] == 0
    fake_clock.advance(**JUST_OVERDUE)
    assert _sweep(gateway)["requeued"] == 1
    (message,) = deliveries.pending_messages()
    assert message["attempt"] == 3
    deliveries.run()
    delivery = _delivery(hook["id"])
    assert delivery.status == "succeeded" and [a["attempt"] for a in delivery.attempts] == [1, 2, 3]
    assert len(receiver.requests) == 3


def test_pending_deliveries_that_are_not_overdue_are_left_alone(
    org_client, receiver_factory, deliveries, fake_clock, gateway, queue_down
):
    receiver = receiver_factory(statuses=[500, 500, 500])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "waiting"})
    deliveries.poller.poll_once()
    fake_clock.advance(seconds=5)
    deliveries.poller.poll_once()  # attempts 1 and 2 failed; attempt 3 waits 5 minutes, queued
    waiting = _delivery(hook["id"])
    assert int(waiting.completedAttempts) == 2 and waiting.status == "pending"

    fake_clock.advance(minutes=4)  # the retry wait is not over
    assert _sweep(gateway)["overdue"] == 0
    fake_clock.advance(seconds=60 + webhook_delivery.SWEEP_GRACE.total_seconds())  # overdue by exactly the grace
    assert _sweep(gateway)["overdue"] == 0
    assert len(deliveries.pending_messages()) == 1  # only its own message
    again = _delivery(hook["id"])
    assert again.sweepCount is None and int(again.attemptCount) == 2 and again.GSI1SK == waiting.GSI1SK


def test_finished_deliveries_are_never_requeued(org_client, receiver_factory, deliveries, fake_clock, gateway):
    ok, gone = receiver_factory(), receiver_factory(statuses=[410])
    ok_hook = _webhook(org_client, ok.url)
    gone_hook = _webhook(org_client, gone.url)
    off_hook = _webhook(org_client, ok.url, events=("batch.completed",))
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})  # succeeds at ok, fails (410) at gone
    webhook_events.publish(ORG, "batch.completed", {"batchId": "b"})
    org_client.put(f"/v1/webhooks/{off_hook['id']}", {"enabled": False})  # its delivery ends unattempted
    deliveries.run()
    assert org_client.post(f"/v1/webhooks/{ok_hook['id']}/test").json()["success"] is True
    finished = webhooks_dal.recent_deliveries(ORG, ok_hook["id"], 5) + [
        _delivery(gone_hook["id"]),
        _delivery(off_hook["id"]),
    ]
    assert sorted(d.status for d in finished) == ["failed", "failed", "succeeded", "succeeded"]
    assert all(d.GSI1PK is None and d.GSI1SK is None for d in finished)
    posts = len(ok.requests) + len(gone.requests)

    fake_clock.advance(days=2)
    assert _sweep(gateway) == {"overdue": 0, "requeued": 0, "skipped": 0, "errors": 0}
    assert deliveries.pending_messages() == []
    deliveries.run()
    assert len(ok.requests) + len(gone.requests) == posts


def test_a_stale_index_entry_is_skipped(org_client, receiver_factory, deliveries, fake_clock, monkeypatch):
    """The index is eventually consistent: a delivery that finished (or moved on) after the index
    read is re-read within its tenant and skipped."""
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    (delivery_id,) = webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    seen = _delivery(hook["id"]).GSI1SK
    deliveries.run()
    stale = webhooks_dal.PendingRef(ORG, hook["id"], delivery_id, seen)
    monkeypatch.setattr(webhooks_dal, "overdue_pending", lambda due_before, limit: iter([stale]))
    fake_clock.advance(hours=1)
    assert webhook_delivery.sweep_pending_deliveries() == {"overdue": 1, "requeued": 0, "skipped": 1, "errors": 0}
    assert deliveries.pending_messages() == [] and len(receiver.requests) == 1


def test_a_duplicate_message_after_a_sweep_never_posts_an_attempt_twice(
    org_client, receiver_factory, deliveries, fake_clock, gateway
):
    receiver = receiver_factory(statuses=[500])
    hook = _webhook(org_client, receiver.url)
    webhook_events.publish(ORG, "session.analyzed", {"sessionId": "s"})
    (original,) = deliveries.pending_messages()
    fake_clock.advance(**JUST_OVERDUE)  # the original is late (a backlog), not lost: the sweeper re-queues anyway
    assert _sweep(gateway)["requeued"] == 1
    assert _sweep(gateway)["requeued"] == 0  # a second sweep right after: already taken
    assert len(deliveries.pending_messages()) == 2

    handled = deliveries.run()
    # attempt 1 (fails), its duplicate (dropped), attempt 2 (succeeds): no second chain of messages
    assert handled == 3
    webhook_delivery.process_delivery_message(original)  # and the original once more, much later
    assert (receiver.requests[1]["at"] - receiver.requests[0]["at"]).total_seconds() == webhook_delivery.RETRY_DELAYS[0]
    delivery = _delivery(hook["id"])
    assert len(receiver.requests) == 2 and [a["attempt"] for a in delivery.attempts] == [1, 2]
    assert [a["httpStatus"] for a in delivery.attempts] == [500, 200] and delivery.status == "succeeded"
    assert len({request["headers"]["webhook-id"] for request in receiver.requests}) == 1


def test_a_delivery_the_sweeper_keeps_losing_is_requeued_ever_less_often(
    org_client, receiver_factory, deliveries, fake_clock, gateway, queue_down
):
    receiver = receiver_factory()
    hook = _webhook(org_client, receiver.url)
    _publish_while_down(queue_down)
    requeued_at = []
    for _ in range(40):  # 40 sweeps, 5 minutes apart (3h20), every re-queued message lost
        fake_clock.advance(minutes=5)
        if _sweep(gateway)["requeued"]:
            requeued_at.append(fake_clock.now())
            assert len(_take_queued(deliveries)) == 1  # and lost
    gaps = [int((b - a).total_seconds() // 60) for a, b in zip(requeued_at[:-1], requeued_at[1:], strict=True)]
    # looked at again 10, 20, 40, 80 min after each re-queue (doubling, at most 6 h), plus up to one
    # 5-minute schedule period (it must be overdue by *more* than that)
    assert gaps == [15, 25, 45, 85], gaps
    assert int(_delivery(hook["id"]).sweepCount) == 5 and receiver.requests == []
    fake_clock.advance(hours=6)
    assert _sweep(gateway)["requeued"] == 1
    deliveries.run()
    assert _delivery(hook["id"]).status == "succeeded" and len(receiver.requests) == 1


def test_the_sweeper_requeues_each_delivery_for_its_own_tenant(
    make_org, client_for, local_mode, receiver_factory, deliveries, fake_clock, gateway, queue_down
):
    """acme and acme-corp (an id that prefixes the other), each with a webhook created through the
    API and one with the same webhook id in both organizations; every send fails while sessions are
    created through the API (which still succeed); the sweep re-queues each delivery with its own
    tenant, and each tenant's receiver gets only its own, signed with its own secret."""
    from seed_examples import seed_session

    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    receivers = {"acme": receiver_factory(), "acme-corp": receiver_factory()}
    secrets = {}
    for org, client in (("acme", acme), ("acme-corp", corp)):
        hook = _webhook(client, receivers[org].url)
        shared = webhooks_dal.put_new_webhook(
            org,
            "wh-shared",
            url=receivers[org].url,
            events=["session.analyzed"],
            enabled=True,
            failureCount=0,
            secret=webhook_signing.generate_secret(),
            createdAt=clock.iso_now(),
            updatedAt=clock.iso_now(),
        )
        secrets[org] = {hook["id"]: hook["secret"], "wh-shared": shared.secret}

    queue_down["down"] = True
    try:
        assert acme.post("/v1/sessions", seed_session("sess-acme")).status in (200, 201)
        assert corp.post("/v1/sessions", seed_session("sess-corp")).status in (200, 201)
    finally:
        queue_down["down"] = False
    assert queue_down["failed"] >= 4 and deliveries.pending_messages() == []
    owners = {
        d.deliveryId: (org, hook_id)
        for org in ("acme", "acme-corp")
        for hook_id in secrets[org]
        for d in webhooks_dal.recent_deliveries(org, hook_id, 10)
    }
    assert len(owners) == 4  # one session.analyzed per webhook, all pending, none queued
    assert all(
        d.status == "pending"
        for org in secrets
        for hook_id in secrets[org]
        for d in webhooks_dal.recent_deliveries(org, hook_id, 10)
    )

    fake_clock.advance(**JUST_OVERDUE)
    assert _sweep(gateway)["requeued"] == len(owners)
    messages = _take_queued(deliveries)
    assert sorted(m["deliveryId"] for m in messages) == sorted(owners)
    for message in messages:
        assert (message["organizationId"], message["webhookId"]) == owners[message["deliveryId"]]

    # A message naming the other tenant (same webhook id, an id that prefix-matches) finds nothing there
    for message in messages:
        other = "acme-corp" if message["organizationId"] == "acme" else "acme"
        webhook_delivery.process_delivery_message({**message, "organizationId": other})
    assert all(receiver.requests == [] for receiver in receivers.values())

    for message in messages:
        deliveries.sqs.send_message(QueueUrl=deliveries.queue_url, MessageBody=json.dumps(message))
    deliveries.run()
    for org, receiver in receivers.items():
        assert len(receiver.requests) == sum(1 for owner, _ in owners.values() if owner == org)
        for request in receiver.requests:
            payload = json.loads(request["body"])
            assert payload["organizationId"] == org
            assert payload["data"]["sessionId"] == ("sess-acme" if org == "acme" else "sess-corp")
            delivery_id = request["headers"]["webhook-id"]
            assert owners[delivery_id][0] == org
            ReferenceVerifier(secrets[org][owners[delivery_id][1]]).verify(request["body"], request["headers"])


def test_the_schedule_cli_knows_the_sweeper():
    from chargewatch_tools.cli import build_parser
    from chargewatch_tools.infra import load_template
    from chargewatch_tools.schedule import schedules

    known = schedules(load_template())
    assert known["WebhookSweep"] == known["WebhookSweeperFunction"] == "WebhookSweeperFunction"
    event = load_template()["Resources"]["WebhookSweeperFunction"]["Properties"]["Events"]["WebhookSweep"]
    assert event["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    args = build_parser().parse_args(["schedule", "fire", "WebhookSweep", "--in-process"])
    assert (args.name, args.in_process) == ("WebhookSweep", True)
