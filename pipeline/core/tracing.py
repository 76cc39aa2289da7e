"""X-Ray tracing through Powertools' Tracer: built once, and only when switched on.

Entry points switch it on with ``configure(enabled=settings.TWL_TRACING)``: the worker's
handlers before their first event's work, the web function's middleware at start-up.
Until then, and always locally and in tests (TWL_TRACING defaults to on only in Lambda's
runtime), ``subsegment`` is a no-op: the X-Ray SDK and wrapt are never imported and
nothing is patched.

Switched on, the tracer patches botocore (every boto3 call: S3, SQS, DynamoDB) and
requests (the sources' HTTP fetches), so each call is a subsegment of whatever is open.
In Lambda with active tracing (Zappa's ``xray_tracing``) the invocation's facade segment
is the root. The names below are the README's "Tracing" list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from pipeline.core.metrics import SERVICE

if TYPE_CHECKING:
    import numbers

    from aws_lambda_powertools.tracing import Tracer
    from aws_lambda_powertools.tracing.base import BaseSegment

# boto3 is traced through botocore. The X-Ray SDK has no "boto3" patch: given that name
# it would wrap every function of the boto3 package as a local module.
PATCHED_MODULES = ("botocore", "requests")
# Annotations are indexed for search; a producer's text (a forged message's source)
# is cut to this.
ANNOTATION_CHARS = 250

# Subsegment names.
HANDLER_PREFIX = "## "  # + the handler's name, as Powertools' capture_lambda_handler
INGEST_FEED = "ingest.feed"
PROCESS_MESSAGE = "process.message"
UPSERT_BATCH = "upsert.batch"
WEB_PREFIX = "web."  # + the resolved URL's name
WEB_UNMATCHED = "unmatched"

Annotation = str | int | float | bool

_tracer: Tracer | None = None
_cold_start = True


def configure(*, enabled: bool) -> None:
    """Build the tracer and patch botocore and requests, once, if ``enabled``; else nothing.

    ``disabled=False``: TWL_TRACING is the one switch (Powertools would otherwise turn
    itself off outside Lambda and read POWERTOOLS_TRACE_DISABLED).
    """
    global _tracer
    if not enabled or _tracer is not None:
        return
    from aws_lambda_powertools.tracing import Tracer

    _tracer = Tracer(service=SERVICE, disabled=False, patch_modules=PATCHED_MODULES)


def is_enabled() -> bool:
    """Whether ``configure`` switched tracing on in this process."""
    return _tracer is not None


@contextmanager
def subsegment(name: str, **annotations: Annotation | None) -> Iterator[BaseSegment | None]:
    """A subsegment ``name`` of whatever is open, with ``annotations``; None when off.

    An exception leaving the block is recorded on it (X-Ray marks it a fault). Also
    None when no segment is open (tracing forced on outside Lambda): X-Ray logs that.
    """
    if _tracer is None:
        yield None
        return
    with _tracer.provider.in_subsegment(name=name) as segment:
        annotate(segment, **annotations)
        yield segment


@contextmanager
def handler_subsegment(name: str) -> Iterator[BaseSegment | None]:
    """``## <name>`` around a Lambda handler's work, annotated ColdStart and Service."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    with subsegment(HANDLER_PREFIX + name, ColdStart=cold, Service=SERVICE) as segment:
        yield segment


def annotate(segment: BaseSegment | None, **annotations: Annotation | None) -> None:
    """Index ``annotations`` on ``segment``, skipping None values; no segment, nothing."""
    if segment is None:
        return
    for key, value in annotations.items():
        if value is None:
            continue
        text = value[:ANNOTATION_CHARS] if isinstance(value, str) else value
        # Powertools types numbers as numbers.Number, an ABC mypy does not match int to.
        segment.put_annotation(key=key, value=cast("str | numbers.Number | bool", text))
