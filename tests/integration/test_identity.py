"""People and organizations: Cognito tokens in the authorizer, the one organization resolution,
roles, /v1/organization (incl. open signup), /v1/members and invitations.

Isolation uses two organizations whose ids share a prefix and a user who belongs to only one.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import timedelta
from pathlib import Path

import jwt
import moto.cognitoidp
import pytest
from seed_examples import seed_session

from chargewatch import clock
from chargewatch.dal import members as members_dal
from chargewatch.dal import usage as usage_dal
from chargewatch.settings import get_settings

ACME = "acme"
ACME_CORP = "acme-corp"  # 'acme' is a string prefix of 'acme-corp'


def _sign(claims: dict) -> str:
    """A token signed with the key moto signs real tokens with, so only the claims differ."""
    private = json.loads(
        gzip.decompress((Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz").read_bytes())
    )
    key = jwt.PyJWK(private).key if "keys" not in private else jwt.PyJWK(private["keys"][0]).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def _claims(user, **overrides) -> dict:
    settings = get_settings()
    now = int(time.time())
    claims = {
        "sub": user.user_id,
        "iss": f"https://cognito-idp.{settings.aws_region}.amazonaws.com/{settings.cognito_user_pool_id}",
        "aud": settings.cognito_client_id,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "email": user.email,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def two_orgs(make_org):
    acme_id, acme_key = make_org("Acme", organization_id=ACME)
    corp_id, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    return acme_key, corp_key


# ------------------------------------------------------------------ tokens


def test_a_member_signs_in_and_acts_on_their_organization(two_orgs, make_user, client_for):
    ann = make_user("ann@example.com", org=ACME, role="admin")
    response = client_for(ann.token).get("/v1/organization")
    assert response.status == 200, response.body
    assert response.json()["id"] == ACME and response.json()["tenantId"] == ACME


def test_tokens_that_are_not_ours_or_not_current_are_401(two_orgs, make_user, client_for):
    ann = make_user("ann@example.com", org=ACME)
    assert client_for(_sign(_claims(ann))).get("/v1/sessions").status == 200  # the forging helper is sound
    bad = {
        "expired": _sign(_claims(ann, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "other client": _sign(_claims(ann, aud="another-app-client")),
        "other issuer": _sign(_claims(ann, iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other")),
        "refresh use": _sign(_claims(ann, token_use="refresh")),
        "tampered": ann.token[:-6] + ("AAAAAA" if not ann.token.endswith("AAAAAA") else "BBBBBB"),
        "unsigned": jwt.encode(_claims(ann), "not-the-key-" * 4, algorithm="HS256"),
    }
    for label, token in bad.items():
        response = client_for(token).get("/v1/sessions")
        assert response.status == 401, label
        assert response.json()["error"]["code"] == "invalid_token", label


def test_access_tokens_and_the_session_cookie_work_too(two_orgs, make_user, gateway):
    from chargewatch.services import cognito

    ann = make_user("ann@example.com", org=ACME)
    access = cognito.login(ann.email, ann.password)["AccessToken"]
    by_access = gateway.handle("GET", "/v1/organization", headers={"authorization": f"Bearer {access}"})
    assert by_access.status == 200 and by_access.json()["id"] == ACME
    by_cookie = gateway.handle("GET", "/v1/organization", headers={"cookie": f"session={ann.token}"})
    assert by_cookie.status == 200 and by_cookie.json()["id"] == ACME
    assert gateway.handle("GET", "/v1/organization", headers={"cookie": "session=garbage"}).status == 401


# ------------------------------------------------------------------ organization resolution


def test_organization_resolution_order(two_orgs, make_user, client_for):
    acme_key, _ = two_orgs
    both = make_user("both@example.com", org=ACME, role="member")
    members_dal.put_member(ACME_CORP, user_id=both.user_id, email=both.email, role="admin", joined_at=clock.iso_now())
    client = client_for(both.token)
    org = lambda **kw: client.get("/v1/organization", **kw).json()["id"]  # noqa: E731
    assert org() == ACME  # default: the oldest membership
    assert org(headers={"cookie": f"active_tenant_id={ACME_CORP}"}) == ACME_CORP  # active tenant
    # the header wins over the cookie
    assert org(headers={"cookie": f"active_tenant_id={ACME_CORP}", "X-Organization-Id": ACME}) == ACME
    # an API key's organization wins over any cookie
    keyed = client_for(acme_key).get("/v1/organization", headers={"cookie": f"active_tenant_id={ACME_CORP}"})
    assert keyed.json()["id"] == ACME


def test_header_naming_an_organization_the_user_is_not_in_is_403(two_orgs, make_user, client_for):
    ann = make_user("ann@example.com", org=ACME, role="owner")
    client = client_for(ann.token)
    for path in ("/v1/sessions", "/v1/organization", "/v1/members", "/v1/webhooks", "/v1/statistics"):
        response = client.get(path, headers={"X-Organization-Id": ACME_CORP})
        assert response.status == 403, path
        assert response.json()["error"]["code"] == "not_a_member"
    # a cookie naming a foreign organization is not a membership: the user's own organization is used
    assert client.get("/v1/organization", headers={"cookie": f"active_tenant_id={ACME_CORP}"}).json()["id"] == ACME


def test_api_key_with_another_organization_header_is_403(two_orgs, client_for):
    acme_key, _ = two_orgs
    response = client_for(acme_key).get("/v1/sessions", headers={"X-Organization-Id": ACME_CORP})
    assert response.status == 403 and response.json()["error"]["code"] == "organization_mismatch"


def test_super_admin_may_act_on_any_existing_organization(two_orgs, make_user, client_for):
    root = make_user("root@example.com", super_admin=True)
    client = client_for(root.token)
    assert client.get("/v1/organization", headers={"X-Organization-Id": ACME_CORP}).json()["id"] == ACME_CORP
    assert client.get("/v1/organization", headers={"X-Organization-Id": "no-such-org"}).status == 403


def test_user_data_written_through_one_org_is_invisible_in_the_other(two_orgs, make_user, client_for):
    both = make_user("both@example.com", org=ACME, role="admin")
    members_dal.put_member(ACME_CORP, user_id=both.user_id, email=both.email, role="admin", joined_at=clock.iso_now())
    client = client_for(both.token)
    assert client.post("/v1/sessions", seed_session("s-1"), headers={"X-Organization-Id": ACME}).status == 200
    assert client.get("/v1/sessions/s-1", headers={"X-Organization-Id": ACME_CORP}).status == 404
    assert client.get("/v1/sessions", headers={"X-Organization-Id": ACME_CORP}).json()["content"] == []


# ------------------------------------------------------------------ /v1/organization


def test_open_signup_creates_an_owned_free_organization(stack, make_user, client_for):
    newcomer = make_user("new@example.com")
    client = client_for(newcomer.token)
    blocked = client.get("/v1/sessions")
    assert blocked.status == 403 and blocked.json()["error"]["code"] == "no_organization"
    assert client.get("/v1/organization").json()["error"]["code"] == "no_organization"

    created = client.put(
        "/v1/organization",
        {"name": "Fresh Charging BV", "phone": "+31 20 000 0000", "taxIdType": "VAT", "taxIdValue": "NL000000000B01"},
    )
    assert created.status == 200, created.body
    body = created.json()
    assert body["name"] == "Fresh Charging BV" and body["plan"] == "free" and body["tenantId"] == body["id"]
    assert body["taxIdValue"] == "NL000000000B01"
    # later requests act on the new tenant, as its owner
    assert client.get("/v1/organization").json()["id"] == body["id"]
    members = client.get("/v1/members").json()["members"]
    assert [(m["userId"], m["role"]) for m in members] == [(newcomer.user_id, "owner")]
    assert client.get("/v1/sessions").status == 200
    assert usage_dal.get_month(body["id"], clock.now().strftime("%Y-%m")) is not None  # counters initialised


def test_only_admins_update_the_organization_and_fields_are_validated(two_orgs, make_user, client_for):
    admin = client_for(make_user("admin@example.com", org=ACME, role="admin").token)
    member = client_for(make_user("member@example.com", org=ACME, role="member").token)
    refused = member.put("/v1/organization", {"name": "Hijacked"})
    assert refused.status == 403 and refused.json()["error"]["code"] == "insufficient_privilege"
    assert admin.get("/v1/organization").json()["name"] == "Acme"

    invalid = admin.put("/v1/organization", {"name": "", "currency": "euro"})
    assert invalid.status == 400
    assert {d["field"] for d in invalid.json()["error"]["details"]} == {"name", "currency"}

    updated = admin.put(
        "/v1/organization", {"name": "Acme Energy", "address": "Main St 1", "pricePerKwh": 0.5, "currency": "USD"}
    )
    assert updated.status == 200
    assert (
        updated.json()["name"],
        updated.json()["address"],
        updated.json()["pricePerKwh"],
        updated.json()["currency"],
    ) == ("Acme Energy", "Main St 1", 0.5, "USD")
    # the tariff is what statistics price energy with
    assert member.get("/v1/statistics").json()["currency"] == "USD"
    # the public holiday calendar SHADE uses: validated, kept unless given, cleared by null
    assert updated.json()["holidayCountry"] is None
    for bad, code in (("XX", "unknown_holiday_calendar"), ("DE-ZZ", "unknown_holiday_calendar"), ("germany", None)):
        refused = admin.put("/v1/organization", {"name": "Acme Energy", "holidayCountry": bad})
        assert refused.status == 400, bad
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["holidayCountry"]
        assert code is None or refused.json()["error"]["code"] == code
    assert (
        admin.put("/v1/organization", {"name": "Acme Energy", "holidayCountry": "DE-BY"}).json()["holidayCountry"]
        == "DE-BY"
    )
    assert admin.put("/v1/organization", {"name": "Acme Energy"}).json()["holidayCountry"] == "DE-BY"
    assert admin.put("/v1/organization", {"name": "Acme", "holidayCountry": None}).json()["holidayCountry"] is None
    # the other organization is untouched
    root = client_for(make_user("root@example.com", super_admin=True).token)
    assert root.get("/v1/organization", headers={"X-Organization-Id": ACME_CORP}).json()["name"] == "Acme Corp"


# ------------------------------------------------------------------ members and invitations


def test_invitation_lifecycle(two_orgs, make_user, client_for):
    owner = client_for(make_user("owner@example.com", org=ACME, role="owner").token)
    member = client_for(make_user("member@example.com", org=ACME, role="member").token)

    assert (
        member.post("/v1/members/invitations", {"email": "x@example.com"}).json()["error"]["code"]
        == "insufficient_privilege"
    )
    assert (
        owner.post("/v1/members/invitations", {"email": "not-an-email"}).json()["error"]["details"][0]["field"]
        == "email"
    )
    invited = owner.post("/v1/members/invitations", {"email": "Joiner@Example.com", "role": "admin"})
    assert invited.status == 201, invited.body
    token = invited.json()["token"]
    assert invited.json()["email"] == "joiner@example.com"
    assert clock.parse_iso(invited.json()["expiresAt"]) - clock.parse_iso(invited.json()["invitedAt"]) == timedelta(
        days=7
    )

    pending = [m for m in owner.get("/v1/members").json()["members"] if m["status"] == "pending"]
    assert [(m["email"], m["role"], m["invitationId"]) for m in pending] == [
        ("joiner@example.com", "admin", invited.json()["invitationId"])
    ]
    assert all(m["status"] == "active" for m in member.get("/v1/members").json()["members"])  # admins only

    stranger = client_for(make_user("stranger@example.com").token)
    assert stranger.post(f"/v1/invitations/{token}/accept").json()["error"]["code"] == "invitation_email_mismatch"
    joiner_user = make_user("joiner@example.com")
    joiner = client_for(joiner_user.token)
    assert joiner.post("/v1/invitations/cwi_nope/accept").status == 404
    accepted = joiner.post(f"/v1/invitations/{token}/accept")
    assert accepted.status == 200, accepted.body
    assert accepted.json()["organizationId"] == ACME and accepted.json()["role"] == "admin"
    assert joiner.post(f"/v1/invitations/{token}/accept").json()["error"]["code"] == "invitation_used"
    assert joiner.get("/v1/organization").json()["id"] == ACME
    active = {m["email"]: m["role"] for m in owner.get("/v1/members").json()["members"] if m["status"] == "active"}
    assert active["joiner@example.com"] == "admin"
    assert not [m for m in owner.get("/v1/members").json()["members"] if m["status"] == "pending"]


def test_an_expired_invitation_is_gone(two_orgs, make_user, client_for, monkeypatch):
    owner = client_for(make_user("owner@example.com", org=ACME, role="owner").token)
    token = owner.post("/v1/members/invitations", {"email": "late@example.com"}).json()["token"]
    late = client_for(make_user("late@example.com").token)
    later = clock.now() + timedelta(days=7, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    response = late.post(f"/v1/invitations/{token}/accept")
    assert response.status == 410 and response.json()["error"]["code"] == "invitation_expired"
    assert late.get("/v1/organization").json()["error"]["code"] == "no_organization"


def test_removing_members(two_orgs, make_user, client_for):
    owner_user = make_user("owner@example.com", org=ACME, role="owner")
    owner = client_for(owner_user.token)
    admin = client_for(make_user("admin@example.com", org=ACME, role="admin").token)
    leaver_user = make_user("leaver@example.com", org=ACME, role="member")
    leaver = client_for(leaver_user.token)
    corp_user = make_user("corp@example.com", org=ACME_CORP, role="member")

    refused = leaver.request("DELETE", f"/v1/members/{owner_user.user_id}")
    assert refused.status == 403 and refused.json()["error"]["code"] == "insufficient_privilege"
    # another organization's member is not found here, and stays a member there
    assert admin.request("DELETE", f"/v1/members/{corp_user.user_id}").status == 404
    assert members_dal.get_member(ACME_CORP, corp_user.user_id) is not None
    # admins cannot remove owners; nobody removes the last owner
    assert admin.request("DELETE", f"/v1/members/{owner_user.user_id}").status == 403
    last = owner.request("DELETE", f"/v1/members/{owner_user.user_id}")
    assert last.status == 409 and last.json()["error"]["code"] == "last_owner"

    removed = admin.request("DELETE", f"/v1/members/{leaver_user.user_id}")
    assert removed.status == 200, removed.body
    assert removed.json()["success"] is True and removed.json()["userId"] == leaver_user.user_id
    assert leaver.get("/v1/sessions").json()["error"]["code"] == "no_organization"
    assert leaver.get("/v1/sessions", headers={"X-Organization-Id": ACME}).status == 403
    assert admin.request("DELETE", f"/v1/members/{leaver_user.user_id}").status == 404


def test_two_owners_removing_each_other_concurrently_leave_one(two_orgs, make_user, client_for, atomic_calls):
    from concurrent.futures import ThreadPoolExecutor

    first = make_user("first@example.com", org=ACME, role="owner")
    second = make_user("second@example.com", org=ACME, role="owner")
    calls = [(client_for(first.token), second.user_id), (client_for(second.token), first.user_id)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda call: call[0].request("DELETE", f"/v1/members/{call[1]}").status, calls))
    owners = [m for m in members_dal.list_members(ACME) if m.role == "owner"]
    # one removal wins. The other is refused: 409 when it ran alongside (it would have left no
    # owner), or 403/404 when it arrived after its caller had already been removed.
    assert statuses[0] == 200 and statuses[1] in (403, 404, 409), statuses
    assert len(owners) == 1


def test_members_cannot_manage_keys_or_webhooks(two_orgs, make_user, client_for):
    member = client_for(make_user("member@example.com", org=ACME, role="member").token)
    admin = client_for(make_user("admin@example.com", org=ACME, role="admin").token)
    for method, path, body in (
        ("POST", "/v1/api-keys", {"name": "ci"}),
        ("POST", "/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["session.analyzed"]}),
    ):
        refused = member.request(method, path, json_body=body)
        assert refused.status == 403 and refused.json()["error"]["code"] == "insufficient_privilege", path
        assert admin.request(method, path, json_body=body).status in (200, 201), path
    # reading stays open to members
    assert member.get("/v1/webhooks").status == 200
