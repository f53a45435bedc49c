"""What an on-call engineer reads: log lines with tenant and correlation id, EMF business metrics."""

from __future__ import annotations

import io
import json

import pytest
from seed_examples import seed_session

from chargewatch import observability
from chargewatch.services import sessions, usage

NAMESPACE = observability.NAMESPACE


@pytest.fixture
def log_lines(monkeypatch):
    """Every line the shared logger writes (at INFO) during the test, parsed."""
    buffer = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", buffer)
    previous = observability.logger.log_level
    observability.logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    observability.logger.setLevel(previous)


def _emf(captured: str) -> list[dict]:
    """The EMF documents printed on stdout (one JSON object per line with an _aws key)."""
    documents = []
    for line in captured.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def _metric_values(documents: list[dict], name: str, **dimensions: str) -> list[float]:
    values = []
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        names = {metric["Name"] for metric in directive["Metrics"]}
        if (
            name in names
            and directive["Namespace"] == NAMESPACE
            and all(document.get(key) == value for key, value in dimensions.items())
        ):
            value = document[name]
            values.append(sum(value) if isinstance(value, list) else value)
    return values


def test_every_line_of_a_request_carries_the_tenant_and_the_correlation_id(
    make_org, client_for, log_lines, monkeypatch
):
    organization_id, key = make_org()
    original = sessions.list_sessions

    def logging_list(*args, **kwargs):
        observability.logger.info("listing sessions")
        return original(*args, **kwargs)

    monkeypatch.setattr(sessions, "list_sessions", logging_list)
    response = client_for(key).get("/v1/sessions")
    assert response.status == 200

    lines = [line for line in log_lines() if line["message"] == "listing sessions"]
    assert len(lines) == 1
    (line,) = lines
    assert line["tenant_id"] == organization_id
    assert line["principal_type"] == "api_key"
    assert line["correlation_id"]  # the API Gateway request id
    assert line["function_name"].endswith("SessionsFunction")

    # the next invocation starts clean: an anonymous request's lines name no tenant
    assert client_for(None).get("/v1/sessions").status == 401
    observability.logger.info("after")
    assert "tenant_id" not in log_lines()[-1]


def test_analysing_a_session_emits_sessions_analysed_and_anomalies_per_category(api, capsys):
    capsys.readouterr()
    created = api.post("/v1/sessions", seed_session("sess-metrics-1"))
    assert created.status in (200, 201), created.body
    categories = [anomaly["category"] for anomaly in created.json()["anomalies"]]
    assert categories, "the seed session is expected to show an anomaly"

    documents = _emf(capsys.readouterr().out)
    assert _metric_values(documents, observability.SESSIONS_ANALYSED) == [1]
    for category in set(categories):
        assert _metric_values(documents, observability.ANOMALIES_DETECTED, category=category) == [
            categories.count(category)
        ]


def test_a_plan_limit_refusal_is_counted_by_code(api, capsys, monkeypatch):
    monkeypatch.setitem(usage.PLAN_LIMITS, "free", {**usage.PLAN_LIMITS["free"], "aiTokensPerMonth": 10})
    capsys.readouterr()
    refused = api.post("/api/tenant-usage", {"aiTokensDelta": 11})
    assert refused.status == 402, refused.body

    documents = _emf(capsys.readouterr().out)
    assert _metric_values(documents, observability.PLAN_LIMIT_REFUSALS, code="ai_limit_exceeded") == [1]
    # an accepted request counts nothing
    assert api.post("/api/tenant-usage", {"aiTokensDelta": 1}).status == 200
    assert _metric_values(_emf(capsys.readouterr().out), observability.PLAN_LIMIT_REFUSALS) == []


def test_metrics_of_one_invocation_are_flushed_once_and_not_carried_over(capsys):
    @observability.handler
    def work(event, context):
        observability.count(observability.WEBHOOK_DELIVERY_FAILURES)
        observability.count(observability.WEBHOOK_DELIVERY_FAILURES)
        observability.measure(observability.BATCH_LAG, 12.5)
        return "done"

    class Context:
        function_name = "test-worker"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-worker"
        memory_limit_in_mb = 128
        aws_request_id = "req-1"

    capsys.readouterr()
    assert work({}, Context()) == "done"
    documents = _emf(capsys.readouterr().out)
    assert _metric_values(documents, observability.WEBHOOK_DELIVERY_FAILURES) == [2]
    assert _metric_values(documents, observability.BATCH_LAG) == [12.5]

    assert work({}, Context()) == "done"
    documents = _emf(capsys.readouterr().out)
    assert _metric_values(documents, observability.WEBHOOK_DELIVERY_FAILURES) == [2]
