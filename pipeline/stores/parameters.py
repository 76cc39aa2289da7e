"""SSM Parameter Store reads: the secrets declared sources name with ``ssm:/path``.

A parameter's value is a secret: it is returned to the caller and nowhere else. No
message, log line or exception raised here ever contains it, only the parameter's name.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import PipelineError, error_code
from pipeline.stores import aws


class ParameterMissing(PipelineError):
    """The named parameter does not exist (or this stage may not read it)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"parameter {name!r} does not exist in Parameter Store")
        self.name = name


def parameter_get(name: str, *, config: PipelineConfig) -> str:
    """The decrypted value of the parameter ``name``; ParameterMissing when there is none."""
    try:
        answer = aws.ssm(config).get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            raise ParameterMissing(name) from None
        raise
    return answer["Parameter"]["Value"]
