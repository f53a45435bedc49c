"""Members of an organization and invitations to join it (/v1/members).

An invitation carries a one-time token (`cwi_…`, only its SHA-256 stored) valid for 7 days; the
invitee signs in with the invited e-mail address and accepts it, which writes their membership and
marks the invitation accepted in one transaction.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from chargewatch import clock
from chargewatch.dal import invitations as invitations_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import users as users_dal
from chargewatch.errors import ChargewatchError, ConflictError, NotFoundError, PermissionDeniedError
from chargewatch.schemas.organization import (
    CreateInvitationRequest,
    InvitationAccepted,
    InvitationCreated,
    Member,
    MemberList,
    MemberRemoved,
)
from chargewatch.services import api_keys
from chargewatch.tenancy import Tenant, require_admin, require_user

INVITATION_TTL = timedelta(days=7)
INVITATION_TOKEN_PREFIX = "cwi_"
# expired or accepted invitations stay readable this long, then TTL removes them
INVITATION_RETENTION = timedelta(days=30)


class InvitationGoneError(ChargewatchError):
    status_code = 410
    code = "invitation_expired"


def _actor(tenant: Tenant) -> str:
    """Who did it, for invitedBy: a user id, else the API key or application that acted."""
    if tenant.user_id:
        return tenant.user_id
    if tenant.key_id:
        return f"api_key:{tenant.key_id}"
    return f"application:{tenant.application_id}"


def list_members(tenant: Tenant) -> MemberList:
    members = [
        Member(userId=m.userId, email=m.email, role=m.role, status="active", joinedAt=m.joinedAt)
        for m in members_dal.list_members(tenant.organization_id)
        if (m.status or "active") == "active"
    ]
    if tenant.is_admin:  # pending invitations are for admins' eyes only
        now = clock.now()
        for invitation in invitations_dal.list_invitations(tenant.organization_id):
            if invitation.status == "pending" and clock.parse_iso(invitation.expiresAt) > now:
                members.append(
                    Member(
                        userId=None,
                        email=invitation.email,
                        role=invitation.role,
                        status="pending",
                        invitedAt=invitation.invitedAt,
                        expiresAt=invitation.expiresAt,
                        invitedBy=invitation.invitedBy,
                        invitationId=invitation.invitationId,
                    )
                )
    return MemberList(members=members)


def remove_member(tenant: Tenant, user_id: str) -> MemberRemoved:
    """Admins remove a member; the last owner can never be removed; the member's tenant sessions
    in this organization end with the membership."""
    require_admin(tenant)
    member = members_dal.get_member(tenant.organization_id, user_id)
    if member is None:
        raise NotFoundError("member not found", code="member_not_found")
    keep_owner = None
    if member.role == "owner":
        if not (tenant.role == "owner" or tenant.super_admin):
            raise PermissionDeniedError("only an owner can remove an owner", code="insufficient_privilege")
        other_owners = [
            m.userId
            for m in members_dal.list_members(tenant.organization_id)
            if m.role == "owner" and m.userId != user_id
        ]
        if not other_owners:
            raise ConflictError("the last owner of an organization cannot be removed", code="last_owner")
        keep_owner = other_owners[0]
    if not members_dal.remove_member(tenant.organization_id, user_id, keep_owner=keep_owner):
        raise ConflictError(
            "the membership changed while removing it (or it was the last owner); retry",
            code="last_owner" if keep_owner else "member_not_found",
        )
    from chargewatch.services import tenant_sessions  # their sessions end with the membership

    ended = tenant_sessions.end_member_sessions(tenant.organization_id, user_id)
    return MemberRemoved(userId=user_id, removedAt=clock.iso_now(), endedSessions=ended)


def create_invitation(tenant: Tenant, request: CreateInvitationRequest) -> InvitationCreated:
    require_admin(tenant)
    email = request.email.strip().lower()
    if members_dal.find_member(tenant.organization_id, email) is not None:
        raise ConflictError(f"{email} is already a member of this organization", code="already_member")
    token = INVITATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    expires = now + INVITATION_TTL
    item = invitations_dal.put_new(
        tenant.organization_id,
        invitation_id=clock.new_id(),
        token_hash=api_keys.hash_key(token),
        email=email,
        role=request.role,
        invited_by=_actor(tenant),
        invited_at=clock.to_iso(now),
        expires_at=clock.to_iso(expires),
        ttl=int((expires + INVITATION_RETENTION).timestamp()),
    )
    return InvitationCreated(
        invitationId=item.invitationId,
        organizationId=item.organizationId,
        email=item.email,
        role=item.role,
        status=item.status,
        invitedAt=item.invitedAt,
        expiresAt=item.expiresAt,
        invitedBy=item.invitedBy,
        token=token,
    )


def accept_invitation(tenant: Tenant, token: str) -> InvitationAccepted:
    """The signed-in invitee joins: once, before expiry, with the invited e-mail address."""
    user_id = require_user(tenant)
    invitation = None
    if token.startswith(INVITATION_TOKEN_PREFIX):
        invitation = invitations_dal.find_by_token_hash(api_keys.hash_key(token))
    if invitation is None or not api_keys.hashes_match(invitation.GSI2PK.removeprefix("INVITETOKEN#"), token):
        raise NotFoundError("invitation not found", code="invitation_not_found")
    if invitation.status != "pending":
        raise ConflictError("this invitation has already been used", code="invitation_used")
    if clock.parse_iso(invitation.expiresAt) <= clock.now():
        raise InvitationGoneError("this invitation has expired; ask for a new one")
    if (tenant.email or "").lower() != invitation.email.lower():
        raise PermissionDeniedError(
            "this invitation was sent to another e-mail address", code="invitation_email_mismatch"
        )
    joined_at = clock.iso_now()
    membership = members_dal.new_member(
        invitation.organizationId,
        user_id=user_id,
        email=invitation.email,
        role=invitation.role,
        joined_at=joined_at,
    )
    outcome = invitations_dal.accept(invitation, membership, at=joined_at)
    if outcome == "already_member":
        raise ConflictError("you are already a member of this organization", code="already_member")
    if outcome == "used":
        raise ConflictError("this invitation has already been used", code="invitation_used")
    profile = users_dal.get(user_id)
    if profile is None or not profile.defaultOrganizationId:
        users_dal.upsert(user_id, email=tenant.email, now=joined_at, default_organization_id=invitation.organizationId)
    return InvitationAccepted(
        organizationId=invitation.organizationId, userId=user_id, role=invitation.role, joinedAt=joined_at
    )
