"""Seed 000 /api/v1/tenant-sessions (a user's own sessions) and seed 004 /api/v1/sessions (an
organization's login sessions with devices): every route and rule, and isolation between
organizations whose ids share a prefix."""

import re
from datetime import timedelta

import pytest
from login_session_support import LAPTOP, PHONE, UUID_PATTERN, browser

from chargewatch import clock
from chargewatch.dal import login_sessions as sessions_dal
from chargewatch.dal import members
from chargewatch.services import tenant_sessions

ACME = "acme"
ACME_CORP = "acme-corp"  # 'acme' is a string prefix of 'acme-corp'
SUMMARY_FIELDS = {"session_id", "user_id", "org_id", "org_name", "is_active", "created_at", "expires_at"}
ORG_SESSION_FIELDS = {"id", "organization", "user", "device", "createdAt", "releasedAt"}


@pytest.fixture
def acme(make_org):
    make_org("Acme", organization_id=ACME)
    _, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    return corp_key


def _open(client, org=ACME, **body):
    response = client.post("/api/v1/tenant-sessions", {"org_id": org, **body})
    assert response.status == 200, response.body
    return response.json()


def _assert_not_found_by_id(client, session_id):
    """Someone else's tenant session: GET, PUT and DELETE all answer 404."""
    for method, body in (("GET", None), ("PUT", {"tenant_context": {}}), ("DELETE", None)):
        response = client.request(method, f"/api/v1/tenant-sessions/{session_id}", json_body=body)
        assert response.status == 404 and response.json()["error"]["code"] == "tenant_session_not_found", method


def _open_several(make_user, client_for, moving_clock, count, **apart):
    """A member of acme with `count` sessions opened `apart`; returns (client, ids oldest first)."""
    client = client_for(make_user("ana@example.com", org=ACME).token)
    ids = []
    for _ in range(count):
        ids.append(_open(client)["session_id"])
        moving_clock.advance(**apart)
    return client, ids


def _join(org, user, role):
    members.put_member(org, user_id=user.user_id, email=user.email, role=role, joined_at=clock.iso_now())


# ------------------------------------------------------------------ seed 000: create


def test_create_binds_the_session_to_the_membership(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME, role="admin")
    created = _open(browser(client_for(user.token), LAPTOP))
    assert set(created) == SUMMARY_FIELDS
    assert re.match(UUID_PATTERN, created["session_id"])
    assert (created["user_id"], created["org_id"], created["org_name"], created["is_active"]) == (
        user.user_id,
        ACME,
        "Acme",
        True,
    )
    assert (
        clock.parse_iso(created["expires_at"]) - clock.parse_iso(created["created_at"])
        == tenant_sessions.ABSOLUTE_LIFETIME
    )
    detail = client_for(user.token).get(f"/api/v1/tenant-sessions/{created['session_id']}").json()
    assert detail["tenant_context"] == {"org_id": ACME, "role": "admin", "terminology": {}, "feature_flags": {}}


@pytest.mark.parametrize(
    "membership, claimed, status",
    [
        ("member", "admin", 403),
        ("member", "owner", 403),
        ("admin", "owner", 403),
        ("member", "member", 200),
        ("admin", "member", 200),
        ("admin", "admin", 200),
        ("owner", "owner", 200),
    ],
)
def test_a_client_cannot_claim_a_role_above_its_membership(acme, make_user, client_for, membership, claimed, status):
    user = make_user("ana@example.com", org=ACME, role=membership)
    client = client_for(user.token)
    response = client.post(
        "/api/v1/tenant-sessions", {"org_id": ACME, "tenant_context": {"org_id": ACME, "role": claimed}}
    )
    assert response.status == status, response.body
    if status == 403:
        assert response.json()["error"]["code"] == "role_not_permitted"
        assert client.get("/api/v1/tenant-sessions").json()["pagination"]["total"] == 0


