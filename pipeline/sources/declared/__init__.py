"""Declared sources: a JSON API described as data (a definition) instead of a module.

Pure like every source: no I/O, imports ``pipeline.core`` (and ``pipeline.sources``'
own helpers) only. ``spec`` parses and validates a definition, ``paginators`` says
which page comes next, ``source`` curates items by the definition's rules, and
``preview`` shows an operator what a page would become. Fetching (with the SSRF guard,
secrets and bounds) lives in ``pipeline.services``; storage in ``pipeline.stores``.
"""

from pipeline.sources.declared.model import (
    SINGLE_PAGE,
    Auth,
    Client,
    Definition,
    DefinitionInvalid,
    FieldError,
    Incremental,
    Paginator,
    Resource,
)
from pipeline.sources.declared.paginators import (
    NextLinkRefused,
    PageRequest,
    PageResponse,
    effective_paginator,
    first_request,
    next_request,
)
from pipeline.sources.declared.paths import MISSING, flatten, get_path, render_title, under
from pipeline.sources.declared.preview import Preview, PreviewRecord, preview
from pipeline.sources.declared.source import DeclaredSource
from pipeline.sources.declared.spec import (
    MAX_DEFINITION_BYTES,
    definition_dict,
    parse_definition,
    parse_definition_text,
)

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MISSING",
    "SINGLE_PAGE",
    "Auth",
    "Client",
    "DeclaredSource",
    "Definition",
    "DefinitionInvalid",
    "FieldError",
    "Incremental",
    "NextLinkRefused",
    "PageRequest",
    "PageResponse",
    "Paginator",
    "Preview",
    "PreviewRecord",
    "Resource",
    "definition_dict",
    "effective_paginator",
    "first_request",
    "flatten",
    "get_path",
    "next_request",
    "parse_definition",
    "parse_definition_text",
    "preview",
    "render_title",
    "under",
]
