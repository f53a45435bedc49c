"""The emulator serves requests concurrently: a request (or a background delivery) waiting on a
slow webhook receiver holds up nobody else. A receiver that blocks until the test releases it makes
this a fact to assert, not a timing."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


class BlockingReceiver:
    def __init__(self) -> None:
        self.arrived, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.set()
                receiver.release.wait(30)
                body = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def running():
    from chargewatch_tools.emulator.server import start_emulator

    emulator = start_emulator(port=0, moto_port=0, concurrency=4)
    receiver = BlockingReceiver()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {emulator.api_key}"
    try:
        yield emulator, receiver, http
    finally:
        receiver.close()
        http.close()
        emulator.stop()


def _webhook(emulator, http, receiver, events):
    created = http.post(f"{emulator.url}/v1/webhooks", json={"url": receiver.url, "events": events}, timeout=30)
    assert created.status_code == 200, created.text
    return created.json()["id"]


def test_a_request_waiting_on_a_slow_receiver_does_not_hold_up_other_requests(running):
    emulator, receiver, http = running
    webhook_id = _webhook(emulator, http, receiver, ["session.analyzed"])
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(
            requests.post,
            f"{emulator.url}/v1/webhooks/{webhook_id}/test",
            headers={"Authorization": f"Bearer {emulator.api_key}"},
            timeout=60,
        )
        assert receiver.arrived.wait(20)
        # the test request is still inside its handler, waiting on the receiver ...
        listed = http.get(f"{emulator.url}/v1/sessions", timeout=20)
        assert listed.status_code == 200 and not slow.done()  # ... and another request was answered
        receiver.release.set()
        assert slow.result().status_code == 200


def test_a_background_delivery_to_a_slow_receiver_does_not_hold_up_requests(running):
    emulator, receiver, http = running
    _webhook(emulator, http, receiver, ["session.analyzed"])
    from chargewatch.services import webhook_events

    webhook_events.publish(emulator.organization_id, "session.analyzed", {"sessionId": "demo"})
    assert receiver.arrived.wait(20)  # the queue consumer is delivering, blocked on the receiver
    created = http.post(
        f"{emulator.url}/v1/sessions",
        json={
            "sessionId": "while-delivering",
            "chargingStationId": "CP-1",
            "meterValues": [
                {
                    "timestamp": "2026-02-27T10:00:00Z",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "kWh",
                    "value": 0,
                }
            ],
        },
        timeout=20,
    )
    assert created.status_code == 200, created.text
    receiver.release.set()


def test_powertools_event_state_is_per_thread_while_the_emulator_runs(running):
    """powertools stores the event being resolved on its BaseRouter class; the emulator makes that
    per thread, so two request environments never read each other's event, and restores it at stop."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    seen = {}
    barrier = threading.Barrier(2)

    def resolve_as(name: str) -> None:
        BaseRouter.current_event = name
        barrier.wait(10)  # both threads have set their event before either reads it
        seen[name] = BaseRouter.current_event

    threads = [threading.Thread(target=resolve_as, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"a": "a", "b": "b"}
