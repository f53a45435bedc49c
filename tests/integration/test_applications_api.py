"""/api/v1/applications (seed 001): registration with a secret shown once, sessions opened with that
secret (or by an admin), derivedStatus over a moved clock, revoke-all (also racing token use), and
isolation between organizations whose ids share a prefix."""

import threading
from datetime import timedelta

import pytest
from seed_examples import seed_session

from chargewatch.dal import applications as applications_dal
from chargewatch.services import applications

SESSION_FIELDS = {
    "id",
    "name",
    "status",
    "derivedStatus",
    "tokenExpiresAt",
    "lastActiveAt",
    "connectedAt",
    "disconnectedAt",
    "createdAt",
    "agentId",
    "organizationId",
    "hostname",
    "userAgent",
    "clientInfo",
}
UNKNOWN_UUID = "550e8400-e29b-41d4-a716-446655440000"
ACME, ACME_CORP = "acme", "acme-corp"  # 'acme' is a string prefix of 'acme-corp'


def _register(admin, name="Acme CPMS", type_="cpms", **extra):
    response = admin.post("/api/v1/applications", {"name": name, "type": type_, **extra})
    assert response.status == 200, response.body
    body = response.json()
    return body["application"], body["applicationSecret"]


def _connect(client, application_id, name="agent-1", **extra):
    response = client.post(f"/api/v1/applications/{application_id}/sessions", {"name": name, **extra})
    assert response.status == 200, response.body
    return response.json()


def _sessions_path(application_id):
    return f"/api/v1/applications/{application_id}/sessions"


@pytest.fixture
def acme(make_org, client_for):
    _, key = make_org("Acme", organization_id=ACME)
    return client_for(key)


# ------------------------------------------------------------------ applications


def test_register_list_and_get_an_application(acme, client_for, stack):
    import boto3

    application, secret = _register(acme, description="our charge-point backend")
    assert set(application) == {"id", "name", "type", "description", "organizationId", "createdAt", "sessionsRevokedAt"}
    assert application["organizationId"] == ACME and application["type"] == "cpms"
    assert application["description"] == "our charge-point backend" and application["sessionsRevokedAt"] is None
    assert secret.startswith("cwas_") and len(secret) == 48

    other, _ = _register(acme, name="Ops agent", type_="agent")
    listed = acme.get("/api/v1/applications")
    assert listed.status == 200
    assert [item["id"] for item in listed.json()["applications"]] == [other["id"], application["id"]]  # newest first
    assert secret not in listed.body.decode()
    got = acme.get(f"/api/v1/applications/{application['id']}")
    assert got.status == 200 and got.json() == {"application": application}
    assert secret not in got.body.decode()

    # only the secret's hash is stored
    stored = boto3.client("dynamodb", region_name="eu-west-1").scan(TableName=stack.refs["Table"])["Items"]
    assert secret not in str(stored)
    assert applications.hash_key(secret) in str(stored)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"type": "cpms"}, "name"),
        ({"name": "x", "type": "toaster"}, "type"),
        ({"name": "", "type": "cpms"}, "name"),
        ({"name": "x", "type": "cpms", "secret": "mine"}, "secret"),
    ],
)
def test_register_validates_its_body(acme, body, field):
    response = acme.post("/api/v1/applications", body)
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "validation_error"
    assert field in {detail["field"] for detail in response.json()["error"]["details"]}


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/applications/not-a-uuid"),
        ("POST", "/api/v1/applications/not-a-uuid/sessions"),
        ("GET", "/api/v1/applications/not-a-uuid/sessions"),
        ("DELETE", "/api/v1/applications/not-a-uuid/sessions"),
        ("GET", "/api/v1/applications/not-a-uuid/sessions/44444444-4444-4444-8444-444444444444"),
        ("GET", f"/api/v1/applications/{UNKNOWN_UUID}/sessions/not-a-uuid"),
    ],
)
def test_path_ids_must_be_uuids(acme, method, path):
    response = acme.request(method, path, json_body={"name": "x"} if method == "POST" else None)
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "method, suffix",
    [
        ("GET", ""),
        ("POST", "/sessions"),
        ("GET", "/sessions"),
        ("DELETE", "/sessions"),
        ("GET", f"/sessions/{UNKNOWN_UUID}"),
    ],
)
def test_unknown_application_is_404(acme, method, suffix):
    response = acme.request(
        method, f"/api/v1/applications/{UNKNOWN_UUID}{suffix}", json_body={"name": "x"} if method == "POST" else None
    )
    assert response.status == 404, response.body
    assert response.json()["error"]["code"] == "application_not_found"


