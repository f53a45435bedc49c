"""/v1/anomalies: individual anomalies, their per-connector and per-session views, issue workflow.

Lists read the tenant's anomaly items through the time index (GSI1, newest first) — never the
sessions — with the occurrence range in the key condition and the other filters applied to items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chargewatch import clock, retry
from chargewatch.categories import CATEGORY_INFO, category_description, category_name
from chargewatch.dal import anomalies as anomalies_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.dal.table import Condition, TransactWrite, connection, is_condition_failure
from chargewatch.errors import ConcurrencyError, ConflictError, NotFoundError, ValidationError
from chargewatch.pagination import counted_page, page_end, paginate
from chargewatch.schemas.anomalies import (
    AnomalyCategoryInfo,
    AnomalyConnector,
    AnomalyConnectorPage,
    AnomalyDetail,
    AnomalyListItem,
    AnomalyPage,
    AnomalySession,
    AnomalySessionPage,
    AnomalyTypeCount,
    DetailMeterValue,
    IssueRef,
    IssueResult,
    Period,
    RiskPoint,
    UpdateIssueRequest,
)
from chargewatch.schemas.webhooks import IssueUpdatedData
from chargewatch.services import webhook_events
from chargewatch.services.read_model import REVENUE_LEAK_CATEGORIES

BUCKET_MS = 5 * 60 * 1000
# Allowed moves of the issue workflow; a closed issue is a label and stays closed.
TRANSITIONS = {
    "OPEN": {"OPEN", "IN_PROGRESS", "RESOLVED", "DISMISSED"},
    "IN_PROGRESS": {"IN_PROGRESS", "OPEN", "RESOLVED", "DISMISSED"},
    "RESOLVED": {"RESOLVED"},
    "DISMISSED": {"DISMISSED"},
}


@dataclass(frozen=True)
class AnomalyFilters:
    anomaly_type: str | None = None
    connector_id: str | None = None
    session_id: str | None = None
    station_id: str | None = None
    evse_id: str | None = None
    occurrence_from: datetime | None = None
    occurrence_to: datetime | None = None
    update_from: datetime | None = None
    update_to: datetime | None = None
    issue_status: str | None = None
    assigned_to: str | None = None


def _check_category(code: str | None) -> None:
    if code is not None and code not in CATEGORY_INFO:
        raise ValidationError.for_field(
            "anomalyType", f"unknown anomaly type {code!r}; one of {', '.join(CATEGORY_INFO)}"
        )


def _counted_total(organization_id: str, filters: AnomalyFilters) -> int | None:
    """totalCount from the read model's counters when the only filter is anomalyType (or none)."""
    others = {name: value for name, value in vars(filters).items() if name != "anomaly_type"}
    if any(value is not None for value in others.values()):
        return None
    if filters.anomaly_type is not None:
        return stations_dal.category_counts(organization_id).get(filters.anomaly_type, 0)
    totals = stations_dal.totals(organization_id)
    return 0 if totals is None else int(totals.totalAnomalies or 0)


def _matching(
    organization_id: str, filters: AnomalyFilters, limit: int | None = None
) -> Iterable[anomalies_dal.AnomalyItem]:
    _check_category(filters.anomaly_type)
    if filters.occurrence_from and filters.occurrence_to and filters.occurrence_from > filters.occurrence_to:
        raise ValidationError.for_field("occurrenceFrom", "must not be after occurrenceTo")
    Anomaly = anomalies_dal.AnomalyItem
    conditions: list[Condition] = []
    for attribute, value in (
        (Anomaly.category, filters.anomaly_type),
        (Anomaly.connectorId, filters.connector_id),
        (Anomaly.sessionId, filters.session_id),
        (Anomaly.chargingStationId, filters.station_id),
        (Anomaly.evseId, filters.evse_id),
    ):
        if value is not None:
            conditions.append(attribute == value)
    if filters.update_from is not None:
        conditions.append(Anomaly.updatedAt >= clock.to_iso(filters.update_from))
    if filters.update_to is not None:
        conditions.append(Anomaly.updatedAt <= clock.to_iso(filters.update_to))
    if filters.issue_status is not None or filters.assigned_to is not None:
        issue_ids = [issue.id for issue in _issues_matching(organization_id, filters.issue_status, filters.assigned_to)]
        if not issue_ids:
            return []
        conditions.append(Anomaly.issueId.is_in(*issue_ids))
    condition: Condition | None = None
    for part in conditions:
        condition = part if condition is None else condition & part
    return anomalies_dal.query_anomalies(
        organization_id,
        from_ms=clock.to_epoch_ms(filters.occurrence_from) if filters.occurrence_from else None,
        to_ms=clock.to_epoch_ms(filters.occurrence_to) if filters.occurrence_to else None,
        filter_condition=condition,
        limit=limit,
    )


