"""The embedded AWS: moto's threaded server on loopback, plus two emulator speed fixes.

moto 5.2's TransactWriteItems deep-copies the whole table once per item in the
transaction, to be able to roll back; a 100-item transaction on a 5,000-record table
then copies half a million items. ``install_moto_speedups`` makes moto keep the
tables as they are and instead remember just the items the transaction touches,
restoring those if it is cancelled. It also keeps a running size per stored item
for moto's 400 KB check, which moto recomputes over the whole item for every
attribute it sets. Same results, cost proportional to the work instead of the
table or item. It changes only the emulator, never AWS code paths.
"""

from __future__ import annotations

import copy
import functools
import logging
import types
from typing import Any

log = logging.getLogger(__name__)

_INSTALLED = False


def _share_tables_deepcopy(value: Any, memo: Any = None) -> Any:
    from moto.dynamodb.models.table import Table

    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict]]:
    keys = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table_name = op.get("TableName")
            if table_name not in backend.tables:
                continue
            if op_type == "Put":
                table = backend.tables[table_name]
                key_attrs = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
                keys.append((table_name, {a: op["Item"][a] for a in key_attrs if a in op["Item"]}))
            elif "Key" in op:
                keys.append((table_name, op["Key"]))
    return keys


def _snapshot(backend: Any, keys: list[tuple[str, dict]]) -> list[tuple[str, dict, Any]]:
    saved = []
    for table_name, key in keys:
        try:
            item = backend.get_item(table_name, key)
        except Exception:
            continue
        saved.append((table_name, key, item.to_json()["Attributes"] if item else None))
    return saved


def _restore(backend: Any, saved: list[tuple[str, dict, Any]]) -> None:
    for table_name, key, attributes in reversed(saved):
        if attributes is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)


def _size_of(key: str, value: Any) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    return bytesize(key) + (value.size() if type(value) is DynamoType else bytesize(str(value)))


def _limited_setitem(self: dict, key: str, value: Any) -> None:
    """moto's 400 KB item check, keeping a running total instead of re-measuring the item."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge

    sizes: dict[str, int] | None = getattr(self, "_twl_sizes", None)
    if sizes is None or len(sizes) != len(self):  # built by a path that skipped __setitem__
        sizes = {k: _size_of(k, v) for k, v in self.items()}
    new = _size_of(key, value)
    # Same rule as moto: current attributes plus the new one must stay under ~405 KB.
    if sum(sizes.values()) + new > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)
    sizes[key] = new
    self._twl_sizes = sizes  # type: ignore[attr-defined]


ITEM_SIZE_LIMIT = 405_000


def install_moto_speedups() -> None:
    """Patch moto's DynamoDB for speed, same results (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    # moto re-measures the whole item for every attribute it sets (quadratic per item).
    LimitedSizeDict.__setitem__ = _limited_setitem  # type: ignore[method-assign]

    original = models.DynamoDBBackend.transact_write_items
    # A deliberate monkey-patch of moto's module-level ``copy`` (see _share_tables_deepcopy).
    models.copy = types.SimpleNamespace(  # type: ignore[assignment]
        deepcopy=_share_tables_deepcopy, copy=copy.copy
    )

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _snapshot(self, _touched_keys(self, transact_items))
        try:
            original(self, transact_items)
        except Exception:
            _restore(self, saved)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _INSTALLED = True


def install_moto_extensions() -> None:
    """All this project adds to moto: DynamoDB speed-ups and CloudFormation models."""
    from pipeline.local.cfn_models import install_cfn_models

    install_moto_speedups()
    install_cfn_models()


class Emulator:
    """moto's server on 127.0.0.1:<port>, started in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        from moto.server import ThreadedMotoServer

        install_moto_extensions()
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.host = host
        self.port = port

    def start(self) -> Emulator:
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every resource. moto keeps state per process, not per server."""
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
