"""Charging sessions, their meter values (in chunks) and their latest analysis.

Items of one session share the partition `ORG#<orgId>#SESSION#<sessionId>`:

- `META`               the session: ids, status, counters, optimistic-lock `version`, analysis summary
- `MV#<gen>#<seq>`     a chunk of up to CHUNK_SIZE readings, column-encoded JSON, zlib-compressed
- `ANALYSIS`           the latest CSAR-2 result of the session (the full seed-shaped document)

Readings of the current generation `gen` are the session's readings; PUT writes a new generation
and flips `META.generation` in one transaction, so a reader never sees a half-replaced session.
Appends add chunks and bump `META.version` in one transaction conditioned on the version read:
two racing appends cannot both win, and the loser retries, so no reading is ever lost.

Indexes: GSI1 `ORG#<orgId>#SESSIONS` / `<startedAt>#<sessionId>` lists a tenant's sessions by
start time; GSI2 `ORG#<orgId>#STATION#<stationId>` / `<startedAt>#<sessionId>` lists one station's.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chargewatch.dal.table import GSI1, GSI2, connection, is_condition_failure, register, tenant_pk

META_SK = "META"
ANALYSIS_SK = "ANALYSIS"
CHUNK_SIZE = 1000
# DynamoDB transactions take at most 100 items: META and the station/connector/tenant counters.
MAX_CHUNKS_PER_WRITE = 96
READING_FIELDS = ("timestamp", "value", "measurand", "unit", "phase", "location", "reconstructed")


class VersionConflict(Exception):
    """The session changed since it was read (or already exists, for a create)."""


def session_pk(organization_id: str, session_id: str) -> str:
    return tenant_pk(organization_id, "SESSION", session_id)


def sessions_index_pk(organization_id: str) -> str:
    return tenant_pk(organization_id, "SESSIONS")


def station_index_pk(organization_id: str, station_id: str) -> str:
    return tenant_pk(organization_id, "STATION", station_id)


def start_sort_key(started_at_ms: int, session_id: str) -> str:
    # Zero-padded epoch milliseconds sort like time, whatever the ISO format of the input was.
    return f"{started_at_ms:015d}#{session_id}"


@register
class SessionItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    GSI1PK = UnicodeAttribute()
    GSI1SK = UnicodeAttribute()
    GSI2PK = UnicodeAttribute()
    GSI2SK = UnicodeAttribute()
    by_start: GSI1[SessionItem] = GSI1()
    by_station: GSI2[SessionItem] = GSI2()

    organizationId = UnicodeAttribute()
    sessionId = UnicodeAttribute()
    chargingStationId = UnicodeAttribute()
    connectorId = UnicodeAttribute(null=True)
    evseId = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    metadata = JSONAttribute(null=True)
    requestHash = UnicodeAttribute()
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    startedAtMs = NumberAttribute()
    endedAtMs = NumberAttribute(null=True)
    generation = UnicodeAttribute()
    chunkCount = NumberAttribute(default=0)
    readingCount = NumberAttribute(default=0)
    storedBytes = NumberAttribute(default=0)
    energyKwh = NumberAttribute(default=0)
    version = NumberAttribute(default=1)
    # analysis summary, denormalised for listing and filtering
    analyzedVersion = NumberAttribute(null=True)
    lastAnalyzedAt = UnicodeAttribute(null=True)
    isAnomaly = BooleanAttribute(default=False)
    anomalyScore = NumberAttribute(null=True)
    anomalyConfidence = NumberAttribute(null=True)
    anomalyCount = NumberAttribute(default=0)
    # pynamodb types ListAttribute(of=X) as a list of X attributes; the stored values are strings
    anomalyCategories: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]


@register
class MeterChunkItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    readingCount = NumberAttribute()
    data = BinaryAttribute(legacy_encoding=False)


@register
class AnalysisItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    sessionVersion = NumberAttribute()
    modelId = UnicodeAttribute()
    modelVersion = UnicodeAttribute()
    analyzedAt = UnicodeAttribute()
    energyKwh = NumberAttribute(default=0)
    result = JSONAttribute()


# --------------------------------------------------------------------------- chunk encoding


def encode_chunk(readings: list[dict[str, Any]]) -> bytes:
    """Column-encode readings (repeated measurand/unit strings compress to almost nothing)."""
    columns = {field: [reading.get(field) for reading in readings] for field in READING_FIELDS}
    return zlib.compress(json.dumps(columns, separators=(",", ":")).encode(), 6)


def decode_chunk(blob: bytes) -> list[dict[str, Any]]:
    columns = json.loads(zlib.decompress(blob))
    count = len(columns["timestamp"])
    return [{field: columns[field][i] for field in READING_FIELDS} for i in range(count)]


def split_chunks(readings: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [readings[i : i + CHUNK_SIZE] for i in range(0, len(readings), CHUNK_SIZE)]


def chunk_sk(generation: str, seq: int) -> str:
    return f"MV#{generation}#{seq:06d}"


def _chunk_items(pk: str, generation: str, first_seq: int, readings: list[dict[str, Any]]) -> list[MeterChunkItem]:
    return [
        MeterChunkItem(pk, chunk_sk(generation, first_seq + n), readingCount=len(chunk), data=encode_chunk(chunk))
        for n, chunk in enumerate(split_chunks(readings))
    ]


def chunk_count_for(reading_count: int) -> int:
    return -(-reading_count // CHUNK_SIZE)


# --------------------------------------------------------------------------- sessions


def get_session(organization_id: str, session_id: str) -> SessionItem | None:
    try:
        return SessionItem.get(session_pk(organization_id, session_id), META_SK, consistent_read=True)
    except SessionItem.DoesNotExist:
        return None


def new_session_item(
    organization_id: str, session_id: str, chargingStationId: str, startedAtMs: int, **attributes: Any
) -> SessionItem:
    return SessionItem(
        session_pk(organization_id, session_id),
        META_SK,
        GSI1PK=sessions_index_pk(organization_id),
        GSI1SK=start_sort_key(startedAtMs, session_id),
        GSI2PK=station_index_pk(organization_id, chargingStationId),
        GSI2SK=start_sort_key(startedAtMs, session_id),
        organizationId=organization_id,
        sessionId=session_id,
        chargingStationId=chargingStationId,
        startedAtMs=startedAtMs,
        **attributes,
    )


def create_session(
    item: SessionItem, readings: list[dict[str, Any]], effects: Callable[[TransactWrite], None] | None = None
) -> None:
    """Write the session, its readings and `effects` (counters) atomically; VersionConflict if the id exists."""
    chunks = _chunk_items(item.PK, item.generation, 0, readings)
    item.chunkCount = len(chunks)
    item.readingCount = len(readings)
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(item, condition=SessionItem.PK.does_not_exist())
            for chunk in chunks:
                transaction.save(chunk)
            if effects is not None:
                effects(transaction)
    except (TransactWriteError, PutError) as error:
        if is_condition_failure(error):
            raise VersionConflict(item.sessionId) from error
        raise


def delete_unanalysed_session(item: SessionItem, effects: Callable[[TransactWrite], None]) -> bool:
    """Roll back `create_session` (its analysis could not be stored): META, its chunks and `effects`
    (the counters it moved) in one transaction, only while the session is exactly as created and
    unanalysed. False when it moved on meanwhile (another request made it its own: keep it)."""
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.delete(
                SessionItem(item.PK, META_SK),
                condition=_version_condition(int(item.version)) & SessionItem.analyzedVersion.does_not_exist(),
            )
            for seq in range(int(item.chunkCount)):
                transaction.delete(MeterChunkItem(item.PK, chunk_sk(item.generation, seq)))
            effects(transaction)
    except TransactWriteError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def restore_session(item: SessionItem, before: dict[str, Any], new_chunks: list[tuple[str, int]]) -> bool:
    """Roll back an append or replace whose analysis could not be stored: META back to `before` and
    the chunks it wrote deleted, in one transaction, only while the session is still at the version
    that write produced (and its analysis was not stored). False when it moved on meanwhile."""
    changes = {
        name: before.get(name)
        for name, value in item.attribute_values.items()
        if name not in ("PK", "SK") and before.get(name) != value
    }
    changes.update({name: None for name in before if name not in item.attribute_values})
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(
                item,
                actions=_update_meta_actions(item, changes),
                condition=_version_condition(int(item.version))
                & (SessionItem.analyzedVersion.does_not_exist() | (SessionItem.analyzedVersion != int(item.version))),
            )
            for generation, seq in new_chunks:
                transaction.delete(MeterChunkItem(item.PK, chunk_sk(generation, seq)))
    except TransactWriteError as error:
        if is_condition_failure(error):
            return False
        raise
    for name, value in changes.items():
        setattr(item, name, value)
    return True


def delete_generation(item: SessionItem, generation: str, chunk_count: int) -> None:
    """Chunks of a generation no longer current (after a replace): invisible, so removing them is
    housekeeping, not correctness."""
    with MeterChunkItem.batch_write() as batch:
        for seq in range(chunk_count):
            batch.delete(MeterChunkItem(item.PK, chunk_sk(generation, seq)))


def _update_meta_actions(item: SessionItem, changes: dict[str, Any]) -> list[Action]:
    actions: list[Action] = []
    for name, value in changes.items():
        attribute = getattr(SessionItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _version_condition(expected_version: int) -> Condition:
    condition: Condition = SessionItem.PK.exists() & (SessionItem.version == expected_version)
    return condition


def append_readings(item: SessionItem, readings: list[dict[str, Any]], changes: dict[str, Any]) -> SessionItem:
    """Add readings as new chunks of the current generation, conditioned on the version read."""
    chunks = _chunk_items(item.PK, item.generation, int(item.chunkCount), readings)
    changes = {
        **changes,
        "chunkCount": int(item.chunkCount) + len(chunks),
        "readingCount": int(item.readingCount) + len(readings),
        "version": int(item.version) + 1,
    }
    _write_meta_with_chunks(item, chunks, changes)
    return _applied(item, changes)


def replace_readings(
    item: SessionItem, generation: str, readings: list[dict[str, Any]], changes: dict[str, Any]
) -> SessionItem:
    """Write a new generation of readings and switch to it in one transaction."""
    chunks = _chunk_items(item.PK, generation, 0, readings)
    changes = {
        **changes,
        "generation": generation,
        "chunkCount": len(chunks),
        "readingCount": len(readings),
        "version": int(item.version) + 1,
    }
    _write_meta_with_chunks(item, chunks, changes)
    # The old generation stays until the caller has stored the analysis (`delete_generation`): a
    # rolled-back replace (`restore_session`) switches back to it.
    return _applied(item, changes)


def update_session(item: SessionItem, changes: dict[str, Any]) -> SessionItem:
    changes = {**changes, "version": int(item.version) + 1}
    _write_meta_with_chunks(item, [], changes)
    return _applied(item, changes)


def _write_meta_with_chunks(item: SessionItem, chunks: list[MeterChunkItem], changes: dict[str, Any]) -> None:
    try:
        with TransactWrite(connection=connection()) as transaction:
            for chunk in chunks:
                transaction.save(chunk, condition=MeterChunkItem.PK.does_not_exist())
            transaction.update(
                item, actions=_update_meta_actions(item, changes), condition=_version_condition(int(item.version))
            )
    except TransactWriteError as error:
        if is_condition_failure(error):
            raise VersionConflict(item.sessionId) from error
        raise


def _applied(item: SessionItem, changes: dict[str, Any]) -> SessionItem:
    for name, value in changes.items():
        setattr(item, name, value)
    return item


def read_readings(item: SessionItem) -> list[dict[str, Any]]:
    """All readings of the session's current generation, in arrival order."""
    readings: list[dict[str, Any]] = []
    prefix = f"MV#{item.generation}#"
    for chunk in MeterChunkItem.query(item.PK, MeterChunkItem.SK.startswith(prefix), consistent_read=True):
        readings.extend(decode_chunk(chunk.data))
    return readings


