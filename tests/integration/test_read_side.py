"""Stations, anomalies, issues and statistics: maintained counts equal a brute-force recount."""

from collections import Counter, defaultdict

import pytest
from seed_examples import energy_session, seed_session

from chargewatch import clock
from chargewatch.dal import anomalies as anomalies_dal
from chargewatch.dal import members as members_dal
from chargewatch.dal import sessions as sessions_dal
from chargewatch.dal import stations as stations_dal

DROP = {
    "meterValues": [
        {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:40:00Z", "unit": "kWh", "value": 0.5}
    ]
}


def _populate(api):
    """A small fleet: clean sessions, SoC anomalies, register drops; then re-analyses."""
    plans = [
        ("c1", "CP-A", "1", "clean"),
        ("c2", "CP-A", "2", "clean"),
        ("s1", "CP-A", "1", "soc"),
        ("s2", "CP-B", "1", "soc"),
        ("d1", "CP-B", "2", "drop"),
        ("d2", "CP-C", "1", "drop"),
    ]
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
        assert (item.totalSessions, item.anomalousSessions, item.totalAnomalies) == (
            expected["totalSessions"],
            expected["anomalousSessions"],
            expected["totalAnomalies"],
        ), station_id
    for (station_id, connector_id), expected in connector.items():
        item = stations_dal.ConnectorItem.get(*stations_dal.connector_key(organization_id, station_id, connector_id))
        assert (item.totalSessions, item.anomalousSessions, item.totalAnomalies) == (
            expected["totalSessions"],
            expected["anomalousSessions"],
            expected["totalAnomalies"],
        )
        stored = stations_dal.connector_categories_of(organization_id, station_id).get(connector_id, {})
        assert stored == dict(connector_categories[(station_id, connector_id)])
    assert stations_dal.category_counts(organization_id) == dict(categories)
    assert_tenant_counts_equal_recount(organization_id, station, connector)
    return recount


def assert_tenant_counts_equal_recount(organization_id, station, connector):
    """The counts of things on TOTALS (stations; stations and connectors with anomalies) and the
    flags behind them equal a recount. `station`/`connector` must cover all of the tenant's sessions."""
    stored = stations_dal.totals(organization_id)
    with_anomalies = {station_id for station_id, counts in station.items() if counts["totalAnomalies"]}
    connectors_with = {key for key, counts in connector.items() if counts["totalAnomalies"]}
    assert (int(stored.stationCount), int(stored.stationsWithAnomalies), int(stored.connectorsWithAnomalies)) == (
        len(station),
        len(with_anomalies),
        len(connectors_with),
    )
    assert stations_dal.station_ids(organization_id) == sorted(station)
    for station_id in station:
        assert bool(stations_dal.get_station(organization_id, station_id).withAnomalies) == (
            station_id in with_anomalies
        ), station_id
    for station_id, connector_id in connector:
        item = stations_dal.ConnectorItem.get(*stations_dal.connector_key(organization_id, station_id, connector_id))
        assert bool(item.withAnomalies) == ((station_id, connector_id) in connectors_with), (station_id, connector_id)


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
        assert set(item) >= {
            "id",
            "ocppChargingStationId",
            "chargingStationId",
            "aiScore",
            "totalAnomalies",
            "lastAnomalyDate",
        }
    assert by_id["CP-C"]["totalAnomalies"] >= 1 and by_id["CP-C"]["lastAnomalyDate"]
    assert api.get("/v1/stations", query="page=1&pageSize=2").json()["pagination"] == {
        "totalCount": 3,
        "page": 1,
        "size": 2,
    }
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
    assert set(first) >= {
        "id",
        "anomalyType",
        "anomalyTypeId",
        "aiRiskScore",
        "connectorId",
        "chargingPointId",
        "ocppChargingStationId",
        "evseId",
        "chargingSessionId",
        "dateOfAnomalyOccurrence",
        "dateOfLastUpdate",
        "issues",
    }
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
    members_dal.put_member(
        organization_id, user_id="u-ops", email="ops@example.com", role="member", joined_at=clock.iso_now()
    )
    anomaly = api.get("/v1/anomalies", query="chargingSessionId=d1&anomalyType=KWH_DECREASE").json()["content"][0]
    issue_id = anomaly["issues"][0]["id"]
    before = api.get("/v1/statistics").json()

    assert (
        api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "IN_PROGRESS", "assignedTo": "stranger"}).status == 400
    )
    moved = api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "IN_PROGRESS", "assignedTo": "ops@example.com"})
    assert moved.status == 200 and moved.json() == {"id": issue_id, "statusName": "IN_PROGRESS", "assignedTo": "u-ops"}
    assert (
        api.get("/v1/anomalies", query="anomalyIssuesStatus=IN_PROGRESS").json()["content"][0]["issues"][0]["id"]
        == issue_id
    )
    by_id = api.get("/v1/anomalies", query="assignedTo=u-ops").json()
    assert by_id["pagination"]["totalCount"] >= 1
    # the filter takes the e-mail the issue was assigned with, in any case, as it takes the user id
    for email in ("ops@example.com", "OPS@Example.com"):
        assert api.get("/v1/anomalies", query=f"assignedTo={email}").json() == by_id
    assert api.get("/v1/anomalies", query="assignedTo=nobody@example.com").json()["pagination"]["totalCount"] == 0

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
    issues = {
        item["issues"][0]["id"]
        for item in api.get("/v1/anomalies", query="chargingPointId=CP-R&anomalyType=KWH_DECREASE").json()["content"]
    }
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
    from chargewatch.services import webhook_events

    published = []
    monkeypatch.setattr(webhook_events, "publish_issue_updated", lambda org, data: published.append((org, data)) or [])
    api.post("/v1/sessions", energy_session("w1", station="CP-W", readings=8))
    api.patch("/v1/sessions/w1", DROP)
    issue_id = api.get("/v1/anomalies", query="chargingSessionId=w1").json()["content"][0]["issues"][0]["id"]
    assert api.patch(f"/v1/anomalies/issues/{issue_id}", {"status": "RESOLVED"}).status == 200
    ((organization_id, data),) = published
    assert organization_id == _org_of(api)
    assert (data.issueId, data.status, data.previousStatus, data.chargingStationId) == (
        issue_id,
        "RESOLVED",
        "OPEN",
        "CP-W",
    )


