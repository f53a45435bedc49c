"""Read-side aggregates, maintained when sessions and analyses are written (never recounted).

- station:            PK `ORG#<org>#STATION#<stationId>`  SK `META`
                      GSI1 `ORG#<org>#STATIONS` / `<stationId>` (list, lookup)
- connector:          PK `ORG#<org>#STATION#<stationId>`  SK `CONN#<connectorId>`
                      GSI1 `ORG#<org>#CONNECTORS` / `<stationId>#<connectorId>` (tenant-wide)
- connector category: PK `ORG#<org>#STATION#<stationId>`  SK `CONNCAT#<connectorId>#<category>`
- tenant totals:      PK `ORG#<org>#STATS`                 SK `TOTALS`
- tenant category:    PK `ORG#<org>#STATS`                 SK `CAT#<category>`

Counters move with DynamoDB ADD inside the transaction that stores the session or its analysis,
so a re-analysis moves counts (old → new) instead of adding them twice.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chargewatch.dal.table import GSI1, register, tenant_pk

NO_CONNECTOR = "-"


def station_pk(organization_id: str, station_id: str) -> str:
    return tenant_pk(organization_id, "STATION", station_id)


def stats_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "STATS")


@register
class StationItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    by_tenant = GSI1()
    id = UnicodeAttribute(null=True)
    chargingStationId = UnicodeAttribute(null=True)
    metadata = JSONAttribute(null=True)
    createdAt = UnicodeAttribute(null=True)
    totalSessions = NumberAttribute(default=0)
    anomalousSessions = NumberAttribute(default=0)
    totalAnomalies = NumberAttribute(default=0)
    lastAnomalyDate = UnicodeAttribute(null=True)
    lastAnomalyScore = NumberAttribute(null=True)


@register
class ConnectorItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    by_tenant = GSI1()
    id = UnicodeAttribute(null=True)
    chargingStationId = UnicodeAttribute(null=True)
    connectorId = UnicodeAttribute(null=True)
    evseId = UnicodeAttribute(null=True)
    totalSessions = NumberAttribute(default=0)
    anomalousSessions = NumberAttribute(default=0)
    totalAnomalies = NumberAttribute(default=0)
    firstAnomalyDate = UnicodeAttribute(null=True)
    lastAnomalyDate = UnicodeAttribute(null=True)


@register
class CountItem(Model):
    """A named counter (connector × category, tenant × category)."""

    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    count = NumberAttribute(default=0)


@register
class TenantTotalsItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    totalSessions = NumberAttribute(default=0)
    sessionsWithAnomalies = NumberAttribute(default=0)
    totalAnomalies = NumberAttribute(default=0)
    activeAnomalies = NumberAttribute(default=0)
    energyKwh = NumberAttribute(default=0)
    openIncidentEnergyKwh = NumberAttribute(default=0)
    leakEnergyKwh = NumberAttribute(default=0)


def station_key(organization_id: str, station_id: str) -> tuple[str, str]:
    return station_pk(organization_id, station_id), "META"


def connector_key(organization_id: str, station_id: str, connector_id: str | None) -> tuple[str, str]:
    return station_pk(organization_id, station_id), f"CONN#{connector_id or NO_CONNECTOR}"


def connector_category_key(organization_id: str, station_id: str, connector_id: str | None, category: str) -> tuple[str, str]:
    return station_pk(organization_id, station_id), f"CONNCAT#{connector_id or NO_CONNECTOR}#{category}"


def totals_key(organization_id: str) -> tuple[str, str]:
    return stats_pk(organization_id), "TOTALS"


def category_key(organization_id: str, category: str) -> tuple[str, str]:
    return stats_pk(organization_id), f"CAT#{category}"


# ------------------------------------------------------------------ writes (inside a transaction)

def add_session(transaction, organization_id: str, station_id: str, connector_id: str | None, evse_id: str | None,
                *, station_uuid: str, connector_uuid: str, now: str, station_metadata: dict[str, Any] | None) -> None:
    """A new session: +1 on its station, its connector and the tenant (creating them on first sight)."""
    station = StationItem(*station_key(organization_id, station_id))
    actions = [
        StationItem.totalSessions.add(1),
        StationItem.GSI1PK.set(tenant_pk(organization_id, "STATIONS")),
        StationItem.GSI1SK.set(station_id),
        StationItem.chargingStationId.set(station_id),
        StationItem.id.set(StationItem.id | station_uuid),
        StationItem.createdAt.set(StationItem.createdAt | now),
    ]
    if station_metadata:
        actions.append(StationItem.metadata.set(station_metadata))
    transaction.update(station, actions=actions)
    connector = ConnectorItem(*connector_key(organization_id, station_id, connector_id))
    connector_actions = [
        ConnectorItem.totalSessions.add(1),
        ConnectorItem.GSI1PK.set(tenant_pk(organization_id, "CONNECTORS")),
        ConnectorItem.GSI1SK.set(f"{station_id}#{connector_id or NO_CONNECTOR}"),
        ConnectorItem.chargingStationId.set(station_id),
        ConnectorItem.connectorId.set(connector_id or NO_CONNECTOR),
        ConnectorItem.id.set(ConnectorItem.id | connector_uuid),
    ]
    if evse_id:
        connector_actions.append(ConnectorItem.evseId.set(evse_id))
    transaction.update(connector, actions=connector_actions)
    transaction.update(TenantTotalsItem(*totals_key(organization_id)), actions=[TenantTotalsItem.totalSessions.add(1)])


def move_counts(transaction, organization_id: str, station_id: str, connector_id: str | None, *,
                anomalous_delta: int, anomalies_delta: int, category_deltas: dict[str, int],
                totals_deltas: dict[str, float], last_anomaly: tuple[str, float] | None) -> None:
    """Apply the difference between an old and a new analysis of one session."""
    station_actions = []
    connector_actions = []
    if anomalous_delta:
        station_actions.append(StationItem.anomalousSessions.add(anomalous_delta))
        connector_actions.append(ConnectorItem.anomalousSessions.add(anomalous_delta))
    if anomalies_delta:
        station_actions.append(StationItem.totalAnomalies.add(anomalies_delta))
        connector_actions.append(ConnectorItem.totalAnomalies.add(anomalies_delta))
    if last_anomaly is not None:
        moment, score = last_anomaly
        station_actions += [StationItem.lastAnomalyDate.set(moment), StationItem.lastAnomalyScore.set(score)]
        connector_actions += [ConnectorItem.lastAnomalyDate.set(moment),
                              ConnectorItem.firstAnomalyDate.set(ConnectorItem.firstAnomalyDate | moment)]
    if station_actions:
        transaction.update(StationItem(*station_key(organization_id, station_id)), actions=station_actions)
    if connector_actions:
        transaction.update(ConnectorItem(*connector_key(organization_id, station_id, connector_id)), actions=connector_actions)
    for category, delta in category_deltas.items():
        if delta:
            transaction.update(CountItem(*connector_category_key(organization_id, station_id, connector_id, category)),
                               actions=[CountItem.count.add(delta)])
            transaction.update(CountItem(*category_key(organization_id, category)), actions=[CountItem.count.add(delta)])
    totals_actions = [getattr(TenantTotalsItem, name).add(delta) for name, delta in totals_deltas.items() if delta]
    if totals_actions:
        transaction.update(TenantTotalsItem(*totals_key(organization_id)), actions=totals_actions)


# ------------------------------------------------------------------ reads

def get_station(organization_id: str, station_id: str) -> StationItem | None:
    try:
        return StationItem.get(*station_key(organization_id, station_id), consistent_read=True)
    except StationItem.DoesNotExist:
        return None


def list_stations(organization_id: str):
    return StationItem.by_tenant.query(tenant_pk(organization_id, "STATIONS"))


def connectors_of(organization_id: str, station_id: str) -> list[ConnectorItem]:
    return list(ConnectorItem.query(station_pk(organization_id, station_id), ConnectorItem.SK.startswith("CONN#"),
                                    consistent_read=True))


def connector_categories_of(organization_id: str, station_id: str) -> dict[str, dict[str, int]]:
    """connectorId -> {category: count}, zero counts left out."""
    counts: dict[str, dict[str, int]] = {}
    for item in CountItem.query(station_pk(organization_id, station_id), CountItem.SK.startswith("CONNCAT#"),
                                consistent_read=True):
        _, connector_id, category = item.SK.split("#", 2)
        if int(item.count):
            counts.setdefault(connector_id, {})[category] = int(item.count)
    return counts


def list_connectors(organization_id: str):
    return ConnectorItem.by_tenant.query(tenant_pk(organization_id, "CONNECTORS"))


def totals(organization_id: str) -> TenantTotalsItem | None:
    try:
        return TenantTotalsItem.get(*totals_key(organization_id), consistent_read=True)
    except TenantTotalsItem.DoesNotExist:
        return None


def category_counts(organization_id: str) -> dict[str, int]:
    return {item.SK.split("#", 1)[1]: int(item.count)
            for item in CountItem.query(stats_pk(organization_id), CountItem.SK.startswith("CAT#"), consistent_read=True)
            if int(item.count)}
