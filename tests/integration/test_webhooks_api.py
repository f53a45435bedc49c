"""/v1/webhooks: seed-003 shapes, validation, secrets shown once, deletion, tenant isolation."""

import pytest

from chargewatch.dal import webhooks as webhooks_dal
from chargewatch.services import webhook_events, webhooks

WEBHOOK_FIELDS = {
    "id",
    "url",
    "events",
    "description",
    "enabled",
    "failureCount",
    "disabledAt",
    "createdAt",
    "updatedAt",
}
DELIVERY_FIELDS = {"id", "eventType", "status", "httpStatus", "attemptCount", "createdAt", "completedAt"}


def _create(client, url, events=("session.analyzed",), **extra):
    response = client.post("/v1/webhooks", {"url": url, "events": list(events), **extra})
    assert response.status == 200, response.body
    return response.json()


def test_crud_in_seed_shapes(api, local_mode, receiver_factory):
    receiver = receiver_factory()
    created = _create(api, receiver.url, ["session.analyzed", "anomaly.detected"], description="ops")
    assert WEBHOOK_FIELDS | {"secret"} <= set(created)
    assert created["secret"].startswith("whsec_") and created["enabled"] is True and created["failureCount"] == 0
    webhook_id = created["id"]

    listed = api.get("/v1/webhooks").json()
    assert listed["pagination"] == {"totalCount": 1, "page": 0, "size": 20}
    (item,) = listed["content"]
    assert WEBHOOK_FIELDS <= set(item) and "secret" not in item

    detail = api.get(f"/v1/webhooks/{webhook_id}").json()
    assert "secret" not in detail and detail["recentDeliveries"] == []

    updated = api.put(f"/v1/webhooks/{webhook_id}", {"events": ["batch.completed"], "description": "batches"}).json()
    assert updated["events"] == ["batch.completed"] and updated["description"] == "batches"
    assert updated["url"] == receiver.url and "secret" not in updated
    disabled = api.put(f"/v1/webhooks/{webhook_id}", {"enabled": False}).json()
    assert disabled["enabled"] is False and disabled["disabledAt"]

    rotated = api.post(f"/v1/webhooks/{webhook_id}/rotate-secret").json()
    assert WEBHOOK_FIELDS | {"secret"} <= set(rotated) and rotated["secret"] != created["secret"]

    deleted = api.request("DELETE", f"/v1/webhooks/{webhook_id}")
    assert deleted.status == 200 and deleted.json()["deleted"] is True
    assert api.get(f"/v1/webhooks/{webhook_id}").status == 404
    assert api.get("/v1/webhooks").json()["content"] == []


def test_test_event_reports_the_attempt_and_is_recorded(api, local_mode, receiver_factory):
    good, bad = receiver_factory(), receiver_factory(default=503)
    ok_id = _create(api, good.url)["id"]
    result = api.post(f"/v1/webhooks/{ok_id}/test").json()
    assert result["success"] is True and result["httpStatus"] == 200 and result["eventType"] == "webhook.test"
    assert good.requests[0]["headers"]["webhook-id"] == result["deliveryId"]
    (delivery,) = api.get(f"/v1/webhooks/{ok_id}").json()["recentDeliveries"]
    assert DELIVERY_FIELDS <= set(delivery)
    assert (delivery["status"], delivery["httpStatus"], delivery["attemptCount"]) == ("succeeded", 200, 1)

    bad_id = _create(api, bad.url)["id"]
    failed = api.post(f"/v1/webhooks/{bad_id}/test").json()
    assert failed["success"] is False and failed["httpStatus"] == 503 and "503" in failed["responseBody"]
    detail = api.get(f"/v1/webhooks/{bad_id}").json()
    assert detail["failureCount"] == 0 and detail["enabled"] is True  # a test never counts against the webhook
    assert len(bad.requests) == 1  # and is never retried


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "https://hooks.example.com/x", "events": ["session.analyzed", "session.deleted"]}, "events"),
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x"}, "events"),
        ({"events": ["session.analyzed"]}, "url"),
        ({"url": "http://hooks.example.com/x", "events": ["session.analyzed"]}, "url"),
        ({"url": "https://169.254.169.254/latest", "events": ["session.analyzed"]}, "url"),
        ({"url": "https://[::ffff:127.0.0.1]/", "events": ["session.analyzed"]}, "url"),
        ({"url": "not a url", "events": ["session.analyzed"]}, "url"),
    ],
)
def test_invalid_webhooks_are_400_naming_the_field(api, body, field):
    response = api.post("/v1/webhooks", body)
    assert response.status == 400, response.body
    assert field in [detail["field"] for detail in response.json()["error"]["details"]]


