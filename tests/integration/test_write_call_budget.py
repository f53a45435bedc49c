"""The DynamoDB calls a session write makes, counted where they leave the process (botocore), held
to the numbers docs/performance.md states (tests/perf/bench_write_cost.py measures them with the
capacity DynamoDB reports). A change that adds a call to the write path fails here first."""

from __future__ import annotations

from collections import Counter

import pytest
from seed_examples import energy_session

# Steady state: the station and connector already exist (a station's first session also registers it).
CALL_BUDGET = {"create": 8, "put": 10, "patch": 9}


@pytest.fixture
def dynamodb_calls(monkeypatch):
    from botocore.client import BaseClient

    counted: Counter = Counter()
    original = BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb":
            counted[operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return counted


def test_session_writes_stay_within_their_documented_call_budget(api, dynamodb_calls):
    assert api.post("/v1/sessions", energy_session("first", readings=30)).status == 200
    measured = {}
    for name, send in (
        ("create", lambda: api.post("/v1/sessions", energy_session("second", readings=30))),
        (
            "put",
            lambda: api.put("/v1/sessions/second", {"meterValues": energy_session("x", readings=40)["meterValues"]}),
        ),
        ("patch", lambda: api.patch("/v1/sessions/second", {"status": "completed"})),
    ):
        dynamodb_calls.clear()
        assert send().status == 200
        measured[name] = sum(dynamodb_calls.values())
        assert measured[name] <= CALL_BUDGET[name], (name, dict(dynamodb_calls))
    assert measured["create"] >= 3  # the counter sees the calls at all (session, analysis, usage)