def test_create_refuses_other_organizations_and_bad_bodies(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME, role="owner")
    client = client_for(user.token)
    for org, code in ((ACME_CORP, "not_a_member"), ("nonexistent", "not_a_member"), ("acme#x", "not_a_member")):
        response = client.post("/api/v1/tenant-sessions", {"org_id": org})
        assert response.status == 403 and response.json()["error"]["code"] == code, org
    mismatch = client.post("/api/v1/tenant-sessions", {"org_id": ACME, "tenant_context": {"org_id": ACME_CORP}})
    assert mismatch.status == 400 and mismatch.json()["error"]["code"] == "org_mismatch"
    for body in (
        {},
        {"org_id": ""},
        {"org_id": ACME, "tenant_context": {"role": "root"}},
        {"org_id": ACME, "tenant_context": {"feature_flags": {"x": "maybe"}}},
        {"org_id": ACME, "tenant_context": {"terminology": {"x": "y" * 201}}},
    ):
        response = client.post("/api/v1/tenant-sessions", body)
        assert response.status == 400 and response.json()["error"]["code"] == "validation_error", body
    assert client.get("/api/v1/tenant-sessions").json()["pagination"]["total"] == 0
    assert list(sessions_dal.list_for_user(user.user_id)) == []


def test_a_super_admin_may_open_a_session_anywhere_as_admin(acme, make_user, client_for):
    operator = make_user("ops@example.com", super_admin=True)
    client = client_for(operator.token)
    assert _open(client, ACME_CORP)["org_name"] == "Acme Corp"
    assert client.post("/api/v1/tenant-sessions", {"org_id": ACME, "tenant_context": {"role": "owner"}}).status == 403
    assert client.post("/api/v1/tenant-sessions", {"org_id": "nowhere"}).status == 404


def test_device_from_the_body_or_the_user_agent(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME)
    client = client_for(user.token)
    explicit = _open(
        browser(client, LAPTOP),
        device={"id": "kiosk-7", "platform": "Android", "type": "tablet", "name": "Front desk", "osVersion": "14"},
    )
    parsed = _open(browser(client, PHONE))
    first = client.get(f"/api/v1/sessions/{explicit['session_id']}").json()
    assert first["device"] == {
        "id": "kiosk-7",
        "platform": "Android",
        "type": "tablet",
        "name": "Front desk",
        "osVersion": "14",
    }
    second = client.get(f"/api/v1/sessions/{parsed['session_id']}").json()
    assert second["device"]["id"].startswith("dev_")
    assert {k: v for k, v in second["device"].items() if k != "id"} == {
        "platform": "iOS",
        "type": "mobile",
        "name": "Safari on iOS",
        "osVersion": "17.4",
    }


# ------------------------------------------------------------------ seed 000: list, get, put, delete


def test_list_is_newest_first_and_paged(acme, make_user, client_for, moving_clock):
    client, ids = _open_several(make_user, client_for, moving_clock, 3, seconds=1)
    first = client.get("/api/v1/tenant-sessions", query="limit=2").json()
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 3}
    second = client.get("/api/v1/tenant-sessions", query="page=2&limit=2").json()
    assert [item["session_id"] for item in first["data"] + second["data"]] == ids[::-1]
    assert client.get("/api/v1/tenant-sessions").json()["pagination"] == {"page": 1, "limit": 20, "total": 3}
    assert client.get("/api/v1/tenant-sessions", query="org_id=acme-corp").json()["pagination"]["total"] == 0
    for bad in ("page=0", "limit=0", "limit=101", "page=x"):
        assert client.get("/api/v1/tenant-sessions", query=bad).status == 400, bad


def test_each_user_sees_only_their_own_sessions(acme, make_user, client_for):
    ana = make_user("ana@example.com", org=ACME, role="owner")
    ben = make_user("ben@example.com", org=ACME)
    anas = _open(client_for(ana.token))
    bens = _open(client_for(ben.token))
    ana_client = client_for(ana.token)
    assert [item["session_id"] for item in ana_client.get("/api/v1/tenant-sessions").json()["data"]] == [
        anas["session_id"]
    ]
    _assert_not_found_by_id(ana_client, bens["session_id"])
    assert client_for(ben.token).get(f"/api/v1/tenant-sessions/{bens['session_id']}").json()["is_active"] is True


