"""Curation of each source's items: ids, fields, edge cases, and no secrets kept."""

from __future__ import annotations

import copy
import json
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


def test_every_source_names_its_types():
    assert {name: s.types for name, s in SOURCES.items()} == {
        "jsonplaceholder": ("post", "comment", "user"),
        "randomuser": ("user",),
    }
