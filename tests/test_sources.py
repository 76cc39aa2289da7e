"""Curation of each source's items: ids, fields, edge cases, and no secrets kept."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from pipeline.core.errors import InvalidItem, PipelineError, SourceError
from pipeline.sources import SOURCES, feeds, get_source
from pipeline.sources.jsonplaceholder import JsonPlaceholder
from pipeline.sources.randomuser import RandomUser

SAMPLES = Path(__file__).parent / "samples"
SECRETS = ("hunter2", "RANDOMSALT", "c8e1d7ab5b2e", "0f5b1f9d0d6c", "5c2f0e1d4b3a", "200793-4412")


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_feeds_cover_every_source_type_pair():
    assert [(f.source, f.type) for f in feeds()] == [
        ("jsonplaceholder", "post"),
        ("jsonplaceholder", "comment"),
        ("jsonplaceholder", "user"),
        ("randomuser", "user"),
    ]


def test_unknown_source_name_is_a_clear_error():
    with pytest.raises(PipelineError, match="unknown source 'nope'"):
        get_source("nope")


def test_post_is_curated_with_its_natural_id_and_title():
    item = {"userId": 3, "id": 27, "title": "a title", "body": "text"}
    curated = JsonPlaceholder().curate("post", item)
    assert curated.natural_id == "27"
    assert curated.title == "a title"
    assert curated.fields == {"post_id": 27, "user_id": 3, "title": "a title", "body": "text"}


def test_comment_keeps_post_link_and_email():
    item = {"postId": 5, "id": 21, "name": "n", "email": "a@b.c", "body": "b"}
    curated = JsonPlaceholder().curate("comment", item)
    assert (curated.natural_id, curated.fields["post_id"], curated.fields["email"]) == (
        "21",
        5,
        "a@b.c",
    )


def test_jsonplaceholder_user_flattens_address_geo_and_company():
    curated = JsonPlaceholder().curate("user", sample("jsonplaceholder_user.json"))
    assert curated.natural_id == "1"
    assert curated.fields["city"] == "Gwenborough"
    assert curated.fields["latitude"] == "-37.3159"
    assert curated.fields["company_name"] == "Romaguera-Crona"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"userId": 1, "title": "t", "body": "b"}, "missing field 'id'"),
        ({"userId": 1, "id": "7", "title": "t", "body": "b"}, "'id' has type str"),
        ({"userId": 1, "id": True, "title": "t", "body": "b"}, "'id' has type bool"),
        ({"userId": 1, "id": 7, "title": None, "body": "b"}, "missing field 'title'"),
        (["not", "an", "object"], "not an object"),
    ],
)
def test_invalid_post_is_rejected_with_its_reason(item, reason):
    with pytest.raises(InvalidItem, match=reason):
        JsonPlaceholder().curate("post", item)


def test_jsonplaceholder_payload_must_be_an_array():
    with pytest.raises(SourceError, match="expected a JSON array"):
        JsonPlaceholder().items("post", {"error": "x"})


def test_randomuser_person_is_curated_without_credentials_or_national_id_value():
    person = sample("randomuser_person.json")
    curated = RandomUser().curate("user", person)
    assert curated.natural_id == "7a0eed16-9430-4d68-901f-c0d4c1c3bf00"
    assert curated.title == "Zoë Østergård"
    assert curated.fields["national_id_type"] == "CPR"
    dumped = json.dumps(curated.fields, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped
    assert not {"password", "salt", "md5", "sha1", "sha256"} & set(curated.fields)


def test_numeric_postcode_becomes_text_and_string_postcode_is_kept():
    person = sample("randomuser_person.json")
    assert RandomUser().curate("user", person).fields["postcode"] == "8200"
    person["location"]["postcode"] = "EC1A 1BB"
    assert RandomUser().curate("user", person).fields["postcode"] == "EC1A 1BB"


def test_null_id_value_and_empty_id_name_mean_no_national_id():
    person = sample("randomuser_person.json")
    person["id"] = {"name": "", "value": None}
    assert RandomUser().curate("user", person).fields["national_id_type"] is None


def test_non_ascii_names_survive_curation():
    person = sample("randomuser_person.json")
    person["name"] = {"title": "Mr", "first": "Łukasz", "last": "Шевченко"}
    curated = RandomUser().curate("user", person)
    assert curated.title == "Łukasz Шевченко"
    assert curated.fields["first_name"] == "Łukasz"


FIELDS_OF_BLOCK = {
    "location": ("street", "city", "state", "country", "postcode", "latitude", "longitude"),
    "dob": ("date_of_birth", "age"),
    "registered": ("registered_at",),
    "picture": ("picture_large", "picture_medium", "picture_thumbnail"),
    "id": ("national_id_type",),
    "name": ("name_title", "first_name", "last_name", "full_name"),
}


@pytest.mark.parametrize("missing", sorted(FIELDS_OF_BLOCK))
def test_missing_optional_block_leaves_its_fields_empty(missing):
    person = sample("randomuser_person.json")
    del person[missing]
    curated = RandomUser().curate("user", person)
    assert curated.natural_id == person["login"]["uuid"]
    assert {name: curated.fields[name] for name in FIELDS_OF_BLOCK[missing]} == dict.fromkeys(
        FIELDS_OF_BLOCK[missing]
    )
    full = RandomUser().curate("user", sample("randomuser_person.json")).fields
    assert all(full[name] is not None for name in FIELDS_OF_BLOCK[missing])
    # The title falls back to the username when the name is gone.
    assert curated.title == (
        person["login"]["username"] if missing == "name" else full["full_name"]
    )


def test_missing_location_gives_none_fields():
    person = sample("randomuser_person.json")
    del person["location"]
    fields = RandomUser().curate("user", person).fields
    assert fields["city"] is None and fields["postcode"] is None and fields["latitude"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.pop("login"), "login.uuid"),
        (lambda p: p["login"].update(uuid=None), "login.uuid"),
        (lambda p: p["login"].update(uuid="not-a-uuid"), "is not a UUID"),
    ],
)
def test_person_without_a_valid_uuid_is_rejected(change, reason):
    person = copy.deepcopy(sample("randomuser_person.json"))
    change(person)
    with pytest.raises(InvalidItem, match=reason):
        RandomUser().curate("user", person)


def test_randomuser_error_body_is_a_source_error():
    with pytest.raises(SourceError, match="Uh oh"):
        RandomUser().items("user", {"error": "Uh oh, something has gone wrong."})


def test_randomuser_results_must_be_an_array():
    with pytest.raises(SourceError, match="results"):
        RandomUser().items("user", {"results": "nope"})


def test_the_built_in_sources_name_their_types():
    built_in = {"jsonplaceholder": ("post", "comment", "user"), "randomuser": ("user",)}
    assert {name: SOURCES[name].types for name in built_in} == built_in
    assert all(source.types for source in SOURCES.values())


# --- bounds a source's own ids and values keep -------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", 10**40, "field 'id' is 1.000e+40, outside 1..9007199254740991"),
        ("id", 0, "field 'id' is 0, outside 1..9007199254740991"),
        ("id", -3, "field 'id' is -3, outside 1.."),
        ("id", 2**53, "outside 1..9007199254740991"),
        ("userId", 10**40, "field 'userId' is 1.000e+40"),
    ],
)
def test_a_post_id_outside_what_jsonplaceholder_issues_is_rejected(field, value, reason):
    item = {"userId": 1, "id": 7, "title": "t", "body": "b"} | {field: value}
    with pytest.raises(InvalidItem, match=re.escape(reason)):
        JsonPlaceholder().curate("post", item)


def test_the_largest_jsonplaceholder_id_is_accepted():
    item = {"userId": 1, "id": 2**53 - 1, "title": "t", "body": "b"}
    assert JsonPlaceholder().curate("post", item).natural_id == "9007199254740991"


@pytest.mark.parametrize("type_", ["comment", "user"])
def test_comment_and_user_ids_have_the_same_bounds(type_):
    item = {"postId": 1, "id": 10**40, "name": "n", "email": "e", "body": "b"}
    with pytest.raises(InvalidItem, match=re.escape("outside 1..")):
        JsonPlaceholder().curate(type_, item)


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (10**40, "field 'dob.age' is 1.000e+40, outside 0..150"),
        (-1, "field 'dob.age' is -1, outside 0..150"),
        (151, "outside 0..150"),
        ("33", "field 'dob.age' has type str, not int"),
        (True, "field 'dob.age' has type bool, not int"),
    ],
)
def test_a_dob_age_that_is_not_an_age_rejects_the_person(age, reason):
    person = sample("randomuser_person.json")
    person["dob"]["age"] = age
    with pytest.raises(InvalidItem, match=re.escape(reason)):
        RandomUser().curate("user", person)


@pytest.mark.parametrize("age", [0, 150])
def test_a_dob_age_at_the_bounds_is_kept(age):
    person = sample("randomuser_person.json")
    person["dob"]["age"] = age
    assert RandomUser().curate("user", person).fields["age"] == age


# --- legacy RandomUser shapes (API 1.0-1.3) ----------------------------------------------


def test_a_legacy_person_is_curated_keeping_every_field_it_sends():
    person = sample("randomuser_person_legacy.json")

    fields = RandomUser().curate("user", person).fields

    assert fields["street"] == "1861 jan pieterszoon coenstraat"  # verbatim, not null
    assert (fields["city"], fields["state"], fields["postcode"]) == (
        "maasdriel",
        "zeeland",
        "69217",
    )
    assert fields["date_of_birth"] == "1983-07-14 07:29:45" and fields["age"] is None
    assert fields["registered_at"] == "2010-09-24 02:10:42"
    assert fields["national_id_type"] == "BSN"
    # What the old shape does not send stays empty.
    absent = ("country", "latitude", "longitude", "timezone_offset", "timezone_description")
    assert all(fields[name] is None for name in absent)
    assert "jokers" not in json.dumps(fields)


@pytest.mark.parametrize(
    ("street", "expected"),
    [
        ("9278 new road", "9278 new road"),
        ({"number": 8929, "name": "Valwood Pkwy"}, "8929 Valwood Pkwy"),
        ({"name": "Valwood Pkwy"}, "Valwood Pkwy"),
        (8929, "8929"),
        (None, None),
    ],
    ids=["1.2 string", "1.3 object", "name only", "a bare number", "null"],
)
def test_every_street_shape_is_kept(street, expected):
    person = sample("randomuser_person.json")
    person["location"]["street"] = street
    assert RandomUser().curate("user", person).fields["street"] == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda p: p["location"].update(street=["9278", "new road"]),
            "'location.street' has type list",
        ),
        (lambda p: p["location"].update(street={"name": {"x": 1}}), "'location.street.name'"),
        (lambda p: p.update(location="somewhere"), "'location' has type str, not object"),
        (lambda p: p["location"].update(city={"name": "x"}), "'location.city' has type dict"),
        (lambda p: p.update(email=["a@b.c"]), "'email' has type list"),
        (lambda p: p.update(dob=[1983]), "'dob' has type list"),
        (
            lambda p: p["location"].update(coordinates="56,10"),
            "'location.coordinates' has type str",
        ),
    ],
    ids=[
        "street list",
        "street name object",
        "location text",
        "city object",
        "email list",
        "dob list",
        "coordinates text",
    ],
)
def test_a_field_of_a_shape_we_cannot_keep_rejects_the_person_never_nulls_it(change, reason):
    person = copy.deepcopy(sample("randomuser_person.json"))
    change(person)
    with pytest.raises(InvalidItem, match=re.escape(reason)):
        RandomUser().curate("user", person)


def test_a_jsonplaceholder_user_with_an_address_of_the_wrong_shape_is_rejected():
    user = sample("jsonplaceholder_user.json") | {"address": "Kulas Light, Gwenborough"}
    with pytest.raises(InvalidItem, match="'address' has type str, not object"):
        JsonPlaceholder().curate("user", user)
