"""Shared by the benchmarks: fake AWS credentials, and pointing Django at one stage.

``twl_site.settings`` derives every resource name from ``TWL_STAGE`` once, at import;
a bench picks its own stage and endpoint after ``django.setup()``, so it sets the
names here, by the one naming rule (``pipeline.core.names.resource_names``), as
tests/conftest.py's ``use_stage`` does for the tests.
"""

from __future__ import annotations

from pipeline.core.names import OVERRIDES, resource_names
from pipeline.stores import aws

# Fake credentials, so nothing a bench does can reach real AWS; moto accepts any.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def use_stage(stage: str, endpoint: str | None) -> dict[str, str]:
    """Name every resource after ``stage`` on ``endpoint`` (None: in-process moto).

    Returns the same settings as environment variables, for the child processes
    (gunicorn, ``manage.py``) that build their settings from the environment.
    """
    from django.conf import settings  # only once the caller has set Django up

    names = resource_names(stage)
    env = {"TWL_STAGE": stage}
    settings.TWL_STAGE = stage
    for role, attribute in OVERRIDES.items():
        setattr(settings, attribute, getattr(names, role))
        env[attribute] = getattr(names, role)
    settings.AWS_ENDPOINT_URL = endpoint
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    # moto ignores policy conditions, so a TLS-only bucket policy would deny every request.
    # Clients are cached per endpoint and region: drop any built before the switch.
    aws.reset_clients()
    return env
