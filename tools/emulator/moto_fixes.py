"""Local-only fixes for moto's DynamoDB (never deployed; AWS needs none of this).

Used by the emulator and by the test suite. moto 5.2 makes each call cost O(table size):
TransactWriteItems deep-copies the whole table once per transaction item, and Query sorts every
item of the table before filtering. With a few hundred sessions stored, one create took most of a
second and kept slowing down. `install()` keeps moto's semantics and makes the work O(items
touched); `CHARGEWATCH_EMULATOR_MOTO_PATCHES=0` runs the emulator without it, for comparison.
"""

from __future__ import annotations

import contextvars
from typing import Any


class _TableAwareCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models: deep-copies everything but a Table.

    moto's TransactWriteItems snapshots the *whole table* (copy.deepcopy) once per item of every
    transaction so it can roll back, which makes each transaction cost O(table size): with a few
    thousand items a session write takes hundreds of milliseconds and keeps slowing down. The
    emulator snapshots only the items a transaction touches instead (see _install_moto_patches).
    """

    def __getattr__(self, name: str) -> Any:
        import copy

        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        import copy

        from moto.dynamodb.models.table import Table

        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _transaction_key(table: Any, operation: dict[str, Any]):
    from moto.dynamodb.models.dynamo_type import DynamoType

    key = operation.get("Key") or operation.get("Item") or {}
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


_query_scope: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("chargewatch_moto_query", default=None)


def install() -> Any:
    """Make moto's DynamoDB cost O(items touched) instead of O(table) per call, in this process.

    Semantics are unchanged; only the work is. Two places in moto 5.2 scale with the table:

    - TransactWriteItems deep-copies the whole table once per item of the transaction, to roll back
      on failure: here only the touched items are backed up and restored (and stream records of a
      rolled-back transaction dropped).
    - Query walks `Table.all_items()`, which sorts every item of the table, and then filters: here a
      base-table query reads its one partition, and an index query walks the items unsorted (moto
      sorts the matches itself afterwards).

    With a few thousand items (a few hundred sessions) a session create otherwise costs hundreds of
    milliseconds, and grows with every write. Returns a function that removes the patches.
    """
    import copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import Table

    backend_class = dynamodb_models.DynamoDBBackend
    original_transact = backend_class.transact_write_items
    if getattr(original_transact, "_chargewatch_patched", False):
        return lambda: None  # already installed (tests install once per process)
    original_query, original_all_items = Table.query, Table.all_items

    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items:
            try:
                ((_, operation),) = entry.items()
                table = self.tables[operation["TableName"]]
                hash_value, range_value = _transaction_key(table, operation)
            except Exception:  # malformed or unknown table: moto's own checks report it below
                continue
            current = table.get_item(hash_value, range_value) if (range_value or not table.range_key_attr) else None
            stream_length = len(table.stream_shard.items) if table.stream_shard is not None else None
            backups.append((table, hash_value, range_value, copy.deepcopy(current), stream_length))
        try:
            return original_transact(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item, stream_length in reversed(backups):
                bucket = table.items[hash_value] if range_value is not None else table.items
                key = range_value if range_value is not None else hash_value
                if item is None:
                    bucket.pop(key, None)
                else:
                    bucket[key] = item
                if stream_length is not None and table.stream_shard is not None:
                    del table.stream_shard.items[stream_length:]  # no records of rolled-back writes
            raise

    def query(self, hash_key, *args: Any, **kwargs: Any):
        index_name = kwargs.get("index_name") if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
        if index_name:
            # an index query only needs the items carrying the index's hash key value: hand moto
            # those (a cheap pass) instead of every item to run its own comparisons on
            index = next((i for i in self.all_indexes() if i.name == index_name), None)
            hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
            scope = ("index", hash_attrs[0], hash_key) if len(hash_attrs) == 1 and hash_key is not None else ("index",)
        else:
            scope = ("partition", hash_key)
        token = _query_scope.set(scope)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.reset(token)

    def all_items(self) -> list:
        scope = _query_scope.get()
        if scope is None:  # scans, exports, ...: moto's sorted walk
            return original_all_items(self)
        if scope[0] == "partition":
            partition = self.items.get(scope[1])  # .get: the defaultdict must not grow
            if partition is None:
                return []
            return list(partition.values()) if self.range_key_attr else [partition]
        items = (
            [item for partition in self.items.values() for item in partition.values()]
            if self.range_key_attr
            else list(self.items.values())
        )
        if len(scope) == 3:
            _, attribute, wanted = scope
            items = [item for item in items if _same_value(item.attrs.get(attribute), wanted)]
        return items

    transact_write_items._chargewatch_patched = True
    backend_class.transact_write_items = transact_write_items
    Table.query, Table.all_items = query, all_items
    previous_copy = dynamodb_models.copy
    dynamodb_models.copy = _TableAwareCopy()

    def uninstall() -> None:
        backend_class.transact_write_items = original_transact
        Table.query, Table.all_items = original_query, original_all_items
        dynamodb_models.copy = previous_copy

    return uninstall


def _same_value(value: Any, wanted: Any) -> bool:
    return value is not None and value.type == wanted.type and value.value == wanted.value
