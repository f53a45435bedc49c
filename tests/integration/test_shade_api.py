"""SHADE end to end: sessions -> schedule fire -> ShadeQueue -> worker -> station endpoints, statistics."""

import json
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest

from chargewatch import clock
from chargewatch.dal import station_days as station_days_dal
from chargewatch.services import shade as shade_service
from chargewatch_tools.emulator.queues import QueuePoller
from csar import shade

DAY = date(2026, 3, 11)
# seven 90-minute sessions a day per connector: a dead connector misses enough of them to be
# improbable under SHADE's demand model (five would sit at its threshold)
HOURS = (7, 9, 11, 13, 15, 17, 19)
SESSION_KWH = 6 * 2.75
DAY_KWH = len(HOURS) * SESSION_KWH  # one connector's day


def _buckets():
    values = [0.0] * 96
    for hour in HOURS:
        for b in range(hour * 4, hour * 4 + 6):
            values[b] = 2.75
    return values


def _session(session_id, station, connector, day, hour):
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    readings = [
        {
            "measurand": "Energy.Active.Import.Register",
            "unit": "kWh",
            "value": round(2.75 * k, 3),
            "timestamp": (start + timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for k in range(7)
    ]
    return {"sessionId": session_id, "chargingStationId": station, "connectorId": connector, "meterValues": readings}


def _seed_history(organization_id, station, days=21):
    """Earlier station-days as the worker would have stored them (two busy connectors)."""
    for k in range(1, days + 1):
        day = DAY - timedelta(days=k)
        analysis = shade.analyze_station_day(day, {"1": _buckets(), "2": _buckets()}, {})
        station_days_dal.save_day(shade_service._station_day_item(organization_id, station, analysis), None)


def _fire(gateway, day):
    result = gateway.registry.invoke(
        "ShadeSchedulerFunction", {"detail-type": "Scheduled Event", "detail": {"date": day.isoformat()}}
    )
    handled = QueuePoller(
        gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0
    ).drain()
    return result, handled


@pytest.fixture
def fleet(make_org, client_for, gateway):
    """Two tenants whose ids share a prefix; the same station id in both, only acme's has SHADE data."""
    acme, acme_key = make_org("Acme", organization_id="acme")
    corp, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme_api, corp_api = client_for(acme_key), client_for(corp_key)
    _seed_history(acme, "ST-1")
    for n, hour in enumerate(HOURS):  # today only connector 1 delivers: connector 2 is dead
        assert acme_api.post("/v1/sessions", _session(f"a{n}", "ST-1", "1", DAY, hour)).status == 200
    assert corp_api.post("/v1/sessions", _session("c0", "ST-1", "1", DAY, 9)).status == 200
    assert acme_api.post("/v1/sessions", _session("a-only", "ST-ACME", "1", DAY, 9)).status == 200
    assert corp_api.post("/v1/sessions", _session("c-only", "ST-CORP", "1", DAY, 9)).status == 200
    return acme_api, corp_api


def test_fan_out_worker_and_station_endpoints(fleet, gateway):
    acme_api, corp_api = fleet
    result, handled = _fire(gateway, DAY)
    assert result["day"] == DAY.isoformat() and result["tenants"] == 2
    assert handled == 4  # 2 tenant messages + 2 station groups (of up to 10 stations)

    inference = acme_api.get("/v1/stations/ST-1/inference")
    assert inference.status == 200
    body = inference.json()
    assert set(body) == {"chargingStationId", "isAnomaly", "anomalyScore", "detectionDetails", "analyzedAt"}
    assert body["isAnomaly"] is True and body["anomalyScore"] >= 0.5
    details = body["detectionDetails"]
    assert {"actual_energy_kwh", "affected_period", "anomaly_type", "expected_energy_kwh"} <= set(details)
    assert details["anomaly_type"] == "connector_offline" and details["affected_period"] == DAY.isoformat()

    page = acme_api.get("/v1/stations/ST-1/anomalies", query="page=0&pageSize=5").json()
    assert page["pagination"] == {"totalCount": 22, "page": 0, "size": 5}
    first = page["content"][0]
    assert set(first) == {"inferenceId", "isAnomaly", "anomalyScore", "detectionDetails", "analyzedAt"}
    assert first["isAnomaly"] is True and page["content"][1]["detectionDetails"] == {}

    energy = acme_api.get("/v1/stations/ST-1/energy").json()
    assert set(energy) == {
        "chargingStationId",
        "energyDelivered",
        "energyConsumptionStation",
        "energyConsumptionConnectors",
        "anomalyOccurrences",
    }
    assert energy["energyDelivered"] == pytest.approx(DAY_KWH, abs=0.01)
    assert len(energy["energyConsumptionStation"]) == 24
    assert energy["energyConsumptionStation"][7] == {"timestamp": "2026-03-11T07:00:00Z", "energy": 11.0}
    connectors = {c["connectorId"]: c["energy"] for c in energy["energyConsumptionConnectors"]}
    assert sum(p["energy"] for p in connectors["2"]) == 0 and set(connectors) == {"1", "2"}
    assert energy["anomalyOccurrences"] and energy["anomalyOccurrences"][0].startswith("2026-03-11T")

    overview = acme_api.get("/v1/stations/ST-1/shade-overview").json()
    assert set(overview) == {
        "chargingStationId",
        "dayScore",
        "isAnomaly",
        "energyTimeline",
        "anomalyMarkers",
        "analyzedAt",
    }
    assert len(overview["energyTimeline"]) == 96
    assert overview["energyTimeline"][-1]["cumulativeKwh"] == pytest.approx(DAY_KWH, abs=0.01)
    assert set(overview["anomalyMarkers"][0]) == {"startMinute", "timestamp", "score"}
    older = acme_api.get("/v1/stations/ST-1/shade-overview", query="date=2026-03-01").json()
    assert older["isAnomaly"] is False

    # the other tenant (prefix-sharing id, same station id) sees only its own day
    corp = corp_api.get("/v1/stations/ST-1/anomalies").json()
    assert corp["pagination"]["totalCount"] == 1 and corp["content"][0]["isAnomaly"] is False
    assert corp_api.get("/v1/stations/ST-1/energy").json()["energyDelivered"] == pytest.approx(SESSION_KWH, abs=0.01)


def test_unknown_station_is_404_and_a_station_shade_never_analysed_answers_from_its_sessions(fleet, api):
    acme_api, corp_api = fleet
    for path in ("anomalies", "energy", "inference", "shade-overview"):
        missing = acme_api.get(f"/v1/stations/NOPE/{path}")
        assert missing.status == 404 and missing.json()["error"]["code"] == "station_not_found"
        # a station of another tenant is unknown here
        assert api.get(f"/v1/stations/ST-1/{path}").status == 404
    # acme-corp's ST-1 has one session and no SHADE day: every route answers from that session
    inference = corp_api.get("/v1/stations/ST-1/inference")
    assert inference.status == 200, inference.body
    assert inference.json()["isAnomaly"] is False and inference.json()["detectionDetails"] == {}
    energy = corp_api.get("/v1/stations/ST-1/energy").json()
    assert energy["energyDelivered"] == pytest.approx(SESSION_KWH, abs=0.01)
    assert energy["energyConsumptionStation"][9]["timestamp"] == "2026-03-11T09:00:00Z"
    assert energy["energyConsumptionStation"][9]["energy"] == pytest.approx(11.0, abs=0.01)
    overview = corp_api.get("/v1/stations/ST-1/shade-overview").json()
    assert overview["energyTimeline"][-1]["cumulativeKwh"] == pytest.approx(SESSION_KWH, abs=0.01)
    assert overview["energyTimeline"][0]["timestamp"].startswith(DAY.isoformat())
    # a read stores nothing: the station still has no inference in its list
    assert station_days_dal.get_day("acme-corp", "ST-1", DAY.isoformat()) is None
    assert corp_api.get("/v1/stations/ST-1/anomalies").json()["pagination"]["totalCount"] == 0
    assert acme_api.get("/v1/stations/ST-1/energy", query="date=2026-13-01").status == 400


def test_a_day_shade_has_not_stored_is_judged_on_read_as_the_schedule_will(fleet, gateway):
    acme_api, _ = fleet
    provisional = acme_api.get("/v1/stations/ST-1/inference").json()
    assert provisional["isAnomaly"] is True, provisional  # 21 stored days of history; connector 2 silent today
    assert provisional["detectionDetails"]["anomaly_type"] == "connector_offline"
    assert provisional["detectionDetails"]["affected_period"] == DAY.isoformat()
    assert station_days_dal.get_day("acme", "ST-1", DAY.isoformat()) is None
    _fire(gateway, DAY)
    stored = acme_api.get("/v1/stations/ST-1/inference").json()
    assert stored["detectionDetails"] == provisional["detectionDetails"]
    assert stored["anomalyScore"] == provisional["anomalyScore"]


def test_the_organizations_holiday_calendar_reaches_the_engine(fleet, monkeypatch):
    acme_api, _ = fleet
    calendars = []
    analyze = shade.analyze_station_day
    monkeypatch.setattr(
        shade, "analyze_station_day", lambda *args, **kwargs: calendars.append(args[4]) or analyze(*args, **kwargs)
    )
    acme_api.get("/v1/stations/ST-1/inference")
    assert calendars == [None]  # no holidayCountry: no calendar, unlisted holidays expected
    assert acme_api.put("/v1/organization", {"name": "Acme", "holidayCountry": "DE-BY"}).status == 200
    acme_api.get("/v1/stations/ST-1/inference")
    assert {date(2026, 1, 6), date(2026, 1, 1)} <= set(calendars[-1])  # Epiphany is a Bavarian holiday
    assert date(2026, 3, 10) not in calendars[-1]
    assert shade_service._holiday_country("acme-corp") is None  # the other tenant has none


def test_a_day_not_over_yet_shows_its_energy_and_no_verdict(fleet, monkeypatch):
    acme_api, corp_api = fleet
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 3, 11, 21, tzinfo=UTC))
    # the latest verdict stays the last complete day SHADE judged
    assert acme_api.get("/v1/stations/ST-1/inference").json()["analyzedAt"] is not None
    today = acme_api.get("/v1/stations/ST-1/shade-overview", query=f"date={DAY.isoformat()}").json()
    assert today["isAnomaly"] is False and today["anomalyMarkers"] == [] and today["dayScore"] == 0.0
    assert today["energyTimeline"][-1]["cumulativeKwh"] == pytest.approx(DAY_KWH, abs=0.01)
    # energy defaults to the newest day with sessions, today included
    energy = acme_api.get("/v1/stations/ST-1/energy").json()
    assert energy["energyConsumptionStation"][0]["timestamp"] == "2026-03-11T00:00:00Z"
    assert energy["energyDelivered"] == pytest.approx(DAY_KWH, abs=0.01)
    # a station with sessions only today: today's energy, no verdict
    corp = corp_api.get("/v1/stations/ST-1/inference").json()
    assert corp["isAnomaly"] is False and corp["anomalyScore"] == 0.0


