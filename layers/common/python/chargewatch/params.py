"""Query parameters shared by several routes, with the rules their parsers enforce stated in the
OpenAPI schema too (the generated contract then rejects what the server rejects).

Each schema is built from the constant the service checks against, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from chargewatch import limits
from chargewatch.categories import CATEGORY_INFO

JsonSchema = dict[str, Any]


def schema_of(replacement: JsonSchema) -> Callable[[JsonSchema], None]:
    """A `json_schema_extra` that states the parameter's schema outright (validation is unchanged)."""

    def _replace(schema: JsonSchema) -> None:
        title = schema.get("title")
        schema.clear()
        schema.update(replacement)
        if title:
            schema["title"] = title

    return _replace


def choice_pattern(values: Iterable[str], *, lenient: bool = False) -> str:
    """An ECMA-262 pattern for one of `values`. `lenient`: as a parser that strips and lower-cases its
    input and reads "" as the default does (JSON Schema patterns have no case-insensitive flag)."""
    if not lenient:
        return "^(" + "|".join(values) + ")$"
    cased = ["".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in value) for value in values]
    return "^(\\s*(" + "|".join(cased) + ")\\s*)?$"


# parse_date_bound: a calendar date (a whole day), an ISO date-time, or empty for no bound
DATE_BOUND_SCHEMA: JsonSchema = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "maxLength": 0},
    ]
}
DateBound = Annotated[
    str | None,
    Query(
        description="ISO-8601 date (the whole day) or date-time; empty: no bound",
        json_schema_extra=schema_of(DATE_BOUND_SCHEMA),
    ),
]
AnomalyType = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="an anomaly category",
        json_schema_extra=schema_of({"type": "string", "enum": list(CATEGORY_INFO)}),
    ),
]

# A charging session's id in a path (/v1/sessions/{session_id}, .../ask, .../explain). Login and
# application sessions have their own, differently named types next to their routes.
ChargingSessionId = Annotated[str, Path(min_length=1, max_length=limits.MAX_IDENTIFIER_LENGTH)]
