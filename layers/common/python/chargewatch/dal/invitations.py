"""Invitations to join an organization (one-time token, only its SHA-256 stored).

- item: PK `ORG#<org>#INVITE#<invitationId>`, SK `INVITE`; GSI1 `ORG#<org>#INVITES` / `<invitedAt>#<id>`
- GSI2 `INVITETOKEN#<sha256>` / `INVITE`: accept looks the token up (the token names the tenant)
- `ttl` = expiry + 30 days
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chargewatch.dal.members import MemberItem
from chargewatch.dal.table import GSI1, GSI2, connection, is_condition_failure, register, tenant_pk

INVITE_SK = "INVITE"


@register
class InvitationItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_tenant: GSI1[InvitationItem] = GSI1()
    by_token: GSI2[InvitationItem] = GSI2()
    invitationId = UnicodeAttribute()
    organizationId = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    invitedBy = UnicodeAttribute()
    invitedAt = UnicodeAttribute()
    expiresAt = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    acceptedAt = UnicodeAttribute(null=True)
    acceptedBy = UnicodeAttribute(null=True)
    ttl = NumberAttribute(null=True)


def put_new(
    organization_id: str,
    *,
    invitation_id: str,
    token_hash: str,
    email: str,
    role: str,
    invited_by: str,
    invited_at: str,
    expires_at: str,
    ttl: int,
) -> InvitationItem:
    item = InvitationItem(
        tenant_pk(organization_id, "INVITE", invitation_id),
        INVITE_SK,
        GSI1PK=tenant_pk(organization_id, "INVITES"),
        GSI1SK=f"{invited_at}#{invitation_id}",
        GSI2PK=f"INVITETOKEN#{token_hash}",
        GSI2SK=INVITE_SK,
        invitationId=invitation_id,
        organizationId=organization_id,
        email=email,
        role=role,
        invitedBy=invited_by,
        invitedAt=invited_at,
        expiresAt=expires_at,
        status="pending",
        ttl=ttl,
    )
    item.save(condition=InvitationItem.PK.does_not_exist())
    return item


def list_invitations(organization_id: str) -> Iterator[InvitationItem]:
    return InvitationItem.by_tenant.query(tenant_pk(organization_id, "INVITES"))


def find_by_token_hash(token_hash: str) -> InvitationItem | None:
    """The index names the item; the item itself is then read consistently."""
    for found in InvitationItem.by_token.query(f"INVITETOKEN#{token_hash}", limit=1):
        try:
            return InvitationItem.get(found.PK, INVITE_SK, consistent_read=True)
        except InvitationItem.DoesNotExist:
            return None
    return None


def accept(item: InvitationItem, membership: MemberItem, *, at: str) -> str:
    """pending -> accepted and the membership written, in one transaction: "accepted", or
    "already_member" / "used" when a condition failed (nothing written then)."""
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(
                item,
                actions=[
                    InvitationItem.status.set("accepted"),
                    InvitationItem.acceptedAt.set(at),
                    InvitationItem.acceptedBy.set(membership.userId),
                ],
                condition=InvitationItem.status == "pending",
            )
            transaction.save(membership, condition=type(membership).PK.does_not_exist())
    except TransactWriteError as error:
        if not is_condition_failure(error):
            raise
        try:
            type(membership).get(membership.PK, membership.SK, consistent_read=True)
            return "already_member"
        except type(membership).DoesNotExist:
            return "used"
    return "accepted"
