"""Seed 001: the application-sessions examples (the seed's own ids and curl calls) and every field of the
session object with the seed's types and casing."""

from datetime import timedelta

from chargewatch import clock
from chargewatch.dal import applications as applications_dal

SEED_APPLICATION_ID = "550e8400-e29b-41d4-a716-446655440000"
SEED_SESSION_ID = "44444444-4444-4444-8444-444444444444"
SEED_SESSION_FIELDS = {
    "id": str,
    "name": str,
    "status": str,
    "derivedStatus": str,
    "tokenExpiresAt": (str, type(None)),
    "lastActiveAt": (str, type(None)),
    "connectedAt": (str, type(None)),
    "disconnectedAt": (str, type(None)),
    "createdAt": str,
    "agentId": str,
    "organizationId": str,
    "hostname": (str, type(None)),
    "userAgent": (str, type(None)),
    "clientInfo": (dict, type(None)),
}


def _seed_application_with_a_session(organization_id):
    """The seed's ids, stored as the service stores them (the service itself only mints random ids)."""
    at = clock.iso_now()
    applications_dal.put_application(
        organization_id,
        application_id=SEED_APPLICATION_ID,
        secret_hash="0" * 64,
        name="Claude Desktop",
        type="agent",
        description=None,
        created_at=at,
        created_by=None,
    )
    expires = clock.to_iso(clock.now() + timedelta(days=365))
    applications_dal.put_session(
        applications_dal.new_session(
            organization_id,
            SEED_APPLICATION_ID,
            SEED_SESSION_ID,
            tokenHash="1" * 64,
            name="MCP session",
            status="active",
            tokenExpiresAt=expires,
            lastActiveAt=at,
            connectedAt=at,
            createdAt=at,
            hostname="dev-laptop",
            userAgent="claude-desktop/0.9",
            clientInfo={"name": "claude-ai", "version": "0.1.0"},
        )
    )


def _assert_session_object(session, organization_id):
    assert set(session) == set(SEED_SESSION_FIELDS)
    for field, kind in SEED_SESSION_FIELDS.items():
        assert isinstance(session[field], kind), field
    assert session["status"] in ("active", "disconnected")
    assert session["derivedStatus"] in ("active", "idle", "expired", "disconnected")
    assert session["agentId"] == SEED_APPLICATION_ID and session["organizationId"] == organization_id
    for field in ("tokenExpiresAt", "lastActiveAt", "connectedAt", "disconnectedAt", "createdAt"):
        if session[field] is not None:
            clock.parse_iso(session[field])  # ISO 8601


def test_seed_list_sessions_example(make_org, client_for):
    organization_id, key = make_org("Acme", organization_id="acme")
    _seed_application_with_a_session(organization_id)
    # curl ".../applications/550e8400-.../sessions?limit=50"
    response = client_for(key).get(f"/api/v1/applications/{SEED_APPLICATION_ID}/sessions", query="limit=50")
    assert response.status == 200, response.body
    (session,) = response.json()["sessions"]
    _assert_session_object(session, organization_id)
    assert session["id"] == SEED_SESSION_ID and session["derivedStatus"] == "active"


def test_seed_get_session_example(make_org, client_for):
    organization_id, key = make_org("Acme", organization_id="acme")
    _seed_application_with_a_session(organization_id)
    response = client_for(key).get(f"/api/v1/applications/{SEED_APPLICATION_ID}/sessions/{SEED_SESSION_ID}")
    assert response.status == 200, response.body
    body = response.json()
    assert set(body) == {"session"}  # { "session": { ... } }
    _assert_session_object(body["session"], organization_id)
    assert body["session"]["clientInfo"] == {"name": "claude-ai", "version": "0.1.0"}


def test_seed_revoke_all_example(make_org, client_for):
    organization_id, key = make_org("Acme", organization_id="acme")
    _seed_application_with_a_session(organization_id)
    api = client_for(key)
    response = api.request("DELETE", f"/api/v1/applications/{SEED_APPLICATION_ID}/sessions")
    assert response.status == 200, response.body
    body = response.json()
    assert body == {"success": True, "disconnectedCount": 1}
    assert isinstance(body["success"], bool) and isinstance(body["disconnectedCount"], int)
    session = api.get(f"/api/v1/applications/{SEED_APPLICATION_ID}/sessions/{SEED_SESSION_ID}").json()["session"]
    assert session["status"] == session["derivedStatus"] == "disconnected" and session["disconnectedAt"]


def test_seed_query_parameter_defaults(make_org, client_for):
    """limit defaults to 100; without status or includeInactive only connected sessions are listed."""
    organization_id, key = make_org("Acme", organization_id="acme")
    _seed_application_with_a_session(organization_id)
    api = client_for(key)
    path = f"/api/v1/applications/{SEED_APPLICATION_ID}/sessions"
    for n in range(105):
        api.post(path, {"name": f"extra-{n}"})
    assert len(api.get(path).json()["sessions"]) == 100
    api.request("DELETE", path)
    assert api.get(path).json()["sessions"] == []
    assert len(api.get(path, query="includeInactive=true&limit=500").json()["sessions"]) == 106
