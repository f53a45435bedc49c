"""Members of an organization (users with a role). Issue assignment checks membership here.

- member: PK `ORG#<org>#MEMBER#<userId>`  SK `MEMBER`; GSI1 `ORG#<org>#MEMBERS` / `<joinedAt>#<userId>`
  GSI2 `USER#<userId>#ORGS` / `<joinedAt>#<org>` (a user's organizations: default org, tenant switch)
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chargewatch.dal.table import GSI1, GSI2, connection, is_condition_failure, register, tenant_pk
from chargewatch.errors import ConflictError

ROLES = ("owner", "admin", "member")


@register
class MemberItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    by_tenant: GSI1[MemberItem] = GSI1()
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    by_user: GSI2[MemberItem] = GSI2()
    organizationId = UnicodeAttribute(null=True)
    userId = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    joinedAt = UnicodeAttribute()


def member_key(organization_id: str, user_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "MEMBER", user_id), "MEMBER"


def user_orgs_pk(user_id: str) -> str:
    return f"USER#{user_id}#ORGS"


def new_member(organization_id: str, *, user_id: str, email: str, role: str, joined_at: str) -> MemberItem:
    """A membership item, not yet written (callers save it alone or inside a transaction)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return MemberItem(
        *member_key(organization_id, user_id),
        GSI1PK=tenant_pk(organization_id, "MEMBERS"),
        GSI1SK=f"{joined_at}#{user_id}",
        GSI2PK=user_orgs_pk(user_id),
        GSI2SK=f"{joined_at}#{organization_id}",
        organizationId=organization_id,
        userId=user_id,
        email=email,
        role=role,
        joinedAt=joined_at,
    )


def put_member(
    organization_id: str, *, user_id: str, email: str, role: str, joined_at: str, only_new: bool = False
) -> MemberItem:
    """Write a membership; `only_new` refuses (409 `already_member`) when the user is already one."""
    item = new_member(organization_id, user_id=user_id, email=email, role=role, joined_at=joined_at)
    try:
        item.save(condition=MemberItem.PK.does_not_exist() if only_new else None)
    except PutError as error:
        if is_condition_failure(error):
            raise ConflictError("the user is already a member of this organization", code="already_member") from error
        raise
    return item


def remove_member(organization_id: str, user_id: str, *, keep_owner: str | None = None) -> bool:
    """Delete a membership; with `keep_owner` (another owner's user id) only while that owner's
    membership still exists, in one transaction, so two owners removing each other concurrently
    can never leave the organization without an owner. False when a condition failed."""
    item = MemberItem(*member_key(organization_id, user_id))
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.delete(item, condition=MemberItem.PK.exists())
            if keep_owner is not None:
                transaction.condition_check(
                    MemberItem, *member_key(organization_id, keep_owner), condition=MemberItem.role == "owner"
                )
    except TransactWriteError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def list_members(organization_id: str) -> Iterator[MemberItem]:
    """Oldest first (members are few per organization)."""
    return MemberItem.by_tenant.query(tenant_pk(organization_id, "MEMBERS"))


def memberships_of(user_id: str) -> list[MemberItem]:
    """Every organization a user belongs to, oldest membership first (not tenant-scoped by design:
    the user is what names the tenants)."""
    return list(MemberItem.by_user.query(user_orgs_pk(user_id)))


def get_member(organization_id: str, user_id: str) -> MemberItem | None:
    try:
        return MemberItem.get(*member_key(organization_id, user_id), consistent_read=True)
    except MemberItem.DoesNotExist:
        return None


def find_member(organization_id: str, user_id_or_email: str) -> MemberItem | None:
    """By user id, else by e-mail (members are few per organization: one index query)."""
    member = get_member(organization_id, user_id_or_email)
    if member is not None:
        return member
    wanted = user_id_or_email.strip().lower()
    for candidate in MemberItem.by_tenant.query(tenant_pk(organization_id, "MEMBERS")):
        if candidate.email.lower() == wanted and candidate.status == "active":
            return candidate
    return None
