"""The platform's list of tenants, for scheduled work (SHADE fan-out) without a Scan.

- registry entry:  PK `TENANTS`  SK `ORG#<orgId>`  (platform data, not tenant data: it holds
  only the id, and no request path reads it; only scheduled jobs do)

Written when an organization is created. Organizations created before the registry existed are
added once with `chargewatch schedule backfill-tenants` (an admin Scan, never on a request path).
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chargewatch.dal.table import register

REGISTRY_PK = "TENANTS"


@register
class TenantRegistryItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    organizationId = UnicodeAttribute()
    createdAt = UnicodeAttribute(null=True)


def register_tenant(organization_id: str, created_at: str | None = None) -> None:
    """Idempotent: registering twice leaves one entry."""
    TenantRegistryItem(
        REGISTRY_PK, f"ORG#{organization_id}", organizationId=organization_id, createdAt=created_at
    ).save()


def list_tenant_ids() -> Iterator[str]:
    for item in TenantRegistryItem.query(REGISTRY_PK, TenantRegistryItem.SK.startswith("ORG#")):
        yield item.organizationId
