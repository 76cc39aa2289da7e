"""The browsable API with a bounded page: it never builds more than a fixed amount of content.

DRF's BrowsableAPIRenderer pretty-prints the whole response with ``indent=4`` before
the template sees it; a small item of nested lists became a 99 MB page that way. This
one pretty-prints at most ``BROWSABLE_CONTENT_BYTES`` and says where the whole
response is (``?format=json``, the plain JSON, which is compact).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer

from pipeline.core.previews import json_preview
from records_api.limits import BROWSABLE_CONTENT_BYTES

BROWSABLE_INDENT = 4  # as DRF's own browsable API


class BoundedBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API, showing at most ``BROWSABLE_CONTENT_BYTES`` of the response."""

    def get_context(
        self, data: Any, accepted_media_type: str | None, renderer_context: Mapping[str, Any]
    ) -> dict[str, Any]:
        context = super().get_context(data, accepted_media_type, renderer_context)
        # Pygments' stylesheet, inlined by DRF when pygments is installed, colours code in
        # Markdown descriptions, which this API has none of; CSP would block it anyway.
        context["code_style"] = None
        return context

    def get_content(
        self,
        renderer: BaseRenderer,
        data: Any,
        accepted_media_type: str | None,
        renderer_context: Mapping[str, Any],
    ) -> str:
        if not isinstance(renderer, JSONRenderer):
            return str(super().get_content(renderer, data, accepted_media_type, renderer_context))
        preview = json_preview(
            data,
            limit=BROWSABLE_CONTENT_BYTES,
            indent=BROWSABLE_INDENT,
            encoder=renderer.encoder_class,
        )
        if not preview.truncated:
            return preview.text
        return (
            f"{preview.text}\n\n… cut at {preview.limit_kb} KB. "
            "The whole response is the plain JSON: add ?format=json to this address."
        )
