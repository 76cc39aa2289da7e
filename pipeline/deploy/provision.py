"""Create or verify, idempotently, the pipeline's AWS resources: bucket, queues, tables.

Every resource is read first and written only where it differs from the desired
state, so a second run changes nothing. ``check_only`` turns every write into a
report, which makes the same code a drift detector (``pipeline.deploy.reconcile``).
"""

from __future__ import annotations

from pipeline.core.config import PipelineConfig
from pipeline.deploy.bucket import provision_bucket
from pipeline.deploy.queues import provision_queues
from pipeline.deploy.reconcile import Change, ProvisionError, has_drift
from pipeline.deploy.tables import provision_table, table_specs

__all__ = ["Change", "ProvisionError", "has_drift", "provision"]


def provision(*, config: PipelineConfig, check_only: bool = False) -> list[Change]:
    """Create or verify bucket, DLQ, queue and both tables; return one Change per resource."""
    changes = [provision_bucket(config, check_only=check_only)]
    changes += provision_queues(config, check_only=check_only)
    changes += [provision_table(config, s, check_only=check_only) for s in table_specs(config)]
    return changes
