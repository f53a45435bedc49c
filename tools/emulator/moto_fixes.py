"""Local-only fixes for moto's DynamoDB transactions and index queries (never deployed; AWS needs none of this).

moto backs up a transaction by deep-copying the WHOLE table once per item of the transaction, so
a transaction costs O(items in the transaction x items in the table): with a few hundred sessions
stored, one create took most of a second. This keeps moto's semantics (all-or-nothing, the same
cancellation errors) but snapshots only the items the transaction touches and restores those.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_original_transact_write_items = DynamoDBBackend.transact_write_items
_original_query = Table.query
_installed = False


def _key_of(table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attributes = op.get("Key") or op.get("Item") or {}
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _stored(table, hash_value, range_value):
    bucket = table.items.get(hash_value)
    if bucket is None:
        return None
    return bucket.get(range_value) if range_value is not None else bucket


def _restore(table, hash_value, range_value, snapshot) -> None:
    if range_value is None:
        if snapshot is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = snapshot
        return
    bucket = table.items[hash_value]
    if snapshot is None:
        bucket.pop(range_value, None)
        if not bucket:
            table.items.pop(hash_value, None)
    else:
        bucket[range_value] = snapshot


@contextmanager
def _no_table_copies():
    """Inside moto's transaction, `copy.deepcopy(table)` returns the table itself."""
    from moto.dynamodb.models import table as table_module

    real_deepcopy = copy.deepcopy

    def deepcopy(value, memo=None):
        if isinstance(value, table_module.Table):
            return value
        return real_deepcopy(value, memo)

    copy.deepcopy = deepcopy
    try:
        yield
    finally:
        copy.deepcopy = real_deepcopy


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    snapshots = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        try:
            hash_value, range_value = _key_of(table, op)
        except (KeyError, TypeError):
            continue  # malformed: moto itself will reject the transaction
        snapshots.append((table, hash_value, range_value, copy.deepcopy(_stored(table, hash_value, range_value))))
    try:
        with _no_table_copies():
            _original_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, snapshot in reversed(snapshots):
            _restore(table, hash_value, range_value, snapshot)
        raise


def _query(self, hash_key, *args, **kwargs):
    """moto answers every query by sorting EVERY item of the table (DynamoType comparisons) and
    then filtering on the hash key: O(table log table) per query. Hand it only the candidates:
    the partition's items for a table query, the items whose index hash key equals the queried
    value for an index query; moto's own logic then runs unchanged on those."""
    conditions = kwargs.get("hash_key_conditions") or []
    index_name = kwargs.get("index_name") if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    if not index_name and hash_key is not None:
        bucket = self.items.get(hash_key)
        matching = [] if bucket is None else (list(bucket.values()) if self.range_key_attr else [bucket])
    elif index_name and len(conditions) == 1:
        name, expected = conditions[0]
        matching = []
        for bucket in self.items.values():
            for item in (bucket.values() if self.range_key_attr else [bucket]):
                value = item.attrs.get(name)
                if value is not None and value.type == expected.type and value.value == expected.value:
                    matching.append(item)
    else:
        return _original_query(self, hash_key, *args, **kwargs)
    matching.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    self.all_items = lambda: matching  # this call only (instance attribute shadows the method)
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def install() -> None:
    global _installed
    if not _installed:
        DynamoDBBackend.transact_write_items = _transact_write_items
        Table.query = _query
        _installed = True
