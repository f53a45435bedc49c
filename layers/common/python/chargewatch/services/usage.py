"""Usage metering: the one implementation for every metered resource.

Counters per tenant and billing month (UTC calendar month): `storageBytes` (a level: carried into
the next month), `aiTokens` and `whatsappMessages` (start at 0 each month). Plan limits come from
PLAN_LIMITS, overridable by the PLAN_LIMITS environment variable (JSON). An increment that would
pass a limit changes nothing and raises 402 (`storage_limit_exceeded`, `ai_limit_exceeded`,
`whatsapp_limit_exceeded`); the check is the condition of the one DynamoDB write that applies it
(see chargewatch.dal.usage), so concurrent increments can never pass a limit together.

Callers: POST /api/tenant-usage, charging-session storage (services.sessions), ask/explain
(`ensure_ai_allowance` + `consume_ai_tokens`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from chargewatch import clock, observability, retry
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import usage as usage_dal
from chargewatch.errors import ConcurrencyError, QuotaExceededError, ValidationError
from chargewatch.schemas.usage import (
    Plan,
    PlanLimits,
    TenantUsage,
    TenantUsageUpdated,
    UsageCounters,
    UsageIncrementRequest,
)
from chargewatch.settings import get_settings
from chargewatch.tenancy import Tenant

logger = observability.logger

# Per plan; None = unlimited. Storage is a level, the others are per billing month.
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    "free": {"storageBytes": 1 * 1024**3, "aiTokensPerMonth": 20_000, "whatsappMessagesPerMonth": 100},
    "pro": {"storageBytes": 50 * 1024**3, "aiTokensPerMonth": 2_000_000, "whatsappMessagesPerMonth": 5_000},
    "enterprise": {"storageBytes": None, "aiTokensPerMonth": None, "whatsappMessagesPerMonth": None},
}
PLAN_NAMES = {"free": "Free", "pro": "Pro", "enterprise": "Enterprise"}
# counter -> (its key in PLAN_LIMITS, the 402 error code)
_LIMIT_KEYS = {
    "storageBytes": ("storageBytes", "storage_limit_exceeded"),
    "aiTokens": ("aiTokensPerMonth", "ai_limit_exceeded"),
    "whatsappMessages": ("whatsappMessagesPerMonth", "whatsapp_limit_exceeded"),
}
EVENT_RETENTION = timedelta(days=400)
IDEMPOTENCY_RETENTION = timedelta(hours=24)


def current_month() -> str:
    return clock.now().strftime("%Y-%m")


def _period(month: str) -> tuple[str, str]:
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return clock.to_iso(start), clock.to_iso(end)


def plan_of(organization_id: str) -> str:
    organization = organizations_dal.get(organization_id)
    return organization.plan if organization is not None else "free"


def limits_for(plan: str) -> dict[str, int | None]:
    """counter name -> limit (None = unlimited) for a plan, after the PLAN_LIMITS env override."""
    configured = dict(PLAN_LIMITS.get(plan) or PLAN_LIMITS["free"])
    configured.update(_limits_override(get_settings().plan_limits_json).get(plan) or {})
    return {counter: configured.get(key) for counter, (key, _) in _LIMIT_KEYS.items()}


@lru_cache(maxsize=4)
def _limits_override(text: str | None) -> dict[str, dict[str, int | None]]:
    """PLAN_LIMITS parsed once per value (a cold start, in practice)."""
    return (json.loads(text) or {}) if text else {}


def _plan(plan: str) -> Plan:
    return Plan(id=plan, name=PLAN_NAMES.get(plan, plan), limits=PlanLimits(**limits_for(plan)))


def _counters(organization_id: str, month: str) -> dict[str, int]:
    """The month's counters; a month nobody wrote yet starts at 0 with last month's storage."""
    item = usage_dal.get_month(organization_id, month)
    if item is None:
        return {
            "storageBytes": usage_dal.latest_storage_before(organization_id, month),
            "aiTokens": 0,
            "whatsappMessages": 0,
            "aiRequests": 0,
        }
    return {name: int(getattr(item, name) or 0) for name in (*usage_dal.COUNTERS, "aiRequests")}


def _usage_out(counters: dict[str, int], month: str) -> UsageCounters:
    start, end = _period(month)
    return UsageCounters(
        storageBytes=counters["storageBytes"],
        aiTokens=counters["aiTokens"],
        whatsappMessages=counters["whatsappMessages"],
        periodStart=start,
        periodEnd=end,
    )


def initialise(organization_id: str, month: str | None = None) -> None:
    """Create a billing month's counters (new organizations; the first write of each month):
    storage carried over, the monthly counters at 0."""
    month = month or current_month()
    usage_dal.initialise_month(
        organization_id, month, storage_bytes=usage_dal.latest_storage_before(organization_id, month)
    )


def get_usage(organization_id: str) -> TenantUsage:
    month = current_month()
    return TenantUsage(
        tenantId=organization_id,
        plan=_plan(plan_of(organization_id)),
        usage=_usage_out(_counters(organization_id, month), month),
    )


def _exceeded(counter: str, limit: int | None, used: int) -> QuotaExceededError:
    _, code = _LIMIT_KEYS[counter]
    return QuotaExceededError(
        f"the {counter} limit of this plan ({limit}) would be exceeded ({used} used); nothing was changed",
        code=code,
        details=[{"field": counter, "message": f"limit {limit}, used {used}"}],
    )


def apply_usage(
    organization_id: str,
    deltas: dict[str, int],
    *,
    reason: str | None = None,
    metadata: dict[str, Any] | None = None,
    principal: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    enforce_limits: bool = True,
    ai_requests: int = 0,
    limits: dict[str, int | None] | None = None,
) -> None:
    """Apply counter deltas atomically (402 and nothing changed when a limit would be passed).

    Negative storage deltas floor at 0. With `idempotency_key`, a retry applies nothing again.
    """
    now = clock.now()
    month = now.strftime("%Y-%m")
    adds = {name: int(value) for name, value in deltas.items() if value}
    if limits is None:
        limits = limits_for(plan_of(organization_id)) if enforce_limits else {}
    storage_to_zero = False
    key_hash = hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None
    for _ in retry.attempts(8):
        at, event_id = clock.to_iso(now), clock.new_id()
        event = usage_dal.new_event(
            organization_id,
            month,
            event_id=event_id,
            at=at,
            deltas=adds,
            reason=reason,
            metadata=metadata,
            principal=principal,
            ttl=int((now + EVENT_RETENTION).timestamp()),
        )
        marker = (
            None
            if key_hash is None
            else usage_dal.idempotency_item(
                organization_id, key_hash, event_id=event_id, at=at, ttl=int((now + IDEMPOTENCY_RETENTION).timestamp())
            )
        )
        try:
            usage_dal.apply(
                organization_id,
                month,
                adds=adds,
                limits=limits,
                storage_to_zero=storage_to_zero,
                event=event,
                idempotency=marker,
                extra_adds={"aiRequests": ai_requests} if ai_requests else None,
            )
            return
        except usage_dal.AlreadyApplied:
            return
        except usage_dal.CounterConditionFailed:
            current = usage_dal.get_month(organization_id, month)
            if current is None:
                initialise(organization_id, month)  # the first write of a billing month: the monthly reset
                continue
            for name, delta in adds.items():
                used = int(getattr(current, name) or 0)
                limit = limits.get(name)
                if delta > 0 and limit is not None and used + delta > limit:
                    raise _exceeded(name, limit, used) from None
            storage_delta = adds.get("storageBytes", 0)
            if storage_delta < 0:
                storage_to_zero = int(current.storageBytes or 0) < -storage_delta
            # otherwise another writer changed the counters between our write and our read: retry
    raise ConcurrencyError("usage counters are busy; retry the request")


def principal_of(tenant: Tenant) -> dict[str, Any]:
    """Who applied a delta, for the usage event."""
    return {
        "type": tenant.principal_type,
        "userId": tenant.user_id,
        "keyId": tenant.key_id,
        "applicationId": tenant.application_id,
    }


def increment(tenant: Tenant, request: UsageIncrementRequest, idempotency_key: str | None) -> TenantUsageUpdated:
    """POST /api/tenant-usage (admin only; the caller checks the role)."""
    deltas = {
        "storageBytes": int(request.storageBytesDelta or 0),
        "aiTokens": int(request.aiTokensDelta or 0),
        "whatsappMessages": int(request.whatsappMessagesDelta or 0),
    }
    if not any(deltas.values()):
        fields = ("storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta")
        raise ValidationError(
            "at least one of storageBytesDelta, aiTokensDelta, whatsappMessagesDelta must be a non-zero number",
            details=[{"field": field, "message": "missing or 0"} for field in fields],
        )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise ValidationError.for_field("Idempotency-Key", "must be 1-255 characters")
    organization_id = tenant.organization_id
    plan = plan_of(organization_id)
    apply_usage(
        organization_id,
        deltas,
        reason=request.reason,
        metadata=request.metadata,
        principal=principal_of(tenant),
        idempotency_key=idempotency_key,
        limits=limits_for(plan),
    )
    month = current_month()
    return TenantUsageUpdated(ok=True, plan=_plan(plan), usage=_usage_out(_counters(organization_id, month), month))


def meter_storage(organization_id: str, delta_bytes: int, reason: str, metadata: dict[str, Any] | None = None) -> None:
    """Stored bytes of the product (charging-session meter values), metered after the write: counted,
    never refused after the fact (the data is already stored); negative deltas floor at 0.

    Never raises: metering must not fail a write that happened (a failure is logged)."""
    if not delta_bytes:
        return
    try:
        apply_usage(
            organization_id,
            {"storageBytes": int(delta_bytes)},
            reason=reason,
            metadata=metadata,
            principal={"type": "system"},
            enforce_limits=False,
        )
    except Exception:
        logger.exception(
            "storage metering failed",
            extra={"organizationId": organization_id, "deltaBytes": delta_bytes, "reason": reason},
        )


# ------------------------------------------------------------------ AI tokens


def ai_token_limit(organization_id: str) -> int | None:
    return limits_for(plan_of(organization_id))["aiTokens"]


def ensure_ai_allowance(organization_id: str) -> int | None:
    """Raise 402 before any generation when the month's tokens are used up; returns the limit."""
    limit = ai_token_limit(organization_id)
    if limit is not None:
        used = ai_tokens_used(organization_id)
        if used >= limit:
            raise _exceeded("aiTokens", limit, used)
    return limit


def consume_ai_tokens(organization_id: str, tokens: int, reason: str, *, limit: int | None | bool = False) -> int:
    """Charge `tokens` to this month's counter; 402 `ai_limit_exceeded` (and nothing charged)
    when that would pass the plan limit. `reason` names the feature (explain, ask)."""
    tokens = max(0, int(tokens))
    # a caller that read the limit before generating (ensure_ai_allowance) passes it: enforce that one
    limits = None if limit is False else {"aiTokens": limit}
    apply_usage(
        organization_id, {"aiTokens": tokens}, reason=reason, principal={"type": "system"}, ai_requests=1, limits=limits
    )
    return ai_tokens_used(organization_id)


def ai_tokens_used(organization_id: str) -> int:
    return _counters(organization_id, current_month())["aiTokens"]