def _issues_matching(
    organization_id: str, status: str | None, assigned_to: str | None
) -> Iterable[anomalies_dal.IssueItem]:
    Issue = anomalies_dal.IssueItem
    condition: Condition | None = None
    if status is not None:
        condition = Issue.status == status
    if assigned_to is not None:
        # issues store the assignee's user id; a filter may name them by e-mail, as assigning does
        member = members_dal.find_member(organization_id, assigned_to)
        assignee = member.userId if member is not None else assigned_to
        condition = (Issue.assignedTo == assignee) if condition is None else condition & (Issue.assignedTo == assignee)
    return anomalies_dal.list_issues(organization_id, filter_condition=condition)


def _issue_ref(issue: anomalies_dal.IssueItem | None) -> list[IssueRef]:
    return [] if issue is None else [IssueRef(id=issue.id, statusName=issue.status, assignedTo=issue.assignedTo)]


def list_anomalies(
    organization_id: str, filters: AnomalyFilters, page: int, page_size: int, sort_by_score: bool = False
) -> AnomalyPage:
    _check_category(filters.anomaly_type)
    counted = None if sort_by_score else _counted_total(organization_id, filters)
    if counted is not None:  # the page's work only: the query stops after the page
        page_items = _matching(organization_id, filters, limit=page_end(page, page_size))
        selected, pagination = counted_page(page_items, page, page_size, counted)
    else:
        items: Iterable[anomalies_dal.AnomalyItem] = _matching(organization_id, filters)
        if sort_by_score:
            items = sorted(items, key=lambda item: (-float(item.score), -int(item.occurredAtMs)))
        selected, pagination = paginate(items, page, page_size)
    issues = anomalies_dal.get_issues(organization_id, [item.issueId for item in selected])
    content = [
        AnomalyListItem(
            id=item.id,
            anomalyType=item.category,
            anomalyTypeId=item.category,
            aiRiskScore=float(item.score),
            connectorId=item.connectorId,
            chargingPointId=item.chargingStationId,
            ocppChargingStationId=item.chargingStationId,
            evseId=item.evseId,
            chargingSessionId=item.sessionId,
            dateOfAnomalyOccurrence=item.occurredAt,
            dateOfLastUpdate=item.updatedAt,
            issues=_issue_ref(issues.get(item.issueId)),
        )
        for item in selected
    ]
    return AnomalyPage(content=content, pagination=pagination)


def _type_counts(counts: dict[str, int]) -> list[AnomalyTypeCount]:
    return [
        AnomalyTypeCount(type=category_name(code), typeId=code, count=count)
        for code, count in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    ]


GROUP_SORTS = {"anomalyCount", "lastUpdate", "detectionDate", "aiRiskScore"}


def _sorted_groups(groups: list[dict[str, Any]], sort_by: str | None) -> list[dict[str, Any]]:
    key = sort_by or "lastUpdate"
    if key not in GROUP_SORTS:
        raise ValidationError.for_field("sortBy", f"must be one of {', '.join(sorted(GROUP_SORTS))}")
    return sorted(groups, key=lambda group: group.get(key) or 0, reverse=True)


