"""What storing an analysis changes on the read side: anomaly items, issues and every counter.

`analysis_effects()` compares the anomalies currently stored for a session with a new analysis and
returns the writes that move the read side from one to the other. They run in the transaction
that stores the analysis (conditioned on the session version and on the analysis it replaces),
so counts are moved exactly once, and a re-analysis never adds them twice. When the session's
anomaly count changes, the station's and connector's counts and `withAnomalies` flags are read
first and the transaction is conditioned on what was read, so the tenant's "stations / connectors
with anomalies" move exactly when a count crosses zero (a race cancels it: AnalysisRaced, plan again).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chargewatch import clock
from chargewatch.dal import anomalies as anomalies_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.dal.sessions import SessionItem
from chargewatch.dal.table import TransactWrite

BILLING_RELEVANT = frozenset(
    {"KWH_DECREASE", "ENERGY_SPIKE", "ENERGY_POWER_MISMATCH", "UNIT_MISMATCH", "FROZEN_TELEMETRY"}
)
# Energy the engine believes was delivered but not billed (see docs/statistics.md).
REVENUE_LEAK_CATEGORIES = frozenset({"KWH_DECREASE", "FROZEN_TELEMETRY", "ENERGY_POWER_MISMATCH"})
_ANOMALY_NAMESPACE = uuid.UUID("5b0e7d0c-3f7a-4c1e-9f55-6a1f8d2f4a10")


def anomaly_id(organization_id: str, session_id: str, category: str, index: int) -> str:
    """Stable across re-analyses of the same session, opaque to clients."""
    return str(uuid.uuid5(_ANOMALY_NAMESPACE, f"{organization_id}\x1f{session_id}\x1f{category}\x1f{index}"))


def _energy(anomaly: dict[str, Any]) -> float:
    return float((anomaly.get("details") or {}).get("energyKwh") or 0.0)


def _moment_ms(text: str | None, fallback_ms: int) -> int:
    if not text:
        return fallback_ms
    from datetime import datetime

    return clock.to_epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


@dataclass
class _IssueChange:
    create: bool = False
    count: int = 0
    incident_energy: float = 0.0
    category: str = ""


@dataclass
class AnalysisEffects:
    apply: Callable[[TransactWrite], None]
    new_issue_ids: list[str] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)


def analysis_effects(
    organization_id: str,
    session: SessionItem,
    new_document: dict[str, Any] | None,
    *,
    old_energy: float,
    new_energy: float,
    old_is_anomaly: bool,
    has_stored_anomalies: bool = True,
) -> AnalysisEffects:
    """The writes that replace the session's stored anomalies by those of `new_document`.

    Anomaly items are written and deleted only together with the ANALYSIS item, so a session
    without a stored analysis has none (`has_stored_anomalies=False` skips reading them)."""
    now = clock.iso_now()
    station, connector = session.chargingStationId, session.connectorId
    old_items = {item.SK: item for item in anomalies_dal.session_anomalies(session.PK)} if has_stored_anomalies else {}
    issues = anomalies_dal.get_issues(organization_id, [item.issueId for item in old_items.values() if item.issueId])

    def issue_open(issue_id: str | None) -> bool:
        return bool(issue_id) and issue_id in issues and issues[issue_id].status in anomalies_dal.OPEN_STATUSES

    new_anomalies = list((new_document or {}).get("anomalies") or [])
    new_is_anomaly = bool((new_document or {}).get("isAnomaly"))
    per_category_index: dict[str, int] = defaultdict(int)
    new_items: dict[str, anomalies_dal.AnomalyItem] = {}
    issue_changes: dict[str, _IssueChange] = defaultdict(_IssueChange)
    category_deltas: dict[str, int] = defaultdict(int)
    totals: defaultdict[str, float] = defaultdict(float)
    session_start_ms = int(session.startedAtMs)
    open_issue_by_category: dict[str, str] = {}

    for anomaly in new_anomalies:
        category = anomaly["category"]
        index = per_category_index[category]
        per_category_index[category] += 1
        sk = anomalies_dal.anomaly_sk(category, index)
        previous = old_items.get(sk)
        closed = False
        if previous is not None and previous.issueId:
            # a re-analysed anomaly keeps its issue; a resolved or dismissed one stays a label
            issue_id, closed = previous.issueId, not issue_open(previous.issueId)
        elif category in open_issue_by_category:
            issue_id = open_issue_by_category[category]
        else:
            open_issue_id = anomalies_dal.get_open_issue_id(organization_id, station, connector, category)
            if open_issue_id is None:
                issue_id = clock.new_id()
                issue_changes[issue_id].create = True
            else:
                issue_id = open_issue_id
        if not closed:
            open_issue_by_category[category] = issue_id
        time_range = anomaly.get("timeRange") or {}
        occurred_ms = _moment_ms(time_range.get("startTimestamp"), session_start_ms)
        energy = _energy(anomaly)
        new_items[sk] = anomalies_dal.AnomalyItem(
            session.PK,
            sk,
            GSI1PK=anomalies_dal.anomalies_index_pk(organization_id),
            GSI1SK=f"{occurred_ms:015d}#{session.sessionId}#{category}#{index:03d}",
            id=anomaly_id(organization_id, session.sessionId, category, index),
            sessionId=session.sessionId,
            category=category,
            score=float(anomaly["score"]),
            confidence=float(anomaly["confidence"]),
            chargingStationId=station,
            connectorId=connector,
            evseId=session.evseId,
            occurredAt=clock.to_iso(clock.from_epoch_ms(occurred_ms)),
            occurredAtMs=occurred_ms,
            endedAt=time_range.get("endTimestamp"),
            bucketStart=int(anomaly["bucketRange"]["startUnit"]),
            bucketEnd=int(anomaly["bucketRange"]["endUnit"]),
            energyKwh=energy,
            detectedAt=previous.detectedAt if previous is not None else now,
            updatedAt=now,
            issueId=issue_id,
            details=anomaly.get("details"),
        )
        category_deltas[category] += 1
        if category in REVENUE_LEAK_CATEGORIES and not (
            closed and issue_id in issues and issues[issue_id].status == "DISMISSED"
        ):
            totals["leakEnergyKwh"] += energy
        if closed:
            continue
        change = issue_changes[issue_id]
        change.category = category
        if previous is None or previous.issueId != issue_id:
            change.count += 1
        incident = energy if category in BILLING_RELEVANT else 0.0
        change.incident_energy += incident
        totals["activeAnomalies"] += 1
        totals["openIncidentEnergyKwh"] += incident

    for sk, previous in old_items.items():
        category_deltas[previous.category] -= 1
        energy = float(previous.energyKwh or 0.0)
        dismissed = previous.issueId in issues and issues[previous.issueId].status == "DISMISSED"
        if previous.category in REVENUE_LEAK_CATEGORIES and not dismissed:
            totals["leakEnergyKwh"] -= energy
        if issue_open(previous.issueId):
            incident = energy if previous.category in BILLING_RELEVANT else 0.0
            totals["activeAnomalies"] -= 1
            totals["openIncidentEnergyKwh"] -= incident
            change = issue_changes[previous.issueId]
            change.category = previous.category
            change.incident_energy -= incident
            kept = new_items.get(sk)
            if kept is None or kept.issueId != previous.issueId:
                change.count -= 1

    totals["totalAnomalies"] = len(new_items) - len(old_items)
    totals["sessionsWithAnomalies"] = int(new_is_anomaly) - int(old_is_anomaly)
    totals["energyKwh"] = new_energy - old_energy
    anomalies_delta = len(new_items) - len(old_items)
    # whether this moves a station / connector across zero anomalies is decided against these reads,
    # and the transaction is conditioned on them (stations_dal._flag_move): a race means plan again
    flags = stations_dal.read_anomaly_flags(organization_id, station, connector) if anomalies_delta else None
    last_anomaly = None
    if new_items:
        latest = max(new_items.values(), key=lambda item: int(item.occurredAtMs))
        last_anomaly = (latest.occurredAt, float((new_document or {}).get("anomalyScore") or latest.score))

    def apply(transaction: TransactWrite) -> None:

        for sk, previous in old_items.items():
            if sk not in new_items:
                transaction.delete(previous)
        for item in new_items.values():
            transaction.save(item)
        for issue_id, change in issue_changes.items():
            if change.create:
                transaction.save(
                    anomalies_dal.new_issue(
                        organization_id,
                        id=issue_id,
                        status="OPEN",
                        assignedTo=None,
                        chargingStationId=station,
                        connectorId=connector,
                        category=change.category,
                        anomalyCount=change.count,
                        incidentEnergyKwh=round(change.incident_energy, 6),
                        createdAt=now,
                        updatedAt=now,
                        history=[{"at": now, "by": "csar", "to": "OPEN", "reason": "anomaly detected"}],
                    )
                )
                pointer = anomalies_dal.OpenIssueItem(
                    *anomalies_dal.open_issue_key(organization_id, station, connector, change.category),
                    issueId=issue_id,
                )
                transaction.save(pointer, condition=anomalies_dal.OpenIssueItem.PK.does_not_exist())
            elif change.count or change.incident_energy:
                Issue = anomalies_dal.IssueItem
                transaction.update(
                    Issue(*anomalies_dal.issue_key(organization_id, issue_id)),
                    actions=[
                        Issue.anomalyCount.add(change.count),
                        Issue.incidentEnergyKwh.add(round(change.incident_energy, 6)),
                        Issue.updatedAt.set(now),
                    ],
                    condition=Issue.status.is_in(*anomalies_dal.OPEN_STATUSES),
                )
        stations_dal.move_counts(
            transaction,
            organization_id,
            station,
            connector,
            anomalous_delta=int(new_is_anomaly) - int(old_is_anomaly),
            anomalies_delta=anomalies_delta,
            category_deltas={k: v for k, v in category_deltas.items() if v},
            totals_deltas={k: round(v, 6) for k, v in totals.items() if v},
            last_anomaly=last_anomaly,
            flags=flags,
        )

    return AnalysisEffects(
        apply=apply, new_issue_ids=[i for i, c in issue_changes.items() if c.create], anomalies=new_anomalies
    )
