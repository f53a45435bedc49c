"""Result dataclasses and their camelCase serialisation."""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .categories import BILLING_RELEVANT, CATEGORIES

__all__ = ["BILLING_RELEVANT", "CATEGORIES", "MODEL_ID", "MODEL_VERSION", "Anomaly", "SessionAnalysis"]

MODEL_ID = "csar-2"
MODEL_VERSION = "2.0.0"


def format_timestamp(epoch_seconds: float | None) -> str | None:
    """ISO-8601 UTC, second precision, 'Z' suffix."""
    if epoch_seconds is None or not math.isfinite(epoch_seconds):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(epoch_seconds)))


def parse_timestamp(text: Any) -> float | None:
    """One ISO-8601 string (or datetime) to epoch seconds (naive means UTC); None when
    unparseable."""
    if isinstance(text, datetime):
        parsed = text
    elif not isinstance(text, str):
        return None
    else:
        try:
            parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return calendar.timegm(parsed.timetuple()) + parsed.microsecond / 1e6
    return parsed.timestamp()


def _rounded(x: float) -> float:
    return round(min(1.0, max(0.0, float(x))), 4)


@dataclass
class Anomaly:
    category: str
    score: float
    confidence: float
    bucket_start: int
    bucket_end: int
    start_timestamp: str | None
    end_timestamp: str | None
    energy_kwh: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "score": _rounded(self.score),
            "confidence": _rounded(self.confidence),
            "bucketRange": {"startUnit": int(self.bucket_start), "endUnit": int(self.bucket_end)},
            "timeRange": {"startTimestamp": self.start_timestamp, "endTimestamp": self.end_timestamp},
            # Energy rides in details so the top-level shape stays the public one.
            "details": {**self.details, "energyKwh": round(float(self.energy_kwh), 4)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anomaly:
        bucket = data.get("bucketRange") or {}
        time_range = data.get("timeRange") or {}
        details = dict(data.get("details") or {})
        energy_kwh = float(details.pop("energyKwh", 0.0) or 0.0)
        return cls(
            category=data["category"],
            score=float(data.get("score", 0.0)),
            confidence=float(data.get("confidence", 0.0)),
            bucket_start=int(bucket.get("startUnit", 0)),
            bucket_end=int(bucket.get("endUnit", bucket.get("startUnit", 0))),
            start_timestamp=time_range.get("startTimestamp"),
            end_timestamp=time_range.get("endTimestamp"),
            energy_kwh=energy_kwh,
            details=details,
        )


@dataclass
class SessionAnalysis:
    is_anomaly: bool
    anomaly_score: float
    anomaly_confidence: float
    is_incident: bool
    is_recurring: bool
    soc_reconstructed: bool
    anomalies: list[Anomaly]
    message: str | None
    reading_count: int
    energy_kwh: float
    model_id: str = MODEL_ID
    model_version: str = MODEL_VERSION

    @property
    def categories(self) -> list[str]:
        return [a.category for a in self.anomalies]

    def to_dict(self) -> dict[str, Any]:
        """The public analysis shape (camelCase), JSON-serialisable plain Python."""
        return {
            "isAnomaly": bool(self.is_anomaly),
            "anomalyScore": _rounded(self.anomaly_score),
            "anomalyConfidence": _rounded(self.anomaly_confidence),
            "isIncident": bool(self.is_incident),
            "isRecurring": bool(self.is_recurring),
            "socReconstructed": bool(self.soc_reconstructed),
            "message": self.message,
            "anomalies": [a.to_dict() for a in self.anomalies],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionAnalysis:
        """Inverse of to_dict; readingCount/energyKwh/modelId/modelVersion are read when a
        caller stored them next to the seed shape, else defaulted."""
        return cls(
            is_anomaly=bool(data.get("isAnomaly", False)),
            anomaly_score=float(data.get("anomalyScore", 0.0) or 0.0),
            anomaly_confidence=float(data.get("anomalyConfidence", 0.0) or 0.0),
            is_incident=bool(data.get("isIncident", False)),
            is_recurring=bool(data.get("isRecurring", False)),
            soc_reconstructed=bool(data.get("socReconstructed", False)),
            anomalies=[Anomaly.from_dict(a) for a in data.get("anomalies") or []],
            message=data.get("message"),
            reading_count=int(data.get("readingCount", 0) or 0),
            energy_kwh=float(data.get("energyKwh", 0.0) or 0.0),
            model_id=data.get("modelId") or MODEL_ID,
            model_version=data.get("modelVersion") or MODEL_VERSION,
        )
