"""SHADE station-day inferences and the per-tenant daily uptime sums they maintain.

- station-day:  PK `ORG#<org>#STATION#<stationId>`  SK `DAY#<yyyy-mm-dd>`
                (same partition as the station's META/CONN# items; `DAY#` keeps them apart)
- uptime day:   PK `ORG#<org>#STATS`                SK `UPTIME#<yyyy-mm-dd>`
                `uptimeSum` (sum of connector uptime fractions) and `connectorDays` over the
                tenant's station-days of that date

A station-day and its contribution to the uptime day are written in one transaction that is
conditioned on the station-day being the one read (absent, or the same `analyzedAt`), and the
uptime day moves by (new − old): recomputing a day overwrites it and never double-counts.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chargewatch.dal.stations import station_pk, stats_pk
from chargewatch.dal.table import connection, is_condition_failure, register

DAY_PREFIX = "DAY#"
UPTIME_PREFIX = "UPTIME#"


class StationDayRaced(Exception):
    """Another writer stored this station-day since it was read: read and compute again."""


@register
class StationDayItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    organizationId = UnicodeAttribute()
    chargingStationId = UnicodeAttribute()
    day = UnicodeAttribute()
    inferenceId = UnicodeAttribute()
    analyzedAt = UnicodeAttribute()
    modelVersion = UnicodeAttribute()
    isAnomaly = BooleanAttribute(default=False)
    dayScore = NumberAttribute(default=0)
    totalKwh = NumberAttribute(default=0)
    expectedKwh = NumberAttribute(default=0)
    detectionDetails = JSONAttribute(default=dict)
    detections = JSONAttribute(default=list)  # engine detections (camelCase)
    energy = JSONAttribute(default=dict)  # connectorId -> 96 kWh buckets
    uptime = JSONAttribute(default=dict)  # connectorId -> fraction of the day available
    uptimeSum = NumberAttribute(default=0)
    connectorCount = NumberAttribute(default=0)


@register
class UptimeDayItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    uptimeSum = NumberAttribute(default=0)
    connectorDays = NumberAttribute(default=0)


def day_key(organization_id: str, station_id: str, day: str) -> tuple[str, str]:
    return station_pk(organization_id, station_id), f"{DAY_PREFIX}{day}"


def get_day(organization_id: str, station_id: str, day: str) -> StationDayItem | None:
    try:
        return StationDayItem.get(*day_key(organization_id, station_id, day), consistent_read=True)
    except StationDayItem.DoesNotExist:
        return None


def latest_day(organization_id: str, station_id: str) -> StationDayItem | None:
    for item in StationDayItem.query(
        station_pk(organization_id, station_id),
        StationDayItem.SK.startswith(DAY_PREFIX),
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    ):
        return item
    return None


def list_days(
    organization_id: str, station_id: str, attributes: list[str] | None = None
) -> ResultIterator[StationDayItem]:
    """The station's inferences, newest day first."""
    return StationDayItem.query(
        station_pk(organization_id, station_id),
        StationDayItem.SK.startswith(DAY_PREFIX),
        scan_index_forward=False,
        attributes_to_get=attributes,
    )


def days_between(
    organization_id: str, station_id: str, first_day: str, last_day: str, attributes: list[str] | None = None
) -> list[StationDayItem]:
    """Station-days in [first_day, last_day] (ISO dates), oldest first."""
    return list(
        StationDayItem.query(
            station_pk(organization_id, station_id),
            StationDayItem.SK.between(f"{DAY_PREFIX}{first_day}", f"{DAY_PREFIX}{last_day}"),
            attributes_to_get=attributes,
        )
    )


def save_day(item: StationDayItem, previous: StationDayItem | None) -> None:
    """Store `item` replacing `previous` (as read), moving the tenant's uptime day by the difference."""
    condition = (
        StationDayItem.PK.does_not_exist() if previous is None else (StationDayItem.analyzedAt == previous.analyzedAt)
    )
    uptime_delta = float(item.uptimeSum) - (float(previous.uptimeSum) if previous else 0.0)
    connectors_delta = int(item.connectorCount) - (int(previous.connectorCount) if previous else 0)
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(item, condition=condition)
            actions: list[Action] = []
            if uptime_delta:
                actions.append(UptimeDayItem.uptimeSum.add(round(uptime_delta, 6)))
            if connectors_delta:
                actions.append(UptimeDayItem.connectorDays.add(connectors_delta))
            if actions:
                transaction.update(
                    UptimeDayItem(stats_pk(item.organizationId), f"{UPTIME_PREFIX}{item.day}"), actions=actions
                )
    except TransactWriteError as error:
        if is_condition_failure(error):
            raise StationDayRaced(f"{item.chargingStationId} {item.day}") from error
        raise


def uptime_days(organization_id: str, first_day: str, last_day: str) -> list[UptimeDayItem]:
    return list(
        UptimeDayItem.query(
            stats_pk(organization_id),
            UptimeDayItem.SK.between(f"{UPTIME_PREFIX}{first_day}", f"{UPTIME_PREFIX}{last_day}"),
            consistent_read=True,
        )
    )
