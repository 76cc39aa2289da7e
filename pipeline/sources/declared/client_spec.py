"""Validation of a definition's ``client``: the base URL, headers and auth (a reference only).

The rules that keep credentials out of a definition live here: ``auth.secret`` must be
a reference (``ssm:/…`` or ``env:TWL_SOURCE_SECRET_…``, so no other variable of the
process can be sent anywhere), credential headers only go through ``auth``, and the
headers the HTTP client owns (Host, Content-Length, …) cannot be set at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pipeline.sources.declared.checks import (
    ABSENT,
    HEADER_NAME,
    INVALID,
    MAX_ENTRIES,
    Errors,
    child,
    matching,
    obj,
    string,
)
from pipeline.sources.declared.model import Auth, Client
from pipeline.sources.declared.resource_spec import REQUIRED, paginator, take

SECRET_REF = re.compile(r"ssm:/[A-Za-z0-9_./-]{1,1000}|env:TWL_SOURCE_SECRET_[A-Z0-9_]{1,64}")
AUTH_TYPES = ("bearer", "api_key", "http_basic")
DEFAULT_API_KEY_HEADER = "X-API-Key"
# Credentials go through ``auth`` (a secret reference), never as a header's plain value.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# The HTTP client sets these; a definition that set them could split or smuggle requests.
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer",
     "keep-alive", "expect", "proxy-connection"}
)  # fmt: skip
_HEADER_VALUE = re.compile(r"[\x21-\x7e\xa1-\xff](?:[\x20-\x7e\xa0-\xff]*[\x21-\x7e\xa1-\xff])?")


def parse_client(value: Any, path: str, errs: Errors) -> Any:
    """The Client, or INVALID with its errors recorded."""
    data = obj(value, path, errs, ("base_url", "headers", "auth", "paginator"))
    if data is INVALID:
        return INVALID
    base_url = take(data, "base_url", path, errs, _base_url, REQUIRED)
    headers = take(data, "headers", path, errs, _headers, ())
    auth = take(data, "auth", path, errs, _auth, None)
    pager = take(data, "paginator", path, errs, paginator, None)
    if INVALID in (base_url, headers, auth, pager):
        return INVALID
    if (
        isinstance(auth, Auth)
        and auth.name
        and auth.name.lower() in {h.lower() for h, _ in headers}
    ):
        errs.add(child(path, "headers"), f"sets {auth.name!r}, the header auth sends the key in")
        return INVALID
    return Client(base_url, headers, auth, pager)


def _base_url(value: Any, path: str, errs: Errors) -> Any:
    if string(value, path, errs, max_chars=2000) is INVALID:
        return INVALID
    problem = _url_problem(value)
    if problem:
        errs.add(path, problem)
        return INVALID
    return value.rstrip("/")


def _url_problem(url: str) -> str | None:
    if not url.isascii() or " " in url:
        return "must be ASCII with no spaces (write an international domain in punycode)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0..65535
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host, such as https://api.example.com/v1"
    if "@" in parts.netloc:
        return "must not hold a user or password (use client.auth)"
    if "?" in url or "#" in url:
        return "must not hold a query or fragment (put parameters in endpoint.params)"
    return None


def _header_name(value: Any, path: str, errs: Errors, *, for_auth: bool = False) -> Any:
    """A header name; credential headers only as where ``auth`` puts its secret."""
    name = matching(value, path, errs, HEADER_NAME, "an HTTP header name")
    if name is INVALID:
        return INVALID
    if name.lower() in CREDENTIAL_HEADERS and not for_auth:
        errs.add(path, "carries credentials: set them with client.auth and a secret reference")
        return INVALID
    if name.lower() in TRANSPORT_HEADERS:
        errs.add(path, "is set by the HTTP client")
        return INVALID
    return name


def _auth_header(value: Any, path: str, errs: Errors) -> Any:
    return _header_name(value, path, errs, for_auth=True)


def _header_value(value: Any, path: str, errs: Errors) -> Any:
    text = string(value, path, errs)
    if text is not INVALID and not _HEADER_VALUE.fullmatch(text):
        errs.add(path, "must be printable ASCII or Latin-1, without spaces at either end")
        return INVALID
    return text


def _headers(value: Any, path: str, errs: Errors) -> Any:
    if not isinstance(value, Mapping) or len(value) > MAX_ENTRIES:
        errs.add(path, f"must be an object of at most {MAX_ENTRIES} header names to strings")
        return INVALID
    checked = [(_header_name(k, child(path, k), errs), _header_value(v, child(path, k), errs))
               for k, v in value.items()]  # fmt: skip
    if any(INVALID in pair for pair in checked):
        return INVALID
    lowered = [name.lower() for name, _ in checked]
    if len(set(lowered)) < len(lowered):
        errs.add(path, "names a header twice (header names ignore case)")
        return INVALID
    return tuple(sorted(checked, key=lambda pair: pair[0].lower()))


def _secret(value: Any, path: str, errs: Errors) -> Any:
    rule = "a reference: ssm:/path/name or env:TWL_SOURCE_SECRET_<NAME> (never the secret)"
    return matching(value, path, errs, SECRET_REF, rule)


def _auth(value: Any, path: str, errs: Errors) -> Any:
    data = obj(value, path, errs, ("type", "secret", "name", "username"))
    if data is INVALID:
        return INVALID
    style = data.get("type", ABSENT)
    secret = take(data, "secret", path, errs, _secret, REQUIRED)
    if not isinstance(style, str) or style not in AUTH_TYPES:
        known = ", ".join(AUTH_TYPES)
        errs.add(child(path, "type"), "required" if style is ABSENT else f"must be one of {known}")
        return INVALID
    name = _auth_extra(data, "name", style == "api_key", path, errs, _auth_header)
    username = _auth_extra(data, "username", style == "http_basic", path, errs, _username)
    if INVALID in (secret, name, username):
        return INVALID
    if style == "api_key":
        name = name or DEFAULT_API_KEY_HEADER
    return Auth(style, secret, name, username)


def _auth_extra(
    data: Mapping[str, Any], key: str, allowed: bool, path: str, errs: Errors, check: Any
) -> Any:
    if not allowed:
        if data.get(key) is not None:
            errs.add(child(path, key), "is not used by this auth type")
            return INVALID
        return None
    default = None if key == "name" else REQUIRED
    return take(data, key, path, errs, check, default)


def _username(value: Any, path: str, errs: Errors) -> Any:
    name = string(value, path, errs, max_chars=200)
    if name is not INVALID and ":" in name:
        errs.add(path, "must not contain ':' (HTTP basic auth cannot carry it)")
        return INVALID
    return name
