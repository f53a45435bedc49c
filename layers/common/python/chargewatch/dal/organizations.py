"""Organizations: one profile item per tenant (PK `ORG#<orgId>#`, SK `PROFILE`)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chargewatch.dal.table import is_condition_failure, register, tenant_pk
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
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()


def put_new(organization_id: str, *, name: str, plan: str, created_at: str) -> OrganizationItem:
    item = OrganizationItem(
        tenant_pk(organization_id),
        PROFILE_SK,
        organizationId=organization_id,
        name=name,
        plan=plan,
        createdAt=created_at,
        updatedAt=created_at,
    )
    try:
        item.save(condition=OrganizationItem.PK.does_not_exist())
    except PutError as error:
        if is_condition_failure(error):
            raise ConflictError(f"organization {organization_id} already exists", code="organization_exists") from error
        raise
    return item


def get(organization_id: str) -> OrganizationItem | None:
    try:
        return OrganizationItem.get(tenant_pk(organization_id), PROFILE_SK, consistent_read=True)
    except OrganizationItem.DoesNotExist:
        return None
