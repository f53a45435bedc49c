"""The single table: key conventions and binding of the pynamodb models to settings."""

from __future__ import annotations

from typing import TypeVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

# Condition, Action and TransactWrite are re-exported: services type what they hand to dal.
from pynamodb.expressions.condition import Condition as Condition
from pynamodb.expressions.update import Action as Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite as TransactWrite

from chargewatch.aws import pynamodb_host
from chargewatch.settings import Settings, get_settings

_MODELS: list[type[Model]] = []
_M = TypeVar("_M", bound=Model)  # the model an index instance belongs to


def tenant_pk(organization_id: str, *parts: str) -> str:
    """Partition key of a tenant item: always `ORG#<orgId>#...`.

    The trailing `#` after the id is what stops `acme` from prefix-matching `acme-corp`.
    """
    if not organization_id or "#" in organization_id:
        raise ValueError("organization id must be non-empty and must not contain '#'")
    return f"ORG#{organization_id}#" + "#".join(parts)


class GSI1(GlobalSecondaryIndex[_M]):
    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class GSI2(GlobalSecondaryIndex[_M]):
    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


def register(model: type[Model]) -> type[Model]:
    """Class decorator: the model lives in the single table and follows the settings."""
    _MODELS.append(model)
    _bind_model(model, get_settings())
    return model


def _bind_model(model: type[Model], settings: Settings) -> None:
    model.Meta.table_name = settings.table_name
    model.Meta.region = settings.aws_region
    model.Meta.host = pynamodb_host(settings)
    model._connection = None  # pynamodb caches the connection (and its table name) per class


def bind(settings: Settings | None = None) -> None:
    """Point every model at the configured table (after the environment changed)."""
    global _connection
    settings = settings or get_settings()
    _connection = None
    for model in _MODELS:
        _bind_model(model, settings)


_connection: Connection | None = None


def connection() -> Connection:
    """The connection transactions use: one per container (a botocore client costs ~0.1-0.3 s)."""
    global _connection
    if _connection is None:
        settings = get_settings()
        _connection = Connection(region=settings.aws_region, host=pynamodb_host(settings))
    return _connection


def is_condition_failure(error: Exception) -> bool:
    """True when a write (or one item of a transaction) failed its condition expression."""
    code = getattr(error, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if isinstance(error, TransactWriteError) and code == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)
    return False