# --------------------------------------------------------------------- tenant counts of things
# stationCount, stationsWithAnomalies, connectorsWithAnomalies: each thing counted carries a marker
# (directory item, `withAnomalies` flag) that moves only with its ±1 (docs/statistics.md)

CLEAN = {"meterValues": energy_session("x", readings=5)["meterValues"]}
TWO_READINGS = {"meterValues": energy_session("x", readings=1)["meterValues"]}  # 2 values: below 3


def _statistics_match(api, organization_id, session_ids):
    station, connector, *_ = assert_counters_equal_recount(organization_id, session_ids)
    statistics = api.get("/v1/statistics").json()
    assert statistics["chargingStationsWithAnomaliesCount"] == sum(1 for s in station.values() if s["totalAnomalies"])
    assert statistics["connectorsWithAnomaliesCount"] == sum(1 for c in connector.values() if c["totalAnomalies"])
    assert api.get("/v1/stations").json()["pagination"]["totalCount"] == len(station)
    return statistics


def test_tenant_counts_follow_creates_reanalyses_replaces_and_batches(api, gateway):
    import boto3

    from chargewatch_tools.emulator.queues import QueuePoller

    organization_id = _org_of(api)
    ids = []

    def create(session_id, station, connector, *, drop=False):
        assert (
            api.post(
                "/v1/sessions", energy_session(session_id, station=station, connector=connector, readings=8)
            ).status
            == 200
        )
        if drop:
            assert api.patch(f"/v1/sessions/{session_id}", DROP).status == 200
        ids.append(session_id)

    create("k1", "CP-K", "1")
    create("k2", "CP-K", "2")
    create("m1", "CP-M", "1", drop=True)
    stats = _statistics_match(api, organization_id, ids)
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (1, 1)

    # re-analyses that add anomalies: CP-K 0 → >0 (connector 1), then a second connector of CP-K
    assert api.patch("/v1/sessions/k1", DROP).status == 200
    stats = _statistics_match(api, organization_id, ids)
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (2, 2)
    assert api.patch("/v1/sessions/k2", DROP).status == 200
    stats = _statistics_match(api, organization_id, ids)
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (2, 3)

    # re-analyses that remove them: k1 clean (CP-K stays >0 through k2), then k2 clean (CP-K → 0)
    assert api.put("/v1/sessions/k1", CLEAN).status == 200
    stats = _statistics_match(api, organization_id, ids)
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (2, 2)
    assert api.put("/v1/sessions/k2", CLEAN).status == 200
    stats = _statistics_match(api, organization_id, ids)
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (1, 1)

    # PUT replace below 3 readings: the analysis and its anomalies go, the counts follow
    assert api.put("/v1/sessions/m1", TWO_READINGS).status == 200
    _statistics_match(api, organization_id, ids)

    # batch results: new stations, and anomalies again on an existing one
    batch = []
    for index in range(6):
        body = energy_session(
            f"b{index}", station=f"CP-N{index % 3}" if index < 5 else "CP-K", connector=str(1 + index % 2), readings=6
        )
        if index % 2 == 0:
            body["meterValues"].append(
                {
                    "measurand": "Energy.Active.Import.Register",
                    "timestamp": "2026-02-27T10:40:00Z",
                    "unit": "Wh",
                    "value": 500,
                }
            )
        batch.append(body)
        ids.append(body["sessionId"])
    assert api.post("/v1/sessions/batch", {"sessions": batch}).status == 200
    QueuePoller(gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0).drain()
    stats = _statistics_match(api, organization_id, ids)
    assert stats["chargingStationsWithAnomaliesCount"] >= 2


