"""Seeds 000, 002 and 004: their examples, field names and casing, as contract tests."""

import copy
import re

from login_session_support import LAPTOP, ORG_A, UUID_PATTERN, browser, cookie_attributes

# seed 000: the example organization id is used as is
SEED_ORG = "org_01J4K8M2N3P5Q7R9"
SEED_CREATE = {
    "org_id": SEED_ORG,
    "tenant_context": {
        "org_id": SEED_ORG,
        "role": "admin",
        "terminology": {"student": "Learner"},
        "feature_flags": {"peer_review_beta": True},
    },
}
SEED_UPDATE = {
    "tenant_context": {
        "org_id": SEED_ORG,
        "role": "admin",
        "terminology": {"student": "Learner", "class": "Cohort"},
        "feature_flags": {"peer_review_beta": True, "ai_feedback_assistant": True},
    }
}
SEED_LIST_ITEM = {"session_id", "user_id", "org_id", "org_name", "is_active", "created_at", "expires_at"}
SEED_DETAIL = SEED_LIST_ITEM | {"tenant_context"}
SEED_CONTEXT = {"org_id", "role", "terminology", "feature_flags"}
SEED_UPDATED = {"session_id", "user_id", "org_id", "is_active", "updated_at", "expires_at"}
SEED_CLEARED = {"success", "cleared_at"}
# seed 004
SEED_SESSION = {"id", "organization", "user", "device", "createdAt", "releasedAt"}
SEED_DEVICE = {"id", "platform", "type", "name", "osVersion"}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _seed_admin(make_org, make_user, client_for):
    make_org("Northbrook Academy", organization_id=SEED_ORG)
    user = make_user("admin@northbrook.example", org=SEED_ORG, role="admin")
    return user, browser(client_for(user.token), LAPTOP)


def test_seed_000_examples(make_org, make_user, client_for):
    user, client = _seed_admin(make_org, make_user, client_for)

    created = client.post("/api/v1/tenant-sessions", copy.deepcopy(SEED_CREATE))
    assert created.status == 200, created.body
    body = created.json()
    assert set(body) == SEED_LIST_ITEM
    assert body["org_id"] == SEED_ORG and body["org_name"] == "Northbrook Academy" and body["is_active"] is True
    assert body["user_id"] == user.user_id
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["expires_at"])
    session_id = body["session_id"]

    listed = client.get("/api/v1/tenant-sessions").json()
    assert set(listed) == {"data", "pagination"}
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 1}
    assert set(listed["data"][0]) == SEED_LIST_ITEM

    detail = client.get(f"/api/v1/tenant-sessions/{session_id}").json()
    assert set(detail) == SEED_DETAIL and set(detail["tenant_context"]) == SEED_CONTEXT
    assert detail["tenant_context"] == SEED_CREATE["tenant_context"]

    updated = client.put(f"/api/v1/tenant-sessions/{session_id}", copy.deepcopy(SEED_UPDATE))
    assert updated.status == 200, updated.body
    assert set(updated.json()) == SEED_UPDATED and updated.json()["is_active"] is True
    assert client.get(f"/api/v1/tenant-sessions/{session_id}").json()["tenant_context"] == SEED_UPDATE["tenant_context"]

    cleared = client.delete(f"/api/v1/tenant-sessions/{session_id}")
    assert cleared.status == 200
    assert set(cleared.json()) == SEED_CLEARED and cleared.json()["success"] is True
    assert ISO_Z.match(cleared.json()["cleared_at"])


def test_seed_002_switch_examples(make_org, make_user, client_for):
    make_org("Northbrook Academy", organization_id=ORG_A)
    user = make_user("ana@example.com", org=ORG_A)
    client = client_for(user.token)

    switched = client.post(f"/api/tenants/{ORG_A}/switch")
    assert (switched.status, switched.json()) == (200, {"success": True})
    name, value, attributes = cookie_attributes(switched.cookies[0])
    assert (name, value, attributes["max-age"]) == ("active_tenant_id", ORG_A, str(30 * 24 * 3600))
    assert {"httponly", "secure"} <= set(attributes) and attributes["samesite"] == "Lax"

    assert client.post("/api/tenants/target-tenant-uuid-1234/switch").status == 400
    assert client_for(None).post(f"/api/tenants/{ORG_A}/switch").status == 401
    other = "5f0c8a52-1f0e-4d7c-9a51-3f6f8f2c1d99"
    make_org("Elsewhere", organization_id=other)
    assert client.post(f"/api/tenants/{other}/switch").status == 403

    redirect = client.get(f"/api/tenants/{ORG_A}/switch")
    assert (redirect.status, redirect.headers["location"]) == (302, "/excel")
    assert client_for(None).get(f"/api/tenants/{ORG_A}/switch").headers["location"] == "/"
    assert client.get(f"/api/tenants/{other}/switch").headers["location"] == "/onboarding"


def test_seed_004_shapes(make_org, make_user, client_for):
    user, client = _seed_admin(make_org, make_user, client_for)
    session_id = client.post("/api/v1/tenant-sessions", copy.deepcopy(SEED_CREATE)).json()["session_id"]

    listed = client.get("/api/v1/sessions", query="limit=100", headers={"X-Organization-Id": SEED_ORG})
    assert listed.status == 200
    body = listed.json()
    assert body["object"] == "list" and body.get("nextCursor") is None
    (item,) = body["data"]
    assert set(item) == SEED_SESSION and set(item["device"]) == SEED_DEVICE
    assert all(isinstance(value, str) for value in item["device"].values())
    assert re.match(UUID_PATTERN, item["id"]) and item["id"] == session_id
    assert item["organization"] == SEED_ORG and item["user"] == user.user_id
    assert ISO_Z.match(item["createdAt"]) and item["releasedAt"] is None

    single = client.get(f"/api/v1/sessions/{session_id}").json()
    assert single == item
    client.delete(f"/api/v1/tenant-sessions/{session_id}")
    assert ISO_Z.match(client.get(f"/api/v1/sessions/{session_id}").json()["releasedAt"])