def test_energy_counts_a_session_that_arrived_after_shade_stored_the_day(fleet, gateway):
    _, corp_api = fleet
    _fire(gateway, DAY)
    assert corp_api.post("/v1/sessions", _session("c-late", "ST-1", "1", DAY, 20)).status == 200
    energy = corp_api.get("/v1/stations/ST-1/energy", query=f"date={DAY.isoformat()}").json()
    assert energy["energyDelivered"] == pytest.approx(33.0, abs=0.01)
    assert energy["energyConsumptionStation"][20]["energy"] == pytest.approx(11.0, abs=0.01)


def _catch_up(gateway):
    result = gateway.registry.invoke(
        "ShadeSchedulerFunction", {"detail-type": "Scheduled Event", "detail": {"catchUp": True}}
    )
    QueuePoller(gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0).drain()
    return result


def test_catch_up_analyses_every_station_day_between_first_and_last_session_once(fleet, gateway):
    acme_api, _ = fleet
    assert acme_api.post("/v1/sessions", _session("a-early", "ST-ACME", "1", DAY - timedelta(days=3), 9)).status == 200
    # ST-1 x2, ST-CORP: DAY; ST-ACME: DAY-3 .. DAY, the two silent days between included
    assert _catch_up(gateway) == {"catchUp": True, "stationDays": 7}
    assert [d.day for d in station_days_dal.days_between("acme", "ST-ACME", "2026-03-01", "2026-03-31")] == [
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
        "2026-03-11",
    ]
    assert station_days_dal.get_day("acme-corp", "ST-CORP", DAY.isoformat()) is not None
    assert station_days_dal.get_day("acme-corp", "ST-ACME", DAY.isoformat()) is None
    assert _catch_up(gateway)["stationDays"] == 0  # nothing left to catch up


