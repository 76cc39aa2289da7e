"""Fetching a declared source: the bounded page walk a run makes, and the admin's one-page Test.

``fetch_pages`` walks one resource's pages with the definition's paginator
(``first_request`` / ``next_request``, pure, in ``pipeline.sources.declared``) through the
SSRF guard (``http_guard``), with the definition's headers and its secret's auth header.
The invariants:

- A bound (pages, records, bytes, seconds: ``config.source_bounds``) is never passed by
  more than the page in flight, and reaching one is not a failure: the walk stops, keeps
  every page fetched, and ``stopped`` says which bound and how much was kept. Bounds are
  checked between pages; a page is never split (it is the raw object, the unit of
  change detection), so the record bound may be passed by the last page's items.
- Only the first page can fail the walk (bad JSON, a selector that finds no list, an
  HTTP error, an address refused, a secret missing). A later page failing, or a page
  the paginator cannot read its next step from (a next link off the origin, a total
  that is no number), stops the walk with the reason and keeps the pages before it.
- The incremental cursor only moves forward: ``cursor_value`` out is the largest cursor
  seen (text order) or the one given. It moves on a stopped walk too, so an endpoint
  that sorts by its cursor (as ``updated_since`` APIs do) resumes where the walk stopped.

``test_source`` is the admin's Test: one page, the Test bounds, then the pure preview.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from pipeline.core.config import PipelineConfig, SourceBounds
from pipeline.core.errors import SourceError
from pipeline.core.payloads import json_loads_exact
from pipeline.services.http_guard import (
    AddressPolicy,
    DeadlineExceeded,
    FetchedPage,
    PageTooLarge,
    guarded_get,
    guarded_session,
    policy_for,
)
from pipeline.services.secrets import auth_headers
from pipeline.sources.declared.paginators import (
    PageRequest,
    PageResponse,
    effective_paginator,
    first_request,
    next_request,
)
from pipeline.sources.declared.preview import Preview, preview
from pipeline.sources.declared.source import DeclaredSource

Mode = Literal["run", "test"]
Clock = Callable[[], float]
# A cursor longer than this is not a cursor (it would travel in every later query string).
MAX_CURSOR_CHARS = 256


@dataclass(frozen=True)
class Page:
    """One fetched page: where it came from, its body as received, and its items."""

    url: str
    body: bytes
    items: list[Any]
    item_count: int


@dataclass
class FetchedPages:
    """A walk's pages, why it stopped early (None when the paginator ran out), the cursor."""

    pages: list[Page] = field(default_factory=list)
    stopped: str | None = None
    cursor_value: str | None = None

    @property
    def item_count(self) -> int:
        return sum(page.item_count for page in self.pages)

    @property
    def byte_count(self) -> int:
        return sum(len(page.body) for page in self.pages)


@dataclass(frozen=True)
class Limits:
    """The bounds of one walk, from ``SourceBounds`` and the mode."""

    max_pages: int
    max_records: int
    max_bytes: int
    page_max_bytes: int
    seconds: float


def limits_for(bounds: SourceBounds, max_pages: int, mode: Mode) -> Limits:
    """A run's bounds (the resource's own page bound within the stage's), or the Test's."""
    if mode == "test":
        test_bytes = bounds.test_max_bytes
        return Limits(1, bounds.max_records, test_bytes, test_bytes, bounds.test_seconds)
    pages = min(max_pages, bounds.max_pages)
    return Limits(
        pages, bounds.max_records, bounds.max_bytes, bounds.page_max_bytes, bounds.max_seconds
    )


def fetch_pages(
    source: DeclaredSource,
    type_: str,
    *,
    config: PipelineConfig,
    session: requests.Session,
    cursor_value: str | None,
    mode: Mode,
    clock: Clock = time.monotonic,
) -> FetchedPages:
    """Walk ``type_``'s pages within the bounds; see the module's invariants."""
    resource = source.resource(type_)
    limits = limits_for(config.source_bounds, resource.max_pages, mode)
    walk = _Walk(source, type_, config, session, limits, clock)
    result = FetchedPages(cursor_value=cursor_value)
    request: PageRequest | None = first_request(
        source.definition, resource, cursor_value=cursor_value
    )
    paginator = effective_paginator(source.definition, resource)
    while request is not None:
        result.stopped = walk.bound_reached(result)
        if result.stopped:
            break
        try:
            fetched, payload = walk.get(request, remaining=limits.max_bytes - result.byte_count)
            items = source.items(type_, payload)
        except (SourceError, requests.RequestException) as exc:
            if not result.pages:
                raise _first_page_error(exc, limits) from exc
            result.stopped = _later_page_stop(exc, result, limits)
            break
        page = Page(fetched.url, fetched.body, items, len(items))
        result.pages.append(page)
        result.cursor_value = _cursor_after(source, type_, items, result.cursor_value)
        response = PageResponse(fetched.url, payload, fetched.headers, page.item_count)
        try:
            request = next_request(paginator, request, response)
        except SourceError as exc:  # a link off the origin, a total that is not a number
            result.stopped = f"stopped after page {len(result.pages)}: {exc}"
            break
    return result


