"""What one session write costs in DynamoDB: calls and consumed capacity per POST / PUT / PATCH.

    python tests/perf/bench_write_cost.py [--sessions 60] [--readings 250] [--database dynamodb-local|memory]

Runs the emulator in this process (DynamoDB Local by default: it reports consumed capacity as
DynamoDB does), sends `--sessions` creates of `--readings` meter values, then a PUT and a PATCH
for each, and counts every DynamoDB call the handlers make (pynamodb and boto3 alike) with the
write and read capacity units DynamoDB reports for it. Prints calls and units per operation, and a
cost model per million sessions from the counted units (prices below: on-demand list prices,
us-east-1, as assumed here; change them to yours). A benchmark prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "perf"))

PRICE_PER_MILLION_WRITE_UNITS = 0.625  # USD, on-demand
PRICE_PER_MILLION_READ_UNITS = 0.125
PRICE_PER_MILLION_HTTP_REQUESTS = 1.00  # API Gateway HTTP API
PRICE_PER_MILLION_LAMBDA_REQUESTS = 0.20
PRICE_PER_GB_SECOND = 0.0000166667
ASSUMED_LAMBDA_MS = 60.0  # authorizer + handler per create, warm, at 1 GB (docs/performance.md)


class Meter:
    """Counts DynamoDB calls and the capacity DynamoDB reports, per operation being measured."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "setup"
        self.calls: Counter = Counter()
        self.write_units: Counter = Counter()
        self.read_units: Counter = Counter()
        self.operations: Counter = Counter()

    def record(self, operation: str, response: dict) -> None:
        consumed = response.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self.lock:
            self.calls[self.phase] += 1
            self.operations[(self.phase, operation)] += 1
            for entry in entries:  # TOTAL mode reports CapacityUnits: reads or writes by the operation
                units = float(entry.get("CapacityUnits") or 0)
                if operation in WRITE_OPERATIONS:
                    self.write_units[self.phase] += units
                else:
                    self.read_units[self.phase] += units


CAPACITY_OPERATIONS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
}  # fmt: skip
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def install(meter: Meter) -> None:
    """Count where every DynamoDB call leaves this process (pynamodb goes through botocore too),
    asking DynamoDB to report the capacity each one consumed."""
    from botocore.client import BaseClient

    original_call = BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        if self.meta.service_model.service_name != "dynamodb":
            return original_call(self, operation_name, api_params)
        if operation_name in CAPACITY_OPERATIONS:
            api_params = {**api_params, "ReturnConsumedCapacity": "TOTAL"}
        response = original_call(self, operation_name, api_params)
        meter.record(operation_name, response)
        return response

    BaseClient._make_api_call = make_api_call


def main() -> int:
    from bench_api import session_body

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--readings", type=int, default=250)
    parser.add_argument("--database", choices=("dynamodb-local", "memory"), default="dynamodb-local")
    args = parser.parse_args()

    from chargewatch_tools.emulator.server import start_emulator

    meter = Meter()
    install(meter)
    data_dir = tempfile.mkdtemp(prefix="chargewatch-cost-") if args.database == "dynamodb-local" else None
    emulator = start_emulator(port=0, moto_port=0, data_dir=data_dir, concurrency=1)
    rng = random.Random(5)
    try:
        print(f"database: {emulator.database}")
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {emulator.api_key}"
        bodies = [session_body(index, args.readings, rng) for index in range(args.sessions + 5)]
        for body in bodies[:5]:  # warm-up: cold starts, first station registrations
            body["sessionId"] = "warm-" + body["sessionId"]
            http.post(f"{emulator.url}/v1/sessions", json=body, timeout=60)
        for phase, send in (
            ("create", lambda body: http.post(f"{emulator.url}/v1/sessions", json=body, timeout=60)),
            (
                "put",
                lambda body: http.put(
                    f"{emulator.url}/v1/sessions/{body['sessionId']}",
                    json={"meterValues": body["meterValues"]},
                    timeout=60,
                ),
            ),
            (
                "patch",
                lambda body: http.patch(
                    f"{emulator.url}/v1/sessions/{body['sessionId']}", json={"status": "completed"}, timeout=60
                ),
            ),
        ):
            meter.phase = phase
            for body in bodies[5:]:
                answer = send(body)
                if answer.status_code != 200:
                    raise SystemExit(f"{phase} {body['sessionId']}: {answer.status_code} {answer.text[:300]}")
            meter.phase = "idle"
    finally:
        emulator.stop()

    count = args.sessions
    print(f"\n{count} sessions of {args.readings} meter values; per request (handlers' DynamoDB calls only):\n")
    print("| request | DynamoDB calls | write units | read units | calls by operation |")
    print("|---|---|---|---|---|")
    for phase in ("create", "put", "patch"):
        operations = ", ".join(
            f"{name} {n / count:.1f}" for (p, name), n in sorted(meter.operations.items()) if p == phase
        )
        print(
            f"| {phase} | {meter.calls[phase] / count:.1f} | {meter.write_units[phase] / count:.1f} | "
            f"{meter.read_units[phase] / count:.1f} | {operations} |"
        )
    writes, reads = meter.write_units["create"] / count, meter.read_units["create"] / count
    dynamodb = writes * PRICE_PER_MILLION_WRITE_UNITS + reads * PRICE_PER_MILLION_READ_UNITS
    api = PRICE_PER_MILLION_HTTP_REQUESTS + 2 * PRICE_PER_MILLION_LAMBDA_REQUESTS  # authorizer + handler
    compute = ASSUMED_LAMBDA_MS / 1000 * 1.0 * PRICE_PER_GB_SECOND * 1_000_000
    print(
        f"\ncost per million creates (USD): DynamoDB {dynamodb:.2f} ({writes:.1f} WRU + {reads:.1f} RRU each), "
        f"HTTP API + Lambda requests {api:.2f}, Lambda compute {compute:.2f} (at {ASSUMED_LAMBDA_MS:.0f} ms, 1 GB); "
        f"total {dynamodb + api + compute:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