def test_unknown_session_is_404(acme):
    application, _ = _register(acme)
    response = acme.get(f"{_sessions_path(application['id'])}/{UNKNOWN_UUID}")
    assert response.status == 404 and response.json()["error"]["code"] == "session_not_found"


def test_unauthenticated_calls_are_401(acme, client_for):
    application, _ = _register(acme)
    anonymous = client_for(None)
    for method, path in (
        ("GET", "/api/v1/applications"),
        ("POST", _sessions_path(application["id"])),
        ("DELETE", _sessions_path(application["id"])),
    ):
        response = anonymous.request(method, path, json_body={"name": "x"} if method == "POST" else None)
        assert response.status == 401, (method, path, response.body)


# ------------------------------------------------------------------ connect


def test_connect_with_the_application_secret(acme, client_for):
    application, secret = _register(acme)
    connected = _connect(
        client_for(secret),
        application["id"],
        name="claude-desktop",
        hostname="ops-laptop",
        userAgent="mcp-client/1.2",
        clientInfo={"name": "claude", "version": "0.9"},
    )
    assert set(connected) == {"session", "token", "tokenExpiresAt"}
    session = connected["session"]
    assert set(session) == SESSION_FIELDS
    assert session["status"] == "active" and session["derivedStatus"] == "active"
    assert session["agentId"] == application["id"] and session["organizationId"] == ACME
    assert (session["name"], session["hostname"], session["userAgent"]) == (
        "claude-desktop",
        "ops-laptop",
        "mcp-client/1.2",
    )
    assert session["clientInfo"] == {"name": "claude", "version": "0.9"}
    assert session["connectedAt"] == session["createdAt"] == session["lastActiveAt"]
    assert session["disconnectedAt"] is None and connected["tokenExpiresAt"] == session["tokenExpiresAt"]
    assert connected["token"].startswith("cwa_") and not connected["token"].startswith("cwas_")

    got = acme.get(f"{_sessions_path(application['id'])}/{session['id']}")
    assert got.status == 200 and got.json() == {"session": session}
    assert connected["token"] not in got.body.decode()


def test_connect_by_an_admin_and_its_validation(acme):
    application, _ = _register(acme)
    assert _connect(acme, application["id"])["session"]["hostname"] is None
    for body in ({}, {"name": ""}, {"name": "x", "clientInfo": "not an object"}, {"name": "x", "status": "active"}):
        response = acme.post(_sessions_path(application["id"]), body)
        assert response.status == 400, (body, response.body)


def test_a_secret_only_opens_sessions_of_its_own_application(acme, client_for):
    application, secret = _register(acme)
    other, _ = _register(acme, name="Other")
    with_secret = client_for(secret)
    mismatch = with_secret.post(_sessions_path(other["id"]), {"name": "x"})
    assert mismatch.status == 403 and mismatch.json()["error"]["code"] == "application_mismatch"
    # the secret is not an API credential: every other route refuses it
    for method, path in (
        ("GET", "/api/v1/applications"),
        ("GET", _sessions_path(application["id"])),
        ("DELETE", _sessions_path(application["id"])),
        ("GET", "/v1/sessions"),
    ):
        assert with_secret.request(method, path).status == 401, (method, path)
    wrong = client_for("cwas_" + "A" * 43).post(_sessions_path(application["id"]), {"name": "x"})
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "invalid_application_secret"
    assert acme.get(_sessions_path(application["id"])).json()["sessions"] == []


