"""Which requests are the API's: the one place that knows the /api/ prefix."""

from __future__ import annotations

from typing import Final

from django.http import HttpRequest

API_PREFIX: Final = "/api/"


def is_api_path(request: HttpRequest) -> bool:
    """True for a request below /api/, with or without the stage prefix in front."""
    # path_info: the path below the script prefix (/dev, /prod) that API Gateway adds.
    return request.path_info.startswith(API_PREFIX)
