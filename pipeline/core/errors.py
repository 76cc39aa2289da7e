"""The pipeline's error types: one base, a few precise subclasses, and how to read AWS errors.

Entry points map these to answers: the API's exception handler and the pages' error
path turn ``BadRequest``/``NotFound`` into 400/404 and ``AWS_ERRORS`` into 503;
commands turn them into a message and a non-zero exit.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

# What any AWS call may raise: the service said no, or it could not be reached.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


class PipelineError(Exception):
    """Base for errors a user, operator or bad input can cause."""


class SourceError(PipelineError):
    """A source answered with something we cannot use (error body, wrong shape)."""


class InvalidItem(PipelineError):
    """One item of a payload cannot be curated; the rest of the payload goes on."""


class InvalidMessage(PipelineError):
    """An SQS message does not follow the message contract or points nowhere valid."""


class BadRequest(PipelineError):
    """A caller's parameter is invalid (HTTP 400)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PipelineError):
    """The named record or item does not exist (HTTP 404)."""


class Forbidden(PipelineError):
    """The reader may not see this (HTTP 403): personal data without the scope."""


class Unshowable(PipelineError):
    """The named item exists but cannot be shown (HTTP 422)."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))
