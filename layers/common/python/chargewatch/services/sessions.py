"""Charging sessions: create (idempotent), list, get, replace, append — each re-analysed by CSAR-2.

Analysis runs whenever a mutation leaves the session with at least MIN_READINGS_FOR_ANALYSIS meter
values. The stored analysis is "current" when it was computed from the session's present version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chargewatch import clock, observability, retry
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.errors import ConcurrencyError, ConflictError, NotFoundError, ValidationError
from chargewatch.meter_values import normalise
from chargewatch.pagination import counted_page, page_end, paginate
from chargewatch.schemas.sessions import (
    AppendSessionRequest,
    CreateSessionRequest,
    MeterValue,
    MeterValueRequest,
    ReplaceSessionRequest,
    SessionDetail,
    SessionListItem,
    SessionPage,
    SessionResult,
)
from chargewatch.services import read_model, usage, webhook_events

if TYPE_CHECKING:
    from chargewatch.dal.table import TransactWrite
    from chargewatch.schemas.sessions import SessionMetadata
    from csar import SessionAnalysis

logger = observability.logger

MIN_READINGS_FOR_ANALYSIS = 3
RECURRENCE_WINDOW = timedelta(days=7)
DEFAULT_STATUS = "active"
# Session metadata keys that describe the station rather than the session (shown on station detail).
STATION_METADATA_KEYS = ("address", "operator", "stationName", "city", "country", "latitude", "longitude")
_WRITE_ATTEMPTS = 12

_NO_ANALYSIS: dict[str, Any] = {
    "analyzedVersion": None,
    "lastAnalyzedAt": None,
    "isAnomaly": False,
    "anomalyScore": None,
    "anomalyConfidence": None,
    "anomalyCount": 0,
    "anomalyCategories": [],
}


# --------------------------------------------------------------------------- readings


def normalise_readings(meter_values: list[MeterValueRequest]) -> list[dict[str, Any]]:
    """Validated request readings -> stored readings (epoch ms, kWh/kW), arrival order kept."""
    readings = []
    for reading in meter_values:
        value, unit = normalise(reading.value, reading.unit)
        readings.append(
            {
                "timestamp": clock.to_epoch_ms(reading.timestamp),
                "value": value,
                "measurand": reading.measurand,
                "unit": unit,
                "phase": reading.phase,
                "location": reading.location,
                "reconstructed": reading.reconstructed,
            }
        )
    return readings


def _reading_out(reading: dict[str, Any]) -> dict[str, Any]:
    return {**reading, "timestamp": clock.to_iso(clock.from_epoch_ms(reading["timestamp"]))}


def _time_span(readings: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    if not readings:
        return None, None
    stamps = [reading["timestamp"] for reading in readings]
    return min(stamps), max(stamps)


def _span_changes(item: sessions_dal.SessionItem, first_ms: int | None, last_ms: int | None) -> dict[str, Any]:
    """Keep startedAt/endedAt and the start-time index keys in step with the readings."""
    if first_ms is None:
        return {}
    changes: dict[str, Any] = {}
    if first_ms != int(item.startedAtMs):
        sort_key = sessions_dal.start_sort_key(first_ms, item.sessionId)
        changes.update(startedAtMs=first_ms, GSI1SK=sort_key, GSI2SK=sort_key)
    if last_ms is not None and (item.endedAtMs is None or last_ms != int(item.endedAtMs)):
        changes["endedAtMs"] = last_ms
    return changes


def _request_hash(request: CreateSessionRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


def _encoded_size(readings: list[dict[str, Any]]) -> int:
    return sum(len(sessions_dal.encode_chunk(chunk)) for chunk in sessions_dal.split_chunks(readings))


def _check_chunk_budget(reading_count: int) -> None:
    if sessions_dal.chunk_count_for(reading_count) > sessions_dal.MAX_CHUNKS_PER_WRITE:
        raise ValidationError.for_field(
            "meterValues", "too many meter values in one request", code="too_many_meter_values"
        )


# --------------------------------------------------------------------------- analysis


def _engine_input(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_reading_out(reading) for reading in readings]


def _recurrence_history(organization_id: str, item: sessions_dal.SessionItem) -> list[dict[str, str]]:
    """Categories found on the same station connector in the 7 days before this session."""
    start = int(item.startedAtMs)
    window_ms = int(RECURRENCE_WINDOW.total_seconds() * 1000)
    condition = sessions_dal.SessionItem.anomalyCount > 0
    if item.connectorId is not None:
        condition &= sessions_dal.SessionItem.connectorId == item.connectorId
    history: list[dict[str, str]] = []
    for earlier in sessions_dal.query_sessions(
        organization_id,
        charging_station_id=item.chargingStationId,
        started_from_ms=start - window_ms,
        started_to_ms=start,
        filter_condition=condition,
    ):
        if earlier.sessionId == item.sessionId:
            continue
        stamp = clock.to_iso(clock.from_epoch_ms(int(earlier.startedAtMs)))
        history.extend({"category": category, "timestamp": stamp} for category in earlier.anomalyCategories or [])
    return history


def engine_input(
    organization_id: str, item: sessions_dal.SessionItem, readings: list[dict[str, Any]]
) -> dict[str, Any]:
    """One session as `csar.analyze_batch` takes it: readings, metadata and recurrence history."""
    metadata = {
        **(item.metadata or {}),
        "chargingStationId": item.chargingStationId,
        "connectorId": item.connectorId,
        "evseId": item.evseId,
    }
    return {
        "meterValues": _engine_input(readings),
        "metadata": metadata,
        "history": _recurrence_history(organization_id, item),
    }


def _analyze(
    organization_id: str, item: sessions_dal.SessionItem, readings: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    import csar  # numpy is loaded only by requests that analyse
    from chargewatch.services import models  # the tenant's active (possibly fine-tuned) model

    model = models.active_model(organization_id)
    session = engine_input(organization_id, item, readings)
    result = csar.analyze_session(
        session["meterValues"], metadata=session["metadata"], history=session["history"], params=model.params
    )
    return record_analysis(organization_id, item, model.stamp(result))


def record_analysis(
    organization_id: str, item: sessions_dal.SessionItem, result: SessionAnalysis
) -> tuple[dict[str, Any], str]:
    """Store an engine result (a csar.SessionAnalysis) for the session version it was computed on,
    with everything it changes on the read side. Used by single requests and by batch work."""
    document = result.to_dict()
    analyzed_at = clock.iso_now()
    anomalies = document.get("anomalies") or []
    summary = {
        "analyzedVersion": int(item.version),
        "lastAnalyzedAt": analyzed_at,
        "isAnomaly": bool(document.get("isAnomaly")),
        "anomalyScore": float(document.get("anomalyScore") or 0.0),
        "anomalyConfidence": float(document.get("anomalyConfidence") or 0.0),
        "anomalyCount": len(anomalies),
        "anomalyCategories": sorted({anomaly["category"] for anomaly in anomalies}),
        "energyKwh": round(received_energy_kwh(float(result.energy_kwh), anomalies), 6),
    }
    analysis = sessions_dal.new_analysis_item(
        sessionVersion=int(item.version),
        modelId=result.model_id,
        modelVersion=str(result.model_version),
        analyzedAt=analyzed_at,
        energyKwh=summary["energyKwh"],
        result=document,
    )
    _store_with_effects(organization_id, item, analysis, document, summary)
    observability.count(observability.SESSIONS_ANALYSED)
    for anomaly in anomalies:
        observability.count(observability.ANOMALIES_DETECTED, dimension=("category", str(anomaly["category"])))
    return document, analyzed_at


def received_energy_kwh(estimated_kwh: float, anomalies: list[dict[str, Any]]) -> float:
    """The energy the car received: the engine's estimate less what its phantom-energy anomalies
    (csar.categories.PHANTOM_ENERGY) carry. Revenue and energy statistics add this up; the phantom
    part counts at risk through the anomaly's incident instead (docs/statistics.md)."""
    from csar.categories import PHANTOM_ENERGY

    phantom = sum(
        float((anomaly.get("details") or {}).get("energyKwh") or 0.0)
        for anomaly in anomalies
        if anomaly.get("category") in PHANTOM_ENERGY
    )
    return max(0.0, estimated_kwh - phantom)