def test_a_secret_with_another_organization_header_is_403(acme, client_for, make_org):
    make_org("Acme Corp", organization_id=ACME_CORP)
    application, secret = _register(acme)
    response = client_for(secret).post(
        _sessions_path(application["id"]), {"name": "x"}, headers={"X-Organization-Id": ACME_CORP}
    )
    assert response.status == 403 and response.json()["error"]["code"] == "organization_mismatch"


def test_members_and_application_tokens_cannot_administer(acme, client_for, make_user):
    application, secret = _register(acme)
    token = _connect(client_for(secret), application["id"])["token"]
    member = make_user("member@acme.example", org=ACME, role="member")
    for credential in (member.token, token):
        caller = client_for(credential)
        for method, path, body in (
            ("POST", "/api/v1/applications", {"name": "x", "type": "cpms"}),
            ("POST", _sessions_path(application["id"]), {"name": "x"}),
            ("DELETE", _sessions_path(application["id"]), None),
        ):
            response = caller.request(method, path, json_body=body)
            assert response.status == 403, (method, path, response.body)
            assert response.json()["error"]["code"] == "insufficient_privilege"
        # ...but they can read their organization's applications
        assert caller.get(f"/api/v1/applications/{application['id']}").status == 200
        assert caller.get(_sessions_path(application["id"])).status == 200
    admin = make_user("admin@acme.example", org=ACME, role="admin")
    assert _connect(client_for(admin.token), application["id"])["session"]["organizationId"] == ACME


# ------------------------------------------------------------------ list and derivedStatus


def test_list_filters_and_limit(acme, client_for, fake_clock):
    application, secret = _register(acme)
    path = _sessions_path(application["id"])
    opened = []
    for n in range(4):
        opened.append(_connect(client_for(secret), application["id"], name=f"s{n}"))
        fake_clock.advance(seconds=1)
    fake_clock.advance(seconds=10)
    assert acme.request("DELETE", path).json() == {"success": True, "disconnectedCount": 4}
    fake_clock.advance(seconds=1)
    newer = [_connect(client_for(secret), application["id"], name=f"n{n}") for n in range(2)]
    fake_clock.advance(seconds=1)

    def names(query=""):
        response = acme.get(path, query=query)
        assert response.status == 200, response.body
        return [session["name"] for session in response.json()["sessions"]]

    assert set(names()) == {"n0", "n1"}  # default: connected sessions only
    assert set(names("status=active")) == {"n0", "n1"}
    assert names("status=inactive") == ["s3", "s2", "s1", "s0"]  # newest first
    assert names("includeInactive=true")[-4:] == ["s3", "s2", "s1", "s0"] and len(names("includeInactive=true")) == 6
    assert len(names("status=all")) == 6
    assert len(names("status=active&includeInactive=true")) == 2  # an explicit status wins
    assert names("status=inactive&limit=2") == ["s3", "s2"]
    assert len(names("status=all&limit=1")) == 1
    for bad in ("limit=0", "limit=abc", "status=sleeping", "includeInactive=maybe"):
        assert acme.get(path, query=bad).status == 400, bad
    assert newer[0]["session"]["id"] in acme.get(path).body.decode()


def test_derived_status_moves_with_the_clock_and_with_use(acme, client_for, fake_clock):
    application, secret = _register(acme)
    connected = _connect(client_for(secret), application["id"])
    token, session_id = connected["token"], connected["session"]["id"]
    path = f"{_sessions_path(application['id'])}/{session_id}"

    def derived():
        return acme.get(path).json()["session"]

    assert derived()["derivedStatus"] == "active"
    fake_clock.advance(minutes=4, seconds=59)
    assert derived()["derivedStatus"] == "active"
    fake_clock.advance(seconds=1)
    assert derived()["derivedStatus"] == "idle"  # 5 minutes without activity
    # a request with the token is activity
    assert client_for(token).get("/v1/sessions").status == 200
    now_active = derived()
    assert now_active["derivedStatus"] == "active" and now_active["lastActiveAt"] == applications.clock.iso_now()
    fake_clock.advance(hours=24)
    expired = derived()
    assert expired["derivedStatus"] == "expired" and expired["status"] == "active"
    assert client_for(token).get("/v1/sessions").status == 401
    # an expired session is not counted as terminated by revoke-all
    assert acme.request("DELETE", _sessions_path(application["id"])).json()["disconnectedCount"] == 0
    assert derived()["derivedStatus"] == "expired"


