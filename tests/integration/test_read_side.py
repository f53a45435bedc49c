"""Stations, anomalies, issues and statistics: maintained counts equal a brute-force recount."""
from collections import Counter, defaultdict

import pytest

from chargewatch import clock
from chargewatch.dal import anomalies as anomalies_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import stations as stations_dal

from seed_examples import energy_session, seed_session

DROP = {"meterValues": [{"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:40:00Z",
                         "unit": "kWh", "value": 0.5}]}


def _populate(api):
    """A small fleet: clean sessions, SoC anomalies, register drops; then re-analyses."""
    plans = [("c1", "CP-A", "1", "clean"), ("c2", "CP-A", "2", "clean"), ("s1", "CP-A", "1", "soc"),
             ("s2", "CP-B", "1", "soc"), ("d1", "CP-B", "2", "drop"), ("d2", "CP-C", "1", "drop")]
    for session_id, station, connector, kind in plans:
        if kind == "soc":
            body = seed_session(session_id, chargingStationId=station, connectorId=connector)
        else:
            body = energy_session(session_id, station=station, connector=connector, readings=8)
        assert api.post("/v1/sessions", body).status == 200
        if kind == "drop":
            assert api.patch(f"/v1/sessions/{session_id}", DROP).status == 200
    # re-analyses that move counts: s1 replaced by clean readings, c2 gets a drop, d2 analysed twice
    assert api.put("/v1/sessions/s1", {"meterValues": energy_session("x", readings=5)["meterValues"]}).status == 200
    assert api.patch("/v1/sessions/c2", DROP).status == 200
    assert api.patch("/v1/sessions/d2", {"meterValues": []}).status == 200
    assert api.patch("/v1/sessions/d2", {"status": "completed"}).status == 200


def _recount(organization_id, session_ids):
    """What every counter must be, recomputed from the stored analyses."""
    station = defaultdict(Counter)
    connector = defaultdict(Counter)
    categories, connector_categories = Counter(), defaultdict(Counter)
    totals = Counter()
    for session_id in session_ids:
        item = sessions_dal.get_session(organization_id, session_id)
        analysis = sessions_dal.get_analysis(item)
        anomalies = (analysis.result.get("anomalies") or []) if analysis else []
        anomalous = bool(analysis and analysis.result.get("isAnomaly"))
        key = (item.chargingStationId, item.connectorId)
        for counter in (station[item.chargingStationId], connector[key]):
            counter["totalSessions"] += 1
            counter["anomalousSessions"] += anomalous
            counter["totalAnomalies"] += len(anomalies)
        for anomaly in anomalies:
            categories[anomaly["category"]] += 1
            connector_categories[key][anomaly["category"]] += 1
        totals["totalSessions"] += 1
        totals["sessionsWithAnomalies"] += anomalous
        totals["totalAnomalies"] += len(anomalies)
        totals["energyKwh"] += round(float(analysis.energyKwh) if analysis else 0.0, 6)
    return station, connector, categories, connector_categories, totals


def assert_counters_equal_recount(organization_id, session_ids):
    """Every station, connector and category counter equals the recount; returns the recount."""
    station, connector, categories, connector_categories, totals = recount = _recount(organization_id, session_ids)
    for station_id, expected in station.items():
        item = stations_dal.get_station(organization_id, station_id)
        assert (item.totalSessions, item.anomalousSessions, item.totalAnomalies) == \
            (expected["totalSessions"], expected["anomalousSessions"], expected["totalAnomalies"]), station_id
    for (station_id, connector_id), expected in connector.items():
        item = stations_dal.ConnectorItem.get(*stations_dal.connector_key(organization_id, station_id, connector_id))
        assert (item.totalSessions, item.anomalousSessions, item.totalAnomalies) == \
            (expected["totalSessions"], expected["anomalousSessions"], expected["totalAnomalies"])
        stored = stations_dal.connector_categories_of(organization_id, station_id).get(connector_id, {})
        assert stored == dict(connector_categories[(station_id, connector_id)])
    assert stations_dal.category_counts(organization_id) == dict(categories)
    return recount


