"""The authorizer fails closed: every route of template.yaml, walked with no credential, a revoked
key, a member and an API key, answers as its declared access level (chargewatch.access) says."""

from __future__ import annotations

import re

import pytest

from chargewatch.access import PUBLIC_ROUTES, ROUTE_ACCESS, Access
from chargewatch_tools.infra import Stack, load_template, parameter_defaults

# a well-formed value for every path parameter (UUID-typed ones included): validation never answers first
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
# the error codes of an access-level refusal (chargewatch.tenancy, chargewatch.access)
REFUSALS = ("insufficient_privilege", "user_required", "route_access_undeclared")


def _template_routes() -> list[str]:
    template = load_template()
    stack = Stack(template=template, region="eu-west-1", parameters=parameter_defaults(template))
    return sorted(f"{route['method']} {route['path']}" for route in stack.http_routes())


ROUTES = _template_routes()


def _call(client, route_key: str):
    method, path = route_key.split(" ", 1)
    return client.request(method, re.sub(r"\{[^}]+\}", PLACEHOLDER, path), json_body={} if method != "GET" else None)


def _mismatches(client, routes, expected_status: int, expected_code: str | None = None) -> list[str]:
    wrong = []
    for route_key in routes:
        response = _call(client, route_key)
        body = response.json() if response.body else None
        code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
        if response.status != expected_status or (expected_code and code != expected_code):
            wrong.append(f"{route_key}: {response.status} {code}")
    return wrong


def test_every_template_route_has_a_declared_access_level():
    undeclared = [route for route in ROUTES if route not in ROUTE_ACCESS]
    stale = [route for route in ROUTE_ACCESS if route not in ROUTES]
    assert not undeclared, f"decide the access level of these routes in chargewatch/access.py: {undeclared}"
    assert not stale, f"chargewatch/access.py lists routes the template does not have: {stale}"


def test_public_routes_are_exactly_the_tenant_switch_redirect():
    # a new public route is a deliberate decision: change this list and docs/identity.md together
    assert PUBLIC_ROUTES == {"GET /api/tenants/{tenantId}/switch"}


def test_no_credential_is_401_on_every_non_public_route(client_for):
    anonymous = client_for(None)
    private = [route for route in ROUTES if route not in PUBLIC_ROUTES]
    assert _mismatches(anonymous, private, 401) == []


def test_public_routes_answer_without_credential(client_for):
    for route_key in PUBLIC_ROUTES:
        assert _call(client_for(None), route_key).status == 302


def test_revoked_key_is_401_on_every_non_public_route(make_org, client_for):
    _, key = make_org()
    admin = client_for(key)
    revoked = admin.post("/v1/api-keys", {"name": "soon revoked"}).json()
    assert admin.request("DELETE", f"/v1/api-keys/{revoked['id']}").status == 200
    private = [route for route in ROUTES if route not in PUBLIC_ROUTES]
    assert _mismatches(client_for(revoked["key"]), private, 401, "api_key_revoked") == []


def test_garbage_and_malformed_credentials_are_401(client_for):
    for authorization in ("Bearer cw_live_notakey", "Basic abc", "Bearer ", "Bearer cwa_forged", "Bearer a.b.c"):
        client = client_for(None)
        response = client.request("GET", "/v1/sessions", headers={"authorization": authorization})
        assert response.status == 401, authorization
        assert response.json()["error"]["code"]


def test_a_member_gets_403_on_every_admin_route(make_org, make_user, client_for):
    organization_id, _ = make_org()
    member = make_user("member@example.com", org=organization_id, role="member")
    admin_only = [
        route for route, access in ROUTE_ACCESS.items() if access in (Access.ADMIN, Access.ADMIN_OR_APPLICATION)
    ]
    assert _mismatches(client_for(member.token), admin_only, 403, "insufficient_privilege") == []


def test_an_api_key_gets_403_on_every_user_only_route(make_org, client_for):
    _, key = make_org()
    user_only = [route for route, access in ROUTE_ACCESS.items() if access is Access.USER]
    assert _mismatches(client_for(key), user_only, 403, "user_required") == []


@pytest.mark.parametrize("principal", ["api_key", "member"])
def test_allowed_callers_are_not_refused(principal, make_org, make_user, client_for):
    """The other side of the walk: whoever the table admits never gets 401/403 (404/400 on placeholders
    are fine), so the access levels are not stricter than declared either."""
    organization_id, key = make_org()
    if principal == "api_key":
        client, admitted = client_for(key), (Access.MEMBER, Access.ADMIN, Access.ADMIN_OR_APPLICATION)
    else:
        client = client_for(make_user("someone@example.com", org=organization_id, role="member").token)
        admitted = (Access.MEMBER, Access.USER)
    refused = []
    for route_key, access in ROUTE_ACCESS.items():
        if access in admitted:
            response = _call(client, route_key)
            code = response.json()["error"]["code"] if response.status in (401, 403) else None
            # a 403 about the resource itself (e.g. switching to an organization one is not in) is fine
            if response.status == 401 or code in REFUSALS:
                refused.append(f"{route_key}: {response.status} {code}")
    assert refused == []
