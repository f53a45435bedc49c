"""Read-side aggregates, maintained when sessions and analyses are written (never recounted).

- station:            PK `ORG#<org>#STATION#<stationId>`  SK `META`
                      GSI1 `ORG#<org>#STATIONS` / `<stationId>` (list, lookup)
- station directory:  PK `ORG#<org>#STATIONDIR`            SK `<stationId>` (one per station: the list's pages,
                      lookup, and what TOTALS.stationCount counts)
- connector:          PK `ORG#<org>#STATION#<stationId>`  SK `CONN#<connectorId>`
                      GSI1 `ORG#<org>#CONNECTORS` / `<stationId>#<connectorId>` (tenant-wide)
- connector category: PK `ORG#<org>#STATION#<stationId>`  SK `CONNCAT#<connectorId>#<category>`
- tenant totals:      PK `ORG#<org>#STATS`                 SK `TOTALS`
- tenant category:    PK `ORG#<org>#STATS`                 SK `CAT#<category>`

Counters move with DynamoDB ADD inside the transaction that stores the session or its analysis,
so a re-analysis moves counts (old → new) instead of adding them twice.

Tenant counts of *things* (stations; stations and connectors with anomalies) can't be a plain ADD:
a transaction can't see whether a counter crossed zero. Each counted thing carries a marker — the
station's directory item, the `withAnomalies` flag of a station or connector — and the marker is
only ever created or removed in the same transaction as the ±1 on TOTALS, under a condition that
proves the marker's state (see docs/statistics.md, "Counting stations and connectors").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chargewatch import retry
from chargewatch.dal.table import GSI1, connection, is_condition_failure, register, tenant_pk

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
    by_tenant: GSI1[StationItem] = GSI1()
    id = UnicodeAttribute(null=True)
    chargingStationId = UnicodeAttribute(null=True)
    metadata = JSONAttribute(null=True)
    createdAt = UnicodeAttribute(null=True)
    totalSessions = NumberAttribute(default=0)
    anomalousSessions = NumberAttribute(default=0)
    totalAnomalies = NumberAttribute(default=0)
    lastAnomalyDate = UnicodeAttribute(null=True)
    lastAnomalyScore = NumberAttribute(null=True)
    # present exactly when the station is counted in TOTALS.stationsWithAnomalies
    withAnomalies = BooleanAttribute(null=True)


@register
class StationDirectoryItem(Model):
    """One per station in one tenant partition: sorted by station id, counted by TOTALS.stationCount."""

    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)


@register
class ConnectorItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    by_tenant: GSI1[ConnectorItem] = GSI1()
    id = UnicodeAttribute(null=True)
    chargingStationId = UnicodeAttribute(null=True)
    connectorId = UnicodeAttribute(null=True)
    evseId = UnicodeAttribute(null=True)
    totalSessions = NumberAttribute(default=0)
    anomalousSessions = NumberAttribute(default=0)
    totalAnomalies = NumberAttribute(default=0)
    firstAnomalyDate = UnicodeAttribute(null=True)
    lastAnomalyDate = UnicodeAttribute(null=True)
    # present exactly when the connector is counted in TOTALS.connectorsWithAnomalies
    withAnomalies = BooleanAttribute(null=True)


@register
class CountItem(Model):
    """A named counter (connector × category, tenant × category)."""

    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    # `count` is Model.count() in pynamodb: the attribute keeps its stored name under another one
    total = NumberAttribute(default=0, attr_name="count")


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
    stationCount = NumberAttribute(default=0)  # station directory items
    stationsWithAnomalies = NumberAttribute(default=0)  # stations flagged `withAnomalies`
    connectorsWithAnomalies = NumberAttribute(default=0)  # connectors flagged `withAnomalies`


def initialise_totals(organization_id: str) -> None:
    """The tenant's counters at 0, written with the organization: the first session's counts then
    only move numbers (a rolled-back first create leaves the table as it found it)."""
    try:
        TenantTotalsItem(*totals_key(organization_id)).save(condition=TenantTotalsItem.PK.does_not_exist())
    except PutError as error:
        if not is_condition_failure(error):
            raise


def station_key(organization_id: str, station_id: str) -> tuple[str, str]:
    return station_pk(organization_id, station_id), "META"


def directory_key(organization_id: str, station_id: str) -> tuple[str, str]:
    return tenant_pk(organization_id, "STATIONDIR"), station_id


def connector_key(organization_id: str, station_id: str, connector_id: str | None) -> tuple[str, str]:
    return station_pk(organization_id, station_id), f"CONN#{connector_id or NO_CONNECTOR}"


def connector_category_key(
    organization_id: str, station_id: str, connector_id: str | None, category: str
) -> tuple[str, str]:
    return station_pk(organization_id, station_id), f"CONNCAT#{connector_id or NO_CONNECTOR}#{category}"


def totals_key(organization_id: str) -> tuple[str, str]:
    return stats_pk(organization_id), "TOTALS"


def category_key(organization_id: str, category: str) -> tuple[str, str]:
    return stats_pk(organization_id), f"CAT#{category}"


# ------------------------------------------------------------------ writes (inside a transaction)


def add_session(
    transaction: TransactWrite,
    organization_id: str,
    station_id: str,
    connector_id: str | None,
    evse_id: str | None,
    *,
    station_uuid: str,
    connector_uuid: str,
    now: str,
    station_metadata: dict[str, Any] | None,
) -> bool:
    """A new session: +1 on its station, its connector and the tenant (creating them on first sight).

    A station seen for the first time is registered (directory item + TOTALS.stationCount) first,
    in its own transaction: see `ensure_registered`. True when this call registered it (a rolled
    back create then removes the registration: `drop_if_empty`)."""
    registered = ensure_registered(organization_id, station_id, station_uuid=station_uuid, now=now)
    station = StationItem(*station_key(organization_id, station_id))
    actions: list[Action] = [
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
    connector_actions: list[Action] = [
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
    return registered


def remove_session(
    transaction: TransactWrite,
    organization_id: str,
    station_id: str,
    connector_id: str | None,
    *,
    restore_metadata: dict[str, Any] | None = None,
) -> None:
    """Undo `add_session` for a session whose create is being rolled back: -1 where it added 1, and
    the station's metadata as it was when the create overwrote it (`restore_metadata`; {} = none)."""
    actions: list[Action] = [StationItem.totalSessions.add(-1)]
    if restore_metadata is not None:
        actions.append(
            StationItem.metadata.set(restore_metadata) if restore_metadata else StationItem.metadata.remove()
        )
    transaction.update(StationItem(*station_key(organization_id, station_id)), actions=actions)
    transaction.update(
        ConnectorItem(*connector_key(organization_id, station_id, connector_id)),
        actions=[ConnectorItem.totalSessions.add(-1)],
    )
    transaction.update(TenantTotalsItem(*totals_key(organization_id)), actions=[TenantTotalsItem.totalSessions.add(-1)])


