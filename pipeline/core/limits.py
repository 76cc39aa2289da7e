"""What DynamoDB accepts in one item: size, numbers, nesting and names, checked without I/O.

Processing runs ``item_check`` on every curated item before the upsert, so an item
DynamoDB (or boto3's serializer) would refuse is rejected with its reason instead of
failing the transaction that carries its neighbours. Sizes are counted as DynamoDB
counts them (attribute names + values, UTF-8 bytes, numbers by their digits), erring
a little high: one extra byte per list or map element.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pipeline.core.constants import (
    CURATED_PK,
    DYNAMO_BOOKKEEPING_BYTES,
    DYNAMO_ITEM_MAX_BYTES,
    DYNAMO_MAX_DEPTH,
    DYNAMO_NAME_MAX_BYTES,
    DYNAMO_NUMBER_DIGITS,
    DYNAMO_NUMBER_MAX_EXPONENT,
    DYNAMO_NUMBER_MIN_EXPONENT,
    DYNAMO_PARTITION_KEY_MAX_BYTES,
    RAW_ITEM_MAX_DEPTH,
)
from pipeline.core.errors import InvalidItem

# The budget for a curated item before the upsert adds its bookkeeping attributes.
CURATED_ITEM_MAX_BYTES = DYNAMO_ITEM_MAX_BYTES - DYNAMO_BOOKKEEPING_BYTES

# The context boto3's TypeSerializer builds numbers in: whatever it traps never reaches
# DynamoDB, so it is refused here with a reason instead.
_WIRE_CONTEXT = decimal.Context(
    Emin=-128,
    Emax=126,
    prec=DYNAMO_NUMBER_DIGITS,
    traps=[decimal.Clamped, decimal.Overflow, decimal.Inexact, decimal.Rounded, decimal.Underflow],
)
# Lists and maps cost 3 bytes each; we add one per element to stay on the safe side.
_CONTAINER_BYTES = 3
_ELEMENT_BYTES = 1
_SCALAR_BYTES = 1  # null and boolean
_SHOWN_CHARS = 60
_REASON_CHARS = 300


def item_check(
    attributes: Mapping[str, Any],
    *,
    key: str = CURATED_PK,
    max_bytes: int = CURATED_ITEM_MAX_BYTES,
) -> int:
    """Raise InvalidItem naming the first thing DynamoDB would refuse; else the item's size.

    ``key`` names the partition key attribute (a non-empty string of at most 2,048 bytes).
    """
    key_value = attributes.get(key)
    if not isinstance(key_value, str) or not key_value:
        raise InvalidItem(f"key attribute {key!r} is missing or not a non-empty string")
    if _utf8_len(key_value, key) > DYNAMO_PARTITION_KEY_MAX_BYTES:
        raise InvalidItem(
            f"key {key!r} is longer than DynamoDB's {DYNAMO_PARTITION_KEY_MAX_BYTES} bytes"
        )
    size = item_size(attributes)
    if size > max_bytes:
        raise InvalidItem(
            f"item is {size:,} bytes; DynamoDB stores at most {DYNAMO_ITEM_MAX_BYTES:,}"
            f" (we keep {DYNAMO_BOOKKEEPING_BYTES:,} for bookkeeping)"
        )
    return size


def item_size(attributes: Mapping[str, Any]) -> int:
    """The item's size as DynamoDB counts it; raise InvalidItem for what it cannot store."""
    try:
        return sum(
            _name_bytes(name, _shown(name)) + _value_bytes(value, _shown(name), depth=0)
            for name, value in attributes.items()
        )
    except InvalidItem as exc:
        reason = str(exc)  # a path 32 levels deep is long: keep the reason readable
        if len(reason) <= _REASON_CHARS:
            raise
        raise InvalidItem("…" + reason[-_REASON_CHARS:]) from None


def number_problem(value: int | Decimal) -> str | None:
    """Why DynamoDB cannot store this number (precision, range, not finite), or None."""
    try:
        wire = _WIRE_CONTEXT.create_decimal(value)
    except decimal.Rounded:
        return f"has more than {DYNAMO_NUMBER_DIGITS} significant digits"
    except decimal.DecimalException:
        return "is outside DynamoDB's number range (1E-130 to 9.99…E+125)"
    if not wire.is_finite():
        return "is not a finite number"
    if wire and not DYNAMO_NUMBER_MIN_EXPONENT <= wire.adjusted() <= DYNAMO_NUMBER_MAX_EXPONENT:
        return "is outside DynamoDB's number range (1E-130 to 9.99…E+125)"
    return None


def _name_bytes(name: Any, path: str) -> int:
    if not isinstance(name, str):
        raise InvalidItem(f"{path}: attribute name is a {type(name).__name__}, not text")
    if not name:
        raise InvalidItem(f"{path}: empty attribute name (DynamoDB needs at least one character)")
    size = _utf8_len(name, path)
    if size > DYNAMO_NAME_MAX_BYTES:
        raise InvalidItem(f"{path}: attribute name longer than {DYNAMO_NAME_MAX_BYTES} bytes")
    return size


def _value_bytes(value: Any, path: str, *, depth: int) -> int:
    if value is None or isinstance(value, bool):
        return _SCALAR_BYTES
    if isinstance(value, str):
        return _utf8_len(value, path)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (int, Decimal)):
        problem = number_problem(value)
        if problem:
            raise InvalidItem(f"{path}: number {_shown(value)} {problem}")
        digits = len(Decimal(value).as_tuple().digits)
        return (digits + 1) // 2 + 1
    if isinstance(value, float):
        raise InvalidItem(f"{path}: {value!r} is a float; DynamoDB takes exact decimals only")
    if isinstance(value, (list, tuple, Mapping)):
        if depth + 1 > DYNAMO_MAX_DEPTH:
            raise InvalidItem(f"{path}: nested deeper than DynamoDB's {DYNAMO_MAX_DEPTH} levels")
        return _CONTAINER_BYTES + _contents_bytes(value, path, depth=depth + 1)
    raise InvalidItem(f"{path}: values of type {type(value).__name__} cannot be stored")


def _contents_bytes(
    value: list[Any] | tuple[Any, ...] | Mapping[Any, Any], path: str, *, depth: int
) -> int:
    if isinstance(value, Mapping):
        return sum(
            _ELEMENT_BYTES
            + _name_bytes(name, f"{path}.{_shown(name)}")
            + _value_bytes(element, f"{path}.{_shown(name)}", depth=depth)
            for name, element in value.items()
        )
    return sum(
        _ELEMENT_BYTES + _value_bytes(element, f"{path}[{index}]", depth=depth)
        for index, element in enumerate(value)
    )


def _utf8_len(text: str, path: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidItem(f"{path}: text is not valid Unicode (a lone surrogate)") from None


def _shown(value: Any) -> str:
    """A value for an error message: short, whatever its size."""
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of a huge int is slow and capped by Python; Decimal shows its magnitude.
        value = Decimal(value)
    if isinstance(value, Decimal):
        digits = len(value.as_tuple().digits)
        return f"{value:.3e}" if digits > DYNAMO_NUMBER_DIGITS else str(value)
    shown = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS] + "…"


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, counted without recursion.

    Iterative on purpose: a hostile item nests deeper than Python's call stack allows.
    """
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def raw_item_problem(item: Any) -> str | None:
    """Why a raw item cannot be kept as a record's source, or None."""
    depth = json_depth(item)
    if depth > RAW_ITEM_MAX_DEPTH:
        return f"the item nests {depth} levels deep; at most {RAW_ITEM_MAX_DEPTH} can be shown"
    return None
