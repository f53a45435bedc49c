"""Station endpoints on a tenant with 500 stations (in-process moto, LocalGateway, no HTTP).

    python tests/perf/bench_stations.py [--stations 500] [--days 14] [--requests 200]

Each station has `days` stored SHADE station-days (2 connectors, 96 buckets each). Prints the
median and p95 latency of each station endpoint over `requests` random stations.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(name, None)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    import boto3
    from moto import mock_aws

    from chargewatch_tools.emulator import moto_fixes
    from chargewatch_tools.infra import create_stack

    moto_fixes.install()
    with mock_aws():
        stack = create_stack(boto3.Session(region_name="eu-west-1"), prefix="bench")
        os.environ.update(stack.function_environment("StationsFunction"))
        from chargewatch import settings
        from chargewatch.dal import station_days as station_days_dal
        from chargewatch.dal import stations as stations_dal
        from chargewatch.dal import table
        from chargewatch.services import shade as shade_service
        from chargewatch.services.organizations import create_organization
        from chargewatch_tools.emulator.gateway import LocalGateway
        from csar import shade

        table.bind(settings.reload_settings())
        provisioned = create_organization("Bench", organization_id="bench")
        org = provisioned.organization_id
        rng = random.Random(0)
        started = time.perf_counter()
        end = date(2026, 3, 11)
        for n in range(args.stations):
            station = f"ST-{n:04d}"
            # what a station's first session does: directory item, station item, TOTALS.stationCount
            stations_dal.ensure_registered(org, station, station_uuid=f"id-{n}", now="2026-02-25T00:00:00Z")
            for k in range(args.days):
                day = end - timedelta(days=k)
                energy = {
                    c: [round(rng.uniform(0, 3), 2) if 28 <= b < 84 else 0.0 for b in range(96)] for c in ("1", "2")
                }
                analysis = shade.analyze_station_day(day, energy, {})
                station_days_dal.save_day(shade_service._station_day_item(org, station, analysis), None)
        print(
            f"seeded {args.stations} stations x {args.days} days in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )

        gateway = LocalGateway(stack)
        headers = {"authorization": f"Bearer {provisioned.api_key}"}
        print("| endpoint | median ms | p95 ms |\n|---|---|---|")

        def measure(label: str, paths) -> None:
            timings = []
            for path in paths:
                t0 = time.perf_counter()
                response = gateway.handle("GET", path, headers=headers)
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status == 200, (path, response.body)
            timings.sort()
            print(f"| GET {label} | {statistics.median(timings):.1f} | {timings[int(0.95 * len(timings)) - 1]:.1f} |")

        for suffix in ("", "/connectors", "/anomalies", "/energy", "/inference", "/shade-overview"):
            gateway.handle("GET", f"/v1/stations/ST-0000{suffix}", headers=headers)  # cold start outside the numbers
            measure(
                f"/v1/stations/{{id}}{suffix}",
                [f"/v1/stations/ST-{rng.randrange(args.stations):04d}{suffix}" for _ in range(args.requests)],
            )
        for path in ("/v1/stations", "/v1/stations/lookup", "/v1/statistics"):
            measure(f"{path} ({args.stations} stations)", [path] * 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
