"""The catalog fake: one fixed catalog of 95 items served with every paginator style.

A generic API for declared sources (demos and tests), not a copy of a public one. Each
endpoint below ``/catalog`` serves the same items, in pages of ``size`` (or ``limit``)
items, 10 by default and at most 100:

- ``/items?page=N`` page numbers from 1: ``{"data": {"items": [...]}, "meta": {"page",
  "pages", "total"}}`` (a nested data selector, ``data.items``); past the end, no items.
  ``/private/items``, ``/keyed/items`` and ``/basic/items`` are the same behind a bearer
  token, an ``X-API-Key`` header and HTTP basic auth (the constants below).
- ``/offset?offset=&limit=``: ``{"results": [...], "total": 95}``.
- ``/linked?page=``: ``{"items": [...], "next": "<absolute URL>" | null}``.
- ``/headers?page=``: a bare list, with ``Link: <...>; rel="next"`` (and first/prev/last).
- ``/cursor?cursor=``: ``{"items": [...], "cursors": {"next": "<opaque>" | null}}``.
- ``/single``: a bare list of the first 10 items, no paging.

Every list honours ``updated_since=<ISO time>``: only items with ``updated_at`` at or after
it, ordered by ``updated_at`` then ``id`` (else by ``id``). A few items share a timestamp
on purpose, so the tie-break is exercised. Invariant: a bad parameter is a 400 and a missing
or wrong credential a 401, each with a JSON ``{"error": ...}``, never a 500. Items are made
once from a fixed seed and a fixed epoch, so every call and every run serves the same ones.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from pipeline.local.sandbox._common import FakeReply, FakeRequest, dumps, fill, split

SOURCE = "catalog"
PREFIX = "/catalog"
GENERIC = True  # serves declared sources; stands in for no built-in one (see registry)

TOTAL = 95
SINGLE_PAGE_ITEMS = 10
DEFAULT_SIZE = 10
MAX_SIZE = 100
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)  # updated_at falls in the 30 days after it
SPREAD_MINUTES = 30 * 24 * 60
TIE_EVERY = 19  # items 19, 38, 57, 76, 95 share the previous item's updated_at

BEARER_TOKEN = "sandbox-catalog-token"  # public demo credentials, not secrets
API_KEY_HEADER = "X-API-Key"
API_KEY = "sandbox-catalog-key"
BASIC_USERNAME = "catalog"
BASIC_PASSWORD = "sandbox-pass"  # public demo credentials, not secrets

_ADJECTIVES = split("Brass, Cedar, Copper, Felt, Granite, Linen, Maple, Slate, Wicker, Woollen")
_NOUNS = split("Lantern, Kettle, Stool, Basket, Clock, Planter, Satchel, Ladle, Mirror, Rug")
_TAGS = split("garden, kitchen, lighting, outdoor, storage, gift, handmade, sale, new, vintage")
_FIRST = split("Ines, Tomas, Maren, Oskar, Lidia, Piet, Sanna, Vito, Greta, Emil")
_LAST = split("Holloway, Brandt, Ferreira, Lund, Okafor, Novak, Sato, Rinaldi, Kowal, Dahl")
_DIGITS = re.compile(r"[0-9]{1,18}")  # not int(): it takes "+1", "1_0", " 1" and other scripts
_UNBOUNDED = 10**18  # past every digit string _DIGITS lets through
_CURSOR_PREFIX = "catalog:"


class _Refusal(Exception):
    """A request the catalog refuses: the status, the error text and any reply headers."""

    def __init__(self, status: int, error: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(error)
        self.status, self.error, self.headers = status, error, headers


# ---------------------------------------------------------------------------- the items


def _item(rng: random.Random, item_id: int, updated: datetime) -> dict[str, Any]:
    price = round(rng.uniform(2, 400), 2)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "id": item_id,
        "sku": f"SKU-{item_id:03d}-{fill(rng, '@@')}",
        "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
        "price": price,
        "tags": sorted(rng.sample(_TAGS, rng.randint(1, 3))),
        "owner": {"name": f"{first} {last}", "email": f"{first}.{last}@example.test".lower()},
        "internal": {
            "cost": round(price * rng.uniform(0.4, 0.8), 2),
            "supplier_token": f"sup_{rng.getrandbits(64):016x}",
        },
        "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@cache
def _timed() -> tuple[tuple[datetime, dict[str, Any]], ...]:
    rng = random.Random("twl-sandbox:catalog")
    made: list[tuple[datetime, dict[str, Any]]] = []
    for item_id in range(1, TOTAL + 1):
        updated = EPOCH + timedelta(minutes=rng.randrange(SPREAD_MINUTES))
        if item_id % TIE_EVERY == 0:
            updated = made[-1][0]
        made.append((updated, _item(rng, item_id, updated)))
    return tuple(made)


def catalog_items() -> list[dict[str, Any]]:
    """Every item, by id (the same on every call)."""
    return [item for _, item in _timed()]


def _listed(since: datetime | None) -> list[dict[str, Any]]:
    if since is None:
        return catalog_items()
    kept = [(at, item) for at, item in _timed() if at >= since]
    return [item for _, item in sorted(kept, key=lambda pair: (pair[0], pair[1]["id"]))]


# ---------------------------------------------------------------------------- parameters


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name) or []
    if len(values) > 1:
        raise _Refusal(400, f"{name} must be given once, got {len(values)} values")
    return values[0] if values else None


def _whole(query: Mapping[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = _one(query, name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        bounds = f"from {low} to {high}" if high < _UNBOUNDED else f">= {low}"
        raise _Refusal(400, f"{name} must be a whole number {bounds}, got {raw[:40]!r}")
    return int(raw)


def _page(query: Mapping[str, list[str]]) -> int:
    return _whole(query, "page", 1, 1, _UNBOUNDED)


def _size(query: Mapping[str, list[str]], name: str = "size") -> int:
    return _whole(query, name, DEFAULT_SIZE, 1, MAX_SIZE)


def _since(query: Mapping[str, list[str]]) -> datetime | None:
    raw = _one(query, "updated_since")
    if raw is None:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        hint = "such as 2026-11-01T00:00:00Z (send '+' as %2B)"
        error = f"updated_since must be an ISO 8601 time {hint}, got {raw[:40]!r}"
        raise _Refusal(400, error) from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def _decode_cursor(query: Mapping[str, list[str]]) -> int:
    raw = _one(query, "cursor")
    if raw is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    offset = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not _DIGITS.fullmatch(offset):
        raise _Refusal(400, f"cursor is not one this API issued: {raw[:40]!r}")
    return int(offset)


# ---------------------------------------------------------------------------- credentials


def _scheme_value(headers: Mapping[str, str], scheme: str) -> str:
    given, _, value = headers.get("authorization", "").strip().partition(" ")
    return value.strip() if given.lower() == scheme else ""


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and a header may hold any Latin-1 text.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _basic_pair(headers: Mapping[str, str]) -> str:
    try:
        return base64.b64decode(_scheme_value(headers, "basic"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


_CHECKS: dict[str, tuple[Callable[[Mapping[str, str]], bool], str, str]] = {
    # kind: (accepts the headers, what the 401 says, its WWW-Authenticate)
    "bearer": (
        lambda h: _same(_scheme_value(h, "bearer"), BEARER_TOKEN),
        "this endpoint needs Authorization: Bearer <token>",
        'Bearer realm="catalog"',
    ),
    "api_key": (
        lambda h: _same(h.get(API_KEY_HEADER.lower(), ""), API_KEY),
        f"this endpoint needs an {API_KEY_HEADER} header",
        f'ApiKey realm="catalog", header="{API_KEY_HEADER}"',
    ),
    "http_basic": (
        lambda h: _same(_basic_pair(h), f"{BASIC_USERNAME}:{BASIC_PASSWORD}"),
        "this endpoint needs HTTP basic auth",
        'Basic realm="catalog"',
    ),
}


def _require(kind: str, headers: Mapping[str, str]) -> None:
    accepts, error, challenge = _CHECKS[kind]
    if not accepts(headers):
        raise _Refusal(401, f"unauthorized: {error}", (("WWW-Authenticate", challenge),))


# ---------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class _Pages:
    """One page of a page-numbered endpoint: its items and how to link to its neighbours."""

    request: FakeRequest
    page: int
    size: int
    listed: list[dict[str, Any]]

    @property
    def items(self) -> list[dict[str, Any]]:
        start = (self.page - 1) * self.size
        return self.listed[start : start + self.size]

    @property
    def pages(self) -> int:
        return math.ceil(len(self.listed) / self.size)

    def url(self, page: int) -> str:
        """This endpoint's absolute URL with ``page`` in place, other parameters kept."""
        query = {**self.request.query, "page": [str(page)]}
        link = f"{self.request.base_url}{PREFIX}{self.request.path}"
        return f"{link}?{urlencode(query, doseq=True)}"

    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages else None