def test_put_replaces_the_context_and_rechecks_the_role(acme, make_user, client_for, moving_clock):
    user = make_user("ana@example.com", org=ACME, role="admin")
    client = client_for(user.token)
    created = _open(client)
    moving_clock.advance(minutes=30)
    context = {
        "org_id": ACME,
        "role": "admin",
        "terminology": {"station": "Charger"},
        "feature_flags": {"shade_overview": True},
    }
    updated = client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": context})
    assert updated.status == 200, updated.body
    assert updated.json() == {
        "session_id": created["session_id"],
        "user_id": user.user_id,
        "org_id": ACME,
        "is_active": True,
        "updated_at": clock.to_iso(moving_clock.moment),
        "expires_at": created["expires_at"],
    }
    assert client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()["tenant_context"] == context

    _join(ACME, user, "member")  # demoted
    refused = client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": context})
    assert refused.status == 403 and refused.json()["error"]["code"] == "role_not_permitted"
    assert (
        client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": {"org_id": ACME_CORP}}).status
        == 400
    )
    assert client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {}).status == 400
    assert client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()["tenant_context"] == context


def test_delete_ends_the_session_once(acme, make_user, client_for, moving_clock):
    user = make_user("ana@example.com", org=ACME)
    client = client_for(user.token)
    created = _open(client)
    moving_clock.advance(minutes=3)
    cleared = client.request("DELETE", f"/api/v1/tenant-sessions/{created['session_id']}")
    assert cleared.status == 200
    assert cleared.json() == {"success": True, "cleared_at": clock.to_iso(moving_clock.moment)}
    moving_clock.advance(minutes=3)
    again = client.request("DELETE", f"/api/v1/tenant-sessions/{created['session_id']}")
    assert again.json() == cleared.json()
    assert client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()["is_active"] is False
    assert client.get("/api/v1/tenant-sessions").json()["data"] == []
    assert client.get(f"/api/v1/sessions/{created['session_id']}").json()["releasedAt"] == cleared.json()["cleared_at"]
    refused = client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": {}})
    assert refused.status == 409 and refused.json()["error"]["code"] == "tenant_session_inactive"
    assert client.request("DELETE", "/api/v1/tenant-sessions/no-such-session").status == 404


# ------------------------------------------------------------------ expiry


def test_idle_sessions_expire_after_two_hours(acme, make_user, client_for, moving_clock):
    user = make_user("ana@example.com", org=ACME)
    client = client_for(user.token)
    created = _open(client)
    started = moving_clock.moment
    moving_clock.advance(hours=1, minutes=50)
    assert client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()["is_active"] is True  # activity
    moving_clock.advance(hours=1, minutes=50)
    assert client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()["is_active"] is True
    moving_clock.advance(hours=2)
    detail = client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()
    assert detail["is_active"] is False
    assert client.get("/api/v1/tenant-sessions").json()["pagination"]["total"] == 0
    assert client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": {}}).status == 409
    released = client.get(f"/api/v1/sessions/{created['session_id']}").json()["releasedAt"]
    assert clock.parse_iso(released) == started + timedelta(hours=3, minutes=40) + tenant_sessions.IDLE_TIMEOUT
    # DELETE of an expired session records its natural end, not the moment of the DELETE
    assert client.request("DELETE", f"/api/v1/tenant-sessions/{created['session_id']}").json()["cleared_at"] == released


def test_activity_never_extends_the_absolute_24_hours(acme, make_user, client_for, moving_clock):
    user = make_user("ana@example.com", org=ACME)
    client = client_for(user.token)
    created = _open(client)
    for _ in range(23):
        moving_clock.advance(hours=1)
        assert client.put(f"/api/v1/tenant-sessions/{created['session_id']}", {"tenant_context": {}}).status == 200
    moving_clock.advance(hours=1)
    detail = client.get(f"/api/v1/tenant-sessions/{created['session_id']}").json()
    assert detail["is_active"] is False and detail["expires_at"] == created["expires_at"]
    assert client.get(f"/api/v1/sessions/{created['session_id']}").json()["releasedAt"] == created["expires_at"]