def test_unknown_event_message_names_it(api):
    error = api.post("/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["nope"]}).json()["error"]
    assert error["details"][0]["field"] == "events" and "'nope'" in error["message"]


def test_update_validates_url_and_events(api, local_mode, receiver_factory):
    webhook_id = _create(api, receiver_factory().url)["id"]
    assert api.put(f"/v1/webhooks/{webhook_id}", {"url": "https://10.0.0.1/"}).status == 400
    assert api.put(f"/v1/webhooks/{webhook_id}", {"events": ["x.y"]}).status == 400


def test_a_hostname_resolving_to_a_private_address_is_refused_at_create(api, monkeypatch):
    from chargewatch import outbound

    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["192.168.10.20"])
    response = api.post("/v1/webhooks", {"url": "https://internal.example.com/x", "events": ["session.analyzed"]})
    assert response.status == 400 and "192.168.10.20" in response.json()["error"]["message"]


def test_list_pages(api, local_mode, receiver_factory, fake_clock):
    url = receiver_factory().url
    ids = []
    for _ in range(5):
        ids.append(_create(api, url)["id"])
        fake_clock.advance(seconds=1)
    page = api.get("/v1/webhooks", query="page=1&pageSize=2").json()
    assert page["pagination"] == {"totalCount": 5, "page": 1, "size": 2}
    assert [item["id"] for item in page["content"]] == ids[::-1][2:4]  # newest first
    assert api.get("/v1/webhooks", query="pageSize=0").status == 400


def test_delete_removes_the_delivery_records(api, local_mode, receiver_factory, deliveries, fake_clock):
    webhook = _create(api, receiver_factory().url)
    organization_id = api.get("/v1/api-keys").json()["items"][0]["tenantId"]
    for _ in range(3):
        webhook_events.publish(organization_id, "session.analyzed", {"sessionId": "s"})
    deliveries.run()
    assert len(webhooks_dal.recent_deliveries(organization_id, webhook["id"], 50)) == 3
    assert api.request("DELETE", f"/v1/webhooks/{webhook['id']}").json()["deliveriesDeleted"] == 3
    assert webhooks_dal.recent_deliveries(organization_id, webhook["id"], 50) == []


def test_recent_deliveries_are_newest_first_and_bounded(api, local_mode, receiver_factory, deliveries, fake_clock):
    webhook = _create(api, receiver_factory().url)
    organization_id = api.get("/v1/api-keys").json()["items"][0]["tenantId"]
    for number in range(webhooks.RECENT_DELIVERIES + 2):
        webhook_events.publish(organization_id, "session.analyzed", {"sessionId": f"s{number}"})
        fake_clock.advance(seconds=1)
    deliveries.run()
    recent = api.get(f"/v1/webhooks/{webhook['id']}").json()["recentDeliveries"]
    assert len(recent) == webhooks.RECENT_DELIVERIES
    stamps = [delivery["createdAt"] for delivery in recent]
    assert stamps == sorted(stamps, reverse=True)
    item = webhooks_dal.get_delivery(organization_id, webhook["id"], recent[0]["id"])
    created = fake_clock.now().timestamp() - 1
    assert abs(int(item.ttl) - (created + 30 * 86400)) <= 2  # expires by TTL after 30 days


def test_webhook_limit_per_organization(api, local_mode, receiver_factory, monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_WEBHOOKS_PER_ORGANIZATION", 2)
    url = receiver_factory().url
    _create(api, url), _create(api, url)
    response = api.post("/v1/webhooks", {"url": url, "events": ["session.analyzed"]})
    assert response.status == 409 and response.json()["error"]["code"] == "webhook_limit_reached"


# ------------------------------------------------------------------ tenant isolation


def test_every_webhook_route_is_isolated_between_prefix_sharing_tenants(
    make_org, client_for, local_mode, receiver_factory, deliveries
):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    acme_receiver, corp_receiver = receiver_factory(), receiver_factory()
    acme_hook = _create(acme, acme_receiver.url)
    corp_hook = _create(corp, corp_receiver.url)
    before = acme.get(f"/v1/webhooks/{acme_hook['id']}").json()

    assert [item["id"] for item in corp.get("/v1/webhooks").json()["content"]] == [corp_hook["id"]]
    path = f"/v1/webhooks/{acme_hook['id']}"
    for method, route, body in (
        ("GET", path, None),
        ("PUT", path, {"enabled": False, "url": corp_receiver.url}),
        ("POST", path + "/rotate-secret", None),
        ("POST", path + "/test", None),
        ("DELETE", path, None),
    ):
        response = corp.request(method, route, json_body=body)
        assert response.status == 404, (method, route, response.body)
        assert response.json()["error"]["code"] == "webhook_not_found"
    assert acme.get(path).json() == before  # no side effect: same secret-free state, no deliveries
    assert acme_receiver.requests == [] and corp_receiver.requests == []
    assert webhooks_dal.get_webhook("acme", acme_hook["id"]).secret == acme_hook["secret"]

    # events reach only the organization's own webhooks, with its own ids
    webhook_events.publish("acme", "session.analyzed", {"sessionId": "acme-session"})
    deliveries.run()
    assert len(acme_receiver.requests) == 1 and corp_receiver.requests == []
    assert b'"organizationId":"acme"' in acme_receiver.requests[0]["body"]
