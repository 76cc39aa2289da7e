"""The pipeline's error types: one base, a few precise subclasses."""

from __future__ import annotations


class PipelineError(Exception):
    """Base for errors a user, operator or bad input can cause."""


class SourceError(PipelineError):
    """A source answered with something we cannot use (error body, wrong shape)."""


class InvalidItem(PipelineError):
    """One item of a payload cannot be curated; the rest of the payload goes on."""


class InvalidMessage(PipelineError):
    """An SQS message does not follow the message contract or points nowhere valid."""
