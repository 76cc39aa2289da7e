"""Which page to ask for next: each paginator style as a pure function of the last page.

``first_request`` builds a resource's first page; ``next_request`` reads the page just
fetched and returns the next request, or None when the style's stop rule says the end
is reached. Every style stops on a page with no items. The fetching loop (services)
does the I/O and the bounds; nothing here touches the network.

A next link (``json_link``, ``header_link``) is resolved against the page's own URL
and must stay on the base URL's origin (scheme, host and port): an API may not send
the fetcher, with the source's credentials, anywhere else (NextLinkRefused).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from pipeline.core.errors import SourceError
from pipeline.sources.declared.model import SINGLE_PAGE, Definition, Paginator, Resource
from pipeline.sources.declared.paths import MISSING, get_path, value_text

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*(?:[^;,"]|"[^"]*")*)*)')
_REL = re.compile(r"""(?i)\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")
MAX_URL_CHARS = 8000


class NextLinkRefused(SourceError):
    """A next-page link leads off the source's origin, or is not a usable URL."""


@dataclass(frozen=True)
class PageRequest:
    """One page to fetch: the URL and the query parameters added to it (text values)."""

    url: str
    params: tuple[tuple[str, str], ...] = ()

    def params_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True)
class PageResponse:
    """What the paginator needs of a fetched page; header names are lower-case."""

    url: str
    body: Any
    headers: Mapping[str, str]
    item_count: int


def effective_paginator(defn: Definition, resource: Resource) -> Paginator:
    """The resource's paginator, else the client's, else single_page."""
    return resource.paginator or defn.client.paginator or SINGLE_PAGE


def resource_url(defn: Definition, resource: Resource) -> str:
    return defn.client.base_url + resource.path


def param_text(value: str | int | float | bool) -> str:
    """A parameter's query text: booleans as JSON writes them, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def first_request(defn: Definition, resource: Resource, *, cursor_value: str | None) -> PageRequest:
    """The first page: endpoint params, the incremental cursor, the paginator's start."""
    params = {name: param_text(value) for name, value in resource.params}
    inc = resource.incremental
    start = cursor_value if cursor_value is not None else (inc.initial_value if inc else None)
    if inc is not None and start is not None:
        params[inc.param] = start
    params |= _first_page_params(effective_paginator(defn, resource))
    return PageRequest(resource_url(defn, resource), tuple(params.items()))


def _first_page_params(pager: Paginator) -> dict[str, str]:
    if pager.type == "page_number":
        return {pager.get("page_param"): str(pager.get("base_page"))}
    if pager.type == "offset":
        return {pager.get("offset_param"): "0", pager.get("limit_param"): str(pager.get("limit"))}
    return {}


def next_request(
    paginator: Paginator | None, request: PageRequest, response: PageResponse
) -> PageRequest | None:
    """The request after ``response``, or None at the end; SourceError if the page is unusable."""
    if paginator is None or response.item_count == 0:
        return None
    step = _STEPS.get(paginator.type)
    return step(paginator, request, response) if step else None


def _with(request: PageRequest, name: str, value: str) -> PageRequest:
    params = request.params_dict() | {name: value}
    return PageRequest(request.url, tuple(params.items()))


def _current(request: PageRequest, name: str) -> int:
    try:
        return int(request.params_dict()[name])
    except (KeyError, ValueError):
        raise SourceError(f"the request has no numeric {name!r} parameter to advance") from None


def _total(body: Any, path: str | None) -> int | None:
    """The count at ``total_path`` (an integer or its text); None when no path is set."""
    if path is None:
        return None
    value = get_path(body, path)
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        found = "nothing" if value is MISSING else type(value).__name__
        raise SourceError(f"total_path {path!r} should hold a whole number; the page has {found}")
    return value


def _page_number(
    pager: Paginator, request: PageRequest, response: PageResponse
) -> PageRequest | None:
    name, base = pager.get("page_param"), pager.get("base_page")
    page = _current(request, name)
    total = _total(response.body, pager.get("total_path"))
    if total is not None and page - base + 1 >= total:
        return None
    top = pager.get("maximum_page")
    if top is not None and page >= top:
        return None
    return _with(request, name, str(page + 1))


def _offset(pager: Paginator, request: PageRequest, response: PageResponse) -> PageRequest | None:
    name, limit = pager.get("offset_param"), pager.get("limit")
    following = _current(request, name) + limit
    total = _total(response.body, pager.get("total_path"))
    if total is None and response.item_count < limit:
        return None
    if total is not None and following >= total:
        return None
    return _with(request, name, str(following))


def _cursor(pager: Paginator, request: PageRequest, response: PageResponse) -> PageRequest | None:
    path, name = pager.get("cursor_path"), pager.get("cursor_param")
    value = get_path(response.body, path)
    if value is MISSING or value is None or value == "":
        return None
    if isinstance(value, (Mapping, list, bool)):
        raise SourceError(f"cursor_path {path!r} holds a {type(value).__name__}, not a cursor")
    cursor = value_text(value)
    # The same cursor again would fetch the same page for ever.
    return None if request.params_dict().get(name) == cursor else _with(request, name, cursor)


def _json_link(
    pager: Paginator, request: PageRequest, response: PageResponse
) -> PageRequest | None:
    path = pager.get("next_url_path")
    value = get_path(response.body, path)
    if value is MISSING or value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SourceError(f"next_url_path {path!r} holds a {type(value).__name__}, not a URL")
    return _follow(value, request, response)


def _header_link(
    pager: Paginator, request: PageRequest, response: PageResponse
) -> PageRequest | None:
    link = next_link(response.headers.get("link", ""), pager.get("links_next_key"))
    return None if link is None else _follow(link, request, response)


def next_link(header: str, rel: str) -> str | None:
    """The URL of the ``rel`` relation in a Link header (RFC 8288), or None."""
    for match in _LINK.finditer(header[: MAX_URL_CHARS * 4]):
        for found in _REL.finditer(match.group(2)):
            relations = (found.group(1) or found.group(2) or "").lower().split()
            if rel.lower() in relations:
                return match.group(1).strip()
    return None


def _follow(link: str, request: PageRequest, response: PageResponse) -> PageRequest | None:
    target = _resolved(link, response.url)
    if not same_origin(target, request.url):
        raise NextLinkRefused(
            f"the next-page link leads to {_origin_text(target)}, off the source's origin "
            f"{_origin_text(request.url)}; declared sources only follow links on their own origin"
        )
    return None if target == response.url else PageRequest(target)


def _resolved(link: str, base: str) -> str:
    if len(link) > MAX_URL_CHARS or not link.isprintable() or " " in link:
        raise NextLinkRefused("the next-page link is not a usable URL (too long or not printable)")
    try:
        return urljoin(base, link)
    except ValueError:
        raise NextLinkRefused("the next-page link is not a valid URL") from None


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port filled; None if not an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def same_origin(url: str, reference: str) -> bool:
    here = origin(url)
    return here is not None and here == origin(reference)


def _origin_text(url: str) -> str:
    found = origin(url)
    if found is None:
        return "a URL that is not plain http(s)"
    scheme, host, port = found
    return f"{scheme}://{host}" + ("" if port == _DEFAULT_PORTS[scheme] else f":{port}")


_Step = Callable[[Paginator, PageRequest, PageResponse], PageRequest | None]
_STEPS: dict[str, _Step] = {
    "page_number": _page_number,
    "offset": _offset,
    "cursor": _cursor,
    "json_link": _json_link,
    "header_link": _header_link,
}