def test_records_carry_a_ttl_a_week_after_expiry(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME)
    created = _open(client_for(user.token))
    item = sessions_dal.get(ACME, created["session_id"])
    expected = clock.parse_iso(created["expires_at"]) + tenant_sessions.RETENTION_AFTER_EXPIRY
    assert int(item.ttl) == int(expected.timestamp())


# ------------------------------------------------------------------ who may call


def test_seed_000_routes_need_a_user(acme, make_org, make_user, client_for):
    _, key = make_org("Keyed", organization_id="keyed")
    for client, status, code in (
        (client_for(None), 401, None),
        (client_for("garbage"), 401, None),
        (client_for(key), 403, "user_required"),
    ):
        for method, path, body in (
            ("GET", "/api/v1/tenant-sessions", None),
            ("POST", "/api/v1/tenant-sessions", {"org_id": "keyed"}),
            ("GET", "/api/v1/tenant-sessions/x", None),
            ("PUT", "/api/v1/tenant-sessions/x", {"tenant_context": {}}),
            ("DELETE", "/api/v1/tenant-sessions/x", None),
        ):
            response = client.request(method, path, json_body=body)
            assert response.status == status, (method, path, response.body)
            if code:
                assert response.json()["error"]["code"] == code


def test_a_user_without_organization_lists_nothing(acme, make_user, client_for):
    newcomer = make_user("new@example.com")
    response = client_for(newcomer.token).get("/api/v1/tenant-sessions")
    assert response.status == 200
    assert response.json() == {"data": [], "pagination": {"page": 1, "limit": 20, "total": 0}}
    assert client_for(newcomer.token).get("/api/v1/sessions").status == 403


# ------------------------------------------------------------------ member removal


def test_end_member_sessions_ends_only_that_organizations(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME)
    _join(ACME_CORP, user, "member")
    client = client_for(user.token)
    in_acme = [_open(browser(client, LAPTOP))["session_id"], _open(browser(client, PHONE))["session_id"]]
    in_corp = _open(client, ACME_CORP)["session_id"]
    client.request("DELETE", f"/api/v1/tenant-sessions/{in_acme[1]}")

    assert tenant_sessions.end_member_sessions(ACME, user.user_id) == 1  # the other one had already ended
    assert tenant_sessions.end_member_sessions(ACME, user.user_id) == 0
    assert [item["session_id"] for item in client.get("/api/v1/tenant-sessions").json()["data"]] == [in_corp]
    assert sessions_dal.get(ACME, in_acme[0]).releaseReason == "member_removed"
    assert sessions_dal.get(ACME, in_acme[1]).releaseReason == "signed_out"


# ------------------------------------------------------------------ seed 004: the organization's sessions


def test_every_member_and_the_api_key_see_the_organizations_sessions(make_org, make_user, client_for):
    _, key = make_org("Acme", organization_id=ACME)
    make_org("Acme Corp", organization_id=ACME_CORP)
    ana = make_user("ana@example.com", org=ACME, role="owner")
    ben = make_user("ben@example.com", org=ACME)
    anas = _open(browser(client_for(ana.token), LAPTOP))
    bens = _open(browser(client_for(ben.token), PHONE))
    for client in (client_for(ana.token), client_for(ben.token), client_for(key)):
        listed = client.get("/api/v1/sessions")
        assert listed.status == 200, listed.body
        body = listed.json()
        assert body["object"] == "list" and body["nextCursor"] is None
        assert [item["id"] for item in body["data"]] == [bens["session_id"], anas["session_id"]]
        for item in body["data"]:
            assert set(item) == ORG_SESSION_FIELDS and set(item["device"]) == {
                "id",
                "platform",
                "type",
                "name",
                "osVersion",
            }
            assert item["organization"] == ACME and item["releasedAt"] is None
        assert client.get(f"/api/v1/sessions/{anas['session_id']}").json()["user"] == ana.user_id


