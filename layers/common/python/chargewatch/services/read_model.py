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
from csar.categories import BILLING_RELEVANT

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
    return clock.to_epoch_ms(clock.parse_iso(text))


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


@dataclass
class _Plan:
    """Everything replacing a session's anomalies moves: the items to write and every count."""

    organization_id: str
    session: SessionItem
    issues: dict[str, anomalies_dal.IssueItem]  # the issues of the stored anomalies
    now: str
    new_items: dict[str, anomalies_dal.AnomalyItem] = field(default_factory=dict)
    issue_changes: defaultdict[str, _IssueChange] = field(default_factory=lambda: defaultdict(_IssueChange))
    category_deltas: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    totals: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    open_issue_by_category: dict[str, str] = field(default_factory=dict)

    def issue_open(self, issue_id: str | None) -> bool:
        return (
            bool(issue_id) and issue_id in self.issues and self.issues[issue_id].status in anomalies_dal.OPEN_STATUSES
        )

    def dismissed(self, issue_id: str | None) -> bool:
        return issue_id in self.issues and self.issues[issue_id].status == "DISMISSED"

    def issue_for(self, category: str, previous: anomalies_dal.AnomalyItem | None) -> tuple[str, bool]:
        """(issue id, whether that issue is closed) of a new anomaly of `category`."""
        closed = False
        if previous is not None and previous.issueId:
            # a re-analysed anomaly keeps its issue; a resolved or dismissed one stays a label
            issue_id, closed = previous.issueId, not self.issue_open(previous.issueId)
        elif category in self.open_issue_by_category:
            issue_id = self.open_issue_by_category[category]
        else:
            session = self.session
            open_issue_id = anomalies_dal.get_open_issue_id(
                self.organization_id, session.chargingStationId, session.connectorId, category
            )
            if open_issue_id is None:
                issue_id = clock.new_id()
                self.issue_changes[issue_id].create = True
            else:
                issue_id = open_issue_id
        if not closed:
            self.open_issue_by_category[category] = issue_id
        return issue_id, closed

    def add(self, anomaly: dict[str, Any], index: int, previous: anomalies_dal.AnomalyItem | None) -> None:
        """Count a new anomaly (the `index`-th of its category) and plan its item."""
        category = anomaly["category"]
        issue_id, closed = self.issue_for(category, previous)
        item = _anomaly_item(self, anomaly, index, previous, issue_id)
        self.new_items[item.SK] = item
        energy = _energy(anomaly)
        self.category_deltas[category] += 1
        if category in REVENUE_LEAK_CATEGORIES and not (closed and self.dismissed(issue_id)):
            self.totals["leakEnergyKwh"] += energy
        if closed:
            return
        change = self.issue_changes[issue_id]
        change.category = category
        if previous is None or previous.issueId != issue_id:
            change.count += 1
        incident = energy if category in BILLING_RELEVANT else 0.0
        change.incident_energy += incident
        self.totals["activeAnomalies"] += 1
        self.totals["openIncidentEnergyKwh"] += incident

    def remove(self, sk: str, previous: anomalies_dal.AnomalyItem) -> None:
        """Take a stored anomaly out of every count (after the new ones were added)."""
        self.category_deltas[previous.category] -= 1
        energy = float(previous.energyKwh or 0.0)
        if previous.category in REVENUE_LEAK_CATEGORIES and not self.dismissed(previous.issueId):
            self.totals["leakEnergyKwh"] -= energy
        if not previous.issueId or not self.issue_open(previous.issueId):
            return
        incident = energy if previous.category in BILLING_RELEVANT else 0.0
        self.totals["activeAnomalies"] -= 1
        self.totals["openIncidentEnergyKwh"] -= incident
        change = self.issue_changes[previous.issueId]
        change.category = previous.category
        change.incident_energy -= incident
        kept = self.new_items.get(sk)
        if kept is None or kept.issueId != previous.issueId:
            change.count -= 1


def _anomaly_item(
    plan: _Plan, anomaly: dict[str, Any], index: int, previous: anomalies_dal.AnomalyItem | None, issue_id: str
) -> anomalies_dal.AnomalyItem:
    organization_id, session, category = plan.organization_id, plan.session, anomaly["category"]
    time_range = anomaly.get("timeRange") or {}
    occurred_ms = _moment_ms(time_range.get("startTimestamp"), int(session.startedAtMs))
    return anomalies_dal.AnomalyItem(
        session.PK,
        anomalies_dal.anomaly_sk(category, index),
        GSI1PK=anomalies_dal.anomalies_index_pk(organization_id),
        GSI1SK=f"{occurred_ms:015d}#{session.sessionId}#{category}#{index:03d}",
        id=anomaly_id(organization_id, session.sessionId, category, index),
        sessionId=session.sessionId,
        category=category,
        score=float(anomaly["score"]),
        confidence=float(anomaly["confidence"]),
        chargingStationId=session.chargingStationId,
        connectorId=session.connectorId,
        evseId=session.evseId,
        occurredAt=clock.to_iso(clock.from_epoch_ms(occurred_ms)),
        occurredAtMs=occurred_ms,
        endedAt=time_range.get("endTimestamp"),
        bucketStart=int(anomaly["bucketRange"]["startUnit"]),
        bucketEnd=int(anomaly["bucketRange"]["endUnit"]),
        energyKwh=_energy(anomaly),
        detectedAt=previous.detectedAt if previous is not None else plan.now,
        updatedAt=plan.now,
        issueId=issue_id,
        details=anomaly.get("details"),
    )