def _pages(request: FakeRequest) -> _Pages:
    query = request.query
    return _Pages(request, _page(query), _size(query), _listed(_since(query)))


def _reply(body: Any, headers: tuple[tuple[str, str], ...] = ()) -> FakeReply:
    return FakeReply(200, dumps(body), headers)


def _page_number(request: FakeRequest) -> FakeReply:
    at = _pages(request)
    meta = {"page": at.page, "pages": at.pages, "total": len(at.listed)}
    return _reply({"data": {"items": at.items}, "meta": meta})


def _offset(request: FakeRequest) -> FakeReply:
    offset = _whole(request.query, "offset", 0, 0, _UNBOUNDED)
    listed = _listed(_since(request.query))
    return _reply(
        {"results": listed[offset : offset + _size(request.query, "limit")], "total": len(listed)}
    )


def _linked(request: FakeRequest) -> FakeReply:
    at = _pages(request)
    return _reply({"items": at.items, "next": at.next_url()})


def _headers(request: FakeRequest) -> FakeReply:
    at = _pages(request)
    links = {"next": at.next_url(), "last": at.url(max(at.pages, 1)), "first": at.url(1)}
    if at.page > 1:
        links["prev"] = at.url(min(at.page - 1, max(at.pages, 1)))
    value = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)
    return _reply(at.items, (("Link", value),))