def _group(
    items: Iterable[anomalies_dal.AnomalyItem], key: Callable[[anomalies_dal.AnomalyItem], Hashable]
) -> list[dict[str, Any]]:
    groups: dict[Any, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(key(item), {"items": [], "types": defaultdict(int)})
        group["items"].append(item)
        group["types"][item.category] += 1
    result = []
    for group in groups.values():
        members = group["items"]
        group.update(
            anomalyCount=len(members),
            detectionDate=min(i.detectedAt for i in members),
            lastUpdate=max(i.updatedAt for i in members),
            aiRiskScore=max(float(i.score) for i in members),
            first=members[0],
        )
        result.append(group)
    return result


def list_anomaly_connectors(
    organization_id: str, filters: AnomalyFilters, page: int, page_size: int, sort_by: str | None
) -> AnomalyConnectorPage:
    groups = _sorted_groups(
        _group(_matching(organization_id, filters), lambda item: (item.chargingStationId, item.connectorId)), sort_by
    )
    connector_ids = {}
    for group in groups:
        first = group["first"]
        connector = stations_dal.ConnectorItem.get(
            *stations_dal.connector_key(organization_id, first.chargingStationId, first.connectorId)
        )
        connector_ids[id(group)] = connector.id

    def render(group: dict[str, Any]) -> AnomalyConnector:
        first = group["first"]
        return AnomalyConnector(
            id=connector_ids[id(group)],
            connectorId=first.connectorId,
            anomalyCount=group["anomalyCount"],
            chargingPointId=first.chargingStationId,
            evseId=first.evseId,
            detectionDate=group["detectionDate"],
            lastUpdate=group["lastUpdate"],
            anomalyTypes=_type_counts(group["types"]),
        )

    content, pagination = paginate(groups, page, page_size, render)
    return AnomalyConnectorPage(content=content, pagination=pagination)


def list_anomaly_sessions(
    organization_id: str, filters: AnomalyFilters, page: int, page_size: int, sort_by: str | None
) -> AnomalySessionPage:
    groups = _sorted_groups(_group(_matching(organization_id, filters), lambda item: item.sessionId), sort_by)

    def render(group: dict[str, Any]) -> AnomalySession:
        first = group["first"]
        return AnomalySession(
            id=first.sessionId,
            chargingSessionId=first.sessionId,
            anomalyCount=group["anomalyCount"],
            detectionDate=group["detectionDate"],
            lastUpdate=group["lastUpdate"],
            aiRiskScore=group["aiRiskScore"],
            anomalyTypes=_type_counts(group["types"]),
        )

    content, pagination = paginate(groups, page, page_size, render)
    return AnomalySessionPage(content=content, pagination=pagination)


# ------------------------------------------------------------------ detail


def _pivot_readings(readings: list[dict[str, Any]]) -> list[DetailMeterValue]:
    by_time: dict[int, dict[str, float]] = {}
    for reading in sorted(readings, key=lambda r: r["timestamp"]):
        slot = by_time.setdefault(reading["timestamp"], {})
        measurand = reading["measurand"]
        if measurand == "Energy.Active.Import.Register":
            slot["energy"] = reading["value"]
        elif measurand == "Power.Active.Import":
            slot["power"] = reading["value"]
        elif measurand == "SoC":
            slot["soc"] = slot["stateOfCharge"] = reading["value"]
    return [
        DetailMeterValue(timestamp=clock.to_iso(clock.from_epoch_ms(ms)), **values) for ms, values in by_time.items()
    ]


def get_anomaly_detail(organization_id: str, session_id: str, category: str) -> AnomalyDetail:
    session = sessions_dal.get_session(organization_id, session_id)
    if session is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    items = [item for item in anomalies_dal.session_anomalies(session.PK) if item.category == category]
    if not items:
        raise NotFoundError(f"session {session_id} has no {category} anomaly", code="anomaly_not_found")
    readings = sessions_dal.read_readings(session)
    start_ms = int(session.startedAtMs)
    end_ms = max([r["timestamp"] for r in readings] or [start_ms])
    buckets = (end_ms - start_ms) // BUCKET_MS + 1
    timeline = []
    for bucket in range(int(buckets)):
        risk = max([float(i.score) for i in items if int(i.bucketStart) <= bucket <= int(i.bucketEnd)] or [0.0])
        timeline.append(
            RiskPoint(timestamp=clock.to_iso(clock.from_epoch_ms(start_ms + bucket * BUCKET_MS)), riskScore=risk)
        )
    issues = anomalies_dal.get_issues(organization_id, [item.issueId for item in items])
    period_start = min(item.occurredAt for item in items)
    period_end = max(item.endedAt or item.occurredAt for item in items)
    return AnomalyDetail(
        sessionId=session_id,
        clientId=organization_id,
        connectorId=session.connectorId,
        chargingPointId=session.chargingStationId,
        ocppChargingStationId=session.chargingStationId,
        evseId=session.evseId,
        detectionLevel="session",
        meterValues=_pivot_readings(readings),
        currentRiskScore=max(float(item.score) for item in items),
        firstDetectionDate=min(item.detectedAt for item in items),
        lastUpdateDate=max(item.updatedAt for item in items),
        anomalyCategory=AnomalyCategoryInfo(
            id=category, name=category_name(category), description=category_description(category), maxScore=1.0
        ),
        riskScoreTimeline=timeline,
        anomalyPeriod=Period(start=period_start, end=period_end),
        issues=[ref for issue in issues.values() for ref in _issue_ref(issue)],
    )


# ------------------------------------------------------------------ issue workflow


def update_issue(organization_id: str, issue_id: str, request: UpdateIssueRequest, *, actor: str) -> IssueResult:
    for _ in retry.attempts(5):
        issue = anomalies_dal.get_issue(organization_id, issue_id)
        if issue is None:
            raise NotFoundError(f"issue {issue_id} not found", code="issue_not_found")
        if request.status not in TRANSITIONS[issue.status]:
            raise ConflictError(
                f"an issue cannot move from {issue.status} to {request.status}",
                code="invalid_transition",
                details=[{"field": "status", "message": f"{issue.status} -> {request.status} is not allowed"}],
            )
        assignee = issue.assignedTo
        if request.assignedTo is not None:
            member = members_dal.find_member(organization_id, request.assignedTo)
            if member is None:
                raise ValidationError.for_field(
                    "assignedTo", "is not a member of this organization", code="not_a_member"
                )
            assignee = member.userId
        now = clock.iso_now()
        Issue = anomalies_dal.IssueItem
        entry = {
            "at": now,
            "by": actor,
            "from": issue.status,
            "to": request.status,
            "assignedTo": assignee,
            "reason": request.reason,
        }
        closing = issue.status in anomalies_dal.OPEN_STATUSES and request.status in anomalies_dal.CLOSED_STATUSES
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    issue,
                    actions=[
                        Issue.status.set(request.status),
                        Issue.updatedAt.set(now),
                        Issue.assignedTo.set(assignee) if assignee else Issue.assignedTo.remove(),
                        Issue.history.set(Issue.history.append([entry])),
                    ],
                    condition=Issue.status == issue.status,
                )
                if closing:
                    _close_effects(transaction, organization_id, issue, dismissed=request.status == "DISMISSED")
        except Exception as error:
            if is_condition_failure(error):
                continue
            raise
        webhook_events.publish_issue_updated(
            organization_id,
            IssueUpdatedData(
                issueId=issue.id,
                category=issue.category,
                chargingStationId=issue.chargingStationId,
                connectorId=issue.connectorId,
                status=request.status,
                previousStatus=issue.status,
                updatedAt=now,
            ),
        )
        return IssueResult(id=issue.id, statusName=request.status, assignedTo=assignee)
    raise ConcurrencyError(f"issue {issue_id} is being updated concurrently; retry the request")


