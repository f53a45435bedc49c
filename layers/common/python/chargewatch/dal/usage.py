"""Usage counters: one item per tenant and calendar month (UTC).

PK `ORG#<orgId>#USAGE`, SK `MONTH#<yyyy-mm>`; counters grow by atomic ADD. Issue 7 (metering)
adds its own counters to the same item.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chargewatch.dal.table import is_condition_failure, register, tenant_pk


class LimitReached(Exception):
    """The conditional ADD would have taken the counter past its limit; nothing was added."""


@register
class UsageMonthItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    aiTokens = NumberAttribute(default=0)
    aiRequests = NumberAttribute(default=0)


def usage_key(organization_id: str, month: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "USAGE"), f"MONTH#{month}"


def get_month(organization_id: str, month: str) -> UsageMonthItem | None:
    try:
        return UsageMonthItem.get(*usage_key(organization_id, month), consistent_read=True)
    except UsageMonthItem.DoesNotExist:
        return None


def add_ai_tokens(organization_id: str, month: str, tokens: int, limit: int | None) -> int:
    """ADD `tokens` (and one request) unless that would pass `limit`; returns the new total."""
    item = UsageMonthItem(*usage_key(organization_id, month))
    condition = None
    if limit is not None:
        # `aiTokens + tokens <= limit` written as a comparison DynamoDB can evaluate
        condition = UsageMonthItem.aiTokens.does_not_exist() | (UsageMonthItem.aiTokens <= limit - tokens)
        if tokens > limit:
            raise LimitReached(organization_id)
    try:
        item.update(actions=[UsageMonthItem.aiTokens.add(tokens), UsageMonthItem.aiRequests.add(1)],
                    condition=condition)
    except UpdateError as error:
        if is_condition_failure(error):
            raise LimitReached(organization_id) from error
        raise
    return int(item.aiTokens)
