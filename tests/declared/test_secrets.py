"""Declared sources' secrets: resolved from env or SSM at request time, never shown anywhere."""

from __future__ import annotations

import base64
import logging

import pytest

from pipeline.services.secrets import SecretUnavailable, auth_headers, resolve_secret
from pipeline.sources.declared.model import Auth
from pipeline.stores import aws
from pipeline.stores.parameters import ParameterMissing, parameter_get

VALUE = "s3cr3t-VALUE-9f2c"
ENV = {
    "TWL_SOURCE_SECRET_CATALOG": VALUE,
    "DJANGO_SECRET_KEY": VALUE,
    "AWS_SECRET_ACCESS_KEY": VALUE,
}


@pytest.fixture
def parameter(config, moto_aws) -> str:
    """A SecureString under the stage's sources path; returns its ``ssm:`` reference."""
    name = f"{config.names.source_secrets_path}catalog"
    aws.ssm(config).put_parameter(Name=name, Value=VALUE, Type="SecureString")
    return f"ssm:{name}"


def test_an_env_reference_reads_its_variable(config) -> None:
    assert resolve_secret("env:TWL_SOURCE_SECRET_CATALOG", config=config, environ=ENV) == VALUE


def test_the_process_environment_is_the_default(config, monkeypatch) -> None:
    monkeypatch.setenv("TWL_SOURCE_SECRET_FROM_OS", VALUE)
    assert resolve_secret("env:TWL_SOURCE_SECRET_FROM_OS", config=config) == VALUE


def test_an_ssm_reference_reads_the_decrypted_parameter(config, parameter) -> None:
    assert resolve_secret(parameter, config=config) == VALUE


@pytest.mark.parametrize(
    "name",
    ["DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "TWL_SOURCE_SECRET_", "twl_source_secret_x"],
)
def test_env_names_outside_the_prefix_are_refused_even_when_set(config, name: str) -> None:
    environ = {**ENV, name: VALUE}
    with pytest.raises(SecretUnavailable) as refused:
        resolve_secret(f"env:{name}", config=config, environ=environ)
    assert str(refused.value) == (
        f"secret 'env:{name}' is refused: environment variables must be named "
        "TWL_SOURCE_SECRET_<NAME>"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/twl-pipeline/prod/sources/catalog",  # another stage's
        "/twl-pipeline/test/other",
        "/twl-pipeline/test/sources",
        "/twl-pipeline/test/sources/../../prod/x",
        "twl-pipeline/test/sources/catalog",
    ],
)
def test_ssm_names_outside_the_stages_sources_path_are_refused_before_any_call(
    config, path: str, monkeypatch
) -> None:
    monkeypatch.setattr(aws, "ssm", lambda config: pytest.fail("no SSM call expected"))
    with pytest.raises(SecretUnavailable, match="must be named /twl-pipeline/test/sources/<name>"):
        resolve_secret(f"ssm:{path}", config=config)


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("env:TWL_SOURCE_SECRET_MISSING", "is not set in this function's environment"),
        ("ssm:/twl-pipeline/test/sources/missing", "does not exist in Parameter Store"),
        ("vault:catalog", "is not a reference: use ssm:/… or env:…"),
        (VALUE, "is not a reference: use ssm:/… or env:…"),
    ],
)
def test_a_missing_or_unknown_secret_names_the_reference(
    config, moto_aws, ref: str, reason: str
) -> None:
    with pytest.raises(SecretUnavailable) as missing:
        resolve_secret(ref, config=config, environ=ENV)
    assert str(missing.value) == f"secret {ref!r} {reason}"
    assert missing.value.ref == ref


def test_an_empty_secret_is_unavailable(config) -> None:
    with pytest.raises(SecretUnavailable, match="is empty"):
        resolve_secret(
            "env:TWL_SOURCE_SECRET_X", config=config, environ={"TWL_SOURCE_SECRET_X": ""}
        )


def test_an_aws_error_is_reported_by_its_code_only(config, moto_aws, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    def denied(*args, **kwargs):
        error = {"Code": "AccessDeniedException", "Message": f"not allowed {VALUE}"}
        raise ClientError({"Error": error}, "GetParameter")

    monkeypatch.setattr(aws.ssm(config), "get_parameter", denied)
    with pytest.raises(SecretUnavailable) as failed:
        resolve_secret("ssm:/twl-pipeline/test/sources/x", config=config)
    assert str(failed.value) == (
        "secret 'ssm:/twl-pipeline/test/sources/x' cannot be read from Parameter Store "
        "(AccessDeniedException)"
    )
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_the_store_says_which_parameter_is_missing(config, moto_aws) -> None:
    with pytest.raises(ParameterMissing, match="'/twl-pipeline/test/sources/none' does not exist"):
        parameter_get("/twl-pipeline/test/sources/none", config=config)


def _auth(type_: str, **kw: str) -> Auth:
    return Auth(type=type_, secret="env:TWL_SOURCE_SECRET_CATALOG", **kw)


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        (None, {}),
        (_auth("bearer"), {"Authorization": f"Bearer {VALUE}"}),
        (_auth("api_key"), {"X-API-Key": VALUE}),
        (_auth("api_key", name="X-Catalog-Key"), {"X-Catalog-Key": VALUE}),
        (
            _auth("http_basic", username="catalog"),
            {"Authorization": "Basic " + base64.b64encode(f"catalog:{VALUE}".encode()).decode()},
        ),
    ],
    ids=["none", "bearer", "api_key", "api_key-named", "http_basic"],
)
def test_each_auth_type_becomes_its_header(config, auth: Auth | None, headers: dict) -> None:
    assert auth_headers(auth, config=config, environ=ENV) == headers


@pytest.mark.parametrize(
    "value", ["tok\r\nX-Injected: 1", "tok\nen", " leading", "trailing ", "nul\x00", "emoji-🙂"]
)
@pytest.mark.parametrize("type_", ["bearer", "api_key"])
def test_a_secret_a_header_cannot_carry_is_refused_without_showing_it(
    config, value: str, type_: str
) -> None:
    with pytest.raises(SecretUnavailable) as refused:
        auth_headers(_auth(type_), config=config, environ={"TWL_SOURCE_SECRET_CATALOG": value})
    assert str(refused.value) == (
        "secret 'env:TWL_SOURCE_SECRET_CATALOG' holds characters an HTTP header cannot carry"
    )
    assert value not in str(refused.value)


def test_basic_auth_carries_any_password_encoded(config) -> None:
    environ = {"TWL_SOURCE_SECRET_CATALOG": "pä:ss\r\n"}
    [(name, value)] = auth_headers(
        _auth("http_basic", username="u"), config=config, environ=environ
    ).items()
    assert name == "Authorization"
    assert base64.b64decode(value.removeprefix("Basic ")).decode() == "u:pä:ss\r\n"


def test_no_value_reaches_a_log_or_an_error(config, parameter, caplog) -> None:
    """Every path through the module at DEBUG: the value appears in the headers only."""
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    headers = auth_headers(Auth(type="bearer", secret=parameter), config=config, environ=ENV)
    for ref in ("env:DJANGO_SECRET_KEY", "env:TWL_SOURCE_SECRET_NONE", "ssm:/elsewhere/x"):
        try:
            resolve_secret(ref, config=config, environ=ENV)
        except SecretUnavailable as exc:
            errors.append(f"{exc!s} {exc!r}")
    assert headers == {"Authorization": f"Bearer {VALUE}"}
    assert len(errors) == 3
    assert VALUE not in " ".join(errors)
    assert VALUE not in caplog.text
    assert all(VALUE not in str(r.args) for r in caplog.records)