def drop_if_empty(organization_id: str, station_id: str, connector_id: str | None, *, registered: bool) -> None:
    """After a rolled-back create: remove the connector it created (no sessions left) and, when that
    create registered the station, the registration too; each only while it is still empty."""
    try:
        ConnectorItem(*connector_key(organization_id, station_id, connector_id)).delete(
            condition=ConnectorItem.totalSessions == 0
        )
    except DeleteError as error:
        if not is_condition_failure(error):
            raise
    if not registered:
        return
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.delete(
                StationDirectoryItem(*directory_key(organization_id, station_id)),
                condition=StationDirectoryItem.PK.exists(),
            )
            transaction.delete(
                StationItem(*station_key(organization_id, station_id)),
                condition=StationItem.totalSessions.does_not_exist() | (StationItem.totalSessions == 0),
            )
            transaction.update(
                TenantTotalsItem(*totals_key(organization_id)), actions=[TenantTotalsItem.stationCount.add(-1)]
            )
    except TransactWriteError as error:
        if not is_condition_failure(error):  # a session of another request arrived meanwhile: keep it
            raise


def _is_transaction_conflict(error: Exception) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return any(reason is not None and reason.code == "TransactionConflict" for reason in reasons)


_REGISTER_ATTEMPTS = 5


def ensure_registered(organization_id: str, station_id: str, *, station_uuid: str, now: str) -> bool:
    """Give the station its directory item and count it on TOTALS.stationCount — once, ever.

    Runs before (not inside) the session's transaction: a condition that fails there would read as
    "session exists". The directory item is the marker: it is put with `attribute_not_exists` in
    the same transaction as the +1, so however many writers race, exactly one +1 commits. If the
    session's own transaction then fails, the station stays registered with 0 sessions — listed
    and counted alike. True when this call registered it."""
    if _directory_item_exists(organization_id, station_id):
        return False
    for attempt in retry.attempts(_REGISTER_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(
                    StationDirectoryItem(*directory_key(organization_id, station_id)),
                    condition=StationDirectoryItem.PK.does_not_exist(),
                )
                transaction.update(
                    StationItem(*station_key(organization_id, station_id)),
                    actions=[
                        StationItem.GSI1PK.set(tenant_pk(organization_id, "STATIONS")),
                        StationItem.GSI1SK.set(station_id),
                        StationItem.chargingStationId.set(station_id),
                        StationItem.id.set(StationItem.id | station_uuid),
                        StationItem.createdAt.set(StationItem.createdAt | now),
                    ],
                )
                transaction.update(
                    TenantTotalsItem(*totals_key(organization_id)), actions=[TenantTotalsItem.stationCount.add(1)]
                )
            return True
        except TransactWriteError as error:
            if is_condition_failure(error):
                return False  # another writer registered it: counted once, by them
            if not _is_transaction_conflict(error) or attempt.last:
                raise
    return False


def _directory_item_exists(organization_id: str, station_id: str) -> bool:
    try:
        StationDirectoryItem.get(
            *directory_key(organization_id, station_id), consistent_read=True, attributes_to_get=["PK"]
        )
        return True
    except StationDirectoryItem.DoesNotExist:
        return False


@dataclass(frozen=True)
class AnomalyFlag:
    """What a writer read of a station's or connector's `totalAnomalies` and `withAnomalies`."""

    total: int
    flagged: bool


def read_anomaly_flags(
    organization_id: str, station_id: str, connector_id: str | None
) -> tuple[AnomalyFlag, AnomalyFlag]:
    """Consistent reads the plan of a count-moving analysis is conditioned on (see `_flag_move`)."""
    flags = []
    for model, key in (
        (StationItem, station_key(organization_id, station_id)),
        (ConnectorItem, connector_key(organization_id, station_id, connector_id)),
    ):
        try:
            item = model.get(*key, consistent_read=True, attributes_to_get=["totalAnomalies", "withAnomalies"])
            flags.append(AnomalyFlag(int(item.totalAnomalies or 0), bool(item.withAnomalies)))
        except model.DoesNotExist:
            flags.append(AnomalyFlag(0, False))
    return flags[0], flags[1]


def _equals(attribute: NumberAttribute, value: int) -> Condition:
    return (attribute == value) | attribute.does_not_exist() if value == 0 else attribute == value


def _flag_move(
    model: type[StationItem] | type[ConnectorItem], read: AnomalyFlag, delta: int
) -> tuple[Condition, list[Action], int]:
    """(condition, actions, ±1 for TOTALS) that move `withAnomalies` with a `totalAnomalies` ADD of `delta`.

    The condition asserts the two facts the plan rests on: the flag is as read, and the count is on
    the same side of zero after the ADD as the read predicts (for a positive delta it always is;
    for a negative one: `> -delta` stays positive, `= read` lands on zero). If a concurrent writer
    changed either, the transaction is cancelled and the caller plans again from fresh reads."""
    after = read.total + delta
    condition = model.withAnomalies.exists() if read.flagged else model.withAnomalies.does_not_exist()
    if after <= 0:
        condition &= _equals(model.totalAnomalies, read.total)
    elif delta < 0:
        condition &= model.totalAnomalies > -delta
    if after > 0 and not read.flagged:
        return condition, [model.withAnomalies.set(True)], 1
    if after <= 0 and read.flagged:
        return condition, [model.withAnomalies.remove()], -1
    return condition, [], 0


def move_counts(
    transaction: TransactWrite,
    organization_id: str,
    station_id: str,
    connector_id: str | None,
    *,
    anomalous_delta: int,
    anomalies_delta: int,
    category_deltas: dict[str, int],
    totals_deltas: dict[str, float],
    last_anomaly: tuple[str | None, float | None] | None,
    connector_anomaly_at: str | None = None,
    flags: tuple[AnomalyFlag, AnomalyFlag] | None = None,
) -> None:
    """Apply the difference between an old and a new analysis of one session.

    A non-zero `anomalies_delta` needs `flags` (read_anomaly_flags, read before planning): the
    station's and connector's `withAnomalies` flags and the tenant's counts of them move with it."""
    station_actions: list[Action] = []
    connector_actions: list[Action] = []
    station_condition: Condition | None = None
    connector_condition: Condition | None = None
    totals_deltas = dict(totals_deltas)
    if anomalies_delta:
        if flags is None:
            raise ValueError("moving totalAnomalies needs the flags it was planned against")
        station_condition, actions, moved = _flag_move(StationItem, flags[0], anomalies_delta)
        station_actions += actions
        totals_deltas["stationsWithAnomalies"] = moved
        connector_condition, actions, moved = _flag_move(ConnectorItem, flags[1], anomalies_delta)
        connector_actions += actions
        totals_deltas["connectorsWithAnomalies"] = moved
    if anomalous_delta:
        station_actions.append(StationItem.anomalousSessions.add(anomalous_delta))
        connector_actions.append(ConnectorItem.anomalousSessions.add(anomalous_delta))
    if anomalies_delta:
        station_actions.append(StationItem.totalAnomalies.add(anomalies_delta))
        connector_actions.append(ConnectorItem.totalAnomalies.add(anomalies_delta))
    if last_anomaly is not None:
        moment, score = last_anomaly
        if moment is None or score is None:  # the station has no anomaly left
            station_actions += [StationItem.lastAnomalyDate.remove(), StationItem.lastAnomalyScore.remove()]
        else:
            station_actions += [StationItem.lastAnomalyDate.set(moment), StationItem.lastAnomalyScore.set(score)]
    if connector_anomaly_at is not None:
        connector_actions += [
            ConnectorItem.lastAnomalyDate.set(connector_anomaly_at),
            ConnectorItem.firstAnomalyDate.set(ConnectorItem.firstAnomalyDate | connector_anomaly_at),
        ]
    if station_actions:
        transaction.update(
            StationItem(*station_key(organization_id, station_id)), actions=station_actions, condition=station_condition
        )
    if connector_actions:
        transaction.update(
            ConnectorItem(*connector_key(organization_id, station_id, connector_id)),
            actions=connector_actions,
            condition=connector_condition,
        )
    for category, delta in category_deltas.items():
        if delta:
            transaction.update(
                CountItem(*connector_category_key(organization_id, station_id, connector_id, category)),
                actions=[CountItem.total.add(delta)],
            )
            transaction.update(
                CountItem(*category_key(organization_id, category)), actions=[CountItem.total.add(delta)]
            )
    totals_actions = [getattr(TenantTotalsItem, name).add(delta) for name, delta in totals_deltas.items() if delta]
    if totals_actions:
        transaction.update(TenantTotalsItem(*totals_key(organization_id)), actions=totals_actions)


# ------------------------------------------------------------------ reads


def get_station(organization_id: str, station_id: str) -> StationItem | None:
    try:
        return StationItem.get(*station_key(organization_id, station_id), consistent_read=True)
    except StationItem.DoesNotExist:
        return None


def list_stations(organization_id: str) -> ResultIterator[StationItem]:
    """Every station item via GSI1: linear in the tenant (scheduled work and backfills, not requests)."""
    return StationItem.by_tenant.query(tenant_pk(organization_id, "STATIONS"))


def station_ids(organization_id: str, *, offset: int = 0, limit: int | None = None) -> list[str]:
    """Registered station ids in id order, from the directory partition: reads offset + limit keys."""
    end = None if limit is None else offset + limit
    if end == 0:
        return []
    keys = StationDirectoryItem.query(
        directory_key(organization_id, "")[0], consistent_read=True, limit=end, page_size=end, attributes_to_get=["SK"]
    )
    return [item.SK for item in keys][offset:]


def get_stations(organization_id: str, ids: list[str]) -> list[StationItem]:
    """The station items of `ids`, in that order (one BatchGetItem per 100)."""
    if not ids:
        return []
    found = {
        item.chargingStationId: item
        for item in StationItem.batch_get(
            [station_key(organization_id, station_id) for station_id in ids], consistent_read=True
        )
    }
    # a directory item always has its station item (same transaction); the fallback is belt and braces
    return [
        found.get(station_id) or StationItem(*station_key(organization_id, station_id), chargingStationId=station_id)
        for station_id in ids
    ]


def connectors_of(organization_id: str, station_id: str) -> list[ConnectorItem]:
    return list(
        ConnectorItem.query(
            station_pk(organization_id, station_id), ConnectorItem.SK.startswith("CONN#"), consistent_read=True
        )
    )


def connector_categories_of(organization_id: str, station_id: str) -> dict[str, dict[str, int]]:
    """connectorId -> {category: count}, zero counts left out."""
    counts: dict[str, dict[str, int]] = {}
    for item in CountItem.query(
        station_pk(organization_id, station_id), CountItem.SK.startswith("CONNCAT#"), consistent_read=True
    ):
        _, connector_id, category = item.SK.split("#", 2)
        if int(item.total):
            counts.setdefault(connector_id, {})[category] = int(item.total)
    return counts


def list_connectors(organization_id: str) -> ResultIterator[ConnectorItem]:
    return ConnectorItem.by_tenant.query(tenant_pk(organization_id, "CONNECTORS"))


def totals(organization_id: str) -> TenantTotalsItem | None:
    try:
        return TenantTotalsItem.get(*totals_key(organization_id), consistent_read=True)
    except TenantTotalsItem.DoesNotExist:
        return None


def category_counts(organization_id: str) -> dict[str, int]:
    return {
        item.SK.split("#", 1)[1]: int(item.total)
        for item in CountItem.query(stats_pk(organization_id), CountItem.SK.startswith("CAT#"), consistent_read=True)
        if int(item.total)
    }


# ------------------------------------------------------------------ backfill (admin, not a request path)


def sync_anomaly_flag(
    organization_id: str, station_id: str, connector_id: str | None = None, *, attempts: int = 10
) -> int:
    """Make one station's (or, with `connector_id`, one connector's) `withAnomalies` flag match its
    `totalAnomalies`, moving the tenant count with it. Idempotent and safe beside live writers:
    the same conditions as a write (flag as read, count on the side read). Returns the ±1 applied."""
    model, key, counter = (
        (StationItem, station_key(organization_id, station_id), "stationsWithAnomalies")
        if connector_id is None
        else (ConnectorItem, connector_key(organization_id, station_id, connector_id), "connectorsWithAnomalies")
    )
    for _ in retry.attempts(attempts):
        try:
            item = model.get(*key, consistent_read=True)
        except model.DoesNotExist:
            return 0
        total, flagged = int(item.totalAnomalies or 0), bool(item.withAnomalies)
        if (total > 0) == flagged:
            return 0
        condition = (
            model.withAnomalies.does_not_exist() & (model.totalAnomalies > 0)
            if total > 0
            else model.withAnomalies.exists() & _equals(model.totalAnomalies, 0)
        )
        moved = 1 if total > 0 else -1
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    model(*key),
                    condition=condition,
                    actions=[model.withAnomalies.set(True) if moved > 0 else model.withAnomalies.remove()],
                )
                transaction.update(
                    TenantTotalsItem(*totals_key(organization_id)),
                    actions=[getattr(TenantTotalsItem, counter).add(moved)],
                )
            return moved
        except TransactWriteError as error:
            if not (is_condition_failure(error) or _is_transaction_conflict(error)):
                raise
    raise RuntimeError(f"could not sync the anomaly flag of {key} after {attempts} attempts")


def backfill_tenant(organization_id: str) -> dict[str, int]:
    """Bring data written before the tenant counts existed under them: register every station,
    sync every station and connector flag. Reads the whole tenant (GSI1); run once per tenant."""
    moved = {"stationsRegistered": 0, "stationsWithAnomalies": 0, "connectorsWithAnomalies": 0}
    for station in list_stations(organization_id):
        station_id = station.chargingStationId
        moved["stationsRegistered"] += ensure_registered(
            organization_id, station_id, station_uuid=station.id or station_id, now=station.createdAt or ""
        )
        moved["stationsWithAnomalies"] += sync_anomaly_flag(organization_id, station_id)
        for connector in connectors_of(organization_id, station_id):
            moved["connectorsWithAnomalies"] += sync_anomaly_flag(organization_id, station_id, connector.connectorId)
    return moved