# --------------------------------------------------------------------------- analysis


class AnalysisRaced(Exception):
    """Another writer stored an analysis (or an issue) since ours was planned: plan again."""


def save_analysis(
    item: SessionItem,
    analysis: AnalysisItem | None,
    summary: dict[str, Any],
    *,
    replaces_analyzed_at: str | None,
    effects: Callable[[TransactWrite], None] | None = None,
) -> SessionItem:
    """Store the analysis of exactly the session version that was analysed, with its summary and
    its read-side effects, in one transaction.

    Conditioned on that session version — if the session changed meanwhile, the newer request
    stores the newer analysis and this stale one raises VersionConflict — and on the stored
    analysis being the one the effects were planned against (else AnalysisRaced: plan again).
    """
    replaced = (
        AnalysisItem.PK.does_not_exist()
        if replaces_analyzed_at is None
        else (AnalysisItem.analyzedAt == replaces_analyzed_at)
    )
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(
                item, actions=_update_meta_actions(item, summary), condition=_version_condition(int(item.version))
            )
            if analysis is None:  # the session no longer has enough readings: drop its analysis
                transaction.delete(AnalysisItem(item.PK, ANALYSIS_SK), condition=replaced)
            else:
                analysis.PK, analysis.SK = item.PK, ANALYSIS_SK
                transaction.save(analysis, condition=replaced)
            if effects is not None:
                effects(transaction)
    except TransactWriteError as error:
        if not is_condition_failure(error):
            raise
        # Which condition failed? The cancellation reasons follow pynamodb's item order (condition
        # checks, deletes, puts, updates), not ours, so ask the session itself: a newer version means
        # the analysis is stale; otherwise the stored analysis (or a counter) moved: plan again.
        try:
            current = SessionItem.get(item.PK, META_SK, consistent_read=True, attributes_to_get=["version"])
        except SessionItem.DoesNotExist:
            raise VersionConflict(item.sessionId) from error
        if int(current.version) != int(item.version):
            raise VersionConflict(item.sessionId) from error
        raise AnalysisRaced(item.sessionId) from error
    return _applied(item, summary)


