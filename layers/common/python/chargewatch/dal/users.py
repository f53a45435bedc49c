"""Users (people signed in with Cognito): one profile item per user.

- profile: PK `USER#<userId>#`, SK `PROFILE` (email, platform `superAdmin` flag, default organization)

Not tenant data: a user spans organizations (memberships live in chargewatch.dal.members).
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chargewatch.dal.table import register

PROFILE_SK = "PROFILE"


@register
class UserItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    userId = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    superAdmin = BooleanAttribute(default=False)
    defaultOrganizationId = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()


def user_pk(user_id: str) -> str:
    if not user_id or "#" in user_id:
        raise ValueError("user id must be non-empty and must not contain '#'")
    return f"USER#{user_id}#"


def get(user_id: str) -> UserItem | None:
    try:
        return UserItem.get(user_pk(user_id), PROFILE_SK, consistent_read=True)
    except UserItem.DoesNotExist:
        return None


def upsert(
    user_id: str,
    *,
    email: str | None,
    now: str,
    super_admin: bool | None = None,
    default_organization_id: str | None = None,
) -> UserItem:
    """Create the profile or update the given fields (others are kept)."""
    item = get(user_id)
    if item is None:
        item = UserItem(
            user_pk(user_id),
            PROFILE_SK,
            userId=user_id,
            email=email,
            superAdmin=bool(super_admin),
            defaultOrganizationId=default_organization_id,
            createdAt=now,
            updatedAt=now,
        )
        item.save()
        return item
    actions: list[Action] = [UserItem.updatedAt.set(now)]
    if email:
        actions.append(UserItem.email.set(email))
    if super_admin is not None:
        actions.append(UserItem.superAdmin.set(super_admin))
    if default_organization_id is not None:
        actions.append(UserItem.defaultOrganizationId.set(default_organization_id))
    item.update(actions=actions)
    return item
