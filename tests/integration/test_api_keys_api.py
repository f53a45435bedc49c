"""/v1/api-keys: the key shown once, prefixes only in lists, revoke/expiry -> 401, lastUsedAt at most
once a minute, and tenant isolation."""

from datetime import timedelta

from chargewatch.dal import api_keys as api_keys_dal
from chargewatch.services import auth

KEY_FIELDS = {"id", "name", "description", "tenantId", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"}


def test_create_list_and_use_a_key(make_org, client_for):
    organization_id, key = make_org("Acme", organization_id="acme")
    admin = client_for(key)
    created = admin.post("/v1/api-keys", {"name": "ci", "description": "pipeline"})
    assert created.status == 200, created.body
    body = created.json()
    assert {"id", "name", "key", "tenantId", "expiresAt", "createdAt"} <= set(body)
    assert body["tenantId"] == organization_id and body["key"].startswith("cw_test_") and body["expiresAt"] is None

    listed = admin.get("/v1/api-keys").json()
    assert listed["pagination"]["totalCount"] == 2
    for item in listed["items"]:
        assert KEY_FIELDS <= set(item) and "key" not in item
        assert len(item["prefix"]) == 12
    assert body["key"] not in created.body.decode().replace(body["key"], "", 1)  # shown exactly once
    assert body["key"] not in admin.get("/v1/api-keys").body.decode()
    new_item = next(item for item in listed["items"] if item["id"] == body["id"])
    assert body["key"].startswith(new_item["prefix"]) and new_item["description"] == "pipeline"

    assert client_for(body["key"]).get("/v1/sessions").status == 200
    assert admin.get("/v1/api-keys", query="page=1&pageSize=1").json()["pagination"] == {
        "totalCount": 2,
        "page": 1,
        "size": 1,
    }


def test_revoked_key_is_401_on_the_next_request(make_org, client_for):
    _, key = make_org("Acme", organization_id="acme")
    admin = client_for(key)
    other = admin.post("/v1/api-keys", {"name": "temp"}).json()
    other_client = client_for(other["key"])
    assert other_client.get("/v1/webhooks").status == 200  # now cached by the authorizer
    revoked = admin.request("DELETE", f"/v1/api-keys/{other['id']}")
    assert revoked.status == 200
    body = revoked.json()
    assert body["revokedAt"] and body["revokedOwnKey"] is False and body["activeKeysRemaining"] == 1
    assert body["warning"] is None
    denied = other_client.get("/v1/webhooks")
    assert denied.status == 401 and denied.json()["error"]["code"] == "api_key_revoked"
    again = admin.request("DELETE", f"/v1/api-keys/{other['id']}").json()  # idempotent
    assert again["revokedAt"] == body["revokedAt"]
    assert admin.get("/v1/webhooks").status == 200


def test_revoking_your_own_last_key_is_allowed_and_says_so(make_org, client_for):
    _, key = make_org("Acme", organization_id="acme")
    admin = client_for(key)
    own_id = admin.get("/v1/api-keys").json()["items"][0]["id"]
    response = admin.request("DELETE", f"/v1/api-keys/{own_id}")
    assert response.status == 200
    body = response.json()
    assert body["revokedOwnKey"] is True and body["activeKeysRemaining"] == 0 and "last active" in body["warning"]
    assert admin.get("/v1/api-keys").status == 401


def test_other_containers_drop_a_revoked_key_within_the_cache_ttl(make_org, monkeypatch):
    _, key = make_org("Acme", organization_id="acme")
    headers = {"authorization": f"Bearer {key}"}
    ticks = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: ticks[0])
    assert auth.authorize(headers).authorized
    item = api_keys_dal.find_by_hash(auth.api_keys.hash_key(key))
    api_keys_dal.revoke(item, "2026-01-01T00:00:00Z")  # revoked by another container: no local forget()
    ttl = auth.get_settings().auth_cache_ttl_seconds
    assert 0 < ttl <= 60
    ticks[0] += ttl - 1
    assert auth.authorize(headers).authorized  # still inside this container's documented TTL
    ticks[0] += 2
    assert auth.authorize(headers).error_code == "api_key_revoked"


def test_expiry(make_org, client_for, fake_clock):
    _, key = make_org("Acme", organization_id="acme")
    admin = client_for(key)
    past = (fake_clock.now() - timedelta(minutes=1)).isoformat()
    response = admin.post("/v1/api-keys", {"name": "old", "expiresAt": past})
    assert response.status == 400 and response.json()["error"]["details"][0]["field"] == "expiresAt"
    assert admin.post("/v1/api-keys", {"name": "bad", "expiresAt": "soon"}).status == 400

    soon = (fake_clock.now() + timedelta(minutes=2)).isoformat()
    created = admin.post("/v1/api-keys", {"name": "short", "expiresAt": soon}).json()
    assert created["expiresAt"]
    short = client_for(created["key"])
    assert short.get("/v1/webhooks").status == 200
    fake_clock.advance(minutes=3)
    denied = short.get("/v1/webhooks")
    assert denied.status == 401 and denied.json()["error"]["code"] == "api_key_expired"


def test_last_used_is_written_at_most_once_a_minute(make_org, client_for, fake_clock, monkeypatch):
    _, key = make_org("Acme", organization_id="acme")
    client = client_for(key)
    writes = []
    original = api_keys_dal.touch_last_used
    monkeypatch.setattr(api_keys_dal, "touch_last_used", lambda *a: writes.append(a[1]) or original(*a))
    for _ in range(5):
        assert client.get("/v1/webhooks").status == 200
        fake_clock.advance(seconds=5)
    assert len(writes) == 1
    first = client.get("/v1/api-keys").json()["items"][0]["lastUsedAt"]
    fake_clock.advance(seconds=60)
    client.get("/v1/webhooks")
    assert len(writes) == 2
    assert client.get("/v1/api-keys").json()["items"][0]["lastUsedAt"] > first

    # another container (its own cached copy) within the minute: the conditional write refuses
    item = api_keys_dal.find_by_hash(auth.api_keys.hash_key(key))
    stale = api_keys_dal.find_by_hash(auth.api_keys.hash_key(key))
    stale.lastUsedAt = None
    assert api_keys_dal.touch_last_used(stale, "2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z") is False
    item.refresh()
    assert item.lastUsedAt != "2099-01-01T00:00:00Z"


def test_api_key_routes_are_isolated_between_prefix_sharing_tenants(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    acme_extra = acme.post("/v1/api-keys", {"name": "acme-extra"}).json()
    corp_items = corp.get("/v1/api-keys").json()["items"]
    assert [item["tenantId"] for item in corp_items] == ["acme-corp"]
    assert all(item["id"] != acme_extra["id"] for item in corp_items)

    response = corp.request("DELETE", f"/v1/api-keys/{acme_extra['id']}")
    assert response.status == 404 and response.json()["error"]["code"] == "api_key_not_found"
    assert client_for(acme_extra["key"]).get("/v1/webhooks").status == 200  # untouched
    assert all(item["revokedAt"] is None for item in acme.get("/v1/api-keys").json()["items"])

    created = corp.post("/v1/api-keys", {"name": "mine", "tenantId": "acme", "organizationId": "acme"}).json()
    assert created["tenantId"] == "acme-corp"  # body fields never choose the tenant
    assert len(acme.get("/v1/api-keys").json()["items"]) == 2
