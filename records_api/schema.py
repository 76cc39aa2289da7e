"""How the OpenAPI schema describes access: the key scheme, and security per the policy.

The schema class is DRF's ``DEFAULT_SCHEMA_CLASS``, imported when the API's views are
decorated; this module stays small for that reason (the docs views live in ``docs``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from pipeline.core.constants import PERSONAL_DATA_SCOPE


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the schema describes ``ApiKeyAuthentication``: two headers, either one."""

    target_class = "records_api.access.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "ApiKeyAuthorization"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        scope = f"a key with the {PERSONAL_DATA_SCOPE} scope also receives personal fields"
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": scope},
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": f"`Api-Key <key>`; {scope}",
            },
        ]


class AccessAutoSchema(AutoSchema):
    """Security per the stage's access policy: open views need nothing; ``public`` is optional.

    drf-spectacular marks an operation optional (``{}``) only for DRF's AllowAny; our
    policy decides at run time, so the schema follows the same settings.
    """

    def get_auth(self) -> list[dict[str, Any]]:
        if getattr(self.view, "open_access", False):
            return []
        auths = super().get_auth()
        if settings.TWL_API_ACCESS == "public" and {} not in auths:
            auths.append({})
        return auths
