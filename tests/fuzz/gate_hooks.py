"""Schemathesis hooks of the fuzzing gate (loaded through SCHEMATHESIS_HOOKS by the gate test).

ACCEPTED lists, explicitly and each with its reason, the failures the gate tolerates: right refusals
of schema-valid requests that JSON Schema cannot state. Every tolerated failure is written to
$CHARGEWATCH_GATE_KNOWN_LOG so the gate test can report them. Anything not matched here fails the gate.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import schemathesis


def _error(response: Any) -> dict[str, Any]:
    try:
        error = response.json()["error"]
        return error if isinstance(error, dict) else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _error_field(response: Any) -> str:
    try:
        details = response.json()["error"]["details"]
        return str(details[0].get("field", "")) if details else ""
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _details(response: Any) -> list[dict[str, Any]]:
    details = _error(response).get("details") or []
    return [detail for detail in details if isinstance(detail, dict)]


def _detail_accepted(detail: dict[str, Any]) -> bool:
    field, kind, message = str(detail.get("field", "")), detail.get("type"), str(detail.get("message", ""))
    return (
        kind == "timestamp_out_of_range"  # the window ends 7 days after the server's clock
        or kind == "value_out_of_range"  # a meter value's bounds depend on its measurand and unit
        or (field.endswith(".unit") and "does not fit measurand" in message)  # a rule across two fields
    )


# Refusals of schema-valid requests that are right and that JSON Schema cannot state (they depend on
# another field or on stored state): tolerated for good, each for its reason.
ACCEPTED: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "reversed_range": (
        "a from-bound after its to-bound (dateFrom/dateTo, occurrenceFrom/occurrenceTo...) is 400",
        lambda case, response: response.status_code == 400 and "must not be after" in _error(response)["message"],
    ),
    "unknown_base_model": (
        "baseModelId must name a model that exists (a reference, not a shape)",
        lambda case, response: response.status_code == 400 and _error(response)["code"] == "unknown_base_model",
    ),
    "plan_limit": (
        "402 when a usage delta would pass the plan's limit: it depends on the stored counters",
        lambda case, response: response.status_code == 402 and _error(response)["code"].endswith("_limit_exceeded"),
    ),
    "data_source_filter": (
        "dataSource.sessionFilter only goes with dataSource.type 'sessions' (a rule across two fields)",
        lambda case, response: response.status_code == 400 and _error_field(response) == "dataSource.sessionFilter",
    ),
    "meter_value_rules": (
        "meter values: the timestamp window (2000-01-01 to the server's clock + 7 days), the unit that "
        "fits the measurand and the bounds of a value for its measurand and unit: rules across fields or "
        "against the clock; every other detail of the same answer must be a schema violation too",
        lambda case, response: (
            response.status_code == 400
            and bool(_details(response))
            and all(_detail_accepted(detail) for detail in _details(response))
        ),
    ),
    "duplicate_session_id": (
        "a batch naming one sessionId twice is refused (uniqueItems cannot say 'unique by one property')",
        lambda case, response: response.status_code == 400 and _error(response)["code"] == "duplicate_session_id",
    ),
    "unknown_holiday_calendar": (
        "holidayCountry must name a calendar the holidays library has (a reference to its dataset, like "
        "baseModelId; the pattern states the shape)",
        lambda case, response: response.status_code == 400 and _error(response)["code"] == "unknown_holiday_calendar",
    ),
    "webhook_target_rules": (
        "webhook URLs: the host must be a valid DNS name or IP literal that resolves to a public address, "
        "https only (http only to the emulator's local receiver): DNS and address rules a pattern cannot state",
        lambda case, response: response.status_code == 400 and _error(response)["code"] == "invalid_webhook_url",
    ),
    "batch_partial_acceptance": (
        "a batch is accepted with its invalid sessions as failed results at their index (the valid ones are "
        "processed): tolerated only when the server's own validator rejects at least one session of it",
        lambda case, response: (
            response.status_code == 200
            and case.operation.path == "/v1/sessions/batch"
            and bool(_rejected_sessions(case.body))
        ),
    ),
    "expiry_in_the_past": (
        "an API key's expiresAt must lie in the future (depends on the clock)",
        lambda case, response: response.status_code == 400 and _error_field(response) == "expiresAt",
    ),
}


def _rejected_sessions(body: Any) -> list[Any]:
    from chargewatch.services.batches import validate_sessions

    sessions = body.get("sessions") if isinstance(body, dict) else None
    return validate_sessions(sessions)[1] if isinstance(sessions, list) else []


def _matches(case: Any, response: Any) -> str | None:
    for name, (_, predicate) in ACCEPTED.items():
        try:
            if predicate(case, response):
                return name
        except Exception:  # a predicate that cannot judge this case does not match it
            continue
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    name = _matches(case, response)
    if name is None:
        if os.environ.get("CHARGEWATCH_GATE_DEBUG"):
            with open(os.environ["CHARGEWATCH_GATE_DEBUG"], "a", encoding="utf-8") as handle:
                handle.write(f"{case.method} {case.operation.path} {response.status_code} {response.text[:3000]}\n")
        return True
    log = os.environ.get("CHARGEWATCH_GATE_KNOWN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\t{case.method.upper()} {case.operation.path}\t{type(failure).__name__}\n")
    return False
