"""`make demo` against a running emulator: a new organization with sessions over weeks and
stations, issues in every state, a fine-tuned model that beats CSAR-2 and is active, a webhook and
SHADE station-days, all through the public API (the CLI runs as its own process, as `make demo`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests


def test_demo_fills_every_route_with_something_true(scheduled_emulator):
    emulator = scheduled_emulator
    environment = {**os.environ, "AWS_ENDPOINT_URL": emulator.moto_url}
    finished = subprocess.run(
        [sys.executable, "-m", "chargewatch_tools.cli", "demo", "--api", emulator.url, "--sessions", "60", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout[finished.stdout.index("{\n") :])
    assert report["sessions"]["processed"] == 60 and report["sessions"]["anomalous"] > 0
    assert all(report["issues"][state] > 0 for state in ("OPEN", "IN_PROGRESS", "RESOLVED", "DISMISSED"))
    tuned = report["fineTune"]
    assert tuned["status"] == "succeeded" and tuned["holdoutF1"]["tuned"] > tuned["holdoutF1"]["csar-2"]
    assert tuned["holdoutFalseAlarms"]["tuned"] < tuned["holdoutFalseAlarms"]["csar-2"]
    assert "ENERGY_POWER_MISMATCH" not in report["newLaggingSessionAnomalies"]
    assert report["shade"]["stationDays"] > 0

    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {report['apiKey']}"
        models = {m["id"]: m["status"] for m in http.get(f"{emulator.url}/v1/models", timeout=30).json()["models"]}
        assert models[tuned["model"]] == "active" and models["csar-2"] == "available"
        assert http.get(f"{emulator.url}/v1/webhooks", timeout=30).json()["pagination"]["totalCount"] == 1
        stations = http.get(f"{emulator.url}/v1/stations/lookup", timeout=30).json()["items"]
        assert len(stations) == 6
        for station in stations:
            for path in ("energy", "inference", "shade-overview"):
                assert http.get(f"{emulator.url}/v1/stations/{station}/{path}", timeout=30).status_code == 200
        statistics = http.get(f"{emulator.url}/v1/statistics", timeout=30).json()
        assert statistics["totalSessions"] == 61 and statistics["uptimePercentage"] <= 100.0
