"""Two tenants whose ids share a prefix: neither can see or touch the other's sessions."""

from seed_examples import SEED_APPEND_SESSION, SEED_REPLACE_SESSION, seed_session

from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal.table import tenant_pk

ACME = "acme"
ACME_CORP = "acme-corp"  # 'acme' is a string prefix of 'acme-corp'


def test_keys_end_the_tenant_id_with_a_separator():
    assert tenant_pk(ACME, "SESSIONS") == "ORG#acme#SESSIONS"
    assert not tenant_pk(ACME_CORP, "SESSIONS").startswith(tenant_pk(ACME, ""))


def test_prefix_sharing_tenants_are_isolated(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id=ACME)
    _, corp_key = make_org("Acme Corp", organization_id=ACME_CORP)
    acme, corp = client_for(acme_key), client_for(corp_key)

    assert acme.post("/v1/sessions", seed_session("shared-id")).status == 200
    assert corp.post("/v1/sessions", seed_session("corp-only", chargingStationId="CP-CORP")).status == 200
    acme_before = acme.get("/v1/sessions/shared-id").json()

    # corp cannot list, get, replace or append to acme's session
    listed = corp.get("/v1/sessions").json()
    assert [item["sessionId"] for item in listed["content"]] == ["corp-only"]
    assert corp.get("/v1/sessions", query="chargingStationId=CP-NL-AMS-0042").json()["content"] == []
    for method, body in (("GET", None), ("PUT", SEED_REPLACE_SESSION), ("PATCH", SEED_APPEND_SESSION)):
        response = corp.request(method, "/v1/sessions/shared-id", json_body=body)
        assert response.status == 404, (method, response.body)
        assert response.json()["error"]["code"] == "session_not_found"

    # ...and nothing changed for acme
    acme_after = acme.get("/v1/sessions/shared-id").json()
    assert acme_after == acme_before
    assert [item["sessionId"] for item in acme.get("/v1/sessions").json()["content"]] == ["shared-id"]

    # the same session id in the other tenant is a different session, not a conflict
    assert corp.post("/v1/sessions", seed_session("shared-id", chargingStationId="CP-CORP")).status == 200
    assert acme.get("/v1/sessions/shared-id").json()["chargingStationId"] == "CP-NL-AMS-0042"
    assert corp.get("/v1/sessions/shared-id").json()["chargingStationId"] == "CP-CORP"


def test_a_key_cannot_select_another_tenant(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id=ACME)
    make_org("Acme Corp", organization_id=ACME_CORP)
    response = client_for(acme_key).get("/v1/sessions", headers={"X-Organization-Id": ACME_CORP})
    assert response.status == 403


def test_body_fields_cannot_choose_the_tenant(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id=ACME)
    make_org("Acme Corp", organization_id=ACME_CORP)
    body = seed_session("smuggled")
    body["organizationId"] = ACME_CORP
    body["tenantId"] = ACME_CORP
    assert client_for(acme_key).post("/v1/sessions", body).status == 200
    assert sessions_dal.get_session(ACME_CORP, "smuggled") is None
    assert sessions_dal.get_session(ACME, "smuggled") is not None