def test_counts_equal_a_brute_force_recount(api, make_org):
    _populate(api)
    organization_id = _org_of(api)
    ids = ["c1", "c2", "s1", "s2", "d1", "d2"]
    station, connector, categories, connector_categories, totals = assert_counters_equal_recount(organization_id, ids)
    assert totals["totalAnomalies"] > 0 and totals["sessionsWithAnomalies"] > 0
    stored_totals = stations_dal.totals(organization_id)
    assert stored_totals.totalSessions == totals["totalSessions"]
    assert stored_totals.sessionsWithAnomalies == totals["sessionsWithAnomalies"]
    assert stored_totals.totalAnomalies == totals["totalAnomalies"]
    assert float(stored_totals.energyKwh) == pytest.approx(totals["energyKwh"], abs=1e-4)
    # every anomaly is an item, every item belongs to an open issue
    items = list(anomalies_dal.query_anomalies(organization_id))
    assert len(items) == totals["totalAnomalies"] == stored_totals.activeAnomalies

    statistics = api.get("/v1/statistics").json()
    assert statistics["totalSessions"] == 6
    assert statistics["totalAnomaliesCount"] == totals["totalAnomalies"]
    assert statistics["sessionsWithAnomaliesCount"] == totals["sessionsWithAnomalies"]
    assert statistics["chargingStationsWithAnomaliesCount"] == sum(1 for s in station.values() if s["totalAnomalies"])
    assert statistics["connectorsWithAnomaliesCount"] == sum(1 for c in connector.values() if c["totalAnomalies"])
    assert statistics["totalRevenue"] == pytest.approx(round(totals["energyKwh"] * 0.35, 2))
    for field in ("activeAnomaliesCount", "uptimePercentage", "uptimeDelta", "revenueAtRisk", "revenueLeakEstimate"):
        assert field in statistics
    assert statistics["revenueAtRisk"] > 0  # open KWH_DECREASE incidents


def _org_of(api):
    from chargewatch.services.auth import authorize

    return authorize({"authorization": f"Bearer {api.api_key}"}).organization_id


def test_station_endpoints(api):
    _populate(api)
    listed = api.get("/v1/stations").json()
    assert listed["pagination"]["totalCount"] == 3
    by_id = {item["chargingStationId"]: item for item in listed["content"]}
    assert set(by_id) == {"CP-A", "CP-B", "CP-C"}
    for item in listed["content"]:
        assert set(item) >= {"id", "ocppChargingStationId", "chargingStationId", "aiScore", "totalAnomalies", "lastAnomalyDate"}
    assert by_id["CP-C"]["totalAnomalies"] >= 1 and by_id["CP-C"]["lastAnomalyDate"]
    assert api.get("/v1/stations", query="page=1&pageSize=2").json()["pagination"] == {"totalCount": 3, "page": 1, "size": 2}
    assert sorted(api.get("/v1/stations/lookup").json()["items"]) == ["CP-A", "CP-B", "CP-C"]

    detail = api.get("/v1/stations/CP-A").json()
    assert detail["chargingStationId"] == "CP-A" and detail["totalSessions"] == 3
    assert {c["connectorId"]: c["totalSessions"] for c in detail["connectors"]} == {"1": 2, "2": 1}
    assert sum(c["anomalousSessions"] for c in detail["connectors"]) == detail["anomalousSessions"]
    connectors = api.get("/v1/stations/CP-A/connectors").json()
    two = next(c for c in connectors["connectors"] if c["connectorId"] == "2")
    assert two["anomalyCategories"].get("KWH_DECREASE") == 1
    assert api.get("/v1/stations/NOPE").status == 404
    assert api.get("/v1/stations/NOPE/connectors").status == 404