def _cursor(request: FakeRequest) -> FakeReply:
    offset, size = _decode_cursor(request.query), _size(request.query)
    listed = _listed(_since(request.query))
    after = offset + size
    following = _encode_cursor(after) if after < len(listed) else None
    return _reply({"items": listed[offset:after], "cursors": {"next": following}})


def _single(request: FakeRequest) -> FakeReply:
    return _reply(_listed(_since(request.query))[:SINGLE_PAGE_ITEMS])


def _protected(kind: str) -> Callable[[FakeRequest], FakeReply]:
    def serve(request: FakeRequest) -> FakeReply:
        _require(kind, request.headers)
        return _page_number(request)

    return serve


_ENDPOINTS: dict[str, tuple[str, Callable[[FakeRequest], FakeReply]]] = {
    # path: (paginator style, handler)
    "/items": ("page_number", _page_number),
    "/offset": ("offset", _offset),
    "/linked": ("json_link", _linked),
    "/headers": ("header_link", _headers),
    "/cursor": ("cursor", _cursor),
    "/single": ("single_page", _single),
    "/private/items": ("page_number, bearer", _protected("bearer")),
    "/keyed/items": ("page_number, api_key", _protected("api_key")),
    "/basic/items": ("page_number, http_basic", _protected("http_basic")),
}


def _index(request: FakeRequest) -> FakeReply:
    root = f"{request.base_url}{PREFIX}"
    endpoints = {f"{root}{path}": style for path, (style, _) in _ENDPOINTS.items()}
    return _reply({"items": TOTAL, "endpoints": endpoints})


def respond_http(request: FakeRequest) -> FakeReply:
    """The reply to a GET below ``/catalog``: an endpoint's page, else a JSON 400/401/404."""
    path = request.path.rstrip("/")
    handler = _index if path == "" else _ENDPOINTS.get(path, ("", None))[1]
    if handler is None:
        return FakeReply(404, dumps({"error": f"no catalog endpoint {request.path[:80]!r}"}))
    try:
        return handler(request)
    except _Refusal as refusal:
        return FakeReply(refusal.status, dumps({"error": refusal.error}), refusal.headers)


def respond(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
    """Status and body without request headers (so the protected endpoints answer 401)."""
    reply = respond_http(FakeRequest(path, query, base_url))
    return reply.status, reply.body
