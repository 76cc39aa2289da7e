"""The one naming rule for every AWS resource of a stage: ``twl-pipeline-<role>-<stage>``.

Settings, IAM, provisioning, the Zappa stages' checks, tests and benchmarks all call
``resource_names``; nothing else spells a name. Each data resource may be renamed
with its ``TWL_*`` variable (``OVERRIDES``); the Zappa-owned names (functions, roles,
deployment bucket) and the stack's own follow Zappa's own rule and cannot be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.core.constants import PRODUCT

# Attribute of ResourceNames -> the environment variable that overrides it.
OVERRIDES = {
    "raw_bucket": "TWL_RAW_BUCKET",
    "queue": "TWL_QUEUE_NAME",
    "dlq": "TWL_DLQ_NAME",
    "curated_table": "TWL_CURATED_TABLE",
    "ledger_table": "TWL_LEDGER_TABLE",
}


@dataclass(frozen=True)
class ResourceNames:
    """Every AWS name of one stage."""

    stage: str
    raw_bucket: str
    queue: str
    dlq: str
    curated_table: str
    ledger_table: str

    @property
    def web_function(self) -> str:
        """Zappa names a function ``<project>-<stage>``: stage ``dev`` is twl-pipeline-dev."""
        return f"{PRODUCT}-{self.stage}"

    @property
    def worker_function(self) -> str:
        """The worker's Zappa stage is ``<stage>_worker``; Zappa slugs ``_`` into ``-``."""
        return f"{PRODUCT}-{self.stage}-worker"

    @property
    def functions(self) -> tuple[str, str]:
        return self.web_function, self.worker_function

    @property
    def web_role(self) -> str:
        """The web function's execution role (``role_name`` of the stage in zappa_settings)."""
        return f"{PRODUCT}-{self.stage}-web"

    @property
    def worker_role(self) -> str:
        """The worker function's execution role (``role_name`` of ``<stage>_worker``)."""
        return f"{PRODUCT}-{self.stage}-worker"

    @property
    def stack(self) -> str:
        """The stage's CloudFormation stack (``manage.py provision``).

        Not ``<project>-<stage>``: Zappa keeps its API Gateway stack under the web
        function's name, and would replace ours with it at the first ``zappa deploy``.
        """
        return f"{PRODUCT}-{self.stage}-infra"

    @property
    def alarm_prefix(self) -> str:
        """Every alarm of the stage is named ``<prefix>-<what it watches>``."""
        return f"{PRODUCT}-{self.stage}"

    @property
    def alarm_topic(self) -> str:
        """The SNS topic every alarm of the stage notifies."""
        return f"{PRODUCT}-alarms-{self.stage}"

    @property
    def dashboard(self) -> str:
        """The stage's CloudWatch dashboard."""
        return f"{PRODUCT}-{self.stage}"

    @property
    def deployment_bucket(self) -> str:
        """Zappa's package bucket (``s3_bucket``), also holding the secrets file."""
        return f"{PRODUCT}-zappa-deployments-{self.stage}"

    @property
    def remote_env_key(self) -> str:
        """The secrets file Zappa's handler reads at start (``remote_env``)."""
        return f"{PRODUCT}-{self.stage}-secrets.json"

    @property
    def source_secrets_path(self) -> str:
        """The Parameter Store path under which declared sources' secrets live (``ssm:`` refs)."""
        return f"/{PRODUCT}/{self.stage}/sources/"


def resource_names(stage: str, overrides: Mapping[str, str] | None = None) -> ResourceNames:
    """The stage's names; a non-empty ``TWL_*`` value in ``overrides`` replaces its default."""
    env = overrides or {}
    queue = env.get(OVERRIDES["queue"]) or f"{PRODUCT}-ingestion-queue-{stage}"
    defaults = {
        "raw_bucket": f"{PRODUCT}-raw-data-{stage}",
        "queue": queue,
        "dlq": f"{queue}-dlq",
        "curated_table": f"{PRODUCT}-curated-{stage}",
        "ledger_table": f"{PRODUCT}-ledger-{stage}",
    }
    chosen = {attr: env.get(var) or defaults[attr] for attr, var in OVERRIDES.items()}
    return ResourceNames(stage=stage, **chosen)
