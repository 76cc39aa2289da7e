"""A declared source's definition: parsing it (every error at once) and its canonical form.

The format is a subset of dlt's ``rest_api`` configuration plus our curation keys
(docs/ has the reference). ``parse_definition`` is the only way in: for ANY input it
returns a Definition or raises DefinitionInvalid listing every problem with its path,
never another exception. ``definition_dict`` is the stored form (defaults filled, keys
in a fixed order), and ``parse_definition(definition_dict(d)) == d`` always holds.

Secrets never appear in a definition: ``auth.secret`` is a reference, and credentials
cannot be smuggled in as plain headers (``client_spec`` holds those rules).
``resource_spec`` checks paginators and resources; ``checks`` the primitive rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from pipeline.sources.declared.checks import (
    INVALID,
    Errors,
    boolean,
    child,
    integer,
    item,
    kind,
    matching,
    obj,
)
from pipeline.sources.declared.client_spec import (
    AUTH_TYPES,
    DEFAULT_API_KEY_HEADER,
    SECRET_REF,
    parse_client,
)
from pipeline.sources.declared.model import (
    Auth,
    Client,
    Definition,
    DefinitionInvalid,
    FieldError,
    Incremental,
    Paginator,
    Resource,
)
from pipeline.sources.declared.resource_spec import REQUIRED, resource, take

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_API_KEY_HEADER",
    "MAX_DEFINITION_BYTES",
    "SECRET_REF",
    "SOURCE_NAME",
    "Auth",
    "Client",
    "Definition",
    "DefinitionInvalid",
    "FieldError",
    "Incremental",
    "Paginator",
    "Resource",
    "definition_dict",
    "parse_definition",
    "parse_definition_text",
]

MAX_DEFINITION_BYTES: Final = 32_000
MAX_RESOURCES: Final = 20
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")
NOT_JSON = "is not JSON (or holds NaN, Infinity, a lone surrogate or a non-JSON value)"
TOP_KEYS = ("name", "client", "resources", "schedule_minutes", "enabled")


def parse_definition(data: Any, *, reserved: frozenset[str] = frozenset()) -> Definition:
    """The Definition ``data`` describes, or DefinitionInvalid with every problem found.

    ``reserved`` holds names that are taken (the built-in sources).
    """
    errs = Errors()
    _size(data, errs)
    if errs.found:
        raise DefinitionInvalid(errs.found)
    try:
        built = _definition(data, errs, reserved)
    except RecursionError:  # only a hostile, deeply nested input gets here
        errs.add("definition", "is nested too deeply")
    if errs.found:
        raise DefinitionInvalid(errs.found)
    return built


def parse_definition_text(
    text: str | bytes, *, reserved: frozenset[str] = frozenset()
) -> Definition:
    """``parse_definition`` of a JSON document (a file, a form field), size checked first."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_DEFINITION_BYTES:
        raise DefinitionInvalid([_too_large(size)])
    try:
        data = json.loads(text, object_pairs_hook=_no_repeats, parse_constant=_no_constant)
    except _Repeated as exc:
        raise DefinitionInvalid([FieldError("definition", str(exc))]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise DefinitionInvalid(
            [FieldError("definition", f"is not JSON: {exc.msg} at {where}")]
        ) from None
    except (ValueError, RecursionError):  # bad UTF-8, a 5,000-digit number, deep nesting
        raise DefinitionInvalid(
            [FieldError("definition", "is not JSON this tool can read")]
        ) from None
    return parse_definition(data, reserved=reserved)


class _Repeated(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Repeated(f"repeats the key {key[:40]!r} in one object (JSON keeps only one)")
        seen.add(key)
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_large(size: int) -> FieldError:
    return FieldError("definition", f"is {size:,} bytes; at most {MAX_DEFINITION_BYTES:,}")


def _size(data: Any, errs: Errors) -> None:
    try:
        compact = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        size = len(compact.encode())
    except (TypeError, ValueError, RecursionError):
        errs.add("definition", NOT_JSON)
        return
    if size > MAX_DEFINITION_BYTES:
        errs.found.append(_too_large(size))


def _definition(data: Any, errs: Errors, reserved: frozenset[str]) -> Definition:
    top = obj(data, "", errs, TOP_KEYS)
    if top is INVALID:
        return _placeholder()
    name = take(top, "name", "", errs, lambda v, p, e: _name(v, p, e, reserved), REQUIRED)
    client = take(top, "client", "", errs, parse_client, REQUIRED)
    pager = client.paginator if isinstance(client, Client) else None
    resources = take(
        top, "resources", "", errs, lambda v, p, e: _resources(v, p, e, pager), REQUIRED
    )
    minutes = take(top, "schedule_minutes", "", errs, _minutes, 5)
    enabled = take(top, "enabled", "", errs, boolean, True)
    if errs.found:
        return _placeholder()
    return Definition(name, client, resources, minutes, enabled)


def _placeholder() -> Definition:
    return Definition("", Client(""), ())  # never returned: errors were recorded


def _name(value: Any, path: str, errs: Errors, reserved: frozenset[str]) -> Any:
    rule = "a source name: a lower-case letter, then 1..30 of a-z 0-9 _"
    name = matching(value, path, errs, SOURCE_NAME, rule)
    if name is not INVALID and name in reserved:
        errs.add(path, f"{name!r} is a built-in source")
        return INVALID
    return name


def _minutes(value: Any, path: str, errs: Errors) -> Any:
    return integer(value, path, errs, low=5, high=10080)


def _resources(value: Any, path: str, errs: Errors, pager: Paginator | None) -> Any:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RESOURCES:
        shape = kind(value) if not isinstance(value, list) else f"{len(value)} resources"
        errs.add(path, f"must be an array of 1..{MAX_RESOURCES} resources, not {shape}")
        return INVALID
    built = [resource(v, item(path, i), errs, client_paginator=pager) for i, v in enumerate(value)]
    first: dict[str, int] = {}
    for index, entry in enumerate(value):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name in first:
            errs.add(child(item(path, index), "name"), f"repeats {item(path, first[name])}.name")
        if isinstance(name, str):
            first.setdefault(name, index)
    return INVALID if INVALID in built else tuple(built)


def definition_dict(defn: Definition) -> dict[str, Any]:
    """The canonical JSON form: every key, defaults filled, keys in a fixed order."""
    client = defn.client
    return {
        "name": defn.name,
        "client": {
            "base_url": client.base_url,
            "headers": dict(client.headers),
            "auth": _auth_dict(client.auth),
            "paginator": _paginator_dict(client.paginator),
        },
        "resources": [_resource_dict(r) for r in defn.resources],
        "schedule_minutes": defn.schedule_minutes,
        "enabled": defn.enabled,
    }


def _auth_dict(auth: Auth | None) -> dict[str, Any] | None:
    if auth is None:
        return None
    extra = {"name": auth.name} if auth.type == "api_key" else {}
    extra |= {"username": auth.username} if auth.type == "http_basic" else {}
    return {"type": auth.type, "secret": auth.secret, **extra}


def _paginator_dict(pager: Paginator | None) -> dict[str, Any] | None:
    return None if pager is None else {"type": pager.type, **dict(pager.options)}


def _resource_dict(res: Resource) -> dict[str, Any]:
    inc = res.incremental
    return {
        "name": res.name,
        "endpoint": {
            "path": res.path,
            "params": dict(res.params),
            "data_selector": res.data_selector,
            "paginator": _paginator_dict(res.paginator),
        },
        "primary_key": res.primary_key,
        "title": res.title,
        "fields": {
            "include": None if res.include is None else list(res.include),
            "exclude": list(res.exclude),
            "personal": list(res.personal),
        },
        "incremental": None
        if inc is None
        else {
            "cursor_path": inc.cursor_path,
            "param": inc.param,
            "initial_value": inc.initial_value,
        },
        "max_pages": res.max_pages,
    }
