"""Usage counters: one item per tenant and billing month (UTC), plus the events behind them.

- month:  PK `ORG#<orgId>#USAGE`, SK `MONTH#<yyyy-mm>`: storageBytes (a level, carried into the next
          month), aiTokens, aiRequests, whatsappMessages (reset by starting a new month's item)
- event:  PK `ORG#<orgId>#USAGEEVENT#<yyyy-mm>`, SK `<at>#<eventId>`: every applied delta with
          reason, metadata and principal; `ttl` (400 days)
- idempotency: PK `ORG#<orgId>#USAGEIDEM#<sha256(key)>`, SK `USAGEIDEM`; `ttl` (24 h)

A delta is applied by one transaction: a conditional update of the month item (every plan limit is
in its condition, so concurrent increments can never pass a limit together), the event, and the
idempotency marker (condition: new). Either all three are written or none.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chargewatch.dal.table import connection, is_condition_failure, register, tenant_pk

COUNTERS = ("storageBytes", "aiTokens", "whatsappMessages")


class CounterConditionFailed(Exception):
    """The month item is missing, or a limit (or the storage floor) condition did not hold: nothing written."""


class AlreadyApplied(Exception):
    """The Idempotency-Key was used before: nothing written this time."""


@register
class UsageMonthItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    storageBytes = NumberAttribute(default=0)
    aiTokens = NumberAttribute(default=0)
    aiRequests = NumberAttribute(default=0)
    whatsappMessages = NumberAttribute(default=0)


@register
class UsageEventItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    eventId = UnicodeAttribute()
    at = UnicodeAttribute()
    deltas = JSONAttribute()
    reason = UnicodeAttribute(null=True)
    metadata = JSONAttribute(null=True)
    principal = JSONAttribute(null=True)
    ttl = NumberAttribute()


@register
class UsageIdempotencyItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    eventId = UnicodeAttribute()
    at = UnicodeAttribute()
    ttl = NumberAttribute()


def usage_key(organization_id: str, month: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "USAGE"), f"MONTH#{month}"


def get_month(organization_id: str, month: str) -> UsageMonthItem | None:
    try:
        return UsageMonthItem.get(*usage_key(organization_id, month), consistent_read=True)
    except UsageMonthItem.DoesNotExist:
        return None


def initialise_month(organization_id: str, month: str, *, storage_bytes: int) -> None:
    """Create the month's counters (storage carried over) unless another writer did it first."""
    item = UsageMonthItem(
        *usage_key(organization_id, month), storageBytes=storage_bytes, aiTokens=0, aiRequests=0, whatsappMessages=0
    )
    try:
        item.save(condition=UsageMonthItem.PK.does_not_exist())
    except PutError as error:
        if not is_condition_failure(error):
            raise


def new_event(
    organization_id: str,
    month: str,
    *,
    event_id: str,
    at: str,
    deltas: dict[str, int],
    reason: str | None,
    metadata: dict[str, Any] | None,
    principal: dict[str, Any] | None,
    ttl: int,
) -> UsageEventItem:
    return UsageEventItem(
        tenant_pk(organization_id, "USAGEEVENT", month),
        f"{at}#{event_id}",
        eventId=event_id,
        at=at,
        deltas=deltas,
        reason=reason,
        metadata=metadata,
        principal=principal,
        ttl=ttl,
    )


def list_events(organization_id: str, month: str) -> list[UsageEventItem]:
    return list(UsageEventItem.query(tenant_pk(organization_id, "USAGEEVENT", month)))


def idempotency_item(organization_id: str, key_hash: str, *, event_id: str, at: str, ttl: int) -> UsageIdempotencyItem:
    return UsageIdempotencyItem(
        tenant_pk(organization_id, "USAGEIDEM", key_hash), "USAGEIDEM", eventId=event_id, at=at, ttl=ttl
    )


def latest_storage_before(organization_id: str, month: str) -> int:
    """storageBytes of the latest month item before `month` (storage is a level carried over)."""
    for item in UsageMonthItem.query(
        tenant_pk(organization_id, "USAGE"),
        UsageMonthItem.SK < f"MONTH#{month}",
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    ):
        return int(item.storageBytes or 0)
    return 0


def _at_most(attribute: Any, bound: int) -> Any:
    # ADD treats a missing counter as 0 (a month item written before the counter existed)
    return attribute.does_not_exist() | (attribute <= bound) if bound >= 0 else attribute <= bound


def apply(
    organization_id: str,
    month: str,
    *,
    adds: dict[str, int],
    limits: dict[str, int | None],
    storage_to_zero: bool,
    event: UsageEventItem,
    idempotency: UsageIdempotencyItem | None,
    extra_adds: dict[str, int] | None = None,
) -> None:
    """One atomic write: counters (conditional on every limit), the event, the idempotency marker.

    - a positive delta on a limited counter requires `counter <= limit - delta`
    - a negative storage delta requires `storageBytes >= -delta`, unless `storage_to_zero`, which
      instead sets storageBytes to 0 and requires `storageBytes < -delta` (the floor at 0)

    Raises AlreadyApplied when the idempotency marker exists (whatever else failed), else
    CounterConditionFailed when the month item is missing or a condition did not hold.
    """
    item = UsageMonthItem(*usage_key(organization_id, month))
    condition: Any = UsageMonthItem.PK.exists()
    actions = []
    for name, delta in adds.items():
        attribute = getattr(UsageMonthItem, name)
        if delta == 0:
            continue
        if name == "storageBytes" and delta < 0:
            if storage_to_zero:
                actions.append(attribute.set(0))
                condition &= _at_most(attribute, -delta - 1)
            else:
                actions.append(attribute.add(delta))
                condition &= attribute >= -delta
            continue
        actions.append(attribute.add(delta))
        limit = limits.get(name)
        if limit is not None:
            condition &= _at_most(attribute, limit - delta)
    for name, delta in (extra_adds or {}).items():
        actions.append(getattr(UsageMonthItem, name).add(delta))
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(item, actions=actions, condition=condition)
            transaction.save(event, condition=UsageEventItem.PK.does_not_exist())
            if idempotency is not None:
                transaction.save(idempotency, condition=UsageIdempotencyItem.PK.does_not_exist())
    except (TransactWriteError, UpdateError, PutError) as error:
        if not is_condition_failure(error):
            raise
        # pynamodb sends puts before updates: the reasons are [event, marker, month item]
        reasons = getattr(error, "cancellation_reasons", None) or []
        marker_reason = reasons[1] if idempotency is not None and len(reasons) == 3 else None
        if idempotency is not None and marker_reason is not None and marker_reason.code == "ConditionalCheckFailed":
            raise AlreadyApplied(idempotency.PK) from error
        raise CounterConditionFailed(organization_id) from error