def test_revoke_all_disconnects_and_tokens_get_401_at_once(acme, client_for, fake_clock):
    application, secret = _register(acme)
    tokens = [_connect(client_for(secret), application["id"], name=f"s{n}")["token"] for n in range(3)]
    for token in tokens:
        assert client_for(token).get("/v1/sessions").status == 200
    fake_clock.advance(seconds=5)
    revoked = acme.request("DELETE", _sessions_path(application["id"]))
    assert revoked.status == 200 and revoked.json() == {"success": True, "disconnectedCount": 3}
    for token in tokens:
        denied = client_for(token).get("/v1/sessions")
        assert denied.status == 401 and denied.json()["error"]["code"] == "invalid_session_token"
    listed = acme.get(_sessions_path(application["id"]), query="status=all").json()["sessions"]
    assert {(s["status"], s["derivedStatus"]) for s in listed} == {("disconnected", "disconnected")}
    assert {s["disconnectedAt"] for s in listed} == {applications.clock.iso_now()}
    assert acme.request("DELETE", _sessions_path(application["id"])).json()["disconnectedCount"] == 0
    assert acme.get(f"/api/v1/applications/{application['id']}").json()["application"]["sessionsRevokedAt"]

    # the application itself still works: a new session connects and its token is good
    fake_clock.advance(seconds=1)
    fresh = _connect(client_for(secret), application["id"])["token"]
    assert client_for(fresh).get("/v1/sessions").status == 200


def test_a_session_the_revoke_listing_missed_is_refused_anyway(acme, client_for, fake_clock, monkeypatch):
    """Index lag: revoke-all did not see a session; its connectedAt precedes the revoke stamp, so it is out."""
    application, secret = _register(acme)
    token = _connect(client_for(secret), application["id"])["token"]
    monkeypatch.setattr(applications_dal, "list_sessions", lambda *args, **kwargs: iter(()))
    assert acme.request("DELETE", _sessions_path(application["id"])).json()["disconnectedCount"] == 0
    monkeypatch.undo()
    assert applications.authenticate_session_token(token) is None
    assert client_for(token).get("/v1/sessions").status == 401
    (session,) = acme.get(_sessions_path(application["id"]), query="status=all").json()["sessions"]
    assert session["status"] == session["derivedStatus"] == "disconnected" and session["disconnectedAt"]


def test_application_token_acts_for_its_organization(acme, client_for, make_org):
    _, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    application, secret = _register(acme)
    token = _connect(client_for(secret), application["id"])["token"]
    assert client_for(corp_key).post("/v1/sessions", seed_session("corp-1", chargingStationId="CP-CORP")).status == 200
    with_token = client_for(token)
    listed = with_token.get("/v1/sessions")
    assert listed.status == 200 and all(item["sessionId"] != "corp-1" for item in listed.json()["content"])
    assert with_token.get("/v1/sessions", headers={"X-Organization-Id": ACME_CORP}).status == 403


# ------------------------------------------------------------------ isolation