def test_put_below_three_readings_clears_the_analysis_and_its_counts(api):
    organization_id = _org_of(api)
    assert api.post("/v1/sessions", energy_session("m1", station="CP-M", readings=8)).status == 200
    assert api.patch("/v1/sessions/m1", DROP).status == 200
    assert api.put("/v1/sessions/m1", TWO_READINGS).status == 200
    assert sessions_dal.get_analysis(sessions_dal.get_session(organization_id, "m1")) is None
    stats = _statistics_match(api, organization_id, ["m1"])
    assert (
        stats["totalAnomaliesCount"],
        stats["chargingStationsWithAnomaliesCount"],
        stats["connectorsWithAnomaliesCount"],
    ) == (0, 0, 0)


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_race_across_zero_is_planned_again(api, monkeypatch, direction):
    """Two sessions of one connector move its count across zero at once: the writer that planned
    against the state the other changed is cancelled by its condition and plans again (without the
    condition, `down` would leave the station flagged with 0 anomalies, `up` would count it twice)."""
    organization_id = _org_of(api)
    for session_id in ("a", "b"):
        assert api.post("/v1/sessions", energy_session(session_id, station="CP-Z", readings=8)).status == 200
        if direction == "down":
            assert api.patch(f"/v1/sessions/{session_id}", DROP).status == 200
    change = (
        (lambda sid: api.patch(f"/v1/sessions/{sid}", DROP))
        if direction == "up"
        else (lambda sid: api.put(f"/v1/sessions/{sid}", CLEAN))
    )
    real, reads = stations_dal.read_anomaly_flags, []

    def racing(*args):
        flags = real(*args)
        reads.append(flags)
        if len(reads) == 1:  # between a's read and a's transaction, b commits its own move
            assert change("b").status == 200
        return flags

    monkeypatch.setattr(stations_dal, "read_anomaly_flags", racing)
    assert change("a").status == 200
    assert len(reads) == 3  # a, b, a again (a's first transaction was cancelled)
    stats = _statistics_match(api, organization_id, ["a", "b"])
    expected = 1 if direction == "up" else 0
    assert (stats["chargingStationsWithAnomaliesCount"], stats["connectorsWithAnomaliesCount"]) == (expected, expected)


