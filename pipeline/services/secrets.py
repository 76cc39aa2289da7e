"""Declared sources' secrets: a reference in the definition, the value only at request time.

A definition names a secret (``ssm:/twl-pipeline/<stage>/sources/<name>`` or
``env:TWL_SOURCE_SECRET_<NAME>``) and never holds one. The invariant: a secret's value
goes into the request's auth header and nowhere else — no log line, error, ledger
item or preview carries it. Errors name the reference only.

The two reference kinds are fenced so a definition (which an operator writes in the
admin and may aim at any host) cannot send the function's own secrets away: an
environment variable must be named ``TWL_SOURCE_SECRET_*`` (never DJANGO_SECRET_KEY or
the AWS credentials), and a parameter must sit under the stage's sources path (the
roles grant ``ssm:GetParameter`` there only; this check says so before AWS does).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS, SourceError, error_code
from pipeline.sources.declared.model import Auth
from pipeline.sources.declared.spec import SECRET_REF
from pipeline.stores.parameters import ParameterMissing, parameter_get

ENV_PREFIX = "env:"
SSM_PREFIX = "ssm:"
ENV_SECRET_PREFIX = "TWL_SOURCE_SECRET_"
DEFAULT_API_KEY_HEADER = "X-API-Key"
# What an HTTP header value may carry: visible ASCII/Latin-1 and inner spaces. A CR or
# LF would split the request (header injection); requests would also refuse it with an
# error quoting the value, so the check runs here, where the message can leave it out.
_HEADER_VALUE = re.compile(r"[\x21-\x7e\xa1-\xff](?:[\x20-\x7e\xa1-\xff]*[\x21-\x7e\xa1-\xff])?")


class SecretUnavailable(SourceError):
    """A declared source's secret cannot be read; the message names the reference only."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"secret {ref!r} {reason}")
        self.ref = ref


def resolve_secret(
    ref: str, *, config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> str:
    """The value ``ref`` names; SecretUnavailable when it is refused, missing or empty."""
    if ref.startswith(ENV_PREFIX):
        value = _from_env(ref, os.environ if environ is None else environ)
    elif ref.startswith(SSM_PREFIX):
        value = _from_ssm(ref, config)
    else:
        raise SecretUnavailable(ref, f"is not a reference: use {SSM_PREFIX}/… or {ENV_PREFIX}…")
    if not value:
        raise SecretUnavailable(ref, "is empty")
    return value


def auth_headers(
    auth: Auth | None, *, config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The request headers ``auth`` calls for, its secret resolved; {} without auth."""
    if auth is None:
        return {}
    secret = resolve_secret(auth.secret, config=config, environ=environ)
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {_header_value(auth.secret, secret)}"}
    if auth.type == "api_key":
        return {auth.name or DEFAULT_API_KEY_HEADER: _header_value(auth.secret, secret)}
    if auth.type == "http_basic":
        pair = f"{auth.username or ''}:{secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    raise SecretUnavailable(auth.secret, f"belongs to an unknown auth type {auth.type!r}")


def _from_env(ref: str, environ: Mapping[str, str]) -> str:
    name = ref[len(ENV_PREFIX) :]
    if not SECRET_REF.fullmatch(ref):  # the definition format's rule, checked again here
        raise SecretUnavailable(
            ref, f"is refused: environment variables must be named {ENV_SECRET_PREFIX}<NAME>"
        )
    if name not in environ:
        raise SecretUnavailable(ref, "is not set in this function's environment")
    return environ[name]


def _from_ssm(ref: str, config: PipelineConfig) -> str:
    name = ref[len(SSM_PREFIX) :]
    allowed = config.names.source_secrets_path
    if not SECRET_REF.fullmatch(ref) or not name.startswith(allowed) or "/../" in name:
        raise SecretUnavailable(ref, f"is refused: parameters must be named {allowed}<name>")
    try:
        return parameter_get(name, config=config)
    except ParameterMissing:
        raise SecretUnavailable(ref, "does not exist in Parameter Store") from None
    except AWS_ERRORS as exc:
        code = error_code(exc) or type(exc).__name__
        raise SecretUnavailable(ref, f"cannot be read from Parameter Store ({code})") from None


def _header_value(ref: str, value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise SecretUnavailable(ref, "holds characters an HTTP header cannot carry")
    return value
