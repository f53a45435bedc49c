"""Usage metering behind one call per resource.

Issue 8 needs AI-token metering before the metering issue (7) exists: `consume_ai_tokens` is the
one place ask/explain charge tokens, with the plan limit check and the 402 `ai_limit_exceeded`.
It keeps a real per-tenant monthly counter (see chargewatch.dal.usage); issue 7 extends this
module (more counters, roll-ups, the usage endpoints) without changing its callers.
"""
from __future__ import annotations

from chargewatch import clock
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import usage as usage_dal
from chargewatch.errors import QuotaExceededError

# AI tokens (input + output) per calendar month; None = unlimited.
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    "free": {"aiTokensPerMonth": 20_000},
    "pro": {"aiTokensPerMonth": 2_000_000},
    "enterprise": {"aiTokensPerMonth": None},
}


def current_month() -> str:
    return clock.now().strftime("%Y-%m")


def ai_token_limit(organization_id: str) -> int | None:
    organization = organizations_dal.get(organization_id)
    plan = organization.plan if organization is not None else "free"
    return (PLAN_LIMITS.get(plan) or PLAN_LIMITS["free"])["aiTokensPerMonth"]


def _exceeded(limit: int | None, used: int) -> QuotaExceededError:
    return QuotaExceededError(
        f"the monthly AI token limit of this plan ({limit}) is reached ({used} used); nothing was generated",
        code="ai_limit_exceeded", details=[{"field": "aiTokens", "message": f"limit {limit}, used {used}"}])


def ensure_ai_allowance(organization_id: str) -> int | None:
    """Raise 402 before any generation when the month's tokens are used up; returns the limit."""
    limit = ai_token_limit(organization_id)
    if limit is not None:
        month = usage_dal.get_month(organization_id, current_month())
        used = int(month.aiTokens or 0) if month is not None else 0
        if used >= limit:
            raise _exceeded(limit, used)
    return limit


def consume_ai_tokens(organization_id: str, tokens: int, reason: str, *, limit: int | None | bool = False) -> int:
    """Charge `tokens` to this month's counter; 402 `ai_limit_exceeded` (and nothing charged)
    when that would pass the plan limit. `reason` names the feature (explain, ask) for logs/metrics."""
    if limit is False:
        limit = ai_token_limit(organization_id)
    tokens = max(0, int(tokens))
    try:
        return usage_dal.add_ai_tokens(organization_id, current_month(), tokens, limit)
    except usage_dal.LimitReached:
        month = usage_dal.get_month(organization_id, current_month())
        raise _exceeded(limit, int(month.aiTokens or 0) if month is not None else 0) from None


def ai_tokens_used(organization_id: str) -> int:
    month = usage_dal.get_month(organization_id, current_month())
    return int(month.aiTokens or 0) if month is not None else 0
