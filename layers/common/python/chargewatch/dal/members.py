"""Members of an organization (users with a role). Issue assignment checks membership here.

- member: PK `ORG#<org>#MEMBER#<userId>`  SK `MEMBER`; GSI1 `ORG#<org>#MEMBERS` / `<joinedAt>#<userId>`
"""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, register, tenant_pk

ROLES = ("owner", "admin", "member")


@register
class MemberItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    by_tenant = GSI1()
    userId = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    joinedAt = UnicodeAttribute()


def member_key(organization_id: str, user_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "MEMBER", user_id), "MEMBER"


def put_member(organization_id: str, *, user_id: str, email: str, role: str, joined_at: str) -> MemberItem:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    item = MemberItem(*member_key(organization_id, user_id), GSI1PK=tenant_pk(organization_id, "MEMBERS"),
                      GSI1SK=f"{joined_at}#{user_id}", userId=user_id, email=email, role=role, joinedAt=joined_at)
    item.save()
    return item


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
