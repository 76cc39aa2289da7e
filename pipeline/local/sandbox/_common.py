"""Small helpers shared by the server and the fake APIs: JSON encoding and pattern filling.

The leading underscore keeps this module out of fake-API discovery (see ``registry``).
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# What JSONPlaceholder (json-server) answers for anything it does not know; used for every 404.
NOT_FOUND_BODY = b"{}"


def dumps(obj: Any, *, pretty: bool = False) -> bytes:
    """JSON bytes; non-ASCII kept literal like the real APIs."""
    if pretty:
        return json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fill(rng: random.Random, pattern: str) -> str:
    """Expand a pattern: '#' becomes a digit, '@' an uppercase letter, the rest stays."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(rng.choice(string.digits))
        elif ch == "@":
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(ch)
    return "".join(out)


def split(csv: str) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated list."""
    return tuple(part.strip() for part in csv.split(",") if part.strip())
