"""Fine-tuning CSAR-2 on a tenant's labels: load labelled sessions, split them deterministically
into train and holdout, calibrate each category's thresholds on train, and keep the result only
if it beats the base model on the holdout (micro precision/recall/F1 over session x category).

Labels:
- `sessions` source: the tenant's stored sessions (stations / date range filter). An anomaly
  whose issue is RESOLVED is a confirmed anomaly, DISMISSED a false positive; sessions with an
  anomaly still OPEN/IN_PROGRESS are unreviewed and left out; sessions without anomalies count
  as clean.
- `upload` source: JSON lines, one session per line, as the synthetic generator writes them:
  {"sessionId", "meterValues": [...], "metadata": {...}, "labels": [{"category": ...}, ...]}
  (`labels: []` = a clean session).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chargewatch import aws, clock
from chargewatch.dal import anomalies as anomalies_dal
from chargewatch.dal import models as models_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.settings import get_settings

if TYPE_CHECKING:
    from csar import CsarParams

MIN_LABELLED_SESSIONS = 20
MIN_REVIEWED_ANOMALIES = 5  # sessions source: RESOLVED + DISMISSED anomalies
MIN_HOLDOUT_SESSIONS = 5
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# The thresholds each category's rule uses (csar.CsarParams fields); docs/engine.md explains them.
CATEGORY_PARAMS: dict[str, tuple[str, ...]] = {
    "KWH_DECREASE": ("decrease_min_kwh",),
    "ENERGY_SPIKE": ("spike_power_factor", "spike_p95_factor"),
    "ENERGY_POWER_MISMATCH": ("mismatch_relative", "mismatch_min_kwh"),
    "FROZEN_TELEMETRY": ("frozen_min_seconds", "frozen_min_readings"),
    "ENERGY_PIT": ("pit_drop_fraction", "pit_min_seconds"),
    "SOC_DECREASE": ("soc_drop_points",),
    "SOC_ENERGY_INCONSISTENT": ("soc_judge_min_points", "soc_judge_min_kwh"),
    "TIME_GAP": ("gap_min_seconds", "gap_median_factor"),
    "ZERO_ENERGY": ("zero_min_seconds", "zero_max_kwh"),
    "POWER_OVER_RATING": ("over_rating_factor",),
}
FACTORS = (0.5, 0.75, 1.25, 1.5, 2.0, 3.0)


class FineTuneFailed(Exception):
    """The job cannot produce a model (too few labels, corrupt upload, no improvement)."""

    def __init__(self, message: str, metrics: dict[str, Any] | None = None):
        super().__init__(message)
        self.metrics = metrics


@dataclass
class Example:
    session_id: str
    engine_input: dict[str, Any]
    truth: frozenset[str]


@dataclass
class Outcome:
    params: dict[str, Any]
    metrics: dict[str, Any]
    version: str
    description: str
    s3_path: str | None


# --------------------------------------------------------------------------- data


def upload_exists(key: str | None) -> bool:
    if not key:
        return False
    try:
        aws.client("s3").head_object(Bucket=get_settings().payload_bucket, Key=key)
    except Exception as error:  # botocore ClientError 404
        if getattr(error, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def parse_upload(blob: bytes, categories: tuple[str, ...]) -> tuple[list[Example], int]:
    """JSON lines -> examples; a corrupt line fails the job with its line number."""
    if len(blob) > MAX_UPLOAD_BYTES:
        raise FineTuneFailed(f"upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise FineTuneFailed("upload is not UTF-8 text (expected JSON lines)") from None
    examples: list[Example] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise FineTuneFailed(f"upload line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("meterValues"), list):
            raise FineTuneFailed(f"upload line {number}: expected an object with a meterValues list")
        labels = record.get("labels")
        if not isinstance(labels, list) or not all(isinstance(label, dict) for label in labels):
            raise FineTuneFailed(f"upload line {number}: expected labels as a list of objects ([] for a clean session)")
        unknown = sorted({str(label.get("category")) for label in labels} - set(categories))
        if unknown:
            raise FineTuneFailed(
                f"upload line {number}: unknown label categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            )
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        examples.append(
            Example(
                str(record.get("sessionId") or f"line-{number}"),
                {"meterValues": record["meterValues"], "metadata": metadata},
                frozenset(label["category"] for label in labels),
            )
        )
    if not examples:
        raise FineTuneFailed("upload is empty: no labelled sessions")
    return examples, sum(len(example.truth) for example in examples) + len(examples)


def _from_upload(job: models_dal.FineTuneJobItem, categories: tuple[str, ...]) -> list[Example]:
    body = aws.client("s3").get_object(Bucket=get_settings().payload_bucket, Key=job.uploadKey)["Body"].read()
    examples, _ = parse_upload(body, categories)
    return examples


def _from_sessions(organization_id: str, job: models_dal.FineTuneJobItem, limit: int) -> tuple[list[Example], int]:
    from chargewatch.services import sessions as sessions_service

    session_filter = (job.config.get("dataSource") or {}).get("sessionFilter") or {}
    low = clock.to_epoch_ms(clock.parse_iso(session_filter["dateFrom"])) if session_filter.get("dateFrom") else None
    high = clock.to_epoch_ms(clock.parse_iso(session_filter["dateTo"])) if session_filter.get("dateTo") else None
    stations = session_filter.get("chargingStationIds") or [None]
    examples: list[Example] = []
    reviewed = 0
    for station in stations:
        for item in sessions_dal.query_sessions(
            organization_id, charging_station_id=station, started_from_ms=low, started_to_ms=high
        ):
            if len(examples) >= limit:
                break
            if int(item.readingCount) < sessions_service.MIN_READINGS_FOR_ANALYSIS:
                continue
            anomalies = anomalies_dal.session_anomalies(item.PK)
            issues = anomalies_dal.get_issues(organization_id, [a.issueId for a in anomalies if a.issueId])
            statuses = [(a.category, issues[a.issueId].status if a.issueId in issues else None) for a in anomalies]
            if any(status not in anomalies_dal.CLOSED_STATUSES for _, status in statuses):
                continue  # not reviewed yet: neither confirmed nor dismissed
            reviewed += len(statuses)
            truth = frozenset(category for category, status in statuses if status == "RESOLVED")
            readings = sessions_dal.read_readings(item)
            examples.append(
                Example(item.sessionId, sessions_service.engine_input(organization_id, item, readings), truth)
            )
    return examples, reviewed


# --------------------------------------------------------------------------- scoring


def _split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    def draw(example: Example) -> float:
        digest = hashlib.sha256(f"{seed}:{example.session_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    train: list[Example] = []
    holdout: list[Example] = []
    for example in examples:
        (holdout if draw(example) < fraction else train).append(example)
    return train, holdout


def _predict(examples: list[Example], params: CsarParams) -> list[frozenset[str]]:
    import csar

    results = csar.analyze_batch([example.engine_input for example in examples], params)
    return [frozenset(anomaly.category for anomaly in result.anomalies) for result in results]


def scores(examples: list[Example], predictions: list[frozenset[str]]) -> dict[str, float]:
    """Micro precision/recall/F1 over (session, category) pairs."""
    tp = fp = fn = 0
    for example, predicted in zip(examples, predictions, strict=True):
        tp += len(predicted & example.truth)
        fp += len(predicted - example.truth)
        fn += len(example.truth - predicted)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "truePositives": tp,
        "falsePositives": fp,
        "falseNegatives": fn,
        "sessions": len(examples),
    }


def calibrate(train: list[Example], base: CsarParams) -> tuple[CsarParams, dict[str, list[float]]]:
    """Coordinate search, category by category, over each rule's thresholds (x0.5 .. x3 of the
    current value); a change is kept only when it raises train F1."""
    import csar

    params = base
    base_predictions = _predict(train, params)
    best = scores(train, base_predictions)
    # only categories with evidence in this tenant's data are worth searching
    seen = set().union(*(example.truth for example in train), *base_predictions) if train else set()
    changed: dict[str, list[float]] = {}
    for category in [c for c in csar.CATEGORIES if c in seen]:
        for name in CATEGORY_PARAMS.get(category, ()):
            current = getattr(params, name)
            for factor in FACTORS:
                value = current * factor
                value = max(1, int(round(value))) if isinstance(current, int) else round(value, 6)
                if value == current:
                    continue
                candidate = csar.CsarParams.from_dict({**params.to_dict(), name: value})
                score = scores(train, _predict(train, candidate))
                if (score["f1"], -score["falsePositives"]) > (best["f1"], -best["falsePositives"]):
                    params, best = candidate, score
            if getattr(params, name) != getattr(base, name):
                changed[name] = [getattr(base, name), getattr(params, name)]
    return params, changed


# --------------------------------------------------------------------------- the job


def train(organization_id: str, job: models_dal.FineTuneJobItem, model_id: str) -> Outcome:
    import csar
    from chargewatch.services.models import base_params_for

    training = job.config.get("trainingConfig") or {}
    source = (job.config.get("dataSource") or {}).get("type")
    if source == "upload":
        examples = _from_upload(job, csar.CATEGORIES)
        examples = examples[: int(training.get("maxSessions", 2000))]
        reviewed = None
    else:
        examples, reviewed = _from_sessions(organization_id, job, int(training.get("maxSessions", 2000)))
    if len(examples) < MIN_LABELLED_SESSIONS or (reviewed is not None and reviewed < MIN_REVIEWED_ANOMALIES):
        found = f"{len(examples)} labelled session(s)"
        if reviewed is not None:
            found += f", {reviewed} reviewed anomal{'y' if reviewed == 1 else 'ies'}"
        raise FineTuneFailed(
            f"too few labels to fine-tune: need at least {MIN_LABELLED_SESSIONS} labelled sessions"
            + (
                f" and {MIN_REVIEWED_ANOMALIES} anomalies resolved or dismissed in the issue workflow"
                if reviewed is not None
                else ""
            )
            + f"; found {found}"
        )
    train_set, holdout = _split(examples, float(training.get("holdoutFraction", 0.3)), int(training.get("seed", 0)))
    if len(holdout) < MIN_HOLDOUT_SESSIONS or len(train_set) < MIN_HOLDOUT_SESSIONS:
        raise FineTuneFailed(
            f"too few labels to hold out {MIN_HOLDOUT_SESSIONS} sessions for evaluation "
            f"({len(examples)} labelled sessions)"
        )
    base = csar.CsarParams.from_dict(base_params_for(organization_id, job.baseModelId))
    tuned, changed = calibrate(train_set, base)
    base_score = scores(holdout, _predict(holdout, base))
    tuned_score = scores(holdout, _predict(holdout, tuned))
    metrics = {
        "holdout": {"sessions": len(holdout), "labels": sum(len(e.truth) for e in holdout)},
        "train": {"sessions": len(train_set), "labels": sum(len(e.truth) for e in train_set)},
        "base": base_score,
        "tuned": tuned_score,
        "changedParams": changed,
    }
    if tuned_score["f1"] <= base_score["f1"]:
        raise FineTuneFailed(
            f"the tuned parameters did not beat {job.baseModelId} on the holdout "
            f"(F1 {tuned_score['f1']} vs {base_score['f1']}); no model was stored",
            metrics,
        )
    params = tuned.to_dict()
    s3_path = None
    bucket = get_settings().payload_bucket
    if bucket:
        key = f"models/{organization_id}/{model_id}.json"
        aws.client("s3").put_object(
            Bucket=bucket, Key=key, Body=json.dumps(params).encode(), ContentType="application/json"
        )
        s3_path = f"s3://{bucket}/{key}"
    version = f"{csar.MODEL_VERSION}-ft.{clock.now().strftime('%Y%m%d%H%M%S')}"
    description = (
        "Fine-tuned from "
        + job.baseModelId
        + ": "
        + (", ".join(f"{name} {old} -> {new}" for name, (old, new) in changed.items()) or "no change")
    )
    return Outcome(params, metrics, version, description, s3_path)