def test_statistics_uptime_and_idempotent_rerun(fleet, gateway, monkeypatch):
    acme_api, corp_api = fleet
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 3, 12, 8, tzinfo=UTC))
    assert corp_api.get("/v1/statistics").json()["uptimePercentage"] == 100.0  # no station-day yet
    _fire(gateway, DAY)
    first = acme_api.get("/v1/statistics").json()
    _fire(gateway, DAY)  # re-fired day: overwritten, uptime sums not double-counted
    second = acme_api.get("/v1/statistics").json()
    assert first["uptimePercentage"] == second["uptimePercentage"]
    day_item = station_days_dal.get_day("acme", "ST-1", DAY.isoformat())
    uptime_two = day_item.uptime["2"]
    # brute-force recount over every stored station-day of the tenant (21 seeded days of ST-1, today's ST-1 and ST-ACME)
    days = [d for station in ("ST-1", "ST-ACME") for d in station_days_dal.list_days("acme", station)]
    assert len(days) == 23
    expected = 100.0 * sum(sum(d.uptime.values()) for d in days) / sum(len(d.uptime) for d in days)
    assert second["uptimePercentage"] == pytest.approx(expected, abs=0.01) and uptime_two < 0.5
    assert second["uptimeDelta"] == 0.0  # nothing in the 30 days before
    assert corp_api.get("/v1/statistics").json()["uptimePercentage"] == 100.0  # its connector was up


