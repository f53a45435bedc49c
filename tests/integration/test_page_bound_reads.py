"""GET /v1/sessions costs what its page costs, not what the tenant holds: totalCount comes from
the read model's counters for the filters it counts (none, chargingStationId, isAnomaly), and the
query stops after the page. Items read are counted at the DynamoDB call (ScannedCount)."""

from __future__ import annotations

import pytest
from pynamodb.connection.base import Connection
from seed_examples import energy_session, seed_session


@pytest.fixture
def items_read(monkeypatch):
    counted = {"items": 0}
    original = Connection.query

    def query(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        counted["items"] += int(response.get("ScannedCount", 0))
        return response

    monkeypatch.setattr(Connection, "query", query)

    def measure(api, path: str, query: str):
        before = counted["items"]
        answer = api.get(path, query=query)
        assert answer.status == 200, answer.body
        return counted["items"] - before, answer.json()

    return measure


def _tenant(make_org, client_for, organization_id: str, sessions: int):
    _, key = make_org(organization_id, organization_id=organization_id)
    api = client_for(key)
    for index in range(sessions):
        body = energy_session(
            f"s-{index:04d}", station=f"CP-{index % 2 + 1}", day=f"2026-02-{index % 28 + 1:02d}", start_hour=index % 20
        )
        assert api.post("/v1/sessions", body).status == 200
    return api


def test_a_page_reads_the_same_items_at_40_and_at_120_sessions(make_org, client_for, items_read):
    small = _tenant(make_org, client_for, "fleet", 40)
    big = _tenant(make_org, client_for, "fleet-big", 120)  # ids share a prefix
    for query in ("pageSize=10", "page=3&pageSize=10", "chargingStationId=CP-1&page=1&pageSize=10"):
        small_reads, small_page = items_read(small, "/v1/sessions", query)
        big_reads, big_page = items_read(big, "/v1/sessions", query)
        assert small_reads == big_reads <= 40, query
        assert len(small_page["content"]) == len(big_page["content"]) == 10
    assert items_read(small, "/v1/sessions", "pageSize=10")[1]["pagination"]["totalCount"] == 40
    assert items_read(big, "/v1/sessions", "pageSize=10")[1]["pagination"]["totalCount"] == 120
    assert items_read(big, "/v1/sessions", "chargingStationId=CP-2")[1]["pagination"]["totalCount"] == 60
    assert items_read(big, "/v1/sessions", "chargingStationId=NOPE")[1]["pagination"]["totalCount"] == 0


def test_counted_totals_equal_a_full_count_after_creates_and_reanalysis(api, items_read):
    for index in range(6):
        assert api.post("/v1/sessions", energy_session(f"clean-{index}", station="CP-A")).status == 200
    for index in range(4):
        created = api.post("/v1/sessions", seed_session(f"odd-{index}", chargingStationId="CP-A"))
        assert created.status == 200 and created.json()["isAnomaly"] is True
    # a PUT turns one anomalous session clean: its counters move in the same transaction
    replaced = api.put("/v1/sessions/odd-0", {"meterValues": energy_session("x", station="CP-A")["meterValues"]})
    assert replaced.status == 200 and replaced.json()["isAnomaly"] is False
    every_start = "dateFrom=2000-01-01"  # a filter without a counter: counted by reading every match
    for query in ("", "isAnomaly=true", "isAnomaly=false", "chargingStationId=CP-A&isAnomaly=true"):
        _, counted = items_read(api, "/v1/sessions", f"pageSize=100&{query}")
        _, full = items_read(api, "/v1/sessions", f"pageSize=100&{query}&{every_start}")
        assert counted["pagination"]["totalCount"] == full["pagination"]["totalCount"] == len(full["content"]), query
    assert items_read(api, "/v1/sessions", "isAnomaly=true")[1]["pagination"]["totalCount"] == 3


def test_anomaly_pages_are_counted_from_counters_and_stop_after_the_page(make_org, client_for, items_read):
    tenants = {}
    for name, sessions in (("grid", 6), ("grid-big", 24)):
        _, key = make_org(name, organization_id=name)
        tenants[name] = api = client_for(key)
        for index in range(sessions):
            body = seed_session(f"odd-{index:03d}", chargingStationId=f"CP-{index % 3}")
            for reading in body["meterValues"]:  # distinct days, so every session is its own anomaly time
                reading["timestamp"] = reading["timestamp"].replace("2026-02-27", f"2026-02-{index % 28 + 1:02d}")
            assert api.post("/v1/sessions", body).status == 200
    every = "occurrenceFrom=2000-01-01T00:00:00Z"  # a filter without a counter: counted by reading every match
    for api in tenants.values():
        _, full = items_read(api, "/v1/anomalies", f"pageSize=100&{every}")
        _, counted = items_read(api, "/v1/anomalies", "pageSize=100")
        assert counted["pagination"]["totalCount"] == full["pagination"]["totalCount"] == len(full["content"]) > 0
        category = full["content"][0]["anomalyType"]
        _, by_type = items_read(api, "/v1/anomalies", f"anomalyType={category}&pageSize=100")
        expected = sum(1 for anomaly in full["content"] if anomaly["anomalyType"] == category)
        assert by_type["pagination"]["totalCount"] == expected == len(by_type["content"])
    small_reads, _ = items_read(tenants["grid"], "/v1/anomalies", "pageSize=3")
    big_reads, _ = items_read(tenants["grid-big"], "/v1/anomalies", "pageSize=3")
    assert small_reads == big_reads == 3
