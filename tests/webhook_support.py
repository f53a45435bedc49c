"""Helpers for webhook tests: a controllable clock, a local receiver, and a delivery runner."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeClock:
    """Stands in for chargewatch.clock.now (and the standardwebhooks verifier's idea of now)."""

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment


@pytest.fixture
def fake_clock(monkeypatch):
    import standardwebhooks.webhooks as reference

    from chargewatch import clock

    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))

    class _Datetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return fake.moment.astimezone(tz) if tz else fake.moment

    monkeypatch.setattr(clock, "now", fake.now)
    monkeypatch.setattr(reference, "datetime", _Datetime)
    return fake


@pytest.fixture
def local_mode(stack):
    """Local receivers on http://127.0.0.1 allowed; retry delays not held by SQS (the clock is fake)."""
    from chargewatch import settings

    os.environ.update(
        {
            "WEBHOOK_ALLOW_LOCAL_HTTP": "true",
            "WEBHOOK_MAX_DELAY_SECONDS": "0",
            "WEBHOOK_DLQ_URL": stack.refs["WebhookDeliveryDLQ"],
        }
    )
    settings.reload_settings()  # the table is where it was: no re-bind
    return stack  # the stack fixture restores the environment afterwards


class Receiver:
    """An http.server on 127.0.0.1 that answers a scripted list of statuses (then `default`)."""

    def __init__(self, statuses=(), default=200, clock: FakeClock | None = None):
        self.statuses = list(statuses)
        self.default = default
        self.clock = clock
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "path": self.path,
                        "at": receiver.clock.now() if receiver.clock else None,
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                payload = json.dumps({"received": True, "status": status}).encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chargewatch"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory(fake_clock):
    made = []

    def _make(statuses=(), default=200):
        made.append(Receiver(statuses, default, fake_clock))
        return made[-1]

    yield _make
    for receiver in made:
        receiver.close()


class DeliveryRunner:
    """Runs the template's WebhookDeliveryFunction through QueuePoller, jumping the fake clock to
    each message's `notBefore` instead of sleeping."""

    def __init__(self, stack, gateway, clock: FakeClock):
        import boto3

        from chargewatch_tools.emulator.queues import QueuePoller

        self.sqs = boto3.client("sqs", region_name=stack.region)
        self.queue_url = stack.refs["WebhookDeliveryQueue"]
        self.dlq_url = stack.refs["WebhookDeliveryDLQ"]
        self.clock = clock
        self.poller = QueuePoller(gateway.registry, self.sqs, failed_visibility_seconds=0)

    def pending_messages(self) -> list[dict]:
        """Look at what is queued (received with visibility 0, so it stays available)."""
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in received]

    def run(self, max_rounds: int = 200) -> int:
        handled = 0
        for _ in range(max_rounds):
            pending = self.pending_messages()
            if not pending:
                return handled
            due = datetime.fromtimestamp(min(message.get("notBefore", 0) for message in pending), tz=UTC)
            if due > self.clock.now():
                self.clock.set(due)
            handled += self.poller.poll_once()
        raise AssertionError("deliveries did not settle")

    def dead_letters(self) -> list[dict]:
        received = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in received]


@pytest.fixture
def deliveries(local_mode, gateway, fake_clock):
    return DeliveryRunner(local_mode, gateway, fake_clock)
