"""JSONPlaceholder: static arrays of posts, comments and users."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SourceError
from pipeline.sources.base import Curated, Request, Source, block, require, require_object, text

NAME = "jsonplaceholder"
DEFAULT_BASE_URL = "https://jsonplaceholder.typicode.com"
PATHS = {"post": "/posts", "comment": "/comments", "user": "/users"}
# Documented top-level fields of each item; anything else is reported as schema drift.
FIELDS = {
    "post": frozenset({"userId", "id", "title", "body"}),
    "comment": frozenset({"postId", "id", "name", "email", "body"}),
    "user": frozenset(
        {"id", "name", "username", "email", "address", "phone", "website", "company"}
    ),
}


def _post(item: Mapping[str, Any]) -> Curated:
    post_id = require(item, "id", int)
    title = require(item, "title", str)
    return Curated(
        natural_id=str(post_id),
        title=title,
        fields={
            "post_id": post_id,
            "user_id": require(item, "userId", int),
            "title": title,
            "body": require(item, "body", str),
        },
    )


def _comment(item: Mapping[str, Any]) -> Curated:
    comment_id = require(item, "id", int)
    name = require(item, "name", str)
    return Curated(
        natural_id=str(comment_id),
        title=name,
        fields={
            "comment_id": comment_id,
            "post_id": require(item, "postId", int),
            "name": name,
            "email": text(item.get("email")),
            "body": require(item, "body", str),
        },
    )


def _user(item: Mapping[str, Any]) -> Curated:
    user_id = require(item, "id", int)
    name = require(item, "name", str)
    address, company = block(item, "address"), block(item, "company")
    geo = block(address, "geo")
    return Curated(
        natural_id=str(user_id),
        title=name,
        fields={
            "user_id": user_id,
            "name": name,
            "username": text(item.get("username")),
            "email": text(item.get("email")),
            "phone": text(item.get("phone")),
            "website": text(item.get("website")),
            "street": text(address.get("street")),
            "suite": text(address.get("suite")),
            "city": text(address.get("city")),
            "zipcode": text(address.get("zipcode")),
            "latitude": text(geo.get("lat")),
            "longitude": text(geo.get("lng")),
            "company_name": text(company.get("name")),
            "company_catch_phrase": text(company.get("catchPhrase")),
        },
    )


_CURATORS: dict[str, Callable[[Mapping[str, Any]], Curated]] = {
    "post": _post,
    "comment": _comment,
    "user": _user,
}


class JsonPlaceholder:
    """The JSONPlaceholder source: one GET per type, a JSON array back."""

    name = NAME
    types = tuple(PATHS)

    def request(self, type_: str, config: PipelineConfig) -> Request:
        return Request(url=config.base_url(NAME, DEFAULT_BASE_URL) + PATHS[type_])

    def items(self, type_: str, payload: Any) -> list[Any]:
        if not isinstance(payload, list):
            raise SourceError(f"expected a JSON array of {type_}s, got {type(payload).__name__}")
        return payload

    def curate(self, type_: str, item: Any) -> Curated:
        return _CURATORS[type_](require_object(item))

    def redact(self, type_: str, item: Any) -> Any:
        return item  # nothing secret in JSONPlaceholder

    def expected_fields(self, type_: str) -> frozenset[str]:
        return FIELDS[type_]


SOURCE: Source = JsonPlaceholder()
