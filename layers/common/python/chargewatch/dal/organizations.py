"""Organizations: one profile item per tenant (PK `ORG#<orgId>#`, SK `PROFILE`).

The profile holds the seed's organization fields (name, phone, address, tax id) and the tariff that
statistics price energy with (pricePerKwh, currency).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chargewatch.dal.members import MemberItem
from chargewatch.dal.table import connection, is_condition_failure, register, tenant_pk
from chargewatch.errors import ConflictError

PROFILE_SK = "PROFILE"


@register
class OrganizationItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    organizationId = UnicodeAttribute()
    name = UnicodeAttribute()
    plan = UnicodeAttribute(default="free")
    pricePerKwh = NumberAttribute(default=0.35)
    currency = UnicodeAttribute(default="EUR")
    holidayCountry = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    taxIdType = UnicodeAttribute(null=True)
    taxIdValue = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()


def put_new(
    organization_id: str,
    *,
    name: str,
    plan: str,
    created_at: str,
    profile: dict[str, Any] | None = None,
    together_with: Sequence[MemberItem] | None = None,
) -> OrganizationItem:
    """Create the profile (409 `organization_exists` if the id is taken); `together_with` items
    (e.g. the owner's membership) are written in the same transaction: all or nothing."""
    item = OrganizationItem(
        tenant_pk(organization_id),
        PROFILE_SK,
        organizationId=organization_id,
        name=name,
        plan=plan,
        createdAt=created_at,
        updatedAt=created_at,
        **(profile or {}),
    )
    try:
        if together_with:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(item, condition=OrganizationItem.PK.does_not_exist())
                for other in together_with:
                    transaction.save(other, condition=type(other).PK.does_not_exist())
        else:
            item.save(condition=OrganizationItem.PK.does_not_exist())
    except (PutError, TransactWriteError) as error:
        if is_condition_failure(error):
            raise ConflictError(f"organization {organization_id} already exists", code="organization_exists") from error
        raise
    return item


def update_profile(organization_id: str, fields: dict[str, Any], *, updated_at: str) -> OrganizationItem:
    """Set the given profile fields (None removes an optional one); the organization must exist."""
    item = OrganizationItem(tenant_pk(organization_id), PROFILE_SK)
    actions: list[Action] = [OrganizationItem.updatedAt.set(updated_at)]
    for name, value in fields.items():
        attribute = getattr(OrganizationItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        item.update(actions=actions, condition=OrganizationItem.PK.exists())
    except UpdateError as error:
        if is_condition_failure(error):
            from chargewatch.errors import NotFoundError

            raise NotFoundError("organization not found", code="organization_not_found") from error
        raise
    return item


def get(organization_id: str) -> OrganizationItem | None:
    try:
        return OrganizationItem.get(tenant_pk(organization_id), PROFILE_SK, consistent_read=True)
    except OrganizationItem.DoesNotExist:
        return None
