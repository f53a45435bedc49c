"""Seed 002 tenant switch: POST and the GET redirect variant, the active-tenant cookie, the
rotation of the user's tenant session, and isolation between prefix-sharing organizations."""

from login_session_support import LAPTOP, ORG_A, ORG_B, PHONE, browser, cookie_attributes

from chargewatch.dal import login_sessions as sessions_dal
from chargewatch.services import tenant_sessions

NOT_A_UUID = "target-tenant-uuid-1234"


def _sessions_of(user_id):
    return list(sessions_dal.list_for_user(user_id))


def _two_orgs(make_org, make_user, *, role_b="member"):
    make_org("Northbrook Academy", organization_id=ORG_A)
    make_org("Northbrook Corp", organization_id=ORG_B)
    user = make_user("ana@example.com", org=ORG_A, role="admin")
    if role_b:
        from chargewatch import clock
        from chargewatch.dal import members

        members.put_member(ORG_B, user_id=user.user_id, email=user.email, role=role_b, joined_at=clock.iso_now())
    return user


def test_post_switch_sets_the_cookie_and_answers_success(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user)
    response = client_for(user.token).post(f"/api/tenants/{ORG_B}/switch")
    assert response.status == 200, response.body
    assert response.json() == {"success": True}
    (set_cookie,) = response.cookies
    name, value, attributes = cookie_attributes(set_cookie)
    assert (name, value) == ("active_tenant_id", ORG_B)
    assert attributes == {"max-age": "2592000", "path": "/", "httponly": "", "secure": "", "samesite": "Lax"}


def test_the_cookie_makes_later_requests_act_on_the_new_tenant(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user)
    laptop = browser(client_for(user.token), LAPTOP)
    laptop.post("/api/v1/tenant-sessions", {"org_id": ORG_A})
    laptop.post(f"/api/tenants/{ORG_B}/switch")
    listed = laptop.get("/api/v1/sessions", headers={"cookie": f"active_tenant_id={ORG_B}"}).json()
    assert {item["organization"] for item in listed["data"]} == {ORG_B}
    # without the cookie the default (first) organization applies
    assert {item["organization"] for item in laptop.get("/api/v1/sessions").json()["data"]} == {ORG_A}


def test_switching_rotates_the_session_of_this_browser_only(make_org, make_user, client_for, moving_clock):
    user = _two_orgs(make_org, make_user)
    client = client_for(user.token)
    laptop, phone = browser(client, LAPTOP), browser(client, PHONE)
    on_laptop = laptop.post("/api/v1/tenant-sessions", {"org_id": ORG_A, "device": {"id": "laptop-1"}}).json()
    on_phone = phone.post("/api/v1/tenant-sessions", {"org_id": ORG_A}).json()
    moving_clock.advance(minutes=5)

    assert laptop.post(f"/api/tenants/{ORG_B}/switch").status == 200

    old = client.get(f"/api/v1/tenant-sessions/{on_laptop['session_id']}").json()
    assert old["is_active"] is False
    assert client.get(f"/api/v1/tenant-sessions/{on_phone['session_id']}").json()["is_active"] is True
    active = client.get("/api/v1/tenant-sessions").json()["data"]
    (rotated,) = [item for item in active if item["org_id"] == ORG_B]
    assert rotated["session_id"] not in (on_laptop["session_id"], on_phone["session_id"])
    assert {item["session_id"] for item in active} == {rotated["session_id"], on_phone["session_id"]}
    detail = client.get(f"/api/v1/tenant-sessions/{rotated['session_id']}").json()
    assert detail["tenant_context"]["role"] == "member" and detail["tenant_context"]["org_id"] == ORG_B
    # the device moves with the session; the old one shows when it was released
    new_in_b = client.get(f"/api/v1/sessions/{rotated['session_id']}", headers={"X-Organization-Id": ORG_B}).json()
    assert new_in_b["device"]["id"] == "laptop-1" and new_in_b["releasedAt"] is None
    old_in_a = client.get(f"/api/v1/sessions/{on_laptop['session_id']}", headers={"X-Organization-Id": ORG_A}).json()
    assert old_in_a["releasedAt"] == moving_clock.moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_switching_without_a_session_opens_one_and_again_keeps_it(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user)
    laptop = browser(client_for(user.token), LAPTOP)
    assert laptop.post(f"/api/tenants/{ORG_B}/switch").status == 200
    (opened,) = _sessions_of(user.user_id)
    assert opened.organizationId == ORG_B and opened.device["platform"] == "macOS"
    assert laptop.post(f"/api/tenants/{ORG_B}/switch").status == 200
    (kept,) = _sessions_of(user.user_id)
    assert kept.sessionId == opened.sessionId and kept.releasedAt is None


def test_invalid_tenant_id_is_400(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user)
    for bad in (NOT_A_UUID, ORG_A + "0", ORG_A.replace("-", "")):
        response = client_for(user.token).post(f"/api/tenants/{bad}/switch")
        assert response.status == 400, bad
        assert response.json()["error"]["code"] == "invalid_tenant_id"
        assert response.cookies == []


def test_unauthenticated_is_401(make_org, client_for):
    make_org("Northbrook Academy", organization_id=ORG_A)
    for client in (client_for(None), client_for("not-a-token")):
        response = client.post(f"/api/tenants/{ORG_A}/switch")
        assert response.status == 401
        assert response.cookies == [] and "error" in response.json()


