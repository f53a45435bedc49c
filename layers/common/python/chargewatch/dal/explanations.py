"""Cached explanations: one item per session and language, in the session's partition.

PK `ORG#<org>#SESSION#<sessionId>`, SK `EXPLAIN#<lang>`; `analysisKey` names the analysis it
explains (session version + analysis time). The cache is keyed by (session, analysis, lang): an
item whose analysisKey differs from the session's current analysis is a miss and is overwritten.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chargewatch.dal.sessions import session_pk
from chargewatch.dal.table import register


@register
class ExplanationItem(Model):
    class Meta:
        table_name = "unbound"

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    analysisKey = UnicodeAttribute()
    explanation = UnicodeAttribute()
    provider = UnicodeAttribute()
    tokens = NumberAttribute(default=0)
    createdAt = UnicodeAttribute()
    ttl = NumberAttribute(null=True)


def get(organization_id: str, session_id: str, lang: str, analysis_key: str) -> ExplanationItem | None:
    try:
        item = ExplanationItem.get(session_pk(organization_id, session_id), f"EXPLAIN#{lang}", consistent_read=True)
    except ExplanationItem.DoesNotExist:
        return None
    return item if item.analysisKey == analysis_key else None


def put(organization_id: str, session_id: str, lang: str, analysis_key: str, **attributes: Any) -> ExplanationItem:
    item = ExplanationItem(
        session_pk(organization_id, session_id), f"EXPLAIN#{lang}", analysisKey=analysis_key, **attributes
    )
    item.save()
    return item
