"""RandomUser (API 1.4): a new random set of people on every unseeded call.

The curated layer keeps no credentials or national id values: login.password,
salt, md5, sha1, sha256 and id.value stay only in the encrypted raw layer, and
are masked when a raw item is shown through the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import InvalidItem, SourceError
from pipeline.sources.base import REDACTED, Curated, Request, Source, block, require_object, text

NAME = "randomuser"
DEFAULT_BASE_URL = "https://randomuser.me"
API_PATH = "/api/"


def _natural_id(item: Mapping[str, Any]) -> str:
    raw = block(item, "login").get("uuid")
    if not isinstance(raw, str) or not raw:
        raise InvalidItem("missing field 'login.uuid'")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidItem(f"login.uuid {raw[:64]!r} is not a UUID") from None


def _full_name(name: Mapping[str, Any]) -> str:
    parts = [text(name.get(part)) for part in ("first", "last")]
    return " ".join(p for p in parts if p)


def _street(street: Mapping[str, Any]) -> str | None:
    parts = [text(street.get("number")), text(street.get("name"))]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _location_fields(location: Mapping[str, Any]) -> dict[str, Any]:
    coordinates, timezone = block(location, "coordinates"), block(location, "timezone")
    return {
        "street": _street(block(location, "street")),
        "city": text(location.get("city")),
        "state": text(location.get("state")),
        "country": text(location.get("country")),
        # The API sends postcodes as a string or a number, by nationality.
        "postcode": text(location.get("postcode")),
        "latitude": text(coordinates.get("latitude")),
        "longitude": text(coordinates.get("longitude")),
        "timezone_offset": text(timezone.get("offset")),
        "timezone_description": text(timezone.get("description")),
    }


def _person_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    name, login = block(item, "name"), block(item, "login")
    dob, registered, picture = block(item, "dob"), block(item, "registered"), block(item, "picture")
    return {
        "gender": text(item.get("gender")),
        "name_title": text(name.get("title")),
        "first_name": text(name.get("first")),
        "last_name": text(name.get("last")),
        "email": text(item.get("email")),
        "username": text(login.get("username")),
        "date_of_birth": text(dob.get("date")),
        "age": dob.get("age") if isinstance(dob.get("age"), int) else None,
        "registered_at": text(registered.get("date")),
        "phone": text(item.get("phone")),
        "cell": text(item.get("cell")),
        "nationality": text(item.get("nat")),
        # The kind of national id only (e.g. "SSN"); "" in the source means none.
        "national_id_type": text(block(item, "id").get("name")) or None,
        "picture_large": text(picture.get("large")),
        "picture_medium": text(picture.get("medium")),
        "picture_thumbnail": text(picture.get("thumbnail")),
    }


SECRET_LOGIN_FIELDS = ("password", "salt", "md5", "sha1", "sha256")
# API 1.4's top-level fields of a person; anything else is reported as schema drift.
FIELDS = frozenset(
    {
        "gender",
        "name",
        "location",
        "email",
        "login",
        "dob",
        "registered",
        "phone",
        "cell",
        "id",
        "picture",
        "nat",
    }
)


class RandomUser:
    """The RandomUser source: one GET for ``results`` people."""

    name = NAME
    types: tuple[str, ...] = ("user",)

    def request(self, type_: str, config: PipelineConfig) -> Request:
        return Request(
            url=config.base_url(NAME, DEFAULT_BASE_URL) + API_PATH,
            params={"results": config.randomuser_results},
        )

    def items(self, type_: str, payload: Any) -> list[Any]:
        if isinstance(payload, Mapping) and "error" in payload:
            raise SourceError(f"randomuser answered with an error: {str(payload['error'])[:300]}")
        results = payload.get("results") if isinstance(payload, Mapping) else None
        if not isinstance(results, list):
            raise SourceError("expected an object with a 'results' array")
        return results

    def curate(self, type_: str, item: Any) -> Curated:
        person = require_object(item)
        natural_id = _natural_id(person)
        fields = _person_fields(person) | _location_fields(block(person, "location"))
        fields["full_name"] = _full_name(block(person, "name")) or None
        title = fields["full_name"] or fields["username"] or natural_id
        return Curated(natural_id=natural_id, title=title, fields=fields)

    def expected_fields(self, type_: str) -> frozenset[str]:
        return FIELDS

    def redact(self, type_: str, item: Any) -> Any:
        """Mask credentials and the national id value; they stay only in the raw layer."""
        if not isinstance(item, Mapping):
            return item
        shown = dict(item)
        if isinstance(item.get("login"), Mapping):
            login = dict(item["login"])
            shown["login"] = login | {k: REDACTED for k in SECRET_LOGIN_FIELDS if k in login}
        if isinstance(item.get("id"), Mapping) and item["id"].get("value") is not None:
            shown["id"] = dict(item["id"]) | {"value": REDACTED}
        return shown


SOURCE: Source = RandomUser()