SHADE_PATHS = ("anomalies", "energy", "inference", "shade-overview")


def test_another_tenants_station_is_not_found(fleet, gateway):
    """Prefix-sharing ids (acme / acme-corp): each tenant's own station is analysed, the other's is a 404."""
    acme_api, corp_api = fleet
    _fire(gateway, DAY)
    for own, other, station in ((acme_api, corp_api, "ST-ACME"), (corp_api, acme_api, "ST-CORP")):
        for path in SHADE_PATHS:
            assert own.get(f"/v1/stations/{station}/{path}").status == 200, (station, path)
            response = other.get(f"/v1/stations/{station}/{path}")
            assert response.status == 404 and response.json()["error"]["code"] == "station_not_found", (station, path)
        assert other.get(f"/v1/stations/{station}/{path}", query=f"date={DAY.isoformat()}").status == 404
    assert station_days_dal.get_day("acme-corp", "ST-ACME", DAY.isoformat()) is None
    assert station_days_dal.get_day("acme", "ST-CORP", DAY.isoformat()) is None


def test_fan_out_splits_a_tenant_into_station_groups(fleet, gateway, monkeypatch):
    monkeypatch.setattr(shade_service, "STATIONS_PER_MESSAGE", 1)
    result, handled = _fire(gateway, DAY)
    assert result["tenants"] == 2 and handled == 2 + 4  # ST-1, ST-ACME | ST-1, ST-CORP: one message each
    assert {
        d.chargingStationId
        for d in station_days_dal.StationDayItem.scan(station_days_dal.StationDayItem.SK == f"DAY#{DAY}")
    } == {"ST-1", "ST-ACME", "ST-CORP"}


def test_station_anomaly_detected_webhook_once_per_anomalous_day(fleet, gateway, local_mode, receiver_factory):
    acme_api, corp_api = fleet
    acme_receiver, corp_receiver = receiver_factory(), receiver_factory()
    for client, receiver in ((acme_api, acme_receiver), (corp_api, corp_receiver)):
        created = client.post("/v1/webhooks", {"url": receiver.url, "events": ["station.anomaly_detected"]})
        assert created.status == 200, created.body
    _fire(gateway, DAY)  # drains the webhook delivery queue too
    _fire(gateway, DAY)  # re-fired day, already anomalous: nothing new to announce
    events = [json.loads(request["body"]) for request in acme_receiver.requests]
    assert [event["type"] for event in events] == ["station.anomaly_detected"]
    data = events[0]["data"]
    assert data["chargingStationId"] == "ST-1" and data["date"] == DAY.isoformat() and data["dayScore"] >= 0.5
    assert [(m["type"], m["connectorId"]) for m in data["anomalyMarkers"]] == [("connector_offline", "2")]
    assert events[0]["organizationId"] == "acme"
    assert corp_receiver.requests == []  # corp's days are normal (and acme's event is not corp's)


def test_schedule_cli_knows_the_template_schedule():
    from chargewatch_tools.cli import build_parser
    from chargewatch_tools.infra import load_template
    from chargewatch_tools.schedule import schedules

    known = schedules(load_template())
    assert known["DailyShade"] == known["ShadeSchedulerFunction"] == "ShadeSchedulerFunction"
    assert "SessionsFunction" not in known
    args = build_parser().parse_args(["schedule", "fire", "DailyShade", "--date", "2026-03-11", "--in-process"])
    assert (args.name, args.date, args.in_process) == ("DailyShade", "2026-03-11", True)


def test_worker_reports_a_bad_message_alone(fleet, gateway):
    """Partial batch failure: a malformed message fails alone; the good one in the same batch is processed."""

    def record(message_id, body):
        return {
            "messageId": message_id,
            "receiptHandle": message_id,
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:shade",
            "awsRegion": "eu-west-1",
        }

    good = json.dumps({"kind": "stations", "organizationId": "acme", "day": DAY.isoformat(), "stationIds": ["ST-ACME"]})
    bad = json.dumps({"kind": "stations", "organizationId": "acme", "day": "yesterday"})
    result = gateway.registry.invoke("ShadeWorkerFunction", {"Records": [record("ok", good), record("poison", bad)]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert station_days_dal.get_day("acme", "ST-ACME", DAY.isoformat()) is not None
