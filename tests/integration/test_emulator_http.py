"""The local emulator over real HTTP: started in this process on free ports, driven with `requests`."""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
from seed_examples import SEED_CREATE_SESSION, energy_session

DEMO_KEY = "cw_test_SampleEventsDemoKey00000000000010wlJ6V"  # the key in events/authorizer/request.json
DEMO_ORG = "00000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="class")
def emulator():
    from chargewatch_tools.emulator.server import start_emulator

    running = start_emulator(port=0, moto_port=0, demo_api_key=DEMO_KEY)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="class")
def http(emulator):
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {emulator.api_key}"
        yield session


class TestHttpApi:
    """One emulator for the class (stopped when it ends, before the lifecycle tests below start their own)."""

    def test_demo_organization_and_key(self, emulator):
        assert emulator.organization_id == DEMO_ORG
        assert emulator.api_key == DEMO_KEY
        assert emulator.url.startswith("http://127.0.0.1:") and emulator.port != 3000

    def test_request_without_key_is_401_json(self, emulator):
        response = requests.get(f"{emulator.url}/v1/sessions", timeout=10)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "missing_credentials"

    def test_request_with_unknown_key_is_401(self, emulator):
        response = requests.get(
            f"{emulator.url}/v1/sessions", timeout=10, headers={"Authorization": "Bearer cw_test_notarealkey"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"

    def test_create_seed_example_list_and_get(self, emulator, http):
        created = http.post(f"{emulator.url}/v1/sessions", json=SEED_CREATE_SESSION, timeout=30)
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["sessionId"] == "sess-abc-001" and body["status"] == "active"
        for field in (
            "isAnomaly",
            "anomalyScore",
            "anomalyConfidence",
            "isIncident",
            "isRecurring",
            "anomalies",
            "analyzedAt",
        ):
            assert field in body, field

        listed = http.get(f"{emulator.url}/v1/sessions", params={"pageSize": 5}, timeout=10)
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert [item["sessionId"] for item in page["content"]] == ["sess-abc-001"]
        assert page["pagination"] == {"totalCount": 1, "page": 0, "size": 5}

        detail = http.get(f"{emulator.url}/v1/sessions/sess-abc-001", timeout=10)
        assert detail.status_code == 200, detail.text
        assert len(detail.json()["meterValues"]) == len(SEED_CREATE_SESSION["meterValues"])
        assert detail.json()["isAnomaly"] == body["isAnomaly"]

    def test_unknown_route_is_404_and_unknown_session_is_404(self, emulator, http):
        missing_route = http.get(f"{emulator.url}/v1/nothing-here", timeout=10)
        assert missing_route.status_code == 404
        missing_session = http.get(f"{emulator.url}/v1/sessions/no-such-session", timeout=10)
        assert missing_session.status_code == 404
        assert missing_session.json()["error"]["code"] == "session_not_found"

    def test_validation_error_is_400_naming_the_field(self, emulator, http):
        response = http.post(
            f"{emulator.url}/v1/sessions", data=b"{not json", timeout=10, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"

    @pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
    def test_unknown_methods_are_405_in_the_error_shape(self, emulator, http, method):
        response = http.request(method, f"{emulator.url}/v1/sessions", timeout=10)
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "method_not_allowed"

    def test_a_method_the_route_lacks_is_405_naming_the_allowed_ones(self, emulator, http):
        response = http.delete(f"{emulator.url}/v1/sessions", timeout=10)
        assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}

    def test_an_oversized_body_is_413_in_the_error_shape(self, emulator):
        from chargewatch_tools.emulator.server import MAX_REQUEST_BYTES

        with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as connection:
            connection.sendall(
                b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n".encode()
            )
            answer = b""
            while chunk := connection.recv(65536):  # the server closes the connection after a 413
                answer += chunk
        head, _, body = answer.decode().partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 413") and json.loads(body)["error"]["code"] == "payload_too_large"

    def test_an_encoded_slash_is_decoded_as_api_gateway_does(self, emulator, http):
        refused = http.post(f"{emulator.url}/v1/sessions", json={"sessionId": "a/b", "chargingStationId": "c"})
        assert refused.status_code == 400 and refused.json()["error"]["details"][0]["field"] == "sessionId"
        missing = http.get(f"{emulator.url}/v1/sessions/a%2Fb", timeout=10)
        assert missing.status_code == 404 and "error" in missing.json()

    def test_invalid_utf8_is_400(self, emulator, http):
        response = http.post(
            f"{emulator.url}/v1/sessions",
            data=b'{"sessionId": "\xff"}',
            timeout=10,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_encoding"

    def test_moto_endpoint_shares_state_with_the_handlers(self, emulator, http):
        """What the in-process handlers wrote is visible to other processes through the moto server."""
        http.post(
            f"{emulator.url}/v1/sessions", json=energy_session("shared-state", readings=2), timeout=30
        ).raise_for_status()
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=emulator.moto_url,
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        item = dynamodb.get_item(
            TableName=emulator.table_name,
            Key={"PK": {"S": f"ORG#{DEMO_ORG}#SESSION#shared-state"}, "SK": {"S": "META"}},
        )
        assert item["Item"]["sessionId"]["S"] == "shared-state"

    def test_failed_transaction_rolls_back_every_item(self, emulator):
        """The emulator's item-level rollback (instead of moto's whole-table copy) keeps all-or-nothing."""
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=emulator.moto_url,
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        table = emulator.table_name
        key = {"PK": {"S": "ORG#rollback#X"}, "SK": {"S": "A"}}
        dynamodb.put_item(TableName=table, Item={**key, "value": {"N": "1"}})
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key,
                            "UpdateExpression": "SET #v = :two",
                            "ExpressionAttributeNames": {"#v": "value"},
                            "ExpressionAttributeValues": {":two": {"N": "2"}},
                        }
                    },
                    {"Put": {"TableName": table, "Item": {"PK": {"S": "ORG#rollback#X"}, "SK": {"S": "B"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"PK": {"S": "ORG#rollback#X"}, "SK": {"S": "missing"}},
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                ]
            )
        items = dynamodb.query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "ORG#rollback#X"}},
        )["Items"]
        assert [(item["SK"]["S"], item["value"]["N"]) for item in items] == [("A", "1")]

    def test_concurrent_requests_from_two_tenants_stay_isolated(self, emulator):
        """Many clients at once: every request answers, and no tenant sees the other's sessions."""
        from chargewatch.services.organizations import create_organization

        other_key = create_organization("Other Tenant").api_key
        keys = {"demo": emulator.api_key, "other": other_key}

        def create(job):
            tenant, index = job
            response = requests.post(
                f"{emulator.url}/v1/sessions",
                timeout=60,
                headers={"Authorization": f"Bearer {keys[tenant]}"},
                json=energy_session(f"{tenant}-concurrent-{index}", readings=4),
            )
            return tenant, response.status_code

        jobs = [(tenant, index) for index in range(12) for tenant in keys]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(create, jobs))
        assert all(status == 200 for _, status in results), results
        for tenant, key in keys.items():
            page = requests.get(
                f"{emulator.url}/v1/sessions",
                params={"pageSize": 100},
                timeout=10,
                headers={"Authorization": f"Bearer {key}"},
            ).json()
            concurrent = [item["sessionId"] for item in page["content"] if "-concurrent-" in item["sessionId"]]
            assert len(concurrent) == 12 and all(sid.startswith(f"{tenant}-") for sid in concurrent)

    def test_a_person_created_and_signed_in_with_the_cli_uses_the_api(self, emulator):
        import subprocess
        import sys

        env = {**os.environ, "AWS_ENDPOINT_URL": emulator.moto_url}

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "chargewatch_tools.cli", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        created = cli(
            "admin",
            "create-user",
            "--local",
            "--email",
            "ops@example.com",
            "--password",
            "Passw0rd-demo",
            "--org",
            DEMO_ORG,
            "--role",
            "admin",
        )
        assert '"role": "admin"' in created
        token = cli("login", "--local", "--email", "ops@example.com", "--password", "Passw0rd-demo")
        response = requests.get(
            f"{emulator.url}/v1/organization", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        assert response.json()["id"] == DEMO_ORG
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        refused = requests.get(
            f"{emulator.url}/v1/organization", headers={"Authorization": f"Bearer {tampered}"}, timeout=10
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"

    def test_a_second_emulator_in_the_same_process_is_refused(self, emulator):
        from chargewatch_tools.emulator.server import EmulatorError, start_emulator

        with pytest.raises(EmulatorError, match="already running in this process"):
            start_emulator(port=0, moto_port=0)


def test_stop_closes_both_ports_and_restores_the_environment():
    from chargewatch_tools.emulator.server import start_emulator

    before = dict(os.environ)
    running = start_emulator(port=0, moto_port=0)
    assert (
        requests.get(
            f"{running.url}/v1/sessions", timeout=10, headers={"Authorization": f"Bearer {running.api_key}"}
        ).status_code
        == 200
    )
    running.stop()
    running.stop()  # idempotent
    for port in (running.port, running.moto_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert dict(os.environ) == before


def test_demo_key_that_is_not_a_key_fails_clearly(monkeypatch):
    from chargewatch_tools.emulator.server import EmulatorError, start_emulator

    monkeypatch.setenv("DEMO_API_KEY", "has spaces in it")
    with pytest.raises(EmulatorError, match="DEMO_API_KEY must be"):
        start_emulator(port=0, moto_port=0)


def test_a_hand_picked_demo_key_without_checksum_works_locally(monkeypatch):
    from chargewatch_tools.emulator.server import start_emulator

    monkeypatch.setenv("DEMO_API_KEY", "local-demo-key-123")
    before = dict(os.environ)
    running = start_emulator(port=0, moto_port=0)
    try:
        ok = requests.get(
            f"{running.url}/v1/sessions", headers={"Authorization": "Bearer local-demo-key-123"}, timeout=10
        )
        assert ok.status_code == 200
        other = requests.get(
            f"{running.url}/v1/sessions", headers={"Authorization": "Bearer local-demo-key-124"}, timeout=10
        )
        assert other.status_code == 401
    finally:
        running.stop()
    assert dict(os.environ) == before


def test_port_in_use_fails_clearly():
    from chargewatch_tools.emulator.server import EmulatorError, start_emulator

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        with pytest.raises(EmulatorError, match="already in use"):
            start_emulator(port=0, moto_port=busy)
