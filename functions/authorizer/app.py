"""HTTP API Lambda authorizer (payload 2.0, simple responses).

It always answers isAuthorized=true and puts its verdict in the context: HTTP APIs cannot shape
the gateway's own 401/403 bodies, and every handler enforces the verdict in one shared place
(chargewatch.tenancy), so a client always gets our JSON error body.
"""

from __future__ import annotations

from chargewatch import observability
from chargewatch.services.auth import authorize


@observability.http_handler
def lambda_handler(event: dict, context: object) -> dict:
    verdict = authorize(event.get("headers") or {}, cookies=event.get("cookies"))
    observability.bind_tenant(verdict.organization_id, principal_type=verdict.principal_type)
    return {"isAuthorized": True, "context": verdict.to_context()}
