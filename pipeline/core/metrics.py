"""Metrics as CloudWatch Embedded Metric Format lines on stdout (no AWS call).

In Lambda, CloudWatch turns these log lines into metrics; locally they are just
JSON lines. Powertools' EphemeralMetrics keeps each emission isolated.
"""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from pipeline.core.config import PipelineConfig

NAMESPACE = "TWLPipeline"
SERVICE = "twl-pipeline"
log = logging.getLogger(__name__)


def emit(
    values: dict[str, float],
    *,
    dimensions: dict[str, str],
    config: PipelineConfig,
    unit: MetricUnit = MetricUnit.Count,
) -> None:
    """Publish ``values`` (name → number) with ``dimensions`` as one EMF document.

    Every metric also carries ``service`` (Powertools adds it) and ``stage``, so two
    stages in one account never mix; the stack's alarms and dashboard name all three
    (``pipeline.deploy.stack.monitoring``). Off when ``config.metrics_enabled`` is
    (a person's console).
    """
    if not config.metrics_enabled or not values:
        return
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name, dimension in {**dimensions, "stage": config.stage}.items():
        metrics.add_dimension(name=name, value=str(dimension))
    for name, value in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics.flush_metrics()
