"""JSONPlaceholder: static arrays of posts, comments and users."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SourceError
from pipeline.sources.base import (
    Curated,
    Request,
    Source,
    field_text,
    require,
    require_int,
    require_object,
    section,
)

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
# Its users are fake, but shaped as people: treated as personal like RandomUser's, so
# the rule is the same for every person-shaped record. A comment's ``name`` is its
# subject line, not a person; its author's e-mail is personal.
PERSONAL_FIELDS = {
    "post": frozenset(),
    "comment": frozenset({"email"}),
    "user": frozenset(
        {
            "name",
            "username",
            "email",
            "phone",
            "website",
            "street",
            "suite",
            "city",
            "zipcode",
            "latitude",
            "longitude",
        }
    ),
}
# JSONPlaceholder is a JavaScript server: its ids are positive integers that a JavaScript
# number holds exactly. Anything beyond is not one of its ids (and would not fit DynamoDB).
MIN_ID = 1
MAX_ID = 2**53 - 1


def _id(item: Mapping[str, Any], key: str) -> int:
    return require_int(item, key, low=MIN_ID, high=MAX_ID)


def _post(item: Mapping[str, Any]) -> Curated:
    post_id = _id(item, "id")
    title = require(item, "title", str)
    return Curated(
        natural_id=str(post_id),
        title=title,
        fields={
            "post_id": post_id,
            "user_id": _id(item, "userId"),
            "title": title,
            "body": require(item, "body", str),
        },
    )


def _comment(item: Mapping[str, Any]) -> Curated:
    comment_id = _id(item, "id")
    name = require(item, "name", str)
    return Curated(
        natural_id=str(comment_id),
        title=name,
        fields={
            "comment_id": comment_id,
            "post_id": _id(item, "postId"),
            "name": name,
            "email": field_text(item, "email"),
            "body": require(item, "body", str),
        },
    )


def _user(item: Mapping[str, Any]) -> Curated:
    user_id = _id(item, "id")
    name = require(item, "name", str)
    address, company = section(item, "address"), section(item, "company")
    geo = section(address, "geo", path="address.geo")
    return Curated(
        natural_id=str(user_id),
        title=name,
        fields={
            "user_id": user_id,
            "name": name,
            "username": field_text(item, "username"),
            "email": field_text(item, "email"),
            "phone": field_text(item, "phone"),
            "website": field_text(item, "website"),
            "street": field_text(address, "street", path="address.street"),
            "suite": field_text(address, "suite", path="address.suite"),
            "city": field_text(address, "city", path="address.city"),
            "zipcode": field_text(address, "zipcode", path="address.zipcode"),
            "latitude": field_text(geo, "lat", path="address.geo.lat"),
            "longitude": field_text(geo, "lng", path="address.geo.lng"),
            "company_name": field_text(company, "name", path="company.name"),
            "company_catch_phrase": field_text(company, "catchPhrase", path="company.catchPhrase"),
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

    def personal_fields(self, type_: str) -> frozenset[str]:
        return PERSONAL_FIELDS[type_]

    def neutral_title(self, type_: str, natural_id: str) -> str | None:
        # Only a user's title is its name; a post's or comment's is its subject line.
        return f"{NAME} user {natural_id}" if type_ == "user" else None


SOURCE: Source = JsonPlaceholder()