def test_anomaly_lists_filters_and_detail(api):
    _populate(api)
    everything = api.get("/v1/anomalies").json()
    total = everything["pagination"]["totalCount"]
    assert total >= 3
    first = everything["content"][0]
    assert set(first) >= {"id", "anomalyType", "anomalyTypeId", "aiRiskScore", "connectorId", "chargingPointId",
                          "ocppChargingStationId", "evseId", "chargingSessionId", "dateOfAnomalyOccurrence",
                          "dateOfLastUpdate", "issues"}
    assert first["issues"][0]["statusName"] == "OPEN"
    dates = [item["dateOfAnomalyOccurrence"] for item in everything["content"]]
    assert dates == sorted(dates, reverse=True)

    def ids(query):
        return {item["chargingSessionId"] for item in api.get("/v1/anomalies", query=query).json()["content"]}

    assert ids("anomalyType=KWH_DECREASE") == {"c2", "d1", "d2"}
    assert ids("chargingPointId=CP-B") == {"s2", "d1"}
    assert ids("chargingSessionId=d2") == {"d2"}
    assert ids("connectorId=2&anomalyType=KWH_DECREASE") == {"c2", "d1"}
    assert ids("occurrenceFrom=2026-03-01") == set()
    assert ids("anomalyIssuesStatus=RESOLVED") == set()
    scores = [i["aiRiskScore"] for i in api.get("/v1/anomalies", query="sortByScore=true").json()["content"]]
    assert scores == sorted(scores, reverse=True)
    assert api.get("/v1/anomalies", query="anomalyType=NOT_A_TYPE").status == 400

    sessions_view = api.get("/v1/anomalies/sessions", query="anomalyType=KWH_DECREASE").json()
    assert {s["chargingSessionId"] for s in sessions_view["content"]} == {"c2", "d1", "d2"}
    assert all(s["anomalyTypes"][0]["typeId"] == "KWH_DECREASE" for s in sessions_view["content"])
    connectors_view = api.get("/v1/anomalies/connectors", query="sortBy=anomalyCount").json()
    counts = [c["anomalyCount"] for c in connectors_view["content"]]
    assert counts == sorted(counts, reverse=True) and sum(counts) == total
    assert api.get("/v1/anomalies/connectors", query="sortBy=nonsense").status == 400

    detail = api.get("/v1/anomalies/sessions/d1/categories/KWH_DECREASE/details").json()
    assert detail["sessionId"] == "d1" and detail["anomalyCategory"]["id"] == "KWH_DECREASE"
    assert detail["anomalyPeriod"]["start"] <= detail["anomalyPeriod"]["end"]
    assert max(point["riskScore"] for point in detail["riskScoreTimeline"]) == detail["currentRiskScore"] > 0
    assert any(value["energy"] is not None for value in detail["meterValues"])
    assert detail["issues"][0]["statusName"] == "OPEN"
    assert api.get("/v1/anomalies/sessions/d1/categories/SOC_DECREASE/details").status == 404
    assert api.get("/v1/anomalies/sessions/nope/categories/KWH_DECREASE/details").status == 404


