"""Batch analysis end to end, in process: submit N synthetic sessions through the local gateway in
body-limited chunks (as `chargewatch upload` does), then drain the batch-analysis queue with the
template's consumer (BatchWorkerFunction, run like Lambda's SQS poller) against moto.

    python tests/perf/bench_batch.py [--sessions 10000] [--seed 11]

Prints sessions/s and meter values/s for submit, for the consumer and end to end. Not collected
by pytest. moto stands in for DynamoDB/S3/SQS, so the consumer's numbers are dominated by moto's
per-call cost (each session is ~8 DynamoDB calls: exactly what a single create stores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "ChargewatchBench",
    }
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from chargewatch import settings  # noqa: E402
from chargewatch.dal import table  # noqa: E402
from chargewatch_tools.emulator import moto_fixes  # noqa: E402
from chargewatch_tools.infra import create_stack  # noqa: E402
from chargewatch_tools.upload import Line, pack  # noqa: E402

MAX_BODY_BYTES = 5 * 1024 * 1024


def sessions(count: int, seed: int) -> list[dict]:
    from chargewatch_tools.synth import generate

    out = []
    for index, session in enumerate(generate(count, seed=seed)):
        out.append(
            {
                "sessionId": f"bench-{index:05d}",
                "chargingStationId": f"CP-B-{index % 500:03d}",
                "connectorId": str(1 + index % 2),
                "meterValues": session["meterValues"],
                "metadata": session["metadata"],
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    moto_fixes.install()
    print(f"generating {args.sessions} synthetic sessions ...", file=sys.stderr)
    bodies = sessions(args.sessions, args.seed)
    meter_values = sum(len(body["meterValues"]) for body in bodies)
    lines = [Line(i + 1, json.dumps(body, separators=(",", ":"))) for i, body in enumerate(bodies)]
    chunks = pack(lines, MAX_BODY_BYTES)

    with mock_aws():
        stack = create_stack(boto3.Session(region_name="eu-west-1"), prefix="bench")
        os.environ.update(stack.function_environment("SessionsFunction"))
        table.bind(settings.reload_settings())
        from chargewatch.services.organizations import create_organization
        from chargewatch_tools.emulator.gateway import LocalGateway
        from chargewatch_tools.emulator.queues import QueuePoller

        api_key = create_organization("Bench").api_key
        gateway = LocalGateway(stack)
        poller = QueuePoller(
            gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0
        )
        gateway.registry.handler("SessionsFunction"), gateway.registry.handler("BatchWorkerFunction")  # cold starts
        headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}

        started = time.perf_counter()
        batch_ids = []
        for chunk in chunks:
            body = '{"sessions":[' + ",".join(line.text for line in chunk) + "]}"
            response = gateway.handle("POST", "/v1/sessions/batch", headers=headers, body=body)
            assert response.status == 200, response.body[:500]
            batch_ids.append(response.json()["batchId"])
        submitted = time.perf_counter()
        poller.drain(max_rounds=100_000)
        drained = time.perf_counter()

        processed = failed = 0
        for batch_id in batch_ids:
            state = gateway.handle("GET", f"/v1/sessions/batch/{batch_id}", headers=headers).json()
            assert state["status"] in ("completed", "completed_with_failures"), state["status"]
            processed += state["processedSessions"]
            failed += state["failedSessions"]

    submit_s, consume_s, total_s = submitted - started, drained - submitted, drained - started
    print(
        f"{args.sessions} sessions, {meter_values} meter values, {len(chunks)} submits of <= 5 MB; "
        f"processed {processed}, failed {failed}"
    )
    print("| phase | seconds | sessions/s | meter values/s |")
    print("|---|---|---|---|")
    for name, seconds in (
        ("submit (validate + S3 + enqueue)", submit_s),
        ("consumer (store + analyse + count)", consume_s),
        ("end to end", total_s),
    ):
        print(f"| {name} | {seconds:,.1f} | {args.sessions / seconds:,.0f} | {meter_values / seconds:,.0f} |")
    return 0 if processed == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
