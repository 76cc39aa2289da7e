"""Pure functions over payloads: exact JSON parsing, content hashes, item fingerprints.

Ingest, processing, replay and the API all identify bodies and items the same way
through these; none of them does I/O.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any


def json_loads_exact(body: bytes | str) -> Any:
    """Parse JSON keeping fractional numbers exact (DynamoDB rejects floats).

    An integer too long for ``int`` (over 4,300 digits) becomes a Decimal, so only the
    item holding it is rejected by the limits check, not the whole body.
    """
    return json.loads(body, parse_float=Decimal, parse_int=_exact_int)


def _exact_int(text: str) -> int | Decimal:
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def content_hash(body: bytes) -> str:
    """A raw body's identity: sha256 of the bytes as received."""
    return hashlib.sha256(body).hexdigest()


def fingerprint(item: Any) -> str:
    """sha256 of the item's canonical JSON (sorted keys, no spaces, UTF-8).

    Exact decimals (how payloads are parsed) are written as JSON numbers.
    """
    canonical = json.dumps(
        item, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=float
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