def get_analysis(item: SessionItem) -> AnalysisItem | None:
    try:
        return AnalysisItem.get(item.PK, ANALYSIS_SK, consistent_read=True)
    except AnalysisItem.DoesNotExist:
        return None


def new_analysis_item(**attributes: Any) -> AnalysisItem:
    return AnalysisItem("pending", ANALYSIS_SK, **attributes)


# --------------------------------------------------------------------------- listing


def query_sessions(
    organization_id: str,
    *,
    charging_station_id: str | None = None,
    started_from_ms: int | None = None,
    started_to_ms: int | None = None,
    filter_condition: Condition | None = None,
    newest_first: bool = True,
    limit: int | None = None,
) -> Iterator[SessionItem]:
    """Sessions of a tenant (or of one of its stations) by start time, via GSI1 / GSI2."""
    index: GSI1[SessionItem] | GSI2[SessionItem]
    if charging_station_id is not None:
        index, hash_key, sort_attribute = (
            SessionItem.by_station,
            station_index_pk(organization_id, charging_station_id),
            SessionItem.GSI2SK,
        )
    else:
        index, hash_key, sort_attribute = SessionItem.by_start, sessions_index_pk(organization_id), SessionItem.GSI1SK
    range_condition: Condition | None = None
    low = f"{started_from_ms:015d}" if started_from_ms is not None else None
    # "~" sorts after "#<sessionId>", so the upper bound includes sessions starting at exactly that ms.
    high = f"{started_to_ms:015d}~" if started_to_ms is not None else None
    if low and high:
        range_condition = sort_attribute.between(low, high)
    elif low:
        range_condition = sort_attribute >= low
    elif high:
        range_condition = sort_attribute <= high
    return index.query(
        hash_key,
        range_key_condition=range_condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        limit=limit,
    )
