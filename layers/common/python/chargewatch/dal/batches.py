"""Batch analysis: the batch record, its per-session results and the counters that move with them.

Items of one batch share the partition `ORG#<orgId>#BATCH#<batchId>`:

- `META`               the batch: status, totals, processed/failed/anomalous counters, timestamps
- `RESULT#<pos:06d>`   the outcome for the session at position `pos` of the submit: the seed's
                       session result (or a failure with its reason in `message`)

A result item is written with `attribute_not_exists(PK)` in the same transaction that ADDs to the
batch counters, so a redelivered queue message never counts a session twice: the position is
fixed by the submit and session ids are unique within a batch, so the key is (batchId, sessionId).
Results are listed by position: page `n` of size `s` is one key-range Query over
`RESULT#<n*s>` … `RESULT#<(n+1)*s - 1>`.
"""

from __future__ import annotations

from typing import Any, Final

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chargewatch.dal.table import connection, is_condition_failure, register, tenant_pk

META_SK = "META"
RESULT_PREFIX = "RESULT#"
# DynamoDB transactions take at most 100 items: up to 99 results and the batch counters.
MAX_RESULTS_PER_WRITE = 99

PENDING: Final = "pending"
PROCESSING: Final = "processing"
COMPLETED: Final = "completed"
COMPLETED_WITH_FAILURES: Final = "completed_with_failures"
PROCESSED = "processed"
FAILED = "failed"


def batch_pk(organization_id: str, batch_id: str) -> str:
    return tenant_pk(organization_id, "BATCH", batch_id)


def result_sk(position: int) -> str:
    return f"{RESULT_PREFIX}{position:06d}"


@register
class BatchItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    organizationId = UnicodeAttribute()
    batchId = UnicodeAttribute()
    status = UnicodeAttribute()
    totalSessions = NumberAttribute()
    processedSessions = NumberAttribute(default=0)
    failedSessions = NumberAttribute(default=0)
    anomalousSessions = NumberAttribute(default=0)
    partCount = NumberAttribute()
    payloadPrefix = UnicodeAttribute()
    createdAt = UnicodeAttribute()
    startedAt = UnicodeAttribute(null=True)
    completedAt = UnicodeAttribute(null=True)


@register
class BatchResultItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    sessionId = UnicodeAttribute()
    outcome = UnicodeAttribute()  # PROCESSED or FAILED
    isAnomaly = NumberAttribute(default=0)
    result = JSONAttribute()
    recordedAt = UnicodeAttribute()


def new_batch_item(organization_id: str, batch_id: str, **attributes: Any) -> BatchItem:
    return BatchItem(
        batch_pk(organization_id, batch_id), META_SK, organizationId=organization_id, batchId=batch_id, **attributes
    )


def put_batch(item: BatchItem) -> None:
    item.save(condition=BatchItem.PK.does_not_exist())


def get_batch(organization_id: str, batch_id: str) -> BatchItem | None:
    try:
        return BatchItem.get(batch_pk(organization_id, batch_id), META_SK, consistent_read=True)
    except BatchItem.DoesNotExist:
        return None


def new_result_item(organization_id: str, batch_id: str, position: int, **attributes: Any) -> BatchResultItem:
    return BatchResultItem(batch_pk(organization_id, batch_id), result_sk(position), **attributes)


def record_results(organization_id: str, batch_id: str, results: list[BatchResultItem]) -> int:
    """Store results not stored yet and count them on the batch, atomically; returns how many were new.

    Each transaction writes up to 99 results (each: does not exist yet) and ADDs their counts. When
    one of them exists already (a redelivery), the group is retried one result at a time, so the
    ones already counted are skipped and the others are counted exactly once.
    """
    recorded = 0
    for start in range(0, len(results), MAX_RESULTS_PER_WRITE):
        group = results[start : start + MAX_RESULTS_PER_WRITE]
        try:
            _write_counted(organization_id, batch_id, group)
            recorded += len(group)
        except _AlreadyRecorded:
            for result in group:
                try:
                    _write_counted(organization_id, batch_id, [result])
                    recorded += 1
                except _AlreadyRecorded:
                    pass
    return recorded


class _AlreadyRecorded(Exception):
    pass


def _write_counted(organization_id: str, batch_id: str, results: list[BatchResultItem]) -> None:
    processed = sum(1 for result in results if result.outcome == PROCESSED)
    failed = len(results) - processed
    anomalous = sum(int(result.isAnomaly or 0) for result in results)
    actions: list[Action] = [
        BatchItem.processedSessions.add(processed),
        BatchItem.failedSessions.add(failed),
        BatchItem.anomalousSessions.add(anomalous),
    ]
    try:
        with TransactWrite(connection=connection()) as transaction:
            for result in results:
                transaction.save(result, condition=BatchResultItem.PK.does_not_exist())
            transaction.update(
                BatchItem(batch_pk(organization_id, batch_id), META_SK),
                actions=actions,
                condition=BatchItem.PK.exists(),
            )
    except TransactWriteError as error:
        if is_condition_failure(error):
            raise _AlreadyRecorded() from error
        raise


def recorded_positions(organization_id: str, batch_id: str, first: int, last: int) -> set[int]:
    """Positions in [first, last] that have a result already (consistent read)."""
    return {
        int(item.SK[len(RESULT_PREFIX) :])
        for item in _results_between(organization_id, batch_id, first, last, attributes=["SK"])
    }


def results_page(organization_id: str, batch_id: str, first: int, last: int) -> list[BatchResultItem]:
    return list(_results_between(organization_id, batch_id, first, last))


def _results_between(
    organization_id: str, batch_id: str, first: int, last: int, attributes: list[str] | None = None
) -> ResultIterator[BatchResultItem]:
    return BatchResultItem.query(
        batch_pk(organization_id, batch_id),
        BatchResultItem.SK.between(result_sk(first), result_sk(last)),
        consistent_read=True,
        attributes_to_get=attributes,
    )


def mark_processing(organization_id: str, batch_id: str, now: str) -> None:
    """pending -> processing, once (a lost race or a later message changes nothing)."""
    try:
        BatchItem(batch_pk(organization_id, batch_id), META_SK).update(
            actions=[BatchItem.status.set(PROCESSING), BatchItem.startedAt.set(now)],
            condition=BatchItem.status == PENDING,
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def mark_completed(organization_id: str, batch_id: str, status: str, now: str) -> bool:
    """Set the final status and completedAt exactly once; True for the caller that set it."""
    item = BatchItem(batch_pk(organization_id, batch_id), META_SK)
    try:
        item.update(
            actions=[BatchItem.status.set(status), BatchItem.completedAt.set(now)],
            condition=BatchItem.PK.exists() & BatchItem.completedAt.does_not_exist(),
        )
    except (UpdateError, PutError) as error:
        if is_condition_failure(error):
            return False
        raise
    return True
