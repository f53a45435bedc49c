"""SHADE station-days: energy from stored sessions, the engine, storage, fan-out and read side.

Energy of a station-day comes from the charging sessions already stored: each session's
`Energy.Active.Import.Register` deltas (kWh) are put in the 15-minute bucket (UTC) of the
midpoint of their interval. Negative deltas (meter resets) count as 0; a delta implying more
than MAX_POWER_KW is dropped (a glitch, not energy). History comes from stored station-days;
days of the window that have none (first runs, backfills) are computed from sessions.

numpy and csar are imported only where a station-day is computed (worker), so the read side
(stations, statistics) stays light and runs without the engine layer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Set
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chargewatch import aws, calendars, clock, retry
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import station_days as station_days_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.dal import tenant_registry
from chargewatch.errors import ValidationError
from chargewatch.meter_values import ENERGY_IMPORT_REGISTER
from chargewatch.pagination import paginate
from chargewatch.schemas.shade import (
    AnomalyMarker,
    ConnectorEnergy,
    CumulativePoint,
    EnergyPoint,
    ShadeOverview,
    ShadeWorkMessage,
    StationAnomaly,
    StationAnomalyPage,
    StationEnergy,
    StationInference,
)
from chargewatch.services import stations as stations_service
from chargewatch.settings import get_settings

if TYPE_CHECKING:
    import numpy as np

    from csar.shade import StationDayAnalysis

DAY_MS = 86_400_000
BUCKET_MS = 900_000
BUCKETS = 96
MAX_POWER_KW = 400.0
STATIONS_PER_MESSAGE = 10
SAVE_ATTEMPTS = 3
UPTIME_WINDOW_DAYS = 30
CATCH_UP_DAYS = 60  # per station, back from its last session day: the uptime statistics' two windows
FULL_UPTIME = 100.0  # no station-day in the window yet: every connector counts as available
_INFERENCE_NAMESPACE = uuid.UUID("5b0c3a55-2f0e-4c1e-9d8e-5ade5ade5ade")
_LIST_ATTRIBUTES = ["PK", "SK", "inferenceId", "isAnomaly", "dayScore", "detectionDetails", "analyzedAt", "day"]


def _midnight_ms(day: date) -> int:
    return clock.to_epoch_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _stamp(day: date, minute: int) -> str:
    return clock.to_iso(datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute))


def inference_id(organization_id: str, station_id: str, day: str) -> str:
    """Stable per (tenant, station, day): a recomputed day keeps its id."""
    return str(uuid.uuid5(_INFERENCE_NAMESPACE, f"{organization_id}/{station_id}/{day}"))


# ------------------------------------------------------------------ energy from sessions


def _register_deltas(readings: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(interval midpoints ms, kWh deltas) of a session's import register, phases summed."""
    import numpy as np

    series: dict[str | None, list[tuple[int, float]]] = {}
    for reading in readings:
        if (reading.get("measurand") or ENERGY_IMPORT_REGISTER) != ENERGY_IMPORT_REGISTER:
            continue
        if reading.get("location") not in (None, "Outlet"):
            continue
        try:
            series.setdefault(reading.get("phase"), []).append((int(reading["timestamp"]), float(reading["value"])))
        except (TypeError, ValueError, KeyError):
            continue
    # a phase-less (total) register wins; otherwise the line phases are summed
    chosen = [series[None]] if series.get(None) else [v for k, v in series.items() if k in ("L1", "L2", "L3")]
    mids, deltas = [], []
    for points in chosen:
        points = sorted(set(points))
        if len(points) < 2:
            continue
        stamps = np.array([p[0] for p in points], dtype=np.int64)
        values = np.array([p[1] for p in points], dtype=float)
        step = np.diff(values)
        hours = np.diff(stamps) / 3_600_000.0
        ok = np.isfinite(step) & (step > 0) & (hours > 0) & (step <= MAX_POWER_KW * np.maximum(hours, 1 / 60))
        mids.append(((stamps[:-1] + stamps[1:]) // 2)[ok])
        deltas.append(step[ok])
    if not mids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(mids), np.concatenate(deltas)


def station_energy_by_day(
    organization_id: str, station_id: str, first_day: date, last_day: date, skip_days: Set[date] = frozenset()
) -> dict[date, dict[str, Any]]:
    """{day: {connectorId: 96 kWh}} for days in [first_day, last_day] not in `skip_days`."""
    import numpy as np

    start_ms, end_ms = _midnight_ms(first_day), _midnight_ms(last_day) + DAY_MS
    wanted = {first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)} - set(skip_days)
    result: dict[date, dict[str, Any]] = {}
    if not wanted:
        return result
    for item in sessions_dal.query_sessions(
        organization_id,
        charging_station_id=station_id,
        started_from_ms=start_ms - DAY_MS,
        started_to_ms=end_ms - 1,
        newest_first=False,
    ):
        began = int(item.startedAtMs)
        ended = int(item.endedAtMs) if item.endedAtMs is not None else began + DAY_MS
        touched = {
            clock.from_epoch_ms(ms).date() for ms in range(began - began % DAY_MS, max(began, ended) + 1, DAY_MS)
        }
        if not touched & wanted:
            continue
        mids, deltas = _register_deltas(sessions_dal.read_readings(item))
        inside = (mids >= start_ms) & (mids < end_ms)
        if not inside.any():
            continue
        connector = item.connectorId or stations_dal.NO_CONNECTOR
        offsets = mids[inside] - start_ms
        day_index, bucket = offsets // DAY_MS, (offsets % DAY_MS) // BUCKET_MS
        for index in np.unique(day_index):
            day = first_day + timedelta(days=int(index))
            if day not in wanted:
                continue
            buckets = result.setdefault(day, {}).setdefault(connector, np.zeros(BUCKETS))
            chosen = day_index == index
            np.add.at(buckets, bucket[chosen], deltas[inside][chosen])
    return result


# ------------------------------------------------------------------ compute and store


def _detection_details(analysis: StationDayAnalysis) -> dict[str, Any]:
    if not analysis.detections:
        return {}
    detections = [
        {
            "anomaly_type": d.type,
            "connector_id": d.connectorId,
            "start_minute": d.startMinute,
            "end_minute": d.endMinute,
            "score": d.score,
            "expected_energy_kwh": d.expectedKwh,
            "actual_energy_kwh": d.actualKwh,
        }
        for d in analysis.detections
    ]
    top = analysis.detections[0]
    return {
        "anomaly_type": top.type,
        "affected_period": analysis.day,
        "expected_energy_kwh": top.expectedKwh,
        "actual_energy_kwh": top.actualKwh,
        "start_minute": top.startMinute,
        "connector_id": top.connectorId,
        "detections": detections,
    }


def _analyse(
    organization_id: str, station_id: str, day: date, holiday_country: str | None, *, judge: bool = True
) -> tuple[StationDayAnalysis, station_days_dal.StationDayItem | None]:
    """The engine's analysis of a day from stored station-days and sessions, with the stored item
    of that day (None when never analysed), against the public holidays of `holiday_country`
    (`_holiday_country`). `judge=False` gives the engine no history: the day's energy without a
    verdict (a day not over yet has no complete energy to judge)."""
    from csar import shade

    params = shade.DEFAULT_PARAMS
    first_day = day - timedelta(weeks=params.window_weeks)
    stored = {
        date.fromisoformat(item.day): item
        for item in station_days_dal.days_between(organization_id, station_id, first_day.isoformat(), day.isoformat())
    }
    previous = stored.pop(day, None)
    if not judge:
        computed = station_energy_by_day(organization_id, station_id, day, day)
        return shade.analyze_station_day(day, computed.get(day, {}), {}, params), previous
    computed = station_energy_by_day(organization_id, station_id, first_day, day, skip_days=set(stored))
    history: dict[date, dict[str, Any]] = {d: item.energy or {} for d, item in stored.items()}
    history.update({d: energy for d, energy in computed.items() if d != day})
    # days before the station's first energy are not history (a new station has none)
    active = [d for d, energy in history.items() if any(sum(v) > 0 for v in energy.values())]
    if active:
        first_active = min(active)
        history = {
            d: history.get(d, {}) for d in (first_active + timedelta(days=i) for i in range((day - first_active).days))
        }
    else:
        history = {}
    holidays = calendars.public_holidays(holiday_country, first_day.year, day.year) if holiday_country else None
    return shade.analyze_station_day(day, computed.get(day, {}), history, params, holidays), previous


def _holiday_country(organization_id: str) -> str | None:
    """The organization's `holidayCountry` (None: no calendar). Read once per unit of work, not
    per station-day: it is the same for every station of the tenant."""
    organization = organizations_dal.get(organization_id)
    return organization.holidayCountry if organization is not None else None


def analyze_station_day(
    organization_id: str, station_id: str, day: date, holiday_country: str | None
) -> StationDayAnalysis | None:
    """Compute and store one station-day (overwrites a previous computation of that day)."""
    for attempt in retry.attempts(SAVE_ATTEMPTS):
        analysis, previous = _analyse(organization_id, station_id, day, holiday_country)
        item = _station_day_item(organization_id, station_id, analysis)
        try:
            station_days_dal.save_day(item, previous)
        except station_days_dal.StationDayRaced:
            if attempt.last:
                raise
            continue
        if analysis.isAnomaly and not (previous is not None and previous.isAnomaly):
            _announce(organization_id, station_id, analysis, item.analyzedAt)
        return analysis
    return None


def _announce(organization_id: str, station_id: str, analysis: StationDayAnalysis, analyzed_at: str) -> None:
    """station.anomaly_detected, once per day that becomes anomalous: a re-run (re-fired day,
    redelivered message) of a day already stored as anomalous announces nothing new."""
    from chargewatch.schemas.webhooks import StationAnomalyDetectedData
    from chargewatch.services import webhook_events

    markers = [
        {
            "type": d.type,
            "startMinute": d.startMinute,
            "endMinute": d.endMinute,
            "connectorId": d.connectorId,
            "score": d.score,
        }
        for d in analysis.detections
    ]
    webhook_events.publish_station_anomaly_detected(
        organization_id,
        StationAnomalyDetectedData(
            chargingStationId=station_id,
            date=analysis.day,
            dayScore=analysis.dayScore,
            anomalyMarkers=markers,
            analyzedAt=analyzed_at,
        ),
    )


def _station_day_item(
    organization_id: str, station_id: str, analysis: StationDayAnalysis
) -> station_days_dal.StationDayItem:
    uptime = {c.connectorId: c.uptime for c in analysis.connectors}
    return station_days_dal.StationDayItem(
        *station_days_dal.day_key(organization_id, station_id, analysis.day),
        organizationId=organization_id,
        chargingStationId=station_id,
        day=analysis.day,
        inferenceId=inference_id(organization_id, station_id, analysis.day),
        analyzedAt=clock.iso_now(),
        modelVersion=f"{analysis.modelId}-{analysis.modelVersion}",
        isAnomaly=analysis.isAnomaly,
        dayScore=analysis.dayScore,
        totalKwh=analysis.totalKwh,
        expectedKwh=analysis.expectedKwh,
        detectionDetails=_detection_details(analysis),
        detections=[{k: v for k, v in vars(d).items()} for d in analysis.detections],
        energy={c.connectorId: c.buckets for c in analysis.connectors},
        uptime=uptime,
        uptimeSum=round(sum(uptime.values()), 6),
        connectorCount=len(uptime),
    )


# ------------------------------------------------------------------ fan-out


def default_day() -> date:
    """The scheduled run analyses yesterday (UTC): a complete day."""
    return clock.now().date() - timedelta(days=1)


def _send(messages: list[ShadeWorkMessage]) -> int:
    queue_url = get_settings().shade_queue_url
    if not queue_url:
        raise RuntimeError("SHADE_QUEUE_URL is not configured")
    sqs = aws.client("sqs")
    for i in range(0, len(messages), 10):
        chunk = messages[i : i + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": m.model_dump_json()} for n, m in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"could not enqueue {len(response['Failed'])} SHADE messages")
    return len(messages)


def schedule_day(day: date) -> int:
    """Scheduler: one message per tenant; the worker expands each into station groups."""
    return _send(
        [
            ShadeWorkMessage(kind="tenant", organizationId=org, day=day.isoformat())
            for org in tenant_registry.list_tenant_ids()
        ]
    )


def _session_day(item: sessions_dal.SessionItem) -> date:
    """The UTC day a session's energy last touches (its end; its start while it runs)."""
    last_ms = int(item.endedAtMs) if item.endedAtMs is not None else int(item.startedAtMs)
    return clock.from_epoch_ms(max(last_ms, int(item.startedAtMs))).date()


def _session_day_bound(
    organization_id: str, station_id: str, *, newest: bool, before: date | None = None
) -> date | None:
    """The day of the station's newest (or oldest) session, among sessions starting before `before`."""
    for item in sessions_dal.query_sessions(
        organization_id,
        charging_station_id=station_id,
        started_to_ms=_midnight_ms(before) - 1 if before is not None else None,
        newest_first=newest,
        limit=1,
    ):
        day = _session_day(item) if newest else clock.from_epoch_ms(int(item.startedAtMs)).date()
        return min(day, before - timedelta(days=1)) if before is not None else day
    return None


def _days_to_catch_up(organization_id: str, station_id: str, today: date, lookback_days: int) -> list[date]:
    """Complete days from the station's first to its last session day (at most `lookback_days`
    back from the last) that have no stored SHADE result."""
    last = _session_day_bound(organization_id, station_id, newest=True, before=today)
    first = _session_day_bound(organization_id, station_id, newest=False)
    if last is None or first is None:
        return []
    first = max(first, last - timedelta(days=lookback_days - 1))
    analysed = {
        item.day
        for item in station_days_dal.days_between(
            organization_id, station_id, first.isoformat(), last.isoformat(), attributes=["PK", "SK", "day"]
        )
    }
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [day for day in days if day.isoformat() not in analysed]


def schedule_catch_up(today: date | None = None, lookback_days: int = CATCH_UP_DAYS) -> int:
    """Scheduler, catch-up: one message per tenant, day and group of stations for every complete
    station-day between a station's first and last session that has no SHADE result (sessions
    uploaded late, a tenant's history imported, a schedule that did not run). Returns the
    station-days scheduled; running it again before they are analysed schedules them again
    (the analysis is idempotent)."""
    today = today or clock.now().date()
    messages, station_days = [], 0
    for organization_id in tenant_registry.list_tenant_ids():
        by_day: dict[date, list[str]] = {}
        for station in stations_dal.list_stations(organization_id):
            for day in _days_to_catch_up(organization_id, station.chargingStationId, today, lookback_days):
                by_day.setdefault(day, []).append(station.chargingStationId)
        for day in sorted(by_day):
            station_ids = by_day[day]
            station_days += len(station_ids)
            messages += [
                ShadeWorkMessage(
                    kind="stations",
                    organizationId=organization_id,
                    day=day.isoformat(),
                    stationIds=station_ids[i : i + STATIONS_PER_MESSAGE],
                )
                for i in range(0, len(station_ids), STATIONS_PER_MESSAGE)
            ]
    if messages:
        _send(messages)
    return station_days


def process_message(body: str | dict[str, Any]) -> int:
    """Worker: expand a tenant, or analyse a group of stations. Returns the units of work done."""
    message = ShadeWorkMessage.model_validate(json.loads(body) if isinstance(body, str) else body)
    if message.kind == "tenant":
        station_ids = [s.chargingStationId for s in stations_dal.list_stations(message.organizationId)]
        return _send(
            [
                ShadeWorkMessage(
                    kind="stations",
                    organizationId=message.organizationId,
                    day=message.day,
                    stationIds=station_ids[i : i + STATIONS_PER_MESSAGE],
                )
                for i in range(0, len(station_ids), STATIONS_PER_MESSAGE)
            ]
        )
    day = date.fromisoformat(message.day)
    holiday_country = _holiday_country(message.organizationId)
    for station_id in message.stationIds:
        if stations_dal.get_station(message.organizationId, station_id) is not None:
            analyze_station_day(message.organizationId, station_id, day, holiday_country)
    return len(message.stationIds)


# ------------------------------------------------------------------ read side


def _requested_day(day: str | None) -> date | None:
    if day is None:
        return None
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise ValidationError.for_field("date", "must be a calendar date, YYYY-MM-DD") from None


def _newest_day(
    organization_id: str, station_id: str, *, complete: bool
) -> tuple[date, station_days_dal.StationDayItem | None]:
    """The newest day known of a station, with its stored station-day (None: never analysed):
    its latest SHADE day or the day of its newest session, whichever is later. `complete` skips
    a session day not over yet while an earlier day is known. With neither: yesterday."""
    today = clock.now().date()
    latest = station_days_dal.latest_day(organization_id, station_id)
    newest = _session_day_bound(organization_id, station_id, newest=True, before=today if complete else None)
    if latest is not None and (newest is None or date.fromisoformat(latest.day) >= newest):
        return date.fromisoformat(latest.day), latest
    if newest is None and complete:
        newest = _session_day_bound(organization_id, station_id, newest=True)
    return newest or default_day(), None


def _requested_or_newest(
    organization_id: str, station_id: str, day: str | None, *, complete: bool
) -> tuple[date, station_days_dal.StationDayItem | None]:
    requested = _requested_day(day)
    stations_service._require(organization_id, station_id)
    if requested is None:
        return _newest_day(organization_id, station_id, complete=complete)
    return requested, station_days_dal.get_day(organization_id, station_id, requested.isoformat())


def _day_item(organization_id: str, station_id: str, day: str | None) -> station_days_dal.StationDayItem:
    """The station-day asked for (default: the newest complete one known) as SHADE stored it or,
    when SHADE has not analysed it yet, analysed now and not stored (provisional until the
    schedule stores it). A day not over yet gets its energy so far and no verdict."""
    when, item = _requested_or_newest(organization_id, station_id, day, complete=True)
    if item is not None:
        return item
    judge = when < clock.now().date()
    holiday_country = _holiday_country(organization_id) if judge else None
    analysis, _ = _analyse(organization_id, station_id, when, holiday_country, judge=judge)
    return _station_day_item(organization_id, station_id, analysis)


def list_station_anomalies(organization_id: str, station_id: str, page: int, page_size: int) -> StationAnomalyPage:
    stations_service._require(organization_id, station_id)
    render = lambda item: StationAnomaly(  # noqa: E731
        inferenceId=item.inferenceId,
        isAnomaly=bool(item.isAnomaly),
        anomalyScore=float(item.dayScore or 0),
        detectionDetails=item.detectionDetails or {},
        analyzedAt=item.analyzedAt,
    )
    content, pagination = paginate(
        station_days_dal.list_days(organization_id, station_id, _LIST_ATTRIBUTES), page, page_size, render
    )
    return StationAnomalyPage(content=content, pagination=pagination)


def get_station_inference(organization_id: str, station_id: str) -> StationInference:
    item = _day_item(organization_id, station_id, None)
    return StationInference(
        chargingStationId=station_id,
        isAnomaly=bool(item.isAnomaly),
        anomalyScore=float(item.dayScore or 0),
        detectionDetails=item.detectionDetails or {},
        analyzedAt=item.analyzedAt,
    )


def _hourly(buckets: list[float]) -> list[float]:
    return [round(sum(buckets[h * 4 : h * 4 + 4]), 4) for h in range(24)]


def get_station_energy(organization_id: str, station_id: str, day: str | None = None) -> StationEnergy:
    """Hourly energy of a station-day from its sessions (SHADE or not); anomaly times from SHADE."""
    when, analysed = _requested_or_newest(organization_id, station_id, day, complete=False)
    energy = station_energy_by_day(organization_id, station_id, when, when).get(when, {})
    connector_ids = sorted(set(energy) | set((analysed.energy or {}) if analysed is not None else ()))
    station = [0.0] * 24
    connectors = []
    for connector_id in connector_ids:
        buckets = energy.get(connector_id)
        hourly = _hourly([float(v) for v in buckets]) if buckets is not None else [0.0] * 24
        station = [a + b for a, b in zip(station, hourly, strict=True)]  # both 24 hours
        connectors.append(
            ConnectorEnergy(
                connectorId=connector_id,
                energy=[EnergyPoint(timestamp=_stamp(when, h * 60), energy=v) for h, v in enumerate(hourly)],
            )
        )
    detections = (analysed.detections or []) if analysed is not None else []
    return StationEnergy(
        chargingStationId=station_id,
        energyDelivered=round(sum(float(sum(values)) for values in energy.values()), 3),
        energyConsumptionStation=[
            EnergyPoint(timestamp=_stamp(when, h * 60), energy=round(v, 4)) for h, v in enumerate(station)
        ],
        energyConsumptionConnectors=connectors,
        anomalyOccurrences=[_stamp(when, int(d["startMinute"])) for d in detections],
    )


def get_shade_overview(organization_id: str, station_id: str, day: str | None = None) -> ShadeOverview:
    item = _day_item(organization_id, station_id, day)
    when = date.fromisoformat(item.day)
    # every stored connector carries BUCKETS values; a short one (never written) would cut the day, not fail
    totals = [sum(values) for values in zip(*(item.energy or {}).values(), strict=False)] or [0.0] * BUCKETS

    timeline, running = [], 0.0
    for index, value in enumerate(totals):
        running += value
        timeline.append(CumulativePoint(timestamp=_stamp(when, (index + 1) * 15), cumulativeKwh=round(running, 4)))
    markers = [
        AnomalyMarker(
            startMinute=int(d["startMinute"]), timestamp=_stamp(when, int(d["startMinute"])), score=float(d["score"])
        )
        for d in (item.detections or [])
    ]
    return ShadeOverview(
        chargingStationId=station_id,
        dayScore=float(item.dayScore or 0),
        isAnomaly=bool(item.isAnomaly),
        energyTimeline=timeline,
        anomalyMarkers=markers,
        analyzedAt=item.analyzedAt,
    )


def uptime_statistics(organization_id: str, today: date | None = None) -> tuple[float, float]:
    """(uptimePercentage over the last 30 days, change in points versus the 30 days before).

    Read from the per-tenant uptime days maintained with every station-day (at most 60 items).
    No station-day in the last 30 days: 100.0 and 0.0 (nothing says a connector was down);
    no station-day in the 30 days before: delta 0.0.
    """
    today = today or clock.now().date()
    current_from = today - timedelta(days=UPTIME_WINDOW_DAYS - 1)
    previous_from = current_from - timedelta(days=UPTIME_WINDOW_DAYS)
    sums: dict[str, list[float]] = {"current": [0.0, 0], "previous": [0.0, 0]}  # [uptime sum, connector-days]
    for item in station_days_dal.uptime_days(organization_id, previous_from.isoformat(), today.isoformat()):
        window = "current" if item.SK[len(station_days_dal.UPTIME_PREFIX) :] >= current_from.isoformat() else "previous"
        sums[window][0] += float(item.uptimeSum or 0)
        sums[window][1] += int(item.connectorDays or 0)

    def percentage(total: float, count: float) -> float | None:

        return 100.0 * total / count if count > 0 else None

    current, previous = percentage(*sums["current"]), percentage(*sums["previous"])

    if current is None:
        return FULL_UPTIME, 0.0
    return round(current, 2), round(current - previous, 2) if previous is not None else 0.0
