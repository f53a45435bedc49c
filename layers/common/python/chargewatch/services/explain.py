"""Ask and explain: the facts of one session, a provider that turns them into text, the
explanation cache and AI-token metering.

Facts are built only from what the tenant sent and what was computed from it (the session, its
analysis, the meter values around each anomaly, its station's counters, the category
definitions); the provider gets nothing else. Providers: chargewatch.services.explainers.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from chargewatch import clock
from chargewatch.categories import CATEGORY_INFO
from chargewatch.dal import explanations as explanations_dal
from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.errors import NotFoundError, ValidationError
from chargewatch.schemas.explain import LANGUAGES, AskRequest, AskResponse, ExplainRequest, ExplainResponse
from chargewatch.services import explainers, usage

# Meter values shown around each anomaly: the window plus this margin, at most this many points
# per measurand (evenly downsampled, the window's first and last reading kept).
CONTEXT_MARGIN_MS = 10 * 60 * 1000
POINTS_PER_MEASURAND = 12
CACHE_DAYS = 90


def check_lang(lang: str | None) -> str:
    lang = (lang or "en").strip().lower()
    if lang not in LANGUAGES:
        raise ValidationError(
            f"lang: unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}",
            code="unsupported_language",
            details=[{"field": "lang", "message": "unsupported"}],
        )
    return lang


def _iso(epoch_ms: int | float | None) -> str | None:
    return None if epoch_ms is None else clock.to_iso(clock.from_epoch_ms(int(epoch_ms)))


def _downsample(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _series(readings: list[dict[str, Any]], measurand: str) -> list[dict[str, Any]]:
    # phase readings are per-phase values; the totals (phase None) describe the session
    return sorted(
        (r for r in readings if r["measurand"] == measurand and not r.get("phase")), key=lambda r: r["timestamp"]
    )


def _around(readings: list[dict[str, Any]], start_ms: int | None, end_ms: int | None) -> list[dict[str, Any]]:
    if start_ms is None:
        return []
    end_ms = end_ms if end_ms is not None else start_ms
    low, high = start_ms - CONTEXT_MARGIN_MS, end_ms + CONTEXT_MARGIN_MS
    points = []
    for measurand in sorted({r["measurand"] for r in readings}):
        window = [r for r in _series(readings, measurand) if low <= r["timestamp"] <= high]
        points += [
            {"timestamp": _iso(r["timestamp"]), "measurand": measurand, "value": r["value"], "unit": r["unit"]}
            for r in _downsample(window, POINTS_PER_MEASURAND)
        ]
    return points


def _to_ms(text: str | None) -> int | None:
    return clock.to_epoch_ms(clock.parse_iso(text)) if text else None


def _profile(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """Plain numbers a question may ask about: power, SoC, gaps."""
    power = [float(r["value"]) for r in _series(readings, "Power.Active.Import")]
    soc = _series(readings, "SoC")
    stamps = sorted({r["timestamp"] for r in readings})
    intervals = [b - a for a, b in pairwise(stamps)]

    largest = max(range(len(intervals)), key=intervals.__getitem__) if intervals else None
    median = sorted(intervals)[len(intervals) // 2] if intervals else None
    return {
        "measurands": sorted({r["measurand"] for r in readings}),
        "maxPowerKw": round(max(power), 3) if power else None,
        "meanPowerKw": round(sum(power) / len(power), 3) if power else None,
        "socStart": float(soc[0]["value"]) if soc else None,
        "socEnd": float(soc[-1]["value"]) if soc else None,
        "socMin": min(float(r["value"]) for r in soc) if soc else None,
        "medianIntervalSeconds": None if median is None else round(median / 1000),
        "largestGapMinutes": None if largest is None else round(intervals[largest] / 60000, 1),
        "largestGapStart": None if largest is None else _iso(stamps[largest]),
        "largestGapEnd": None if largest is None else _iso(stamps[largest + 1]),
    }


def build_facts(
    organization_id: str,
    item: sessions_dal.SessionItem,
    readings: list[dict[str, Any]],
    analysis: sessions_dal.AnalysisItem | None,
) -> dict[str, Any]:
    organization = organizations_dal.get(organization_id)
    price = float(organization.pricePerKwh) if organization is not None else 0.35
    currency = organization.currency if organization is not None else "EUR"
    station = stations_dal.get_station(organization_id, item.chargingStationId)
    facts: dict[str, Any] = {
        "session": _session_fact(item, readings),
        "station": None if station is None else _station_fact(item, station),
        "pricing": {"pricePerKwh": price, "currency": currency},
        "analysis": None,
        "anomalies": [],
        "categoryDefinitions": {
            code: {"name": name, "definition": text} for code, (name, text) in CATEGORY_INFO.items()
        },
    }
    if analysis is None:
        return facts
    result = analysis.result or {}
    facts["session"]["energyKwh"] = round(float(analysis.energyKwh or 0), 3)
    facts["analysis"] = {
        key: result.get(key)
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
    facts["analysis"].update(
        modelId=analysis.modelId, modelVersion=analysis.modelVersion, analyzedAt=analysis.analyzedAt
    )
    facts["anomalies"] = [_anomaly_fact(anomaly, readings, price) for anomaly in result.get("anomalies") or []]
    return facts


def _session_fact(item: sessions_dal.SessionItem, readings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sessionId": item.sessionId,
        "chargingStationId": item.chargingStationId,
        "connectorId": item.connectorId,
        "evseId": item.evseId,
        "status": item.status,
        "startedAt": _iso(item.startedAtMs),
        "endedAt": _iso(item.endedAtMs),
        "durationMinutes": None
        if item.endedAtMs is None
        else round((int(item.endedAtMs) - int(item.startedAtMs)) / 60000, 1),
        "energyKwh": round(float(item.energyKwh or 0), 3),
        "meterValueCount": int(item.readingCount),
        "metadata": item.metadata or {},
        **_profile(readings),
    }


def _station_fact(item: sessions_dal.SessionItem, station: stations_dal.StationItem) -> dict[str, Any]:
    return {
        "chargingStationId": item.chargingStationId,
        "totalSessions": int(station.totalSessions or 0),
        "anomalousSessions": int(station.anomalousSessions or 0),
        "totalAnomalies": int(station.totalAnomalies or 0),
        "lastAnomalyDate": station.lastAnomalyDate,
        "metadata": station.metadata or {},
    }


def _anomaly_fact(anomaly: dict[str, Any], readings: list[dict[str, Any]], price: float) -> dict[str, Any]:
    time_range = anomaly.get("timeRange") or {}
    energy = float((anomaly.get("details") or {}).get("energyKwh") or 0.0)
    return {
        "category": anomaly["category"],
        "name": CATEGORY_INFO.get(anomaly["category"], (anomaly["category"],))[0],
        "score": anomaly.get("score"),
        "confidence": anomaly.get("confidence"),
        "startTimestamp": time_range.get("startTimestamp"),
        "endTimestamp": time_range.get("endTimestamp"),
        "bucketRange": anomaly.get("bucketRange"),
        "energyKwh": round(energy, 4),
        "revenueAffected": round(energy * price, 2),
        "details": {k: v for k, v in (anomaly.get("details") or {}).items() if k != "energyKwh"},
        "meterValues": _around(
            readings, _to_ms(time_range.get("startTimestamp")), _to_ms(time_range.get("endTimestamp"))
        ),
    }


def _session_facts(organization_id: str, session_id: str) -> tuple[dict[str, Any], str]:
    """The facts of a session and the key of the analysis they describe (the cache key part)."""
    from chargewatch.services import sessions as sessions_service

    item = sessions_dal.get_session(organization_id, session_id)
    if item is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    readings = sessions_dal.read_readings(item)
    _, analyzed_at = sessions_service.analysis_for(organization_id, item, readings)
    analysis = sessions_dal.get_analysis(item) if analyzed_at else None
    return build_facts(organization_id, item, readings, analysis), f"{int(item.version)}:{analyzed_at or '-'}"


def _current_key(organization_id: str, session_id: str) -> str:
    item = sessions_dal.get_session(organization_id, session_id)
    if item is None:
        raise NotFoundError(f"session {session_id} not found", code="session_not_found")
    from chargewatch.services import sessions as sessions_service

    current = sessions_service.current_analysis(item)
    return f"{int(item.version)}:{current[1] if current else '-'}"


def _generate(
    organization_id: str,
    reason: str,
    provider: explainers.ExplanationProvider,
    produce: Callable[[], explainers.Generation],
) -> explainers.Generation:
    """Metering around one generation: refused (402) before it when the month is used up, and
    not delivered when its tokens would pass the limit. The offline (grounded) explainer runs no
    model: it consumes no AI tokens, so it neither counts against nor is refused by the quota."""
    if not provider.consumes_tokens:
        return produce()
    limit = usage.ensure_ai_allowance(organization_id)
    generation = produce()
    usage.consume_ai_tokens(organization_id, generation.tokens, reason, limit=limit)
    return generation


def get_explanation(organization_id: str, session_id: str, lang: str | None) -> ExplainResponse:
    lang = check_lang(lang)
    cached = explanations_dal.get(organization_id, session_id, lang, _current_key(organization_id, session_id))
    if cached is None:
        raise NotFoundError(
            f"no cached explanation for session {session_id} in {lang!r}; POST to generate one",
            code="explanation_not_found",
        )
    return ExplainResponse(sessionId=session_id, explanation=cached.explanation, cached=True)


def explain(organization_id: str, session_id: str, request: ExplainRequest) -> ExplainResponse:
    lang = check_lang(request.lang)
    facts, analysis_key = _session_facts(organization_id, session_id)
    if not request.regenerate:
        cached = explanations_dal.get(organization_id, session_id, lang, analysis_key)
        if cached is not None:
            return ExplainResponse(sessionId=session_id, explanation=cached.explanation, cached=True)
    provider = explainers.provider()
    generation = _generate(organization_id, "explain", provider, lambda: provider.explain(facts, lang))
    explanations_dal.put(
        organization_id,
        session_id,
        lang,
        analysis_key,
        explanation=generation.text,
        provider=provider.name,
        tokens=generation.tokens,
        createdAt=clock.iso_now(),
        ttl=int(clock.epoch_seconds()) + CACHE_DAYS * 86400,
    )
    return ExplainResponse(sessionId=session_id, explanation=generation.text, cached=False)


def ask(organization_id: str, session_id: str, request: AskRequest) -> AskResponse:
    lang = check_lang(request.lang)
    facts, _ = _session_facts(organization_id, session_id)
    provider = explainers.provider()
    generation = _generate(organization_id, "ask", provider, lambda: provider.ask(facts, request.question, lang))
    return AskResponse(sessionId=session_id, answer=generation.text)
