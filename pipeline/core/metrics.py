"""Metrics as CloudWatch Embedded Metric Format lines on stdout (no AWS call).

In Lambda, CloudWatch turns these log lines into metrics; locally they are just
JSON lines. Powertools' EphemeralMetrics keeps each emission isolated.
"""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "TWLPipeline"
SERVICE = "twl-pipeline"
log = logging.getLogger(__name__)


def emit(
    values: dict[str, float],
    *,
    dimensions: dict[str, str],
    enabled: bool = True,
    unit: MetricUnit = MetricUnit.Count,
) -> None:
    """Publish ``values`` (name → number) with ``dimensions`` as one EMF document.

    Callers pass ``enabled=config.metrics_enabled`` (off for a person's console).
    """
    if not enabled or not values:
        return
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name, dimension in dimensions.items():
        metrics.add_dimension(name=name, value=str(dimension))
    for name, value in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics.flush_metrics()