def test_source(
    source: DeclaredSource,
    type_: str,
    *,
    config: PipelineConfig,
    session: requests.Session | None = None,
    limit: int = 20,
) -> Preview:
    """The admin's Test: fetch the first page live (Test bounds) and preview its curation."""
    fetched = fetch_pages(
        source,
        type_,
        config=config,
        session=session or guarded_session(config),
        cursor_value=None,
        mode="test",
    )
    body = fetched.pages[0].body
    return preview(source, type_, json_loads_exact(body), limit=limit)


class _Walk:
    """What every page of one walk shares: headers with auth, policy, deadline, clock."""

    def __init__(
        self,
        source: DeclaredSource,
        type_: str,
        config: PipelineConfig,
        session: requests.Session,
        limits: Limits,
        clock: Clock,
    ) -> None:
        client = source.definition.client
        # Resolved once per walk; the value lives in this dict only, never in a message.
        self.headers = {**dict(client.headers), **auth_headers(client.auth, config=config)}
        self.policy: AddressPolicy = policy_for(config)
        self.timeout = (config.http_connect_timeout, config.http_read_timeout)
        self.session, self.limits, self.clock = session, limits, clock
        self.deadline = clock() + limits.seconds

    def get(self, request: PageRequest, *, remaining: int) -> tuple[FetchedPage, Any]:
        """Fetch one page within the bytes left; its body parsed (SourceError when not JSON)."""
        fetched = guarded_get(
            self.session,
            request,
            headers=self.headers,
            policy=self.policy,
            timeout=self.timeout,
            max_bytes=min(self.limits.page_max_bytes, remaining),
            deadline=self.deadline,
            clock=self.clock,
        )
        try:
            return fetched, json_loads_exact(fetched.body)
        except (ValueError, RecursionError):
            raise SourceError(f"the page at {fetched.url} is not JSON") from None

    def bound_reached(self, result: FetchedPages) -> str | None:
        """Why the walk may not fetch another page, or None."""
        limits, pages = self.limits, len(result.pages)
        if pages >= limits.max_pages:
            return _stop(f"the page bound ({_count(limits.max_pages, 'page')})", result)
        if result.item_count >= limits.max_records:
            return _stop(f"the record bound ({_count(limits.max_records, 'record')})", result)
        if result.byte_count >= limits.max_bytes:
            return _stop(f"the byte bound ({_count(limits.max_bytes, 'byte')})", result)
        if self.clock() >= self.deadline:
            return _stop(f"the time bound ({limits.seconds:g} s)", result)
        return None


def _first_page_error(exc: Exception, limits: Limits) -> SourceError:
    """The first page failing fails the walk: say what went wrong in the bound's terms."""
    if isinstance(exc, DeadlineExceeded):
        return SourceError(f"the first page took longer than the time bound ({limits.seconds:g} s)")
    if isinstance(exc, SourceError):
        return exc
    return SourceError(f"the first page could not be fetched: {exc}")


def _later_page_stop(exc: Exception, result: FetchedPages, limits: Limits) -> str:
    if isinstance(exc, DeadlineExceeded):
        return _stop(f"the time bound ({limits.seconds:g} s)", result)
    if (
        isinstance(exc, PageTooLarge)
        and limits.max_bytes - result.byte_count < limits.page_max_bytes
    ):
        return _stop(f"the byte bound ({_count(limits.max_bytes, 'byte')})", result)
    return f"stopped after page {len(result.pages)}: page {len(result.pages) + 1} failed: {exc}"


def _stop(bound: str, result: FetchedPages) -> str:
    kept = _count(result.item_count, "record")
    return f"stopped at {bound}; {_count(len(result.pages), 'page')}, {kept} kept"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _cursor_after(
    source: DeclaredSource, type_: str, items: list[Any], current: str | None
) -> str | None:
    """The largest cursor among ``items`` and ``current`` (text order); None without any."""
    best = current
    for item in items:
        value = source.cursor_of(type_, item)  # None for an item without a usable one
        if value and len(value) <= MAX_CURSOR_CHARS and (best is None or value > best):
            best = value
    return best
