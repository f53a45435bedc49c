"""Logs, traces and metrics of every function, set up once here.

- `logger`: one powertools Logger for the whole codebase, so the keys a handler appends (the
  correlation id, the tenant) are on every line any module writes during that invocation.
- `http_handler` / `handler`: the decorator of every Lambda entry point. It injects the Lambda
  context (and, for HTTP, the API Gateway request id as correlation id), clears the previous
  invocation's keys, traces the invocation and flushes the invocation's metrics as EMF.
- `count` / `measure`: business metrics (namespace POWERTOOLS_METRICS_NAMESPACE). A metric with a
  dimension (say, anomalies per category) is summed over the invocation and written once.

The X-Ray SDK costs ~0.5 s to import: the Tracer (which patches botocore, so every AWS call is a
subsegment) is built on the first invocation, and only where tracing can work (in Lambda, unless
POWERTOOLS_TRACE_DISABLED): tests, the emulator and the CLI never import it.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "chargewatch"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Chargewatch"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Metric names (the dashboard and docs/operations.md use them)
SESSIONS_ANALYSED = "SessionsAnalysed"
ANOMALIES_DETECTED = "AnomaliesDetected"  # dimension: category
BATCH_LAG = "BatchLagSeconds"  # batch submitted -> a part's processing starts
WEBHOOK_DELIVERY_FAILURES = "WebhookDeliveryFailures"  # failed attempts (each retry counts)
PLAN_LIMIT_REFUSALS = "PlanLimitRefusals"  # 402 answers; dimension: code

_tracer: Any = None
_cold_start = True
# (metric name, dimension name, dimension value) -> sum, written at the end of the invocation
_dimensioned: defaultdict[tuple[str, str, str], float] = defaultdict(float)

Handler = Callable[[Any, Any], Any]


def _tracing_possible() -> bool:
    """In Lambda (not SAM local) and not disabled: the same rule powertools applies."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    return not disabled and bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL")


def tracer() -> Any:
    """The process's Tracer (built once; patches botocore so DynamoDB/SQS/S3 calls are traced)."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
    return _tracer


def count(name: str, value: float = 1, *, dimension: tuple[str, str] | None = None) -> None:
    """Add to a Count metric of this invocation."""
    if dimension is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    else:
        _dimensioned[(name, *dimension)] += value


def measure(name: str, value: float, unit: MetricUnit = MetricUnit.Seconds) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)


def flush_metrics() -> None:
    """Write this invocation's metrics (one EMF line per dimension value, one for the rest)."""
    pending = list(_dimensioned.items())
    _dimensioned.clear()
    for (name, dimension, dimension_value), value in pending:
        # its own provider (powertools' single_metric prints even with POWERTOOLS_METRICS_DISABLED)
        document = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
        document.add_dimension(name=dimension, value=dimension_value)
        document.add_metric(name=name, unit=MetricUnit.Count, value=value)
        document.flush_metrics()
    if metrics.metric_set:
        metrics.flush_metrics()


def bind_tenant(organization_id: str | None, **keys: Any) -> None:
    """Put the tenant (and e.g. the principal) on every following log line of this invocation."""
    values = {"tenant_id": organization_id or None, **keys}
    logger.append_keys(**{key: value for key, value in values.items() if value is not None})
    if _tracer is not None and organization_id:
        _tracer.put_annotation(key="tenant_id", value=organization_id)


def _instrument(function: Handler, correlation_id_path: str | None) -> Handler:
    @functools.wraps(function)
    def measured(event: Any, context: Any) -> Any:
        global _cold_start
        if _cold_start:
            _cold_start = False
            count("ColdStart", dimension=("function_name", str(getattr(context, "function_name", "unknown"))))
        try:
            return function(event, context)
        finally:
            flush_metrics()

    traced: Handler | None = None

    def traced_once(event: Any, context: Any) -> Any:
        nonlocal traced
        if traced is None:
            traced = (
                tracer().capture_lambda_handler(measured, capture_response=False) if _tracing_possible() else measured
            )
        return traced(event, context)

    # clear_state: the keys of the previous invocation (its tenant) never leak into this one
    return functools.wraps(function)(
        logger.inject_lambda_context(traced_once, correlation_id_path=correlation_id_path, clear_state=True)
    )


def http_handler(function: Handler) -> Handler:
    """Entry point of an HTTP API function (payload 2.0): the API request id is the correlation id."""
    return _instrument(function, correlation_paths.API_GATEWAY_HTTP)


def handler(function: Handler) -> Handler:
    """Entry point of a queue consumer or a scheduled function."""
    return _instrument(function, None)
