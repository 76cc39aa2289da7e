"""Validation of a definition's paginators and resources (``spec`` validates the rest).

Each resource is checked field by field and then as a whole: an excluded field may
not also be personal, nor appear in the title or be the primary key (record ids and
titles are shown to every reader), and no query parameter may be set twice (by the
endpoint's params, the paginator and the incremental cursor).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from pipeline.sources.declared.checks import (
    ABSENT,
    INVALID,
    MAX_ENTRIES,
    PARAM_NAME,
    Errors,
    child,
    dotted,
    integer,
    kind,
    matching,
    obj,
    param_value,
    path_list,
    string,
    template,
)
from pipeline.sources.declared.model import Incremental, Paginator, Resource
from pipeline.sources.declared.paths import title_paths, under_any

Check = Callable[[Any, str, Errors], Any]
REQUIRED: Final = object()
RESOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
_PATH = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2}){0,500}")
_REL = re.compile(r"[a-z][a-z0-9.-]{0,39}")
DEFAULT_MAX_PAGES = 100
MAX_PAGES_LIMIT = 1000


def _param(value: Any, path: str, errs: Errors) -> Any:
    rule = "a query parameter name: 1..64 of A-Z a-z 0-9 _ . ~ [ ] -"
    return matching(value, path, errs, PARAM_NAME, rule)


def _count(low: int, high: int) -> Check:
    return lambda value, path, errs: integer(value, path, errs, low=low, high=high)


def _rel(value: Any, path: str, errs: Errors) -> Any:
    return matching(value, path, errs, _REL, "a link relation such as 'next'")


# Each style's options in canonical order: (key, check, default or REQUIRED).
PAGINATOR_OPTIONS: dict[str, tuple[tuple[str, Check, Any], ...]] = {
    "single_page": (),
    "page_number": (
        ("page_param", _param, "page"),
        ("base_page", _count(0, 1_000_000), 1),
        ("total_path", dotted, None),
        ("maximum_page", _count(0, 1_000_000_000), None),
    ),
    "offset": (
        ("limit", _count(1, 10_000), REQUIRED),
        ("offset_param", _param, "offset"),
        ("limit_param", _param, "limit"),
        ("total_path", dotted, None),
    ),
    "json_link": (("next_url_path", dotted, REQUIRED),),
    "header_link": (("links_next_key", _rel, "next"),),
    "cursor": (("cursor_path", dotted, REQUIRED), ("cursor_param", _param, REQUIRED)),
}


def take(
    data: Mapping[str, Any], key: str, path: str, errs: Errors, check: Check, default: Any
) -> Any:
    """``data[key]`` checked; ``default`` when absent (or null, if the default is None)."""
    value = data.get(key, ABSENT)
    if value is ABSENT or (value is None and default is None):
        if default is REQUIRED:
            errs.add(child(path, key), "required")
            return INVALID
        return default
    return check(value, child(path, key), errs)


def paginator(value: Any, path: str, errs: Errors) -> Any:
    """A Paginator from a style name or an object with ``type``; None for null."""
    if value is None:
        return None
    data = {"type": value} if isinstance(value, str) else value
    if not isinstance(data, Mapping):
        errs.add(path, f"must be a paginator name or an object, not {kind(value)}")
        return INVALID
    style = data.get("type", ABSENT)
    if not isinstance(style, str) or style not in PAGINATOR_OPTIONS:
        known = ", ".join(PAGINATOR_OPTIONS)
        problem = "required" if style is ABSENT else f"unknown paginator (known: {known})"
        errs.add(child(path, "type"), problem)
        return INVALID
    spec = PAGINATOR_OPTIONS[style]
    obj(data, path, errs, ("type", *(key for key, _, _ in spec)))
    options = tuple((key, take(data, key, path, errs, check, d)) for key, check, d in spec)
    if any(v is INVALID for _, v in options) or not _consistent(style, dict(options), path, errs):
        return INVALID
    return Paginator(style, options)


def _consistent(style: str, options: dict[str, Any], path: str, errs: Errors) -> bool:
    top, base = options.get("maximum_page"), options.get("base_page")
    if style == "page_number" and top is not None and top < base:
        errs.add(child(path, "maximum_page"), "must not be below base_page")
        return False
    if style == "offset" and options["offset_param"] == options["limit_param"]:
        errs.add(child(path, "limit_param"), "must differ from offset_param")
        return False
    return True


def _endpoint_path(value: Any, path: str, errs: Errors) -> Any:
    if not isinstance(value, str):
        errs.add(path, f"must be a string, not {kind(value)}")
        return INVALID
    segments = value.split("/")
    if "://" in value:
        errs.add(path, "must be a path below client.base_url, not a URL")
        return INVALID
    if not _PATH.fullmatch(value) or value.startswith("//") or ".." in segments:
        errs.add(path, "must be a URL path such as /items (no query, '..', '//' or spaces)")
        return INVALID
    return "/" + value.lstrip("/") if value else ""


def _params(value: Any, path: str, errs: Errors) -> Any:
    if not isinstance(value, Mapping):
        errs.add(path, "must be an object of parameter names to values")
        return INVALID
    if len(value) > MAX_ENTRIES:
        errs.add(path, f"has {len(value):,} parameters; at most {MAX_ENTRIES}")
        return INVALID
    checked = {
        key: param_value(v, child(path, key), errs)
        for key, v in value.items()
        if _param(key, child(path, key), errs) is not INVALID
    }
    bad = len(checked) < len(value) or INVALID in checked.values()
    return INVALID if bad else tuple(sorted(checked.items()))


def _selector(value: Any, path: str, errs: Errors) -> Any:
    # dlt writes JSONPath; its root-anchored dotted subset ("$.data.items") is accepted.
    if value is None or value in ("", "$"):
        return ""
    if isinstance(value, str) and value.startswith("$."):
        value = value[2:]
    if isinstance(value, str) and any(c in value for c in "[]*?()"):
        errs.add(
            path, "must be a dotted path such as data.items (JSONPath filters are not supported)"
        )
        return INVALID
    return dotted(value, path, errs)


def _initial(value: Any, path: str, errs: Errors) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        checked = integer(value, path, errs, low=-(10**15), high=10**15)
        return INVALID if checked is INVALID else str(checked)
    return string(value, path, errs, max_chars=200)


def _incremental(value: Any, path: str, errs: Errors) -> Any:
    data = obj(value, path, errs, ("cursor_path", "param", "initial_value"))
    if data is INVALID:
        return INVALID
    parts = (
        take(data, "cursor_path", path, errs, dotted, REQUIRED),
        take(data, "param", path, errs, _param, REQUIRED),
        take(data, "initial_value", path, errs, _initial, None),
    )
    return INVALID if INVALID in parts else Incremental(*parts)


def _fields(value: Any, path: str, errs: Errors) -> Any:
    data = obj(value, path, errs, ("include", "exclude", "personal"))
    if data is INVALID:
        return INVALID
    include = data.get("include")
    return (
        None if include is None else path_list(include, child(path, "include"), errs),
        take(data, "exclude", path, errs, path_list, ()),
        take(data, "personal", path, errs, path_list, ()),
    )


def _endpoint(value: Any, path: str, errs: Errors) -> Any:
    if isinstance(value, str):  # dlt's shorthand: the endpoint is its path
        value = {"path": value}
    data = obj(value, path, errs, ("path", "params", "data_selector", "paginator"))
    if data is INVALID:
        return INVALID
    return (
        take(data, "path", path, errs, _endpoint_path, REQUIRED),
        take(data, "params", path, errs, _params, ()),
        take(data, "data_selector", path, errs, _selector, ""),
        take(data, "paginator", path, errs, paginator, None),
    )


def _primary_key(value: Any, path: str, errs: Errors) -> Any:
    if isinstance(value, list):
        errs.add(path, "must be one dotted path (composite keys are not supported)")
        return INVALID
    return dotted(value, path, errs)


def _resource_name(value: Any, path: str, errs: Errors) -> Any:
    rule = "a type name: a lower-case letter, then up to 30 of a-z 0-9 _"
    return matching(value, path, errs, RESOURCE_NAME, rule)


RESOURCE_KEYS = ("name", "endpoint", "primary_key", "title", "fields", "incremental", "max_pages")


def resource(value: Any, path: str, errs: Errors, *, client_paginator: Any) -> Any:
    """One Resource, checked field by field and then as a whole (``_coherent``)."""
    data = obj(value, path, errs, RESOURCE_KEYS)
    if data is INVALID:
        return INVALID
    name = take(data, "name", path, errs, _resource_name, REQUIRED)
    endpoint = take(data, "endpoint", path, errs, _endpoint, REQUIRED)
    key = take(data, "primary_key", path, errs, _primary_key, REQUIRED)
    title = take(data, "title", path, errs, template, None)
    fields = take(data, "fields", path, errs, _fields, (None, (), ()))
    incremental = take(data, "incremental", path, errs, _incremental, None)
    max_pages = take(data, "max_pages", path, errs, _count(1, MAX_PAGES_LIMIT), DEFAULT_MAX_PAGES)
    endpoint_path, params, selector, pager = (INVALID,) * 4 if endpoint is INVALID else endpoint
    include, exclude, personal = (INVALID,) * 3 if fields is INVALID else fields
    built = dict(
        name=name,
        path=endpoint_path,
        params=params,
        data_selector=selector,
        paginator=pager,
        primary_key=key,
        title=key if title is None else title,
        include=include,
        exclude=exclude,
        personal=personal,
        incremental=incremental,
        max_pages=max_pages,
    )
    coherent = _coherent(built, path, errs, client_paginator)
    return Resource(**built) if coherent and INVALID not in built.values() else INVALID


def _valid(*values: Any) -> bool:
    return all(v is not INVALID for v in values)


def _coherent(res: dict[str, Any], path: str, errs: Errors, client_paginator: Any) -> bool:
    """Rules across fields, each checked as soon as the fields it needs are valid."""
    before = len(errs.found)
    key, title, exclude, personal = (
        res[k] for k in ("primary_key", "title", "exclude", "personal")
    )
    if _valid(exclude, personal):
        for index, entry in enumerate(personal):
            if under_any(entry, exclude):
                where = f"{child(path, 'fields')}.personal[{index}]"
                errs.add(where, "is excluded too; an excluded field is never kept")
    if _valid(title, exclude) and any(under_any(p, exclude) for p in title_paths(title)):
        errs.add(child(path, "title"), "reads an excluded field; titles are shown to everyone")
    for rule, listed in (("excluded", exclude), ("personal", personal)):
        if _valid(key, listed) and under_any(key, listed):
            errs.add(child(path, "primary_key"), f"is {rule}, but record ids are shown to everyone")
    pager = res["paginator"] or client_paginator
    if _valid(res["params"], pager, res["incremental"]):
        _params_once(res["params"], res["incremental"], path, errs, pager)
    return len(errs.found) == before


def _params_once(
    params: tuple[tuple[str, Any], ...],
    incremental: Incremental | None,
    path: str,
    errs: Errors,
    pager: Paginator | None,
) -> None:
    owners: dict[str, str] = {name: "the endpoint's params" for name, _ in params}
    claims = [(p, "the paginator") for p in (pager.query_params() if pager else ())]
    if incremental is not None:
        claims.append((incremental.param, "incremental.param"))
    for name, owner in claims:
        if name in owners:
            errs.add(path, f"query parameter {name!r} is set by both {owners[name]} and {owner}")
        owners.setdefault(name, owner)