def test_prefix_sharing_organizations_are_isolated(acme, client_for, make_org):
    _, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    corp = client_for(corp_key)
    application, acme_secret = _register(acme)
    connected = _connect(client_for(acme_secret), application["id"])
    corp_application, corp_secret = _register(corp, name="Corp CPMS")
    before = acme.get(_sessions_path(application["id"]), query="status=all").json()

    assert [item["id"] for item in corp.get("/api/v1/applications").json()["applications"]] == [corp_application["id"]]
    for method, suffix in (
        ("GET", ""),
        ("POST", "/sessions"),
        ("GET", "/sessions"),
        ("DELETE", "/sessions"),
        ("GET", f"/sessions/{connected['session']['id']}"),
    ):
        response = corp.request(
            method,
            f"/api/v1/applications/{application['id']}{suffix}",
            json_body={"name": "x"} if method == "POST" else None,
        )
        assert response.status == 404, (method, suffix, response.body)
        assert response.json()["error"]["code"] == "application_not_found"
    # corp's secret cannot open a session on acme's application either
    assert client_for(corp_secret).post(_sessions_path(application["id"]), {"name": "x"}).status == 404
    # acme's session under corp's application id is not found
    response = corp.get(f"{_sessions_path(corp_application['id'])}/{connected['session']['id']}")
    assert response.status == 404 and response.json()["error"]["code"] == "session_not_found"

    # no side effect: acme's session is still connected, its token still works, nothing was revoked
    assert acme.get(_sessions_path(application["id"]), query="status=all").json() == before
    assert acme.get(f"/api/v1/applications/{application['id']}").json()["application"]["sessionsRevokedAt"] is None
    assert client_for(connected["token"]).get("/v1/sessions").status == 200
    assert [item["organizationId"] for item in acme.get("/api/v1/applications").json()["applications"]] == [ACME]


# ------------------------------------------------------------------ revoke-all racing token use


def test_revoke_all_racing_token_use_leaves_no_token_working(acme, client_for, atomic_calls):
    application, secret = _register(acme)
    tokens = [_connect(client_for(secret), application["id"], name=f"s{n}")["token"] for n in range(8)]
    stop = threading.Event()
    unexpected, counts = [], []

    def use(token):
        while not stop.is_set():
            try:
                applications.authenticate_session_token(token)
            except Exception as error:  # pragma: no cover - reported below
                unexpected.append(error)
                return

    def revoke():
        try:
            counts.append(applications.revoke_all_sessions(_admin_tenant(), application["id"]).disconnectedCount)
        except Exception as error:  # pragma: no cover - reported below
            unexpected.append(error)

    users = [threading.Thread(target=use, args=(token,)) for token in tokens]
    revokers = [threading.Thread(target=revoke) for _ in range(2)]
    for thread in users:
        thread.start()
    for thread in revokers:
        thread.start()
    for thread in revokers:
        thread.join()
    # revoke-all has completed: from here on every token is refused, while the users keep hammering
    refused = [applications.authenticate_session_token(token) for token in tokens]
    stop.set()
    for thread in users:
        thread.join()
    assert unexpected == []
    assert refused == [None] * len(tokens)
    assert sum(counts) == len(tokens)  # each session counted once across the two concurrent revokes
    for token in tokens:
        assert client_for(token).get("/v1/sessions").status == 401


def _admin_tenant():
    from chargewatch.tenancy import Tenant

    return Tenant(organization_id=ACME, principal_type="api_key", key_id="k", scopes=(), role="admin")


# ------------------------------------------------------------------ authenticate_session_token


def test_authenticate_session_token_throttles_last_active(acme, client_for, fake_clock, monkeypatch):
    application, secret = _register(acme)
    connected = _connect(client_for(secret), application["id"])
    token, session_id = connected["token"], connected["session"]["id"]
    assert applications.authenticate_session_token(token) == {
        "organizationId": ACME,
        "applicationId": application["id"],
        "sessionId": session_id,
    }

    writes = []
    real_touch = applications_dal.touch
    monkeypatch.setattr(applications_dal, "touch", lambda item, at: writes.append(at) or real_touch(item, at))
    fake_clock.advance(seconds=59)
    assert applications.authenticate_session_token(token) is not None
    assert writes == []  # within a minute of the last write: no write
    fake_clock.advance(seconds=1)
    assert applications.authenticate_session_token(token) is not None
    assert applications.authenticate_session_token(token) is not None
    assert writes == [applications.clock.iso_now()]
    stored = applications_dal.get_session(ACME, application["id"], session_id)
    assert stored.lastActiveAt == applications.clock.iso_now()


