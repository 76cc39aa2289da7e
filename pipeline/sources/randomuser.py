"""RandomUser (API 1.4): a new random set of people on every unseeded call.

Older shapes (API 1.0-1.3: ``location.street`` one string, no ``country``, no
``coordinates``/``timezone``, ``dob`` a bare date, ``id.value`` null) are curated too: what
they send is kept verbatim, what they lack stays None; a field of the wrong shape (an
object where text belongs) rejects the person with its reason, never silently nulled.

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
from pipeline.sources.base import (
    REDACTED,
    Curated,
    Request,
    Source,
    block,
    field_text,
    require_object,
    section,
    shown,
)

NAME = "randomuser"
DEFAULT_BASE_URL = "https://randomuser.me"
API_PATH = "/api/"
# dob.age bounds: a person's age in years; anything else is not an age.
MIN_AGE = 0
MAX_AGE = 150


def _natural_id(item: Mapping[str, Any]) -> str:
    raw = block(item, "login").get("uuid")
    if not isinstance(raw, str) or not raw:
        raise InvalidItem("missing field 'login.uuid'")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidItem(f"login.uuid {raw[:64]!r} is not a UUID") from None


def _full_name(name: Mapping[str, Any]) -> str:
    parts = [field_text(name, part, path=f"name.{part}") for part in ("first", "last")]
    return " ".join(p for p in parts if p)


def _street(location: Mapping[str, Any]) -> str | None:
    """API 1.3+ sends ``{number, name}``; older versions one string, kept verbatim."""
    street = location.get("street")
    if not isinstance(street, Mapping):
        return field_text(location, "street", path="location.street")
    parts = [
        field_text(street, "number", path="location.street.number"),
        field_text(street, "name", path="location.street.name"),
    ]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _location_fields(person: Mapping[str, Any]) -> dict[str, Any]:
    # Older API versions send no country, coordinates or timezone: those stay None.
    location = section(person, "location")
    coordinates = section(location, "coordinates", path="location.coordinates")
    timezone = section(location, "timezone", path="location.timezone")
    return {
        "street": _street(location),
        "city": field_text(location, "city", path="location.city"),
        "state": field_text(location, "state", path="location.state"),
        "country": field_text(location, "country", path="location.country"),
        # The API sends postcodes as a string or a number, by nationality.
        "postcode": field_text(location, "postcode", path="location.postcode"),
        "latitude": field_text(coordinates, "latitude", path="location.coordinates.latitude"),
        "longitude": field_text(coordinates, "longitude", path="location.coordinates.longitude"),
        "timezone_offset": field_text(timezone, "offset", path="location.timezone.offset"),
        "timezone_description": field_text(
            timezone, "description", path="location.timezone.description"
        ),
    }


def _dated(person: Mapping[str, Any], key: str) -> tuple[str | None, int | None]:
    """``dob``/``registered``: ``{date, age}`` since API 1.2, a bare date before; kept as sent."""
    value = person.get(key)
    if not isinstance(value, Mapping):
        return field_text(person, key), None
    return field_text(value, "date", path=f"{key}.date"), _age(value, f"{key}.age")


def _age(block_: Mapping[str, Any], path: str) -> int | None:
    age = block_.get("age")
    if age is None:
        return None
    if isinstance(age, bool) or not isinstance(age, int):
        raise InvalidItem(f"field {path!r} has type {type(age).__name__}, not int")
    if not MIN_AGE <= age <= MAX_AGE:
        raise InvalidItem(f"field {path!r} is {shown(age)}, outside {MIN_AGE}..{MAX_AGE}")
    return age


def _person_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    name, login = section(item, "name"), section(item, "login")
    picture, national_id = section(item, "picture"), section(item, "id")
    date_of_birth, age = _dated(item, "dob")
    registered_at, _ = _dated(item, "registered")
    return {
        "gender": field_text(item, "gender"),
        "name_title": field_text(name, "title", path="name.title"),
        "first_name": field_text(name, "first", path="name.first"),
        "last_name": field_text(name, "last", path="name.last"),
        "email": field_text(item, "email"),
        "username": field_text(login, "username", path="login.username"),
        "date_of_birth": date_of_birth,
        "age": age,
        "registered_at": registered_at,
        "phone": field_text(item, "phone"),
        "cell": field_text(item, "cell"),
        "nationality": field_text(item, "nat"),
        # The kind of national id only (e.g. "SSN"); "" in the source means none. Its value
        # (null in older versions) is never curated.
        "national_id_type": field_text(national_id, "name", path="id.name") or None,
        "picture_large": field_text(picture, "large", path="picture.large"),
        "picture_medium": field_text(picture, "medium", path="picture.medium"),
        "picture_thumbnail": field_text(picture, "thumbnail", path="picture.thumbnail"),
    }


# What identifies or locates a person. Not personal: gender, age, state, country,
# timezone, nationality, registration date, the kind of national id.
PERSONAL_FIELDS = frozenset(
    {
        "name_title",
        "first_name",
        "last_name",
        "full_name",
        "email",
        "username",
        "phone",
        "cell",
        "street",
        "city",
        "postcode",
        "latitude",
        "longitude",
        "date_of_birth",
        "picture_large",
        "picture_medium",
        "picture_thumbnail",
    }
)
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
        fields = _person_fields(person) | _location_fields(person)
        fields["full_name"] = _full_name(section(person, "name")) or None
        title = fields["full_name"] or fields["username"] or natural_id
        return Curated(natural_id=natural_id, title=title, fields=fields)

    def expected_fields(self, type_: str) -> frozenset[str]:
        return FIELDS

    def personal_fields(self, type_: str) -> frozenset[str]:
        return PERSONAL_FIELDS

    def neutral_title(self, type_: str, natural_id: str) -> str | None:
        return f"{NAME} person {natural_id[:8]}"

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