def _write_issue_changes(transaction: TransactWrite, plan: _Plan) -> None:
    """New issues (with their open-issue pointer) and the count moves of existing open ones."""
    organization_id, now = plan.organization_id, plan.now
    station, connector = plan.session.chargingStationId, plan.session.connectorId
    for issue_id, change in plan.issue_changes.items():
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


def _station_latest_anomaly(
    organization_id: str,
    session: SessionItem,
    old_items: dict[str, anomalies_dal.AnomalyItem],
    new_items: dict[str, anomalies_dal.AnomalyItem],
    new_document: dict[str, Any] | None,
) -> tuple[str | None, float | None] | None:
    """The station's lastAnomalyDate/aiScore after this analysis, or None when they stay as stored.

    The newest anomaly wins by when it happened, not by when its session was written: a late or
    re-analysed older session leaves a newer date alone, and when this session held the newest
    anomaly and lost it, the newest of the station's other sessions takes over (or none)."""
    station = stations_dal.get_station(organization_id, session.chargingStationId)
    stored_ms = (
        clock.to_epoch_ms(clock.parse_iso(station.lastAnomalyDate)) if station and station.lastAnomalyDate else None
    )
    candidate: tuple[int, str, float] | None = None
    if new_items:
        latest = max(new_items.values(), key=lambda item: int(item.occurredAtMs))
        score = float((new_document or {}).get("anomalyScore") or latest.score)
        candidate = (int(latest.occurredAtMs), latest.occurredAt, score)
    held_newest = stored_ms is not None and any(int(item.occurredAtMs) == stored_ms for item in old_items.values())
    if held_newest and stored_ms is not None and (candidate is None or candidate[0] < stored_ms):
        other = anomalies_dal.latest_of_station(
            organization_id, session.chargingStationId, excluding_session=session.sessionId
        )
        if other is not None and (candidate is None or int(other.occurredAtMs) > candidate[0]):
            candidate = (int(other.occurredAtMs), other.occurredAt, float(other.score))
        return (None, None) if candidate is None else (candidate[1], candidate[2])
    if candidate is None or (stored_ms is not None and candidate[0] < stored_ms):
        return None
    return candidate[1], candidate[2]


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
    station, connector = session.chargingStationId, session.connectorId
    old_items = {item.SK: item for item in anomalies_dal.session_anomalies(session.PK)} if has_stored_anomalies else {}
    issues = anomalies_dal.get_issues(organization_id, [item.issueId for item in old_items.values() if item.issueId])
    plan = _Plan(organization_id, session, issues, clock.iso_now())
    new_anomalies = list((new_document or {}).get("anomalies") or [])
    new_is_anomaly = bool((new_document or {}).get("isAnomaly"))
    per_category_index: dict[str, int] = defaultdict(int)
    for anomaly in new_anomalies:
        index = per_category_index[anomaly["category"]]
        per_category_index[anomaly["category"]] += 1
        plan.add(anomaly, index, old_items.get(anomalies_dal.anomaly_sk(anomaly["category"], index)))
    for sk, previous in old_items.items():
        plan.remove(sk, previous)

    new_items, totals = plan.new_items, plan.totals
    totals["totalAnomalies"] = len(new_items) - len(old_items)
    totals["sessionsWithAnomalies"] = int(new_is_anomaly) - int(old_is_anomaly)
    totals["energyKwh"] = new_energy - old_energy
    anomalies_delta = len(new_items) - len(old_items)
    # whether this moves a station / connector across zero anomalies is decided against these reads,
    # and the transaction is conditioned on them (stations_dal._flag_move): a race means plan again
    flags = stations_dal.read_anomaly_flags(organization_id, station, connector) if anomalies_delta else None
    last_anomaly = (
        _station_latest_anomaly(organization_id, session, old_items, new_items, new_document)
        if old_items or new_items
        else None
    )

    def apply(transaction: TransactWrite) -> None:
        for sk, previous in old_items.items():
            if sk not in new_items:
                transaction.delete(previous)
        for item in new_items.values():
            transaction.save(item)
        _write_issue_changes(transaction, plan)
        stations_dal.move_counts(
            transaction,
            organization_id,
            station,
            connector,
            anomalous_delta=int(new_is_anomaly) - int(old_is_anomaly),
            anomalies_delta=anomalies_delta,
            category_deltas={k: v for k, v in plan.category_deltas.items() if v},
            totals_deltas={k: round(v, 6) for k, v in totals.items() if v},
            last_anomaly=last_anomaly,
            connector_anomaly_at=max(new_items.values(), key=lambda item: int(item.occurredAtMs)).occurredAt
            if new_items
            else None,
            flags=flags,
        )

    return AnalysisEffects(
        apply=apply, new_issue_ids=[i for i, c in plan.issue_changes.items() if c.create], anomalies=new_anomalies
    )
