"""Small helpers shared by the server and the fake APIs: JSON encoding, pattern filling and
the request/reply pair a fake's optional ``respond_http`` works with (see ``registry``).

The leading underscore keeps this module out of fake-API discovery (see ``registry``); the
fakes import the pair from here because ``registry`` imports the fakes while it loads.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# What JSONPlaceholder (json-server) answers for anything it does not know; used for every 404.
NOT_FOUND_BODY = b"{}"


@dataclass(frozen=True)
class FakeRequest:
    """A GET as a fake's ``respond_http`` sees it: what ``respond`` gets, plus the headers."""

    path: str  # below the fake's PREFIX
    query: dict[str, list[str]]
    base_url: str  # the server's own URL, for bodies and headers that link back to it
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case


@dataclass(frozen=True)
class FakeReply:
    """What ``respond_http`` answers: ``respond``'s status and body, plus extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()  # sent after Content-Type and Content-Length


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