def test_cursor_pagination_walks_every_session_once(acme, make_user, client_for, moving_clock):
    client, created = _open_several(make_user, client_for, moving_clock, 5, milliseconds=1)
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&before={cursor}" if cursor else "")
        body = client.get("/api/v1/sessions", query=query).json()
        seen += [item["id"] for item in body["data"]]
        pages += 1
        cursor = body.get("nextCursor")
        if cursor is None:
            break
        assert tenant_sessions.parse_before(cursor)  # an RFC3339 timestamp
    assert seen == created[::-1] and pages == 3
    at_third = client.get(f"/api/v1/sessions/{created[2]}").json()["createdAt"]
    older = client.get("/api/v1/sessions", query=f"before={at_third}").json()
    assert [item["id"] for item in older["data"]] == created[1::-1]  # strictly before
    assert client.get("/api/v1/sessions", query="limit=500").status == 200


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=abc",
        "limit=-1",
        "before=yesterday",
        "before=2026-03-26",
        "before=2026-03-26T09:00:00",
    ],
)
def test_invalid_limit_or_before_is_400(acme, make_user, client_for, query):
    user = make_user("ana@example.com", org=ACME)
    response = client_for(user.token).get("/api/v1/sessions", query=query)
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "validation_error"


def test_the_default_limit_is_100(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME)
    context = {"org_id": ACME, "role": "member", "terminology": {}, "feature_flags": {}}
    for _ in range(101):
        tenant_sessions._open(ACME, user.user_id, context, {"id": "d"}, None, clock.now())
    body = client_for(user.token).get("/api/v1/sessions").json()
    assert len(body["data"]) == 100 and body["nextCursor"]


def test_get_session_validates_the_id_and_the_organization(acme, make_user, client_for):
    user = make_user("ana@example.com", org=ACME)
    _join(ACME_CORP, user, "member")
    client = client_for(user.token)
    in_corp = _open(client, ACME_CORP)["session_id"]
    assert client.get("/api/v1/sessions/not-a-uuid").status == 400
    missing = client.get("/api/v1/sessions/01a2087a-7647-72a6-9cf5-522d8535156b")
    assert missing.status == 404 and missing.json()["error"]["code"] == "session_not_found"
    assert client.get(f"/api/v1/sessions/{in_corp}", headers={"X-Organization-Id": ACME}).status == 404
    assert client.get(f"/api/v1/sessions/{in_corp}", headers={"X-Organization-Id": ACME_CORP}).status == 200


def test_prefix_sharing_organizations_are_isolated(acme, make_user, client_for):
    """The user belongs to `acme` only; `acme-corp`'s sessions stay invisible and untouched."""
    ana = make_user("ana@example.com", org=ACME)
    carl = make_user("carl@example.com", org=ACME_CORP, role="admin")
    corp_session = _open(client_for(carl.token), ACME_CORP)
    before = sessions_dal.get(ACME_CORP, corp_session["session_id"]).attribute_values
    client = client_for(ana.token)
    ana_session = _open(client)

    assert [item["id"] for item in client.get("/api/v1/sessions").json()["data"]] == [ana_session["session_id"]]
    denied = client.get("/api/v1/sessions", headers={"X-Organization-Id": ACME_CORP})
    assert denied.status == 403 and denied.json()["error"]["code"] == "not_a_member"
    assert client.get(f"/api/v1/sessions/{corp_session['session_id']}").status == 404
    assert (
        client.get(f"/api/v1/sessions/{corp_session['session_id']}", headers={"X-Organization-Id": ACME_CORP}).status
        == 403
    )
    _assert_not_found_by_id(client, corp_session["session_id"])
    assert client.post("/api/v1/tenant-sessions", {"org_id": ACME_CORP}).status == 403
    assert client.get("/api/v1/tenant-sessions", query="org_id=acme-corp").json()["data"] == []
    assert sessions_dal.get(ACME_CORP, corp_session["session_id"]).attribute_values == before
    assert [item.sessionId for item in sessions_dal.list_for_user(ana.user_id)] == [ana_session["session_id"]]
    assert tenant_sessions.end_member_sessions(ACME_CORP, ana.user_id) == 0
    assert client_for(carl.token).get(f"/api/v1/tenant-sessions/{corp_session['session_id']}").json()["is_active"]
