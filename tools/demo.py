"""`chargewatch demo` (`make demo`): fill the running emulator with a tenant that has something true
to show on every route.

Against `make run` (or any deployment: --api, --key), through the public API only:

1. a new organization "Demo Fleet" (`--key` uses an existing one instead);
2. sessions over the last six weeks on several stations: synthetic meters with injected anomalies
   and hard negatives, plus one station whose meters lag (the register counts two thirds of the
   energy, so CSAR-2 raises ENERGY_POWER_MISMATCH on nearly every session there);
3. issues in every state: the lagging station's mismatch issues DISMISSED (false alarms), some
   issues RESOLVED, some IN_PROGRESS, the rest OPEN (assigning needs a member: docs/identity.md);
4. a fine-tune job on the dismissed labels; when its model beats CSAR-2 on the holdout it is
   activated, and a new session from the lagging station is analysed without the false alarm;
5. a webhook (disabled: point it at a receiver and enable it);
6. SHADE station-days: `make run` analyses the uploaded days itself within a minute (catch-up);
   the demo waits for them (--wait-shade) and prints what was found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chargewatch_tools.upload import DEFAULT_API, Api, UploadError, upload

DEMO_STATIONS = 5
QUIRKY_STATION = "DEMO-CP-LAGGING"
WEEKS = 6


def _place(session: dict[str, Any], start: datetime) -> dict[str, Any]:
    """Move a generated session so its first reading is at `start` (timestamps in RFC 3339, Z)."""
    from chargewatch import clock

    stamps = [clock.parse_iso(str(reading["timestamp"])) for reading in session["meterValues"]]
    shift = start - min(stamps)
    for reading, stamp in zip(session["meterValues"], stamps, strict=True):
        reading["timestamp"] = clock.to_iso(stamp + shift)
    return session


def demo_sessions(count: int, seed: int, today: datetime) -> list[dict[str, Any]]:
    """`count` sessions over DEMO_STATIONS stations and a lagging one, spread over WEEKS weeks."""
    from chargewatch_tools.synth.generator import generate
    from chargewatch_tools.synth.quirks import quirky_sessions

    days = WEEKS * 7
    first_day = (today - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    quirky = max(30, count // 6)
    sessions = []
    for index, session in enumerate(generate(count - quirky, seed=seed, anomaly_fraction=0.25)):
        station = index % DEMO_STATIONS
        start = first_day + timedelta(days=index % days, hours=6 + (index * 7) % 15, minutes=(index * 13) % 60)
        session = _place(session, start)
        session.update(
            sessionId=f"demo-{index:04d}",
            chargingStationId=f"DEMO-CP-{station + 1:03d}",
            connectorId=str(index // DEMO_STATIONS % 2 + 1),
        )
        session.pop("labels", None)
        sessions.append(session)
    for index, session in enumerate(quirky_sessions(quirky, seed=seed, anomaly_fraction=0.2)):
        start = first_day + timedelta(days=index % days, hours=8 + index % 10)
        session = _place(session, start)
        session.update(sessionId=f"demo-lag-{index:04d}", chargingStationId=QUIRKY_STATION, connectorId="1")
        session.pop("labels", None)
        sessions.append(session)
    return sessions


def lagging_session(seed: int, start: datetime) -> dict[str, Any]:
    """One new session of the lagging station, without an injected anomaly."""
    from chargewatch_tools.synth.quirks import quirky_sessions

    session = _place(next(quirky_sessions(1, seed=seed, anomaly_fraction=0.0)), start)
    session.pop("labels", None)
    session.update(sessionId=f"demo-lag-new-{seed}", chargingStationId=QUIRKY_STATION, connectorId="1")
    return session


def _call(api: Api, method: str, path: str, body: Any = None) -> Any:
    status, answer = api.call(method, path, None if body is None else json.dumps(body).encode())
    if status != 200:
        raise UploadError(f"{method} {path}: HTTP {status} {answer}")
    return answer


def _issues(api: Api) -> dict[str, dict[str, Any]]:
    """{issue id: {category, station}} over every anomaly of the tenant."""
    found: dict[str, dict[str, Any]] = {}
    page = 0
    while True:
        answer = _call(api, "GET", f"/v1/anomalies?page={page}&pageSize=100")
        for anomaly in answer["content"]:
            for issue in anomaly.get("issues") or []:
                found.setdefault(
                    issue["id"], {"category": anomaly["anomalyType"], "station": anomaly["ocppChargingStationId"]}
                )
        page += 1
        if page * 100 >= answer["pagination"]["totalCount"]:
            return found


def review_issues(api: Api) -> dict[str, int]:
    """The lagging station's mismatches are false alarms; the rest gets every workflow state."""
    states = {"DISMISSED": 0, "RESOLVED": 0, "IN_PROGRESS": 0, "OPEN": 0}
    for number, (issue_id, issue) in enumerate(sorted(_issues(api).items())):
        if issue["station"] == QUIRKY_STATION:
            status = "DISMISSED" if issue["category"] == "ENERGY_POWER_MISMATCH" else "RESOLVED"
        else:
            status = ("RESOLVED", "IN_PROGRESS", "OPEN", "DISMISSED")[number % 4]
        if status != "OPEN":
            _call(api, "PATCH", f"/v1/anomalies/issues/{issue_id}", {"status": status})
        states[status] += 1
    return states


