"""Batch analysis: submit (validate, store the payload in S3, enqueue pointers), process a part
(store every session as a single create would, analyse them with one `csar.analyze_batch` call,
count outcomes idempotently) and report status with paginated results.

Flow: POST /v1/sessions/batch validates every session first (nothing is stored or enqueued when
one is invalid), writes the sessions to S3 in parts of at most PART_MAX_SESSIONS sessions /
PART_MAX_READINGS meter values (`batches/<orgId>/<batchId>/part-<n>.json.gz`), stores the batch
(`pending`) and sends one small SQS message per part: the S3 key, the position of its first
session and its session ids. The consumer (functions/batch_worker) processes a part; the batch
goes `processing` on the first part and `completed` / `completed_with_failures` once every
session has an outcome, which also publishes the `batch.completed` webhook event (once:
`completedAt` is set with a conditional update).
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError as PydanticValidationError

from chargewatch import clock, observability
from chargewatch.dal import batches as batches_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.errors import ChargewatchError, NotFoundError, ValidationError, validation_code, validation_details
from chargewatch.schemas.batches import BatchStatus, BatchStatusResponse, BatchSubmitted, SubmitBatchRequest
from chargewatch.schemas.sessions import CreateSessionRequest, SessionResult
from chargewatch.services import sessions as sessions_service
from chargewatch.services import usage
from chargewatch.settings import get_settings

if TYPE_CHECKING:
    from csar import SessionAnalysis

logger = observability.logger

PAYLOAD_PREFIX = "batches/"
# A part is one SQS message and one unit of consumer work: ~100 sessions take a few seconds in
# Lambda (three DynamoDB transactions per session dominate), far inside the worker's 120 s.
PART_MAX_SESSIONS = 100
PART_MAX_READINGS = 100_000
SQS_SEND_BATCH = 10
# Must match the queue's RedrivePolicy.maxReceiveCount (tests/unit/test_template.py checks it):
# on the last receive a failing part records its sessions as failed before going to the DLQ.
DEFAULT_MAX_RECEIVES = 5


def _client(service: str) -> Any:  # a boto3 client (boto3 ships no types)
    from chargewatch import aws

    return aws.client(service)


def _require_configured() -> tuple[str, str]:
    settings = get_settings()
    if not settings.batch_queue_url or not settings.payload_bucket:
        raise RuntimeError("BATCH_QUEUE_URL and PAYLOAD_BUCKET must be set")
    return settings.batch_queue_url, settings.payload_bucket


# --------------------------------------------------------------------------- submit


MAX_REJECTION_DETAILS = 100  # per 400 answer: enough to fix a file, bounded in size


@dataclass(frozen=True)
class RejectedSession:
    index: int
    sessionId: str | None  # noqa: N815 - as the session names it
    code: str
    details: list[dict[str, Any]]  # {field, message}, the first one reported as the reason

    @property
    def reason(self) -> str:
        return "; ".join(f"{d['field']}: {d['message']}" for d in self.details[:5])


def _rejected(index: int, body: Any, details: list[dict[str, Any]], code: str) -> RejectedSession:
    raw_id = body.get("sessionId") if isinstance(body, dict) else None
    return RejectedSession(
        index=index,
        sessionId=raw_id if isinstance(raw_id, str) and raw_id else None,
        code=code,
        details=[{"field": d["field"], "message": d["message"]} for d in details],
    )


def validate_sessions(raw: list[Any]) -> tuple[list[tuple[int, CreateSessionRequest]], list[RejectedSession]]:
    """Each submitted session on its own, as POST /v1/sessions would, plus what only the batch can
    see (ids unique within it; the chunk budget per session): (accepted with their index, rejected)."""
    accepted: list[tuple[int, CreateSessionRequest]] = []
    rejected: list[RejectedSession] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(raw):
        try:
            session = CreateSessionRequest.model_validate(body)
        except PydanticValidationError as error:
            located = [{**e, "loc": ("sessions", index, *e["loc"])} for e in error.errors()]
            rejected.append(_rejected(index, body, validation_details(located), validation_code(located)))
            continue
        field = f"sessions[{index}]"
        if session.sessionId in seen:
            message = f"duplicate of sessions[{seen[session.sessionId]}].sessionId"
            rejected.append(
                _rejected(index, body, [{"field": f"{field}.sessionId", "message": message}], "duplicate_session_id")
            )
        elif sessions_dal.chunk_count_for(len(session.meterValues)) > sessions_dal.MAX_CHUNKS_PER_WRITE:
            message = "too many meter values in one session"
            rejected.append(
                _rejected(index, body, [{"field": f"{field}.meterValues", "message": message}], "too_many_meter_values")
            )
        else:
            seen[session.sessionId] = index
            accepted.append((index, session))
    return accepted, rejected


def _none_valid(rejected: list[RejectedSession]) -> ValidationError:
    details = [d for r in rejected for d in r.details][:MAX_REJECTION_DETAILS]
    codes = {r.code for r in rejected}
    return ValidationError(
        f"no session of the batch is valid: {rejected[0].reason}",
        code=codes.pop() if len(codes) == 1 else "validation_error",
        details=details,
    )


def split_parts(
    sessions: list[Any], reading_count: Callable[[Any], int] = lambda session: len(session.meterValues)
) -> list[tuple[int, list[Any]]]:
    """(position of the first session, sessions) per part, in submit order."""
    parts: list[tuple[int, list[Any]]] = []
    current: list[Any] = []
    first = readings = 0
    for position, session in enumerate(sessions):
        size = reading_count(session)
        if current and (len(current) >= PART_MAX_SESSIONS or readings + size > PART_MAX_READINGS):
            parts.append((first, current))
            current, first, readings = [], position, 0
        current.append(session)
        readings += size
    if current:
        parts.append((first, current))
    return parts


def submit_batch(organization_id: str, request: SubmitBatchRequest) -> BatchSubmitted:
    accepted, rejected = validate_sessions(list(request.sessions))
    if not accepted:
        raise _none_valid(rejected)
    queue_url, bucket = _require_configured()
    batch_id = clock.new_sortable_id()
    prefix = f"{PAYLOAD_PREFIX}{organization_id}/{batch_id}/"
    parts = split_parts(accepted, lambda indexed: len(indexed[1].meterValues))
    s3 = _client("s3")
    messages = []
    for number, (_, indexed) in enumerate(parts):
        key = f"{prefix}part-{number:05d}.json.gz"
        # What was sent (validated, canonical): re-validated by the consumer it yields the same
        # request hash as a single create of the same body (explicit nulls would not re-validate).
        body = json.dumps(
            [session.model_dump(mode="json", exclude_unset=True) for _, session in indexed], separators=(",", ":")
        )
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=gzip.compress(body.encode(), 5),
            ContentType="application/json",
            ContentEncoding="gzip",
        )
        messages.append(
            {
                "organizationId": organization_id,
                "batchId": batch_id,
                "part": number,
                "key": key,
                "first": indexed[0][0],
                "positions": [index for index, _ in indexed],
                "sessionIds": [session.sessionId for _, session in indexed],
            }
        )
    total = len(accepted) + len(rejected)
    batch = batches_dal.new_batch_item(
        organization_id,
        batch_id,
        status=batches_dal.PENDING,
        totalSessions=total,
        partCount=len(parts),
        payloadPrefix=prefix,
        createdAt=clock.iso_now(),
    )
    batches_dal.put_batch(batch)
    # before any part is queued: a worker finishing the last part must see these counted
    batches_dal.record_results(
        organization_id,
        batch_id,
        [
            _failed(organization_id, batch_id, r.index, r.sessionId or f"sessions[{r.index}]", r.reason)
            for r in rejected
        ],
    )
    sqs = _client("sqs")
    for start in range(0, len(messages), SQS_SEND_BATCH):
        entries = [
            {"Id": str(message["part"]), "MessageBody": json.dumps(message, separators=(",", ":"))}
            for message in messages[start : start + SQS_SEND_BATCH]
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"could not enqueue batch parts: {response['Failed']}")
    logger.info(
        "batch submitted",
        extra={"batchId": batch_id, "sessions": total, "rejected": len(rejected), "parts": len(parts)},
    )
    return BatchSubmitted(batchId=batch_id, totalSessions=total, status=batches_dal.PENDING)


# --------------------------------------------------------------------------- status


def get_batch(organization_id: str, batch_id: str, page: int, page_size: int) -> BatchStatusResponse:
    batch = batches_dal.get_batch(organization_id, batch_id)
    if batch is None:
        raise NotFoundError(f"batch {batch_id} not found", code="batch_not_found")
    first = page * page_size
    results = []
    if first < int(batch.totalSessions):
        last = min(first + page_size, int(batch.totalSessions)) - 1
        results = [
            SessionResult.model_validate(item.result)
            for item in batches_dal.results_page(organization_id, batch_id, first, last)
        ]
    return BatchStatusResponse(
        batchId=batch.batchId,
        status=cast(BatchStatus, batch.status),  # written by this module only; pydantic checks it again
        totalSessions=int(batch.totalSessions),
        processedSessions=int(batch.processedSessions or 0),
        failedSessions=int(batch.failedSessions or 0),
        results=results,
        page=page,
        pageSize=page_size,
        createdAt=batch.createdAt,
        completedAt=batch.completedAt,
    )


# --------------------------------------------------------------------------- processing


def max_receives() -> int:
    return int(os.environ.get("BATCH_MAX_RECEIVES") or DEFAULT_MAX_RECEIVES)


def _processed(
    organization_id: str, batch_id: str, position: int, result: SessionResult
) -> batches_dal.BatchResultItem:
    body = result.model_dump(mode="json", exclude_none=True)
    return batches_dal.new_result_item(
        organization_id,
        batch_id,
        position,
        sessionId=result.sessionId,
        outcome=batches_dal.PROCESSED,
        isAnomaly=int(bool(result.isAnomaly)),
        result=body,
        recordedAt=clock.iso_now(),
    )


def _failed(
    organization_id: str, batch_id: str, position: int, session_id: str, reason: str
) -> batches_dal.BatchResultItem:
    body = {"sessionId": session_id, "status": batches_dal.FAILED, "message": reason}
    return batches_dal.new_result_item(
        organization_id,
        batch_id,
        position,
        sessionId=session_id,
        outcome=batches_dal.FAILED,
        isAnomaly=0,
        result=body,
        recordedAt=clock.iso_now(),
    )


def _load_part(key: str) -> list[dict[str, Any]]:
    _, bucket = _require_configured()
    body = _client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    sessions: list[dict[str, Any]] = json.loads(gzip.decompress(body))
    return sessions


def process_part(message: dict[str, Any], receive_count: int = 1) -> int:
    """Process one part of a batch; returns how many sessions got their outcome now.

    Idempotent: sessions with an outcome already are skipped, outcomes are counted once. An
    unexpected error propagates (the message comes back); on the last receive the part's
    remaining sessions are first recorded as failed with the error as their reason."""
    organization_id, batch_id = message["organizationId"], message["batchId"]
    first, session_ids = int(message["first"]), list(message["sessionIds"])
    # positions in the submit of the part's sessions (contiguous in parts queued before rejections existed)
    positions = [int(p) for p in message.get("positions") or range(first, first + len(session_ids))]
    batch = batches_dal.get_batch(organization_id, batch_id)
    if batch is None:
        logger.warning("batch part for an unknown batch dropped", extra={"batchId": batch_id})
        return 0
    done = batches_dal.recorded_positions(organization_id, batch_id, positions[0], positions[-1])
    recorded = 0
    if len(done) < len(session_ids):
        now = clock.now()
        observability.measure(observability.BATCH_LAG, (now - clock.parse_iso(batch.createdAt)).total_seconds())
        batches_dal.mark_processing(organization_id, batch_id, clock.to_iso(now))
        try:
            outcomes = _process_sessions(organization_id, batch_id, positions, _load_part(message["key"]), done)
        except Exception as error:
            if receive_count >= max_receives():
                reason = (
                    f"batch part could not be processed after {receive_count} attempts: {type(error).__name__}: {error}"
                )
                logger.exception("batch part failed for good", extra={"batchId": batch_id, "part": message.get("part")})
                recorded = batches_dal.record_results(
                    organization_id,
                    batch_id,
                    [
                        _failed(organization_id, batch_id, position, session_id, reason)
                        for position, session_id in zip(positions, session_ids, strict=True)
                        if position not in done
                    ],
                )
                _complete_if_done(organization_id, batch_id)
            raise
        recorded = batches_dal.record_results(organization_id, batch_id, outcomes)
    _complete_if_done(organization_id, batch_id)
    return recorded


def _store_part(
    organization_id: str,
    batch_id: str,
    positions: list[int],
    payload: list[dict[str, Any]],
    done: set[int],
    outcomes: list[batches_dal.BatchResultItem],
    stored_now: dict[int, sessions_dal.SessionItem],
) -> list[tuple[int, sessions_dal.SessionItem, dict[str, Any]]]:
    """Store the part's sessions; those with an outcome already go to `outcomes`, those stored by this
    call to `stored_now`; returns the ones to analyse (position, session, engine input)."""
    to_analyse: list[tuple[int, sessions_dal.SessionItem, dict[str, Any]]] = []
    for position, body in zip(positions, payload, strict=True):
        if position in done:
            continue
        session_id = str(body.get("sessionId"))
        try:
            request = CreateSessionRequest.model_validate(body)
            item, readings = sessions_service.store_session(organization_id, request, meter=False)
        except ChargewatchError as error:  # e.g. the id exists with a different body: this session fails
            outcomes.append(_failed(organization_id, batch_id, position, session_id, error.message))
            continue
        if readings is not None:  # stored now (None: stored before, by an earlier delivery or create)
            stored_now[position] = item
        if int(item.readingCount) < sessions_service.MIN_READINGS_FOR_ANALYSIS:
            outcomes.append(
                _processed(organization_id, batch_id, position, sessions_service.session_result(item, None, None))
            )
            continue
        current = sessions_service.current_analysis(item)
        if current is not None:  # stored by an earlier delivery of this part, or by an earlier create
            outcomes.append(
                _processed(organization_id, batch_id, position, sessions_service.session_result(item, *current))
            )
            continue
        if readings is None:
            readings = sessions_dal.read_readings(item)
        to_analyse.append((position, item, sessions_service.engine_input(organization_id, item, readings)))
    return to_analyse


def _process_sessions(
    organization_id: str, batch_id: str, positions: list[int], payload: list[dict[str, Any]], done: set[int]
) -> list[batches_dal.BatchResultItem]:
    """Store each session exactly as POST /v1/sessions would, analyse the ones that need it in one
    vectorised engine call, store each analysis with its read-side effects."""
    outcomes: list[batches_dal.BatchResultItem] = []
    stored_now: dict[int, sessions_dal.SessionItem] = {}  # stored by this delivery: metered, or rolled back
    try:
        to_analyse = _store_part(organization_id, batch_id, positions, payload, done, outcomes, stored_now)
        analyses = _analyze(to_analyse) if to_analyse else []
    except Exception:  # the part comes back: the sessions this delivery stored go, so no half is left
        for item in stored_now.values():
            sessions_service.undo_create(organization_id, item)
        raise
    if to_analyse:
        for (position, item, _), analysis in zip(to_analyse, analyses, strict=True):
            try:
                document, analyzed_at = sessions_service.record_analysis(organization_id, item, analysis)
            except Exception as error:  # this session only: the others of the part are unaffected
                logger.exception("batch session analysis not stored", extra={"sessionId": item.sessionId})
                if stored_now.pop(position, None) is not None:
                    sessions_service.undo_create(organization_id, item)
                reason = f"analysis could not be stored: {type(error).__name__}"
                outcomes.append(_failed(organization_id, batch_id, position, item.sessionId, reason))
                continue
            outcomes.append(
                _processed(
                    organization_id, batch_id, position, sessions_service.session_result(item, document, analyzed_at)
                )
            )
    # usage metering: one delta for the sessions this part stored and kept; never fails the part
    usage.meter_storage(
        organization_id,
        sum(int(item.storedBytes) for item in stored_now.values()),
        "session.batch",
        {"batchId": batch_id, "firstPosition": positions[0], "sessions": len(stored_now)},
    )
    return outcomes


def _analyze(to_analyse: list[tuple[int, sessions_dal.SessionItem, dict[str, Any]]]) -> list[SessionAnalysis]:
    """One `csar.analyze_batch` call, then a second one for the few sessions whose recurrence
    depends on anomalies found in this same part (a single create would have seen those sessions'
    stored anomalies when they were created first)."""
    import csar

    inputs = [engine_input for _, _, engine_input in to_analyse]
    analyses = csar.analyze_batch(inputs)
    window_ms = int(sessions_service.RECURRENCE_WINDOW.total_seconds() * 1000)
    # station -> (connector, start ms, session id, categories)
    found: defaultdict[str, list[tuple[str | None, int, str, list[str]]]] = defaultdict(list)
    for (_, item, _), analysis in zip(to_analyse, analyses, strict=True):
        categories = sorted(set(analysis.categories))
        if categories:
            found[item.chargingStationId].append((item.connectorId, int(item.startedAtMs), item.sessionId, categories))
    again: list[tuple[int, dict[str, Any]]] = []
    for index, ((_, item, engine_input), analysis) in enumerate(zip(to_analyse, analyses, strict=True)):
        if analysis.is_recurring or not analysis.anomalies:
            continue
        start = int(item.startedAtMs)
        extra = [
            {"category": category, "timestamp": clock.to_iso(clock.from_epoch_ms(started))}
            for connector, started, session_id, categories in found.get(item.chargingStationId, [])
            if session_id != item.sessionId
            and start - window_ms <= started <= start
            and (item.connectorId is None or connector == item.connectorId)
            for category in categories
        ]
        if extra:
            again.append((index, {**engine_input, "history": list(engine_input["history"]) + extra}))
    if again:
        repeated = csar.analyze_batch([engine_input for _, engine_input in again])
        for (index, _), analysis in zip(again, repeated, strict=True):
            analyses[index] = analysis
    return analyses


def _complete_if_done(organization_id: str, batch_id: str) -> None:
    batch = batches_dal.get_batch(organization_id, batch_id)
    if batch is None or batch.completedAt is not None:
        return
    processed, failed = int(batch.processedSessions or 0), int(batch.failedSessions or 0)
    if processed + failed < int(batch.totalSessions):
        return
    status = batches_dal.COMPLETED_WITH_FAILURES if failed else batches_dal.COMPLETED
    now = clock.iso_now()
    if not batches_dal.mark_completed(organization_id, batch_id, status, now):
        return  # another part completed it (and published the event)
    logger.info("batch completed", extra={"batchId": batch_id, "status": status, "failed": failed})
    from chargewatch.schemas.webhooks import BatchCompletedData
    from chargewatch.services import webhook_events

    webhook_events.publish_batch_completed(
        organization_id,
        BatchCompletedData(
            batchId=batch_id,
            status=status,
            totalSessions=int(batch.totalSessions),
            analyzedSessions=processed,
            failedSessions=failed,
            anomalousSessions=int(batch.anomalousSessions or 0),
            completedAt=now,
        ),
    )
