"""Organizations (tenants) and their provisioning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chargewatch import calendars, clock
from chargewatch.dal import members as members_dal
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.dal import tenant_registry
from chargewatch.dal import users as users_dal
from chargewatch.errors import NotFoundError, ValidationError
from chargewatch.schemas.organization import Organization, UpdateOrganizationRequest
from chargewatch.services import api_keys, usage
from chargewatch.settings import get_settings
from chargewatch.tenancy import Tenant, require_admin, require_user

PLANS = ("free", "pro", "enterprise")


@dataclass(frozen=True)
class ProvisionedOrganization:
    organization_id: str
    name: str
    plan: str
    api_key: str
    key_id: str

    def to_dict(self) -> dict[str, str]:
        return {
            "organizationId": self.organization_id,
            "name": self.name,
            "plan": self.plan,
            "apiKey": self.api_key,
            "keyId": self.key_id,
        }


def create_organization(
    name: str,
    *,
    plan: str = "free",
    organization_id: str | None = None,
    key_name: str = "default",
    api_key: str | None = None,
) -> ProvisionedOrganization:
    """Create an organization and its first API key (admin provisioning)."""
    organization_id = _provision(name, plan, organization_id)
    key, key_item = api_keys.issue_key(organization_id, env=get_settings().api_key_env, name=key_name, key=api_key)
    return ProvisionedOrganization(organization_id, name.strip(), plan, key, key_item.keyId)


def _provision(
    name: str,
    plan: str,
    organization_id: str | None,
    *,
    owner: Tenant | None = None,
    profile: dict[str, Any] | None = None,
) -> str:
    """The one way an organization comes to exist: profile (and the owner's membership, in the same
    transaction), the tenant registry for scheduled jobs, this month's usage counters."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError.for_field("name", "must be 1-200 characters")
    if plan not in PLANS:
        raise ValidationError.for_field("plan", f"must be one of {', '.join(PLANS)}")
    organization_id = organization_id or clock.new_id()
    now = clock.iso_now()
    owner_membership = (
        []
        if owner is None
        else [
            members_dal.new_member(
                organization_id, user_id=require_user(owner), email=owner.email or "", role="owner", joined_at=now
            )
        ]
    )
    organizations_dal.put_new(
        organization_id, name=name, plan=plan, created_at=now, profile=profile, together_with=owner_membership
    )
    tenant_registry.register_tenant(organization_id)  # scheduled jobs (SHADE) list tenants from it
    usage.initialise(organization_id)  # this month's counters at 0
    stations_dal.initialise_totals(organization_id)  # the read model's counters at 0
    return organization_id


# ------------------------------------------------------------------ /v1/organization


def _organization_out(item: organizations_dal.OrganizationItem) -> Organization:
    return Organization(
        id=item.organizationId,
        tenantId=item.organizationId,
        name=item.name,
        phone=item.phone,
        address=item.address,
        taxIdType=item.taxIdType,
        taxIdValue=item.taxIdValue,
        plan=item.plan,
        pricePerKwh=float(item.pricePerKwh),
        currency=item.currency,
        holidayCountry=item.holidayCountry,
        createdAt=item.createdAt,
        updatedAt=item.updatedAt,
    )


def require_organization(tenant: Tenant) -> Tenant:
    """The organization routes that serve signed-in people without one (open signup) answer 404
    `no_organization` where they need an organization."""
    if not tenant.organization_id:
        raise NotFoundError(
            "you have no organization yet: create one with PUT /v1/organization", code="no_organization"
        )
    return tenant


def get_organization(tenant: Tenant) -> Organization:
    return _organization_by_id(require_organization(tenant).organization_id)


def _organization_by_id(organization_id: str) -> Organization:
    item = organizations_dal.get(organization_id)
    if item is None:
        raise NotFoundError("organization not found", code="organization_not_found")
    return _organization_out(item)


def put_organization(tenant: Tenant, request: UpdateOrganizationRequest) -> Organization:
    """Update the caller's organization (admins), or — open signup — create one for a signed-in
    user who has none: they become its owner on the free plan, and it becomes their default."""
    profile = request.model_dump(exclude={"name"}, exclude_none=False)
    for tariff_field in ("pricePerKwh", "currency"):
        if profile[tariff_field] is None:
            del profile[tariff_field]  # the tariff keeps its value unless given
    if "holidayCountry" not in request.model_fields_set:
        del profile["holidayCountry"]  # kept unless given; an explicit null clears it
    elif request.holidayCountry is not None:
        calendars.validate_country(request.holidayCountry)
    if tenant.organization_id:
        require_admin(tenant)
        organizations_dal.update_profile(
            tenant.organization_id, {"name": request.name.strip(), **profile}, updated_at=clock.iso_now()
        )
        return get_organization(tenant)
    user_id = require_user(tenant)
    organization_id = _provision(
        request.name, "free", None, owner=tenant, profile={k: v for k, v in profile.items() if v is not None}
    )
    users_dal.upsert(user_id, email=tenant.email, now=clock.iso_now(), default_organization_id=organization_id)
    return _organization_by_id(organization_id)
