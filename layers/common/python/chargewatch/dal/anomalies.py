"""Detected anomalies (one item per anomaly) and the issues that track them.

- anomaly:    PK `ORG#<org>#SESSION#<sessionId>`  SK `ANOM#<category>#<n:03d>`
              GSI1 `ORG#<org>#ANOMALIES` / `<occurredAtMs:015d>#<sessionId>#<category>#<n>` (list by time)
- issue:      PK `ORG#<org>#ISSUE#<issueId>`      SK `ISSUE`
              GSI1 `ORG#<org>#ISSUES` / `<createdAt>#<issueId>`
- open issue: PK `ORG#<org>#OPENISSUE#<stationId>#<connectorId>#<category>`  SK `OPENISSUE`
              (at most one open issue per connector and category: later anomalies join it)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from chargewatch.dal.table import GSI1, register, tenant_pk

OPEN_STATUSES = ("OPEN", "IN_PROGRESS")
CLOSED_STATUSES = ("RESOLVED", "DISMISSED")


@register
class AnomalyItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    by_time: GSI1[AnomalyItem] = GSI1()
    id = UnicodeAttribute()
    sessionId = UnicodeAttribute()
    category = UnicodeAttribute()
    score = NumberAttribute()
    confidence = NumberAttribute()
    chargingStationId = UnicodeAttribute()
    connectorId = UnicodeAttribute(null=True)
    evseId = UnicodeAttribute(null=True)
    occurredAt = UnicodeAttribute()
    occurredAtMs = NumberAttribute()
    endedAt = UnicodeAttribute(null=True)
    bucketStart = NumberAttribute()
    bucketEnd = NumberAttribute()
    energyKwh = NumberAttribute(default=0)
    detectedAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    issueId = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)


@register
class IssueItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    by_tenant: GSI1[IssueItem] = GSI1()
    id = UnicodeAttribute()
    status = UnicodeAttribute()
    assignedTo = UnicodeAttribute(null=True)
    chargingStationId = UnicodeAttribute()
    connectorId = UnicodeAttribute(null=True)
    category = UnicodeAttribute()
    anomalyCount = NumberAttribute(default=0)
    incidentEnergyKwh = NumberAttribute(default=0)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    # who moved it, when, from/to and why: the labels fine-tuning learns from
    # pynamodb types ListAttribute(of=X) as a list of X attributes; the stored values are JSON documents
    history: ListAttribute[dict[str, Any]] = ListAttribute(of=JSONAttribute, default=list)  # type: ignore[arg-type]


@register
class OpenIssueItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    issueId = UnicodeAttribute()


def anomaly_sk(category: str, index: int) -> str:
    return f"ANOM#{category}#{index:03d}"


def issue_key(organization_id: str, issue_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "ISSUE", issue_id), "ISSUE"


def open_issue_key(organization_id: str, station_id: str, connector_id: str | None, category: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "OPENISSUE", station_id, connector_id or "-", category), "OPENISSUE"


def anomalies_index_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "ANOMALIES")


def issues_index_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "ISSUES")


def session_anomalies(session_pk: str) -> list[AnomalyItem]:
    return list(AnomalyItem.query(session_pk, AnomalyItem.SK.startswith("ANOM#"), consistent_read=True))


def query_anomalies(
    organization_id: str,
    *,
    from_ms: int | None = None,
    to_ms: int | None = None,
    filter_condition: Condition | None = None,
    newest_first: bool = True,
    limit: int | None = None,
) -> ResultIterator[AnomalyItem]:
    sort_key = AnomalyItem.GSI1SK
    low = f"{from_ms:015d}" if from_ms is not None else None
    high = f"{to_ms:015d}~" if to_ms is not None else None
    condition: Condition | None = None
    if low and high:
        condition = sort_key.between(low, high)
    elif low:
        condition = sort_key >= low
    elif high:
        condition = sort_key <= high
    return AnomalyItem.by_time.query(
        anomalies_index_pk(organization_id),
        range_key_condition=condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        limit=limit,
    )


def latest_of_station(organization_id: str, station_id: str, *, excluding_session: str) -> AnomalyItem | None:
    """The station's newest anomaly outside one session (newest first on the tenant's time index;
    only needed when that session held the station's newest anomaly and lost it)."""
    condition = (AnomalyItem.chargingStationId == station_id) & (AnomalyItem.sessionId != excluding_session)
    for item in query_anomalies(organization_id, filter_condition=condition):
        return item
    return None


def get_issue(organization_id: str, issue_id: str) -> IssueItem | None:
    try:
        return IssueItem.get(*issue_key(organization_id, issue_id), consistent_read=True)
    except IssueItem.DoesNotExist:
        return None


def get_issues(organization_id: str, issue_ids: Iterable[str]) -> dict[str, IssueItem]:
    keys = [issue_key(organization_id, issue_id) for issue_id in set(issue_ids) if issue_id]
    return {item.id: item for item in IssueItem.batch_get(keys)} if keys else {}


def get_open_issue_id(organization_id: str, station_id: str, connector_id: str | None, category: str) -> str | None:
    try:
        return OpenIssueItem.get(
            *open_issue_key(organization_id, station_id, connector_id, category), consistent_read=True
        ).issueId
    except OpenIssueItem.DoesNotExist:
        return None


def list_issues(organization_id: str, filter_condition: Condition | None = None) -> ResultIterator[IssueItem]:
    return IssueItem.by_tenant.query(issues_index_pk(organization_id), filter_condition=filter_condition)


def new_issue(organization_id: str, **attributes: Any) -> IssueItem:
    return IssueItem(
        *issue_key(organization_id, attributes["id"]),
        GSI1PK=issues_index_pk(organization_id),
        GSI1SK=f"{attributes['createdAt']}#{attributes['id']}",
        **attributes,
    )
