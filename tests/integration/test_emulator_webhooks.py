"""`make run` delivers webhooks by itself: the emulator's queue poller runs WebhookDeliveryFunction,
so a local receiver gets signed deliveries without anything else running."""

from __future__ import annotations

import time

import requests
from standardwebhooks import Webhook as ReferenceVerifier
from webhook_support import Receiver


def test_the_emulator_delivers_signed_webhooks():
    from chargewatch_tools.emulator.server import start_emulator

    receiver = Receiver()
    emulator = start_emulator(port=0, moto_port=0)
    try:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {emulator.api_key}"
            created = http.post(
                f"{emulator.url}/v1/webhooks", timeout=30, json={"url": receiver.url, "events": ["session.analyzed"]}
            )
            assert created.status_code == 200, created.text
            from chargewatch.services import webhook_events

            webhook_events.publish(emulator.organization_id, "session.analyzed", {"sessionId": "demo"})
            deadline = time.monotonic() + 20
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            (last,) = receiver.requests
            payload = ReferenceVerifier(created.json()["secret"]).verify(last["body"], last["headers"])
            assert payload["data"] == {"sessionId": "demo"}
            detail = http.get(f"{emulator.url}/v1/webhooks/{created.json()['id']}", timeout=30).json()
            assert detail["recentDeliveries"][0]["status"] == "succeeded"
            assert detail["recentDeliveries"][0]["attemptCount"] == 1
    finally:
        emulator.stop()
        receiver.close()