def test_authenticate_session_token_refuses_what_is_not_a_live_token(acme, client_for, fake_clock):
    application, secret = _register(acme)
    token = _connect(client_for(secret), application["id"])["token"]
    for garbage in (
        "",
        "cwa_",
        "cwa_short",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        secret,
        token.replace("cwa_", "cwas_"),
    ):
        assert applications.authenticate_session_token(garbage) is None, garbage
    assert applications.authenticate_application_secret(token) is None
    fake_clock.advance(hours=24)
    assert applications.authenticate_session_token(token) is None  # expired


def test_a_stale_concurrent_touch_does_not_move_last_active_back(acme, client_for, fake_clock):
    application, secret = _register(acme)
    session_id = _connect(client_for(secret), application["id"])["session"]["id"]
    stale = applications_dal.get_session(ACME, application["id"], session_id)
    fresh = applications_dal.get_session(ACME, application["id"], session_id)
    fake_clock.advance(minutes=2)
    assert applications_dal.touch(fresh, applications.clock.iso_now()) is True
    assert applications_dal.touch(stale, "1999-01-01T00:00:00Z") is False  # read before the other write
    assert (
        applications_dal.get_session(ACME, application["id"], session_id).lastActiveAt == applications.clock.iso_now()
    )


def test_touch_refuses_a_disconnected_session(acme, client_for):
    application, secret = _register(acme)
    session_id = _connect(client_for(secret), application["id"])["session"]["id"]
    item = applications_dal.get_session(ACME, application["id"], session_id)
    assert applications_dal.disconnect(item, "2030-01-01T00:00:00Z") is True
    assert applications_dal.disconnect(item, "2030-01-01T00:00:01Z") is False
    assert applications_dal.touch(item, "2030-01-01T00:00:02Z") is False


def test_session_ttl_outlives_the_token(acme, client_for):
    application, secret = _register(acme)
    connected = _connect(client_for(secret), application["id"])
    item = applications_dal.get_session(ACME, application["id"], connected["session"]["id"])
    expires = applications.clock.parse_iso(connected["tokenExpiresAt"])
    assert item.ttl == int((expires + timedelta(days=30)).timestamp())
    assert expires - applications.clock.parse_iso(connected["session"]["connectedAt"]) == timedelta(hours=24)


def test_a_member_of_one_organization_cannot_reach_the_other(acme, client_for, make_org, make_user):
    """A person in 'acme' (not in 'acme-corp'), and acme's API key, naming 'acme-corp' by X-Organization-Id."""
    _, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    corp_application, _ = _register(client_for(corp_key), name="Corp CPMS")
    person = make_user("admin@acme.example", org=ACME, role="admin")
    routes = (
        ("GET", "/api/v1/applications", None),
        ("POST", "/api/v1/applications", {"name": "x", "type": "cpms"}),
        ("GET", f"/api/v1/applications/{corp_application['id']}", None),
        ("POST", _sessions_path(corp_application["id"]), {"name": "x"}),
        ("GET", _sessions_path(corp_application["id"]), None),
        ("DELETE", _sessions_path(corp_application["id"]), None),
    )
    for credential, code in ((person.token, "not_a_member"), (acme.api_key, "organization_mismatch")):
        for method, path, body in routes:
            response = client_for(credential).request(
                method, path, json_body=body, headers={"X-Organization-Id": ACME_CORP}
            )
            assert response.status == 403, (method, path, response.body)
            assert response.json()["error"]["code"] == code
    # acting in their own organization, the person sees only acme's (empty) list and corp's app is 404
    own = client_for(person.token)
    assert own.get("/api/v1/applications", headers={"X-Organization-Id": ACME}).json() == {"applications": []}
    assert own.get(f"/api/v1/applications/{corp_application['id']}").status == 404
    assert client_for(corp_key).get(_sessions_path(corp_application["id"]), query="status=all").json() == {
        "sessions": []
    }
    assert client_for(corp_key).get("/api/v1/applications").json()["applications"][0]["sessionsRevokedAt"] is None