def _store_with_effects(
    organization_id: str,
    item: sessions_dal.SessionItem,
    analysis: sessions_dal.AnalysisItem | None,
    document: dict[str, Any] | None,
    summary: dict[str, Any],
) -> None:
    # A session never analysed (a new one, typically) has no stored analysis to read: assume so and
    # let the write's condition (no ANALYSIS item yet) prove it; if that fails, read and plan again.
    assume_unanalysed = item.analyzedVersion is None
    for _ in retry.attempts(_WRITE_ATTEMPTS):
        previous = None if assume_unanalysed else sessions_dal.get_analysis(item)
        effects = read_model.analysis_effects(
            organization_id,
            item,
            document,
            old_energy=float(previous.energyKwh or 0.0) if previous else 0.0,
            new_energy=float(summary.get("energyKwh") or 0.0),
            old_is_anomaly=bool(previous and previous.result.get("isAnomaly")),
            has_stored_anomalies=previous is not None,
        )
        try:
            sessions_dal.save_analysis(
                item,
                analysis,
                summary,
                effects=effects.apply,
                replaces_analyzed_at=previous.analyzedAt if previous else None,
            )
            webhook_events.publish_session_analysis(organization_id, item, document, summary.get("lastAnalyzedAt"))
            return
        except sessions_dal.VersionConflict:
            return  # the session moved on; the request that moved it stores the newer analysis
        except sessions_dal.AnalysisRaced:
            assume_unanalysed = False
            continue
    # The readings are committed; only the derived analysis lost every race. Never answer 409 for
    # a write that happened (the client would retry it): the stored analysis stays marked stale
    # (analyzedVersion < version) and the next read of the session re-analyses it.
    logger.warning("analysis not stored after retries", extra={"sessionId": item.sessionId})