def fine_tune(api: Api, timeout: float = 300.0) -> dict[str, Any]:
    created = _call(
        api,
        "POST",
        "/v1/models/fine-tune",
        {
            "baseModelId": "csar-2",
            "name": "lagging meters",
            "dataSource": {"type": "sessions", "sessionFilter": {"chargingStationIds": [QUIRKY_STATION]}},
        },
    )
    deadline = time.monotonic() + timeout
    while True:
        job = _call(api, "GET", f"/v1/models/fine-tune/{created['jobId']}")
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    if job["status"] == "succeeded":
        _call(api, "PATCH", f"/v1/models/{job['resultModelId']}", {"active": True})
    return dict(job)


def shade_days(api: Api, wait_seconds: float) -> dict[str, int]:
    """Station-days SHADE stored, once every station has some (`make run` analyses uploaded days
    within a minute) or after `wait_seconds`."""
    stations = _call(api, "GET", "/v1/stations/lookup")["items"]
    deadline = time.monotonic() + wait_seconds
    while True:
        pages = [_call(api, "GET", f"/v1/stations/{station}/anomalies?pageSize=100") for station in stations]
        if all(page["pagination"]["totalCount"] for page in pages) or time.monotonic() > deadline:
            return {
                "stationDays": sum(page["pagination"]["totalCount"] for page in pages),
                "anomalousStationDays": sum(1 for page in pages for day in page["content"] if day["isAnomaly"]),
            }
        time.sleep(2)


def run(args: argparse.Namespace) -> int:
    base_url = args.api or os.environ.get("CHARGEWATCH_API_URL") or DEFAULT_API
    key = args.key or os.environ.get("CHARGEWATCH_API_KEY")
    organization_id = None
    if not key:
        from chargewatch_tools.cli import _configure

        _configure(argparse.Namespace(local=True, stack=None, table=None))
        from chargewatch.services.organizations import create_organization

        provisioned = create_organization(args.name, plan="pro")
        key, organization_id = provisioned.api_key, provisioned.organization_id
    api = Api(base_url, key)
    today = datetime.now(UTC)
    sessions = demo_sessions(args.sessions, args.seed, today)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
            handle.write("\n".join(json.dumps(session) for session in sessions))
        summary = upload(handle.name, api, progress=not args.quiet)
        states = review_issues(api)
        job = fine_tune(api)
        after = _call(api, "POST", "/v1/sessions", lagging_session(args.seed + 1, today - timedelta(hours=2)))
        _call(
            api,
            "POST",
            "/v1/webhooks",
            {"url": "https://receiver.demo.example/chargewatch", "events": ["session.analyzed"], "enabled": False},
        )
        shade = shade_days(api, args.wait_shade)
    except UploadError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 2
    finally:
        os.unlink(handle.name)
    report = {
        "organizationId": organization_id,
        "apiKey": key if organization_id else "(yours)",
        "sessions": {"processed": summary.processed, "failed": summary.failed, "anomalous": summary.anomalous},
        "issues": states,
        "fineTune": {
            "jobId": job["jobId"],
            "status": job["status"],
            "model": job.get("resultModelId"),
            "holdoutF1": {
                "csar-2": ((job.get("metrics") or {}).get("base") or {}).get("f1"),
                "tuned": ((job.get("metrics") or {}).get("tuned") or {}).get("f1"),
            },
            "holdoutFalseAlarms": {
                "csar-2": ((job.get("metrics") or {}).get("base") or {}).get("falsePositives"),
                "tuned": ((job.get("metrics") or {}).get("tuned") or {}).get("falsePositives"),
            },
            "error": job.get("errorMessage"),
        },
        "newLaggingSessionAnomalies": sorted({a["category"] for a in after["anomalies"]}),
        "shade": shade,
    }
    print(json.dumps(report, indent=2))
    return 0 if job["status"] == "succeeded" else 1


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="fill the running emulator with a realistic tenant (sessions, issues, fine-tuned model, webhook)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api", help=f"API base URL (default: $CHARGEWATCH_API_URL or {DEFAULT_API})")
    parser.add_argument("--key", help="use this organization's API key instead of creating 'Demo Fleet'")
    parser.add_argument("--name", default="Demo Fleet", help="name of the organization created")
    parser.add_argument("--sessions", type=int, default=300, help="sessions to upload (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--wait-shade", type=float, default=120.0, help="seconds to wait for SHADE station-days (default 120)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)