def test_issue_workflow_and_its_effect_on_statistics(api):
    _populate(api)
    organization_id = _org_of(api)
    members_dal.put_member(organization_id, user_id="u-ops", email="ops@example.com", role="member", joined_at=clock.iso_now())
    anomaly = api.get("/v1/anomalies", query="chargingSessionId=d1&anomalyType=KWH_DECREASE").json()["content"][0]
    issue_id = anomaly["issues"][0]["id"]
    before = api.get("/v1/statistics").json()

    assert api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "IN_PROGRESS", "assignedTo": "stranger"}).status == 400
    moved = api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "IN_PROGRESS", "assignedTo": "ops@example.com"})
    assert moved.status == 200 and moved.json() == {"id": issue_id, "statusName": "IN_PROGRESS", "assignedTo": "u-ops"}
    assert api.get("/v1/anomalies", query="anomalyIssuesStatus=IN_PROGRESS").json()["content"][0]["issues"][0]["id"] == issue_id
    assert api.get("/v1/anomalies", query="assignedTo=u-ops").json()["pagination"]["totalCount"] >= 1

    dismissed = api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "DISMISSED", "reason": "meter swap, known"})
    assert dismissed.status == 200
    after = api.get("/v1/statistics").json()
    assert after["activeAnomaliesCount"] < before["activeAnomaliesCount"]
    assert after["revenueAtRisk"] < before["revenueAtRisk"]
    assert api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "OPEN"}).status == 409
    assert api.patch("/v1/anomalies/issues/nope", {"status": "OPEN"}).status == 404
    assert api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "DONE"}).status == 400
    issue = anomalies_dal.get_issue(organization_id, issue_id)
    assert [entry["to"] for entry in issue.history] == ["OPEN", "IN_PROGRESS", "DISMISSED"]
    assert issue.history[-1]["reason"] == "meter swap, known" and issue.history[-1]["by"].startswith("api_key:")

    # a new drop on the same connector opens a new issue: the dismissed one stays a label
    assert api.post("/v1/sessions", energy_session("d3", station="CP-B", connector="2", readings=8)).status == 200
    assert api.patch("/v1/sessions/d3", DROP).status == 200
    new = api.get("/v1/anomalies", query="chargingSessionId=d3&anomalyType=KWH_DECREASE").json()["content"][0]
    assert new["issues"][0]["id"] != issue_id and new["issues"][0]["statusName"] == "OPEN"


def test_recurring_anomalies_join_the_open_issue(api):
    for session_id in ("r1", "r2"):
        api.post("/v1/sessions", energy_session(session_id, station="CP-R", connector="1", readings=8))
        api.patch(f"/v1/sessions/{session_id}", DROP)
    issues = {item["issues"][0]["id"] for item in
              api.get("/v1/anomalies", query="chargingPointId=CP-R&anomalyType=KWH_DECREASE").json()["content"]}
    assert len(issues) == 1


def test_read_side_isolation_with_prefix_sharing_tenants(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    _populate(acme)
    issue_id = acme.get("/v1/anomalies").json()["content"][0]["issues"][0]["id"]
    assert corp.get("/v1/stations").json()["content"] == []
    assert corp.get("/v1/stations/lookup").json()["items"] == []
    assert corp.get("/v1/stations/CP-A").status == 404
    assert corp.get("/v1/stations/CP-A/connectors").status == 404
    assert corp.get("/v1/anomalies").json()["pagination"]["totalCount"] == 0
    assert corp.get("/v1/anomalies/connectors").json()["content"] == []
    assert corp.get("/v1/anomalies/sessions").json()["content"] == []
    assert corp.get("/v1/anomalies/sessions/d1/categories/KWH_DECREASE/details").status == 404
    assert corp.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "DISMISSED"}).status == 404
    assert acme.get("/v1/anomalies", query="anomalyIssuesStatus=OPEN").json()["pagination"]["totalCount"] > 0
    stats = corp.get("/v1/statistics").json()
    assert stats["totalSessions"] == 0 and stats["totalAnomaliesCount"] == 0


def test_issue_update_publishes_issue_updated(api, monkeypatch):
    from chargewatch.services import webhooks

    published = []
    monkeypatch.setattr(webhooks, "publish_issue_updated", lambda org, data: published.append((org, data)) or [])
    api.post("/v1/sessions", energy_session("w1", station="CP-W", readings=8))
    api.patch("/v1/sessions/w1", DROP)
    issue_id = api.get("/v1/anomalies", query="chargingSessionId=w1").json()["content"][0]["issues"][0]["id"]
    assert api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "RESOLVED"}).status == 200
    (organization_id, data), = published
    assert organization_id == _org_of(api)
    assert (data.issueId, data.status, data.previousStatus, data.chargingStationId) == (issue_id, "RESOLVED", "OPEN", "CP-W")