def _clear_analysis(organization_id: str, item: sessions_dal.SessionItem) -> None:
    """Fewer than 3 readings after a replace: the old analysis and its anomalies no longer apply."""
    if sessions_dal.get_analysis(item) is not None:
        _store_with_effects(organization_id, item, None, None, {**_NO_ANALYSIS, "energyKwh": 0})


def current_analysis(item: sessions_dal.SessionItem) -> tuple[dict[str, Any], str] | None:
    """The stored analysis when it was computed from the session's present version, else None."""
    if item.analyzedVersion is not None and int(item.analyzedVersion) == int(item.version):
        stored = sessions_dal.get_analysis(item)
        if stored is not None and int(stored.sessionVersion) == int(item.version):
            return stored.result, stored.analyzedAt
    return None


def _analysis_if_due(
    organization_id: str, item: sessions_dal.SessionItem, readings: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    if int(item.readingCount) < MIN_READINGS_FOR_ANALYSIS:
        return None, None
    current = current_analysis(item)
    if current is not None:
        return current
    if readings is None:
        readings = sessions_dal.read_readings(item)
    return _analyze(organization_id, item, readings)


def analysis_for(
    organization_id: str, item: sessions_dal.SessionItem, readings: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """The session's current analysis, computed now if it is due (ask/explain read it)."""
    return _analysis_if_due(organization_id, item, readings)


# --------------------------------------------------------------------------- responses


def _result(item: sessions_dal.SessionItem, analysis: dict[str, Any] | None, analyzed_at: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sessionId": item.sessionId,
        "status": item.status,
        "chargingStationId": item.chargingStationId,
        "connectorId": item.connectorId,
        "evseId": item.evseId,
        "meterValueCount": int(item.readingCount),
        "createdAt": item.createdAt,
    }
    if analysis is None:
        body["message"] = (
            f"analysis runs when a session has at least {MIN_READINGS_FOR_ANALYSIS} "
            f"meter values; this one has {int(item.readingCount)}"
        )
        return body
    body.update(
        {
            key: analysis.get(key)
            for key in (
                "isAnomaly",
                "anomalyScore",
                "anomalyConfidence",
                "isIncident",
                "isRecurring",
                "socReconstructed",
                "message",
            )
        }
    )
    body["anomalies"] = analysis.get("anomalies") or []
    body["analyzedAt"] = analyzed_at
    return body


def session_result(
    item: sessions_dal.SessionItem, analysis: dict[str, Any] | None, analyzed_at: str | None
) -> SessionResult:
    return SessionResult.model_validate(_result(item, analysis, analyzed_at))


def _require(organization_id: str, session_id: str) -> sessions_dal.SessionItem:
    item = sessions_dal.get_session(organization_id, session_id)
    if item is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    return item


# --------------------------------------------------------------------------- operations


def create_session(organization_id: str, request: CreateSessionRequest) -> SessionResult:
    item, readings = store_session(organization_id, request, meter=False)
    if readings is None:  # the same body again: the stored session (analysed now if it never was)
        return session_result(item, *_analysis_if_due(organization_id, item))
    with rolled_back_on_failure(organization_id, item):
        analysis, analyzed_at = _analysis_if_due(organization_id, item, readings)
    _meter_storage(organization_id, request.sessionId, int(item.storedBytes), "session.create")
    return session_result(item, analysis, analyzed_at)


@contextmanager
def rolled_back_on_failure(organization_id: str, item: sessions_dal.SessionItem) -> Iterator[None]:
    """A session just stored whose analysis then fails is removed again, with the counters its create
    moved, so a failed request leaves nothing behind (the error still propagates)."""
    try:
        yield
    except Exception:
        undo_create(organization_id, item)
        raise


def undo_create(organization_id: str, item: sessions_dal.SessionItem) -> None:
    def uncount(transaction: TransactWrite) -> None:
        stations_dal.remove_session(
            transaction,
            organization_id,
            item.chargingStationId,
            item.connectorId,
            restore_metadata=getattr(item, "previous_station_metadata", None),
        )

    try:
        if sessions_dal.delete_unanalysed_session(item, uncount):
            stations_dal.drop_if_empty(
                organization_id,
                item.chargingStationId,
                item.connectorId,
                registered=bool(getattr(item, "registered_station", False)),
            )
    except Exception:  # the original failure is the one to report; this one is logged
        logger.exception("could not roll back a session create", extra={"sessionId": item.sessionId})


def store_session(
    organization_id: str, request: CreateSessionRequest, *, meter: bool = True
) -> tuple[sessions_dal.SessionItem, list[dict[str, Any]] | None]:
    """Store a new session with its counters, without analysing it (batch work analyses many at once).

    Idempotent on sessionId: the same body again returns the stored session (readings None: read
    them when needed); a different body raises ConflictError. The stored bytes are metered unless
    `meter` is False (a batch meters a whole part at once)."""
    request_hash = _request_hash(request)
    readings = normalise_readings(request.meterValues)
    _check_chunk_budget(len(readings))
    # Optimistic: try the create first (one transaction); only an existing id costs a read.
    now = clock.iso_now()
    first_ms, last_ms = _time_span(readings)
    item = sessions_dal.new_session_item(
        organization_id,
        request.sessionId,
        request.chargingStationId,
        first_ms if first_ms is not None else clock.to_epoch_ms(clock.now()),
        connectorId=request.connectorId,
        evseId=request.evseId,
        status=request.status or DEFAULT_STATUS,
        metadata=request.metadata.model_dump(exclude_none=True) if request.metadata else None,
        requestHash=request_hash,
        createdAt=now,
        updatedAt=now,
        endedAtMs=last_ms,
        generation=clock.new_id(),
        storedBytes=_encoded_size(readings),
        version=1,
    )
    station_metadata = {key: value for key, value in (item.metadata or {}).items() if key in STATION_METADATA_KEYS}
    # what a rolled-back create puts back: it overwrites the station's metadata on the way
    previous_station = stations_dal.get_station(organization_id, item.chargingStationId) if station_metadata else None

    registered = False

    def count_session(transaction: TransactWrite) -> None:
        nonlocal registered
        registered = stations_dal.add_session(
            transaction,
            organization_id,
            item.chargingStationId,
            item.connectorId,
            item.evseId,
            station_uuid=clock.new_id(),
            connector_uuid=clock.new_id(),
            now=now,
            station_metadata=station_metadata or None,
        )

    try:
        sessions_dal.create_session(item, readings, effects=count_session)
    except sessions_dal.VersionConflict:
        # the id exists (a retry, or a concurrent create): a station this attempt registered holds
        # no session of it, so it must not appear in station lists and lookups
        if registered:
            stations_dal.drop_if_empty(organization_id, item.chargingStationId, item.connectorId, registered=True)
        existing = _require(organization_id, request.sessionId)
    except Exception:
        if registered:  # the station was registered for a session that was never stored
            stations_dal.drop_if_empty(organization_id, item.chargingStationId, item.connectorId, registered=True)
        raise
    else:
        item.registered_station = registered  # type: ignore[attr-defined]
        if station_metadata:
            item.previous_station_metadata = (  # type: ignore[attr-defined]
                (previous_station.metadata or {}) if previous_station is not None else {}
            )
        if meter:
            _meter_storage(organization_id, request.sessionId, int(item.storedBytes), "session.create")
        return item, readings
    if existing.requestHash != request_hash:
        raise ConflictError(
            f"session {request.sessionId} already exists with a different body",
            code="session_exists",
            details=[{"field": "sessionId", "message": "already exists with a different body"}],
        )
    return existing, None


def _meter_storage(organization_id: str, session_id: str, delta_bytes: int, reason: str) -> None:
    """Usage metering of bytes already stored: never fails the write (usage logs errors)."""
    usage.meter_storage(organization_id, delta_bytes, reason, {"sessionId": session_id})


def _metadata_changes(
    item: sessions_dal.SessionItem, metadata: SessionMetadata | None, *, merge: bool
) -> dict[str, Any]:
    if metadata is None:
        return {}
    incoming = metadata.model_dump(exclude_none=True)
    return {"metadata": {**(item.metadata or {}), **incoming} if merge else incoming}


# A read-modify-write step: None when there is nothing to change, else the written session and,
# when the write already holds them, its readings.
_Mutation = Callable[
    [sessions_dal.SessionItem], "tuple[sessions_dal.SessionItem, list[dict[str, Any]] | None, _Written] | None"
]


def _with_retries(organization_id: str, session_id: str, mutate: _Mutation) -> SessionResult:
    """Read-modify-write under the session's optimistic lock, retried on a lost race."""
    for _ in retry.attempts(_WRITE_ATTEMPTS):
        item = _require(organization_id, session_id)
        before = dict(item.attribute_values)
        try:
            outcome = mutate(item)
        except sessions_dal.VersionConflict:
            continue
        if outcome is None:  # nothing to change
            analysis, analyzed_at = _analysis_if_due(organization_id, item)
            return session_result(item, analysis, analyzed_at)
        item, readings, written = outcome
        try:
            if int(item.readingCount) < MIN_READINGS_FOR_ANALYSIS:
                _clear_analysis(organization_id, item)
                analysis, analyzed_at = None, None
            else:
                analysis, analyzed_at = _analysis_if_due(organization_id, item, readings)
        except Exception:
            _undo_write(item, before, written.new_chunks)
            raise
        written.committed()
        return session_result(item, analysis, analyzed_at)
    raise ConcurrencyError(f"session {session_id} is being modified concurrently; retry the request")


@dataclass
class _Written:
    """What a committed append/replace wrote, to roll it back or to finish it once analysed."""

    new_chunks: list[tuple[str, int]]
    finish: Callable[[], None] = lambda: None

    def committed(self) -> None:
        try:
            self.finish()
        except Exception:  # housekeeping of a write that happened: never fail the request for it
            logger.exception("could not finish a session write")


def _undo_write(item: sessions_dal.SessionItem, before: dict[str, Any], new_chunks: list[tuple[str, int]]) -> None:
    try:
        sessions_dal.restore_session(item, before, new_chunks)
    except Exception:  # the original failure is the one to report; this one is logged
        logger.exception("could not roll back a session write", extra={"sessionId": item.sessionId})


def append_session(organization_id: str, session_id: str, request: AppendSessionRequest) -> SessionResult:
    new_readings = normalise_readings(request.meterValues)
    _check_chunk_budget(len(new_readings))
    new_first, new_last = _time_span(new_readings)
    added_bytes = _encoded_size(new_readings) if new_readings else 0

    def mutate(item: sessions_dal.SessionItem) -> tuple[sessions_dal.SessionItem, None, _Written] | None:
        changes = {**_metadata_changes(item, request.metadata, merge=True)}
        if request.status and request.status != item.status:
            changes["status"] = request.status
        if not new_readings and not changes:
            return None
        if new_first is not None and new_last is not None:  # there are new readings
            # The span comes from META and the new readings alone: nothing is read between the
            # optimistic-lock read and the write, which keeps the race window (and retries) small.
            had_readings = int(item.readingCount) > 0
            first = min(new_first, int(item.startedAtMs)) if had_readings else new_first
            last = max(new_last, int(item.endedAtMs)) if had_readings and item.endedAtMs is not None else new_last
            changes.update(_span_changes(item, first, last))
            changes["storedBytes"] = int(item.storedBytes or 0) + added_bytes
        changes["updatedAt"] = clock.iso_now()
        if int(item.readingCount) + len(new_readings) < MIN_READINGS_FOR_ANALYSIS:
            changes.update(_NO_ANALYSIS)
        if new_readings:
            first_seq = int(item.chunkCount)
            appended = sessions_dal.append_readings(item, new_readings, changes)
            new_chunks = [(appended.generation, seq) for seq in range(first_seq, int(appended.chunkCount))]
            return (
                appended,
                None,
                _Written(
                    new_chunks, lambda: _meter_storage(organization_id, session_id, added_bytes, "session.append")
                ),
            )
        return sessions_dal.update_session(item, changes), None, _Written([])

    return _with_retries(organization_id, session_id, mutate)


def replace_session(organization_id: str, session_id: str, request: ReplaceSessionRequest) -> SessionResult:
    readings = normalise_readings(request.meterValues)
    _check_chunk_budget(len(readings))

    stored_bytes = _encoded_size(readings)

    def mutate(item: sessions_dal.SessionItem) -> tuple[sessions_dal.SessionItem, list[dict[str, Any]], _Written]:
        first_ms, last_ms = _time_span(readings)

        replaced_bytes = int(item.storedBytes or 0)  # as of the version the write is conditioned on
        changes = {
            **_metadata_changes(item, request.metadata, merge=False),
            **_span_changes(item, first_ms, last_ms),
            "updatedAt": clock.iso_now(),
            "storedBytes": stored_bytes,
        }
        if request.status:
            changes["status"] = request.status
        if len(readings) < MIN_READINGS_FOR_ANALYSIS:
            changes.update(_NO_ANALYSIS)
        old_generation, old_chunk_count = item.generation, int(item.chunkCount)
        replaced = sessions_dal.replace_readings(item, clock.new_id(), readings, changes)

        def finish() -> None:
            _meter_storage(organization_id, session_id, stored_bytes - replaced_bytes, "session.replace")
            sessions_dal.delete_generation(replaced, old_generation, old_chunk_count)

        new_chunks = [(replaced.generation, seq) for seq in range(int(replaced.chunkCount))]
        return replaced, readings, _Written(new_chunks, finish)

    return _with_retries(organization_id, session_id, mutate)


def get_session(organization_id: str, session_id: str) -> SessionDetail:
    item = _require(organization_id, session_id)
    readings = sessions_dal.read_readings(item)
    analysis, analyzed_at = _analysis_if_due(organization_id, item, readings)
    body = _result(item, analysis, analyzed_at)
    body["meterValues"] = [MeterValue.model_validate(_reading_out(reading)) for reading in readings]
    body["metadata"] = item.metadata
    body["updatedAt"] = item.updatedAt
    return SessionDetail.model_validate(body)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class SessionFilters:
    page: int = 0
    page_size: int = 20
    charging_station_id: str | None = None
    evse_id: str | None = None
    is_anomaly: bool | None = None
    min_score: float | None = None
    min_confidence: float | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


def _list_item(item: sessions_dal.SessionItem) -> SessionListItem:
    return SessionListItem(
        sessionId=item.sessionId,
        chargingStationId=item.chargingStationId,
        connectorId=item.connectorId,
        evseId=item.evseId,
        isAnomaly=bool(item.isAnomaly),
        anomalyScore=float(item.anomalyScore or 0.0),
        anomalyConfidence=None if item.anomalyConfidence is None else float(item.anomalyConfidence),
        anomalyCount=int(item.anomalyCount or 0),
        status=item.status,
        createdAt=item.createdAt,
        startedAt=clock.to_iso(clock.from_epoch_ms(int(item.startedAtMs))),
        lastAnalyzedAt=item.lastAnalyzedAt,
    )


def _counted_total(organization_id: str, filters: SessionFilters) -> int | None:
    """totalCount from the read model's counters (written in each session's transactions) when
    the filters are ones it counts: none, chargingStationId, isAnomaly, or both; else None."""
    if (
        filters.evse_id is not None
        or filters.min_score is not None
        or filters.min_confidence is not None
        or filters.date_from is not None
        or filters.date_to is not None
    ):
        return None
    if filters.charging_station_id is not None:
        station = stations_dal.get_station(organization_id, filters.charging_station_id)
        total, anomalous = (0, 0) if station is None else (station.totalSessions, station.anomalousSessions)
    else:
        totals = stations_dal.totals(organization_id)
        total, anomalous = (0, 0) if totals is None else (totals.totalSessions, totals.sessionsWithAnomalies)
    total, anomalous = int(total or 0), int(anomalous or 0)
    if filters.is_anomaly is None:
        return total
    return anomalous if filters.is_anomaly else total - anomalous


def list_sessions(organization_id: str, filters: SessionFilters) -> SessionPage:
    """Newest first by session start, filters in the index query. With counted filters the work is
    the page's (its items and the ones before it); otherwise one pass counts every match."""
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationError.for_field("dateFrom", "must not be after dateTo")
    Session = sessions_dal.SessionItem
    conditions = []
    if filters.evse_id is not None:
        conditions.append(Session.evseId == filters.evse_id)
    if filters.is_anomaly is not None:
        conditions.append(Session.isAnomaly == filters.is_anomaly)
    if filters.min_score is not None:
        conditions.append(Session.anomalyScore >= filters.min_score)
    if filters.min_confidence is not None:
        conditions.append(Session.anomalyConfidence >= filters.min_confidence)
    condition = None
    for part in conditions:
        condition = part if condition is None else condition & part
    counted = _counted_total(organization_id, filters)
    results = sessions_dal.query_sessions(
        organization_id,
        charging_station_id=filters.charging_station_id,
        started_from_ms=clock.to_epoch_ms(filters.date_from) if filters.date_from else None,
        started_to_ms=clock.to_epoch_ms(filters.date_to) if filters.date_to else None,
        filter_condition=condition,
        limit=None if counted is None else page_end(filters.page, filters.page_size),
    )
    if counted is None:
        content, pagination = paginate(results, filters.page, filters.page_size, _list_item)
    else:
        content, pagination = counted_page(results, filters.page, filters.page_size, counted, _list_item)
    return SessionPage(content=content, pagination=pagination)


def parse_date_bound(value: str | None, field: str, *, end_of_day: bool) -> datetime | None:
    """ISO date-time, or a bare date (whole day: dateTo includes that day)."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        moment = clock.parse_iso(text)
    except ValueError:
        raise ValidationError.for_field(field, f"not an ISO-8601 date or date-time: {value!r}") from None
    if len(text) == 10 and end_of_day:  # a bare date: dateTo includes that whole day
        return moment + timedelta(days=1, milliseconds=-1)
    return moment