def _close_effects(
    transaction: TransactWrite, organization_id: str, issue: anomalies_dal.IssueItem, *, dismissed: bool
) -> None:
    """A closed issue no longer counts as active or at risk; a dismissed one is not a leak either."""
    pointer_key = anomalies_dal.open_issue_key(
        organization_id, issue.chargingStationId, issue.connectorId, issue.category
    )
    transaction.delete(
        anomalies_dal.OpenIssueItem(*pointer_key), condition=anomalies_dal.OpenIssueItem.issueId == issue.id
    )
    totals = {
        "activeAnomalies": -int(issue.anomalyCount or 0),
        "openIncidentEnergyKwh": -float(issue.incidentEnergyKwh or 0),
    }
    if dismissed and issue.category in REVENUE_LEAK_CATEGORIES:
        totals["leakEnergyKwh"] = -_issue_leak_energy(organization_id, issue)
    stations_dal.move_counts(
        transaction,
        organization_id,
        issue.chargingStationId,
        issue.connectorId,
        anomalous_delta=0,
        anomalies_delta=0,
        category_deltas={},
        totals_deltas={k: v for k, v in totals.items() if v},
        last_anomaly=None,
    )


def _issue_leak_energy(organization_id: str, issue: anomalies_dal.IssueItem) -> float:
    Anomaly = anomalies_dal.AnomalyItem
    return sum(
        float(item.energyKwh or 0)
        for item in anomalies_dal.query_anomalies(organization_id, filter_condition=Anomaly.issueId == issue.id)
    )