def test_an_api_key_cannot_switch(make_org, client_for):
    _, key = make_org("Northbrook Academy", organization_id=ORG_A)
    response = client_for(key).post(f"/api/tenants/{ORG_A}/switch")
    assert response.status == 403 and response.json()["error"]["code"] == "user_required"


def test_a_non_member_gets_403_and_nothing_changes(make_org, make_user, client_for):
    """ORG_A and ORG_B differ only in their last character; the user belongs to ORG_A only."""
    user = _two_orgs(make_org, make_user, role_b=None)
    laptop = browser(client_for(user.token), LAPTOP)
    created = laptop.post("/api/v1/tenant-sessions", {"org_id": ORG_A}).json()
    before = [item.attribute_values for item in _sessions_of(user.user_id)]

    response = laptop.post(f"/api/tenants/{ORG_B}/switch")
    assert response.status == 403 and response.json()["error"]["code"] == "not_a_member"
    assert response.cookies == []
    redirect = laptop.get(f"/api/tenants/{ORG_B}/switch")
    assert (redirect.status, redirect.headers["location"], redirect.cookies) == (302, "/onboarding", [])
    assert [item.attribute_values for item in _sessions_of(user.user_id)] == before
    # a forged cookie naming ORG_B is ignored: the request still acts on ORG_A
    listed = laptop.get("/api/v1/sessions", headers={"cookie": f"active_tenant_id={ORG_B}"}).json()
    assert [item["id"] for item in listed["data"]] == [created["session_id"]]
    assert laptop.get("/api/v1/sessions", headers={"X-Organization-Id": ORG_B}).status == 403


def test_a_super_admin_may_switch_to_any_existing_organization(make_org, make_user, client_for):
    make_org("Northbrook Academy", organization_id=ORG_A)
    operator = make_user("ops@example.com", super_admin=True)
    response = client_for(operator.token).post(f"/api/tenants/{ORG_A}/switch")
    assert response.status == 200 and response.cookies
    (opened,) = _sessions_of(operator.user_id)
    assert opened.organizationId == ORG_A and opened.tenantContext["role"] == "admin"
    missing = client_for(operator.token).post(f"/api/tenants/{ORG_B}/switch")
    assert missing.status == 404 and missing.json()["error"]["code"] == "organization_not_found"


def test_a_user_without_any_organization_gets_403(make_org, make_user, client_for):
    make_org("Northbrook Academy", organization_id=ORG_A)
    newcomer = make_user("new@example.com")
    response = client_for(newcomer.token).post(f"/api/tenants/{ORG_A}/switch")
    assert response.status == 403 and response.json()["error"]["code"] == "not_a_member"


# ------------------------------------------------------------------ GET redirect variant


def test_redirect_variant_on_success(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user)
    response = client_for(user.token).get(f"/api/tenants/{ORG_B}/switch")
    assert response.status == 302 and response.headers["location"] == "/excel"
    (set_cookie,) = response.cookies
    assert cookie_attributes(set_cookie)[:2] == ("active_tenant_id", ORG_B)
    assert [item.organizationId for item in _sessions_of(user.user_id)] == [ORG_B]


def test_redirect_variant_when_unauthenticated_or_not_a_member(make_org, make_user, client_for):
    user = _two_orgs(make_org, make_user, role_b=None)
    for client in (client_for(None), client_for("not-a-token")):
        response = client.get(f"/api/tenants/{ORG_A}/switch")
        assert (response.status, response.headers["location"], response.cookies) == (302, "/", [])
    for target in (ORG_B, NOT_A_UUID):
        response = client_for(user.token).get(f"/api/tenants/{target}/switch")
        assert (response.status, response.headers["location"], response.cookies) == (302, "/onboarding", [])
    assert _sessions_of(user.user_id) == []


def test_redirect_targets_are_configurable(make_org, make_user, client_for, monkeypatch):
    from chargewatch import settings

    user = _two_orgs(make_org, make_user, role_b=None)
    client = client_for(user.token)
    client.get(f"/api/tenants/{ORG_A}/switch")  # the function is loaded (and its template env applied)
    monkeypatch.setenv("SWITCH_REDIRECT_SUCCESS", "/app/home")
    monkeypatch.setenv("SWITCH_REDIRECT_UNAUTHENTICATED", "/login")
    monkeypatch.setenv("SWITCH_REDIRECT_FORBIDDEN", "/join")
    settings.reload_settings()
    try:
        assert client.get(f"/api/tenants/{ORG_A}/switch").headers["location"] == "/app/home"
        assert client.get(f"/api/tenants/{ORG_B}/switch").headers["location"] == "/join"
        assert client_for(None).get(f"/api/tenants/{ORG_A}/switch").headers["location"] == "/login"
    finally:
        monkeypatch.undo()
        settings.reload_settings()


def test_the_settings_default_to_the_seed_targets():
    from chargewatch.settings import Settings

    defaults = Settings.from_environ({})
    assert (
        defaults.switch_redirect_success,
        defaults.switch_redirect_unauthenticated,
        defaults.switch_redirect_forbidden,
    ) == ("/excel", "/", "/onboarding")
    assert tenant_sessions.ACTIVE_TENANT_MAX_AGE == 30 * 24 * 3600
