"""/v1/organization, /v1/members and invitations: routes only. Logic lives in
chargewatch.services.organizations and chargewatch.services.members."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.api import create_app, current_tenant, handle
from chargewatch.schemas.organization import (
    CreateInvitationRequest,
    InvitationAccepted,
    InvitationCreated,
    MemberList,
    MemberRemoved,
    Organization,
    UpdateOrganizationRequest,
)
from chargewatch.services import members, organizations

app = create_app()

UserId = Annotated[str, Path(min_length=1, max_length=128)]
InvitationToken = Annotated[str, Path(min_length=1, max_length=200)]


@app.get("/v1/organization", summary="Get Organization", tags=["organization"])
def get_organization() -> Organization:
    return organizations.get_organization(current_tenant(app))


@app.put("/v1/organization", summary="Update Organization", tags=["organization"])
def put_organization(request: Annotated[UpdateOrganizationRequest, Body()]) -> Organization:
    return organizations.put_organization(current_tenant(app), request)


@app.get("/v1/members", summary="List Members", tags=["organization"])
def list_members() -> MemberList:
    return members.list_members(organizations.require_organization(current_tenant(app)))


@app.delete("/v1/members/<user_id>", summary="Remove Member", tags=["organization"])
def remove_member(user_id: UserId) -> MemberRemoved:
    return members.remove_member(organizations.require_organization(current_tenant(app)), user_id)


@app.post("/v1/members/invitations", summary="Invite Member", tags=["organization"], status_code=201)
def create_invitation(request: Annotated[CreateInvitationRequest, Body()]) -> InvitationCreated:
    return members.create_invitation(organizations.require_organization(current_tenant(app)), request)


@app.post("/v1/invitations/<token>/accept", summary="Accept Invitation", tags=["organization"])
def accept_invitation(token: InvitationToken) -> InvitationAccepted:
    return members.accept_invitation(current_tenant(app), token)


@observability.http_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # open signup and invitation acceptance serve signed-in users who have no organization yet
    return handle(app, event, context, organization_required=False)
