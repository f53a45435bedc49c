"""Public entry points: analyze_session and analyze_batch.

analyze_session is analyze_batch of one session, so both always agree. The batch is
parsed into one table, the rules run vectorised over it, and only the (few) detected
events are turned into Python objects per session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .context import BatchContext, build_context
from .params import DEFAULT_PARAMS, CsarParams
from .parsing import ReadingTable, build_reading_table
from .result import (
    BILLING_RELEVANT,
    CATEGORIES,
    Anomaly,
    SessionAnalysis,
    format_timestamp,
    parse_timestamp,
)
from .rules import DECREASE_KINDS, run_rules

_DETAIL_NAMES = {
    "KWH_DECREASE": "dropKwh",
    "ENERGY_SPIKE": "impliedPowerKw",
    "ENERGY_POWER_MISMATCH": "direction",
    "POWER_OVER_RATING": "peakPowerKw",
    "SOC_DECREASE": "dropPoints",
    "SOC_ENERGY_INCONSISTENT": "impliedCapacityKwh",
    "TIME_GAP": "gapSeconds",
    "ZERO_ENERGY": "deliveredKwh",
    "UNIT_MISMATCH": "correctionFactor",
}


def _resolve_params(params: CsarParams | Mapping[str, Any] | None) -> CsarParams:
    if params is None:
        return DEFAULT_PARAMS
    if isinstance(params, CsarParams):
        return params
    return CsarParams.from_dict(params)


def analyze_session(
    meter_values: Sequence[Mapping[str, Any]] | None,
    metadata: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    params: CsarParams | Mapping[str, Any] | None = None,
) -> SessionAnalysis:
    """Analyse one charging session; never raises on malformed readings."""
    return analyze_batch([{"meterValues": meter_values, "metadata": metadata, "history": history}], params)[0]


def analyze_batch(
    sessions: Sequence[Mapping[str, Any]], params: CsarParams | Mapping[str, Any] | None = None
) -> list[SessionAnalysis]:
    """Analyse many sessions at once (vectorised); results are in input order."""
    p = _resolve_params(params)
    # type() first: isinstance against typing.Mapping costs microseconds per session.
    items = [s if type(s) is dict or isinstance(s, Mapping) else {} for s in (sessions or [])]
    if not items:
        return []
    table = build_reading_table([s.get("meterValues") for s in items])
    ctx = build_context(table, [s.get("metadata") for s in items], p)
    log = run_rules(ctx)
    anomalies = _collect_anomalies(ctx, log.columns())
    summary = _SessionSummary(ctx, table)
    return [summary.result(i, anomalies.get(i, []), items[i].get("history")) for i in range(len(items))]


def _collect_anomalies(ctx: BatchContext, columns: tuple[np.ndarray, ...]) -> dict[int, list[Anomaly]]:
    """Anomalies per session: events of one category that overlap or lie within
    params.event_merge_seconds of each other become one Anomaly; separate incidents of
    the same category stay separate (each with its own time range)."""
    category, session, t_start, t_end, score, confidence, energy, code, value = columns
    if len(category) == 0:
        return {}
    merge_gap = ctx.params.event_merge_seconds
    order = np.lexsort((t_start, category, session))
    rows = zip(
        session[order].tolist(),
        category[order].tolist(),
        t_start[order].tolist(),
        t_end[order].tolist(),
        score[order].tolist(),
        confidence[order].tolist(),
        energy[order].tolist(),
        code[order].tolist(),
        value[order].tolist(),
        strict=True,
    )
    result: dict[int, list[Anomaly]] = {}
    current: dict[str, Any] | None = None

    def flush(group: dict[str, Any]) -> None:
        result.setdefault(group["session"], []).append(_group_anomaly(ctx, group))

    for s, c, t0, t1, sc, conf, en, cd, val in rows:
        if (
            current is not None
            and current["session"] == s
            and current["category"] == c
            and t0 <= current["t_end"] + merge_gap
        ):
            current["t_end"] = max(current["t_end"], t1)
            current["energy"] += en
            current["events"] += 1
            if sc > current["score"]:
                current.update(score=sc, confidence=conf, code=cd, value=val)
            continue
        if current is not None:
            flush(current)
        current = {
            "session": s,
            "category": c,
            "t_start": t0,
            "t_end": t1,
            "score": sc,
            "confidence": conf,
            "energy": en,
            "events": 1,
            "code": cd,
            "value": val,
        }
    if current is not None:
        flush(current)
    return result


def _group_anomaly(ctx: BatchContext, group: dict[str, Any]) -> Anomaly:
    """The Anomaly of one group of merged events (see _collect_anomalies)."""
    bucket = ctx.params.bucket_seconds
    name = CATEGORIES[group["category"]]
    start = ctx.start_time[group["session"]]
    details: dict[str, Any] = {"events": group["events"]}
    detail_name = _DETAIL_NAMES.get(name)
    if detail_name is not None and group["value"] is not None and math.isfinite(group["value"]):
        details[detail_name] = round(group["value"], 4)
    if name == "KWH_DECREASE":
        details["kind"] = DECREASE_KINDS[group["code"]]
    if name == "ENERGY_POWER_MISMATCH":
        details["direction"] = "energy_above_power" if group["value"] > 0 else "energy_below_power"
    return Anomaly(
        category=name,
        score=group["score"],
        confidence=group["confidence"],
        bucket_start=int(max(group["t_start"], 0.0) // bucket),
        bucket_end=int(max(group["t_end"], 0.0) // bucket),
        start_timestamp=format_timestamp(start + group["t_start"]),
        end_timestamp=format_timestamp(start + group["t_end"]),
        energy_kwh=float(group["energy"]),
        details=details,
    )


def _is_recurring(anomalies: list[Anomaly], history: Any, session_start: float, window_days: float) -> bool:
    if not anomalies or not isinstance(history, (list, tuple)) or not math.isfinite(session_start):
        return False
    found = {a.category for a in anomalies}
    earliest = session_start - window_days * 86400.0
    for entry in history:
        if not isinstance(entry, Mapping) or entry.get("category") not in found:
            continue
        when = parse_timestamp(entry.get("timestamp"))
        if when is not None and earliest <= when < session_start:
            return True
    return False


class _SessionSummary:
    """Per-session scalars of a batch as plain Python lists, so building thousands of
    results costs no numpy call per session."""

    def __init__(self, ctx: BatchContext, table: ReadingTable):
        self.ctx = ctx
        self.params = ctx.params
        self.reading_count = ctx.reading_count.tolist()
        self.energy_kwh = ctx.delivered_total.tolist()
        self.start_time = ctx.start_time.tolist()
        self.coverage = ctx.coverage.tolist()
        rebuildable = (
            (ctx.soc.counts == 0)
            & np.isfinite(ctx.metadata.battery_capacity_kwh)
            & np.isfinite(ctx.metadata.start_soc)
            & (ctx.energy.counts > 0)
        )
        self.soc_reconstructed = (ctx.soc_reconstructed_input | rebuildable).tolist()
        self.notes = [
            ("unparseable or implausible timestamps", table.dropped_timestamp.tolist()),
            ("non-numeric or non-finite values", table.dropped_value.tolist()),
            ("units that do not fit their measurand", table.dropped_unit.tolist()),
        ]
        self.duplicates = ctx.duplicates_removed.tolist()
        self.rescaled = ctx.unit_corrected_rows.tolist()
        self.has_notes = (
            (
                table.dropped_timestamp
                + table.dropped_value
                + table.dropped_unit
                + ctx.duplicates_removed
                + ctx.unit_corrected_rows
            )
            > 0
        ).tolist()

    def message(self, i: int, too_few: bool) -> str | None:
        if not too_few and not self.has_notes[i]:
            return None
        notes = []
        if too_few:
            notes.append(
                f"fewer than {self.params.min_readings} usable readings ({self.reading_count[i]}); not analysed"
            )
        for reason, counts in self.notes:
            if counts[i]:
                notes.append(f"dropped {counts[i]} reading(s) with {reason}")
        if self.duplicates[i]:
            notes.append(f"ignored {self.duplicates[i]} duplicate reading(s)")
        if self.rescaled[i]:
            notes.append(f"rescaled {self.rescaled[i]} energy reading(s) sent in the wrong unit")
        return "; ".join(notes) if notes else None

    def result(self, i: int, anomalies: list[Anomaly], history: Any) -> SessionAnalysis:
        p = self.params
        reading_count = self.reading_count[i]
        if reading_count < p.min_readings:
            return SessionAnalysis(
                is_anomaly=False,
                anomaly_score=0.0,
                anomaly_confidence=0.0,
                is_incident=False,
                is_recurring=False,
                soc_reconstructed=self.soc_reconstructed[i],
                anomalies=[],
                message=self.message(i, too_few=True),
                reading_count=reading_count,
                energy_kwh=self.energy_kwh[i],
            )
        if not anomalies:
            # Clean verdict: as certain as the telemetry is complete.
            return SessionAnalysis(
                is_anomaly=False,
                anomaly_score=0.0,
                anomaly_confidence=0.5 + 0.45 * self.coverage[i],
                is_incident=False,
                is_recurring=False,
                soc_reconstructed=self.soc_reconstructed[i],
                anomalies=anomalies,
                message=self.message(i, too_few=False),
                reading_count=reading_count,
                energy_kwh=self.energy_kwh[i],
            )
        # Noisy-OR over categories; a category repeated in several events counts once,
        # with its strongest score, and its energy summed.
        category_score: dict[str, float] = {}
        category_energy: dict[str, float] = {}
        for anomaly in anomalies:
            category_score[anomaly.category] = max(category_score.get(anomaly.category, 0.0), anomaly.score)
            category_energy[anomaly.category] = category_energy.get(anomaly.category, 0.0) + anomaly.energy_kwh
        clean_probability = 1.0
        for category_max in category_score.values():
            clean_probability *= 1.0 - category_max
        score = 1.0 - clean_probability
        strongest = max(a.confidence for a in anomalies)
        # Several independent categories agreeing make the verdict more certain.
        confidence = min(1.0, strongest + 0.05 * (len(category_score) - 1))
        anomalies.sort(key=lambda a: (-a.score, a.category, a.start_timestamp or ""))
        return SessionAnalysis(
            is_anomaly=score >= p.anomaly_threshold,
            anomaly_score=score,
            anomaly_confidence=confidence,
            is_incident=any(
                category in BILLING_RELEVANT and energy >= p.incident_min_kwh
                for category, energy in category_energy.items()
            ),
            is_recurring=_is_recurring(anomalies, history, self.start_time[i], p.recurring_window_days),
            soc_reconstructed=self.soc_reconstructed[i],
            anomalies=anomalies,
            message=self.message(i, too_few=False),
            reading_count=reading_count,
            energy_kwh=self.energy_kwh[i],
        )
