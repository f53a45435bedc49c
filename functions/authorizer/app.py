"""HTTP API Lambda authorizer (payload 2.0, simple responses).

It always answers isAuthorized=true and puts its verdict in the context: HTTP APIs cannot shape
the gateway's own 401/403 bodies, and every handler enforces the verdict in one shared place
(chargewatch.tenancy), so a client always gets our JSON error body.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)

from chargewatch import observability
from chargewatch.services.auth import authorize


@observability.http_handler
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: object) -> dict:
    headers = dict(event.headers) if event.get("headers") else {}
    verdict = authorize(headers, cookies=event.get("cookies"))
    observability.bind_tenant(verdict.organization_id, principal_type=verdict.principal_type)
    return APIGatewayAuthorizerResponseV2(authorize=True, context=verdict.to_context()).asdict()