def test_concurrent_writers_keep_the_tenant_counts(make_org, atomic_calls):
    """Threads create sessions on the same new stations and toggle their anomalies on and off."""
    import threading

    from chargewatch.schemas.sessions import CreateSessionRequest, ReplaceSessionRequest
    from chargewatch.services import sessions

    organization_id, _ = make_org()
    drop = energy_session("x", readings=8)["meterValues"] + [
        {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:40:00Z", "unit": "kWh", "value": 0.5}
    ]
    clean = CLEAN["meterValues"]
    writers, unexpected = 8, []

    def work(writer):
        session_id = f"t{writer}"
        try:
            sessions.create_session(
                organization_id,
                CreateSessionRequest(
                    sessionId=session_id,
                    chargingStationId=f"CP-T{writer % 2}",
                    connectorId=str(writer % 3),
                    meterValues=drop,
                ),
            )
            for round_ in range(3):
                readings = clean if (round_ + writer) % 2 == 0 else drop
                sessions.replace_session(organization_id, session_id, ReplaceSessionRequest(meterValues=readings))
        except Exception as error:  # pragma: no cover - reported below
            unexpected.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unexpected == []
    station, connector, *_ = assert_counters_equal_recount(organization_id, [f"t{w}" for w in range(writers)])
    assert len(station) == 2 and any(c["totalAnomalies"] for c in connector.values())


def test_registration_counts_a_station_once(stack, make_org, monkeypatch):
    organization_id, _ = make_org()
    # two writers that both read "not registered" before either wrote
    monkeypatch.setattr(stations_dal, "_directory_item_exists", lambda *args: False)
    outcomes = [
        stations_dal.ensure_registered(organization_id, "CP-R", station_uuid=f"u{n}", now="2026-01-01T00:00:00Z")
        for n in range(2)
    ]
    assert outcomes == [True, False]
    assert stations_dal.totals(organization_id).stationCount == 1
    assert stations_dal.get_station(organization_id, "CP-R").id == "u0"


def test_station_pages_come_in_id_order(api):
    for index in (3, 0, 4, 1, 2):
        assert api.post("/v1/sessions", energy_session(f"p{index}", station=f"CP-P{index}", readings=2)).status == 200
    pages = [api.get("/v1/stations", query=f"page={page}&pageSize=2").json() for page in range(4)]
    assert [[item["chargingStationId"] for item in page["content"]] for page in pages] == [
        ["CP-P0", "CP-P1"],
        ["CP-P2", "CP-P3"],
        ["CP-P4"],
        [],
    ]
    assert all(page["pagination"]["totalCount"] == 5 for page in pages)
    assert pages[1]["pagination"] == {"totalCount": 5, "page": 1, "size": 2}
    assert api.get("/v1/stations/lookup").json()["items"] == [f"CP-P{index}" for index in range(5)]


def test_backfill_counts_data_written_before_the_counters(api):
    """Legacy data: no directory items, no flags, no tenant counts. The backfill restores them,
    changes nothing the second time, and later writes keep them right."""
    from chargewatch.services import stations as stations_service

    _populate(api)
    organization_id = _org_of(api)
    ids = ["c1", "c2", "s1", "s2", "d1", "d2"]
    for item in stations_dal.StationDirectoryItem.query(stations_dal.directory_key(organization_id, "")[0]):
        item.delete()
    for station in stations_dal.list_stations(organization_id):
        station.update(actions=[stations_dal.StationItem.withAnomalies.remove()])
    for connector in stations_dal.list_connectors(organization_id):
        connector.update(actions=[stations_dal.ConnectorItem.withAnomalies.remove()])
    Totals = stations_dal.TenantTotalsItem
    stations_dal.totals(organization_id).update(
        actions=[
            Totals.stationCount.remove(),
            Totals.stationsWithAnomalies.remove(),
            Totals.connectorsWithAnomalies.remove(),
        ]
    )

    moved = stations_service.backfill_tenant_counts(organization_id)
    assert moved["stationsRegistered"] == 3 and moved["stationsWithAnomalies"] == 3
    _statistics_match(api, organization_id, ids)
    assert stations_service.backfill_tenant_counts(organization_id) == {
        "stationsRegistered": 0,
        "stationsWithAnomalies": 0,
        "connectorsWithAnomalies": 0,
    }
    assert api.put("/v1/sessions/d2", CLEAN).status == 200  # CP-C → 0 anomalies
    stats = _statistics_match(api, organization_id, ids)
    assert stats["chargingStationsWithAnomaliesCount"] == 2


def _dropping(session_id, day, connector="1"):
    """A session whose register falls back near zero at its end: a KWH_DECREASE on `day`."""
    session = energy_session(session_id, station="CP-LATE", day=day, readings=8, connector=connector)
    session["meterValues"].append(
        {"measurand": "Energy.Active.Import.Register", "timestamp": f"{day}T10:40:00Z", "unit": "kWh", "value": 0.5}
    )
    return session


def _station(api):
    """The station as the list shows it (aiScore is a list field), checked against its detail."""
    (listed,) = [item for item in api.get("/v1/stations").json()["content"] if item["chargingStationId"] == "CP-LATE"]
    assert api.get("/v1/stations/CP-LATE").json()["lastAnomalyDate"] == listed["lastAnomalyDate"]
    return listed


def test_station_last_anomaly_follows_the_newest_anomaly_not_the_last_write(api):
    assert api.post("/v1/sessions", _dropping("late-april", "2026-04-01")).status == 200
    april = _station(api)
    assert april["lastAnomalyDate"].startswith("2026-04-01") and april["aiScore"] is not None
    # an older anomalous session arriving late leaves the newer date (and its score) alone
    assert api.post("/v1/sessions", _dropping("late-march", "2026-03-01", connector="2")).status == 200
    assert (_station(api)["lastAnomalyDate"], _station(api)["aiScore"]) == (april["lastAnomalyDate"], april["aiScore"])
    # re-analysing the older one changes nothing either
    assert (
        api.put("/v1/sessions/late-march", {"meterValues": _dropping("x", "2026-03-01")["meterValues"]}).status == 200
    )
    assert _station(api)["lastAnomalyDate"] == april["lastAnomalyDate"]
    # the newest anomaly disappears on re-analysis: the next newest takes over
    clean = energy_session("late-april", station="CP-LATE", day="2026-04-01", readings=8)["meterValues"]
    assert api.put("/v1/sessions/late-april", {"meterValues": clean}).status == 200
    assert _station(api)["lastAnomalyDate"].startswith("2026-03-01")
    # and when no anomaly is left, there is no last anomaly
    clean = energy_session("late-march", station="CP-LATE", day="2026-03-01", readings=8)["meterValues"]
    assert api.put("/v1/sessions/late-march", {"meterValues": clean}).status == 200
    assert (_station(api)["lastAnomalyDate"], _station(api)["aiScore"]) == (None, None)


def test_revenue_bills_the_energy_the_car_received_and_the_spike_is_at_risk(api):
    session = energy_session("spiky", station="CP-SPIKE", readings=10)  # 11 kW, 5-minute readings
    for reading in session["meterValues"]:
        if reading["measurand"].startswith("Energy") and reading["timestamp"] >= "2026-02-27T10:25:00Z":
            reading["value"] += 1_000_000  # +1,000 kWh (in Wh) that no 11 kW charger delivers in 5 minutes
    session["metadata"] = {"maxPowerKw": 11}
    result = api.post("/v1/sessions", session).json()
    assert [anomaly["category"] for anomaly in result["anomalies"]] == ["ENERGY_SPIKE"]

    stats = api.get("/v1/statistics").json()
    price = stats["pricePerKwh"]
    received = 9 * 11 * 5 / 60  # nine 5-minute intervals at 11 kW: 8.25 kWh
    assert stats["totalRevenue"] == pytest.approx(received * price, abs=0.01)
    assert stats["revenueAtRisk"] == pytest.approx(1000 * price, rel=0.01)  # the phantom energy, not billed
