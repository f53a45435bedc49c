"""Organizations (tenants) and their provisioning."""
from __future__ import annotations

from dataclasses import dataclass

from chargewatch import clock
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import tenant_registry
from chargewatch.errors import ValidationError
from chargewatch.services import api_keys
from chargewatch.settings import get_settings

PLANS = ("free", "pro", "enterprise")


@dataclass(frozen=True)
class ProvisionedOrganization:
    organization_id: str
    name: str
    plan: str
    api_key: str
    key_id: str

    def to_dict(self) -> dict[str, str]:
        return {"organizationId": self.organization_id, "name": self.name, "plan": self.plan,
                "apiKey": self.api_key, "keyId": self.key_id}


def create_organization(name: str, *, plan: str = "free", organization_id: str | None = None,
                        key_name: str = "default", api_key: str | None = None) -> ProvisionedOrganization:
    """Create an organization and its first API key (admin provisioning)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError.for_field("name", "must be 1-200 characters")
    if plan not in PLANS:
        raise ValidationError.for_field("plan", f"must be one of {', '.join(PLANS)}")
    organization_id = organization_id or clock.new_id()
    organizations_dal.put_new(organization_id, name=name, plan=plan, created_at=clock.iso_now())
    tenant_registry.register_tenant(organization_id)  # scheduled jobs (SHADE) list tenants from it
    key, key_item = api_keys.issue_key(organization_id, env=get_settings().api_key_env, name=key_name, key=api_key)
    return ProvisionedOrganization(organization_id, name, plan, key, key_item.keyId)
