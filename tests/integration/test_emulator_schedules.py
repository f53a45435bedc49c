"""`make run` runs the template's schedules: sessions uploaded for past days get their SHADE
station-days (catch-up) without anyone firing a schedule by hand, and uptime moves."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

FIRST_DAY = date(2026, 3, 2)


def _session(session_id: str, station: str, day: date, hour: int) -> dict:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return {
        "sessionId": session_id,
        "chargingStationId": station,
        "connectorId": "1",
        "meterValues": [
            {
                "measurand": "Energy.Active.Import.Register",
                "unit": "kWh",
                "value": round(2.75 * k, 3),
                "timestamp": (start + timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for k in range(7)
        ],
    }


def test_past_days_uploaded_after_start_get_their_station_days(scheduled_emulator):
    emulator = scheduled_emulator
    assert "DailyShade cron(30 1 * * ? *) UTC" in emulator.schedules
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {emulator.api_key}"
        for n, day in enumerate((FIRST_DAY, FIRST_DAY + timedelta(days=2))):
            created = http.post(f"{emulator.url}/v1/sessions", json=_session(f"s{n}", "ST-SCHED", day, 9), timeout=30)
            assert created.status_code == 200, created.text
        deadline, total = time.monotonic() + 30, 0
        while total < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            page = http.get(f"{emulator.url}/v1/stations/ST-SCHED/anomalies", timeout=30).json()
            total = page["pagination"]["totalCount"]
        assert total == 3  # both session days and the silent day between them, nobody fired anything
        overview = http.get(f"{emulator.url}/v1/stations/ST-SCHED/shade-overview", timeout=30).json()
        assert overview["energyTimeline"][0]["timestamp"].startswith((FIRST_DAY + timedelta(days=2)).isoformat())
        assert overview["energyTimeline"][-1]["cumulativeKwh"] == pytest.approx(16.5, abs=0.01)


def test_schedules_are_off_unless_asked_for():
    from chargewatch_tools.emulator.server import start_emulator

    emulator = start_emulator(port=0, moto_port=0)
    try:
        assert emulator.schedules == []
    finally:
        emulator.stop()
