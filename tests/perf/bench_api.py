"""POST /v1/sessions through the local emulator, from a second process: latency and throughput.

    python tests/perf/bench_api.py [--requests 1000] [--readings 100] [--clients 20] [--profile]

Starts `python -m chargewatch_tools.emulator` as a subprocess on free ports (PORT, MOTO_PORT,
DEMO_API_KEY in its environment), waits until it answers, then sends the requests one after the
other over one keep-alive connection, each a new session (unique sessionId) with `--readings`
meter values (energy register, power and SoC, 1-minute OCPP samples, spread over 50 stations and
several days), and prints p50/p90/p99/max latency and requests/s. Target: p99 <= 30 ms. Then
the same number of new sessions from `--clients` concurrent clients (each its own connection):
p50/p99 and throughput, and their ratio to the one-client run measured just before.

`--profile` runs the emulator with CHARGEWATCH_PROFILE set: cProfile around every invocation,
printed (cumulative and own time) when the emulator stops. `--url URL --api-key KEY` benchmarks
an emulator that is already running instead. A benchmark prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
TARGET_P99_MS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_key() -> str:
    from chargewatch.services.api_keys import generate_key

    return generate_key("test")


def session_body(index: int, readings: int, rng: random.Random) -> dict:
    """A plausible charging session: 1-minute samples of energy (kWh), power (kW) and SoC (%)."""
    station = index % 50
    dc = station % 3 == 0
    rated_kw = 50.0 if dc else 11.0
    battery_kwh = rng.choice([40.0, 58.0, 77.0])
    start = datetime(2026, 2, 1, 7, tzinfo=UTC) + timedelta(days=index // 50, minutes=(index % 50) * 13)
    soc = rng.uniform(10, 60)
    energy = rng.uniform(0, 5000)  # the register does not start at zero
    values = []
    minute = 0
    while len(values) < readings:
        taper = 1.0 if soc < 80 else max(0.2, (100 - soc) / 20)  # DC taper above 80 %
        power = rated_kw * taper * rng.uniform(0.97, 1.02) if dc else rated_kw * rng.uniform(0.98, 1.01)
        stamp = (start + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for measurand, unit, value in (
            ("Energy.Active.Import.Register", "kWh", energy),
            ("Power.Active.Import", "kW", power),
            ("SoC", "Percent", soc),
        ):
            if len(values) < readings:
                values.append({"timestamp": stamp, "measurand": measurand, "unit": unit, "value": round(value, 3)})
        energy += power / 60
        soc = min(100.0, soc + power / 60 / battery_kwh * 100)
        minute += 1
    return {
        "sessionId": f"bench-{index:05d}-{rng.getrandbits(32):08x}",
        "chargingStationId": f"CP-NL-AMS-{station:04d}",
        "connectorId": str(1 + index % 2),
        "evseId": f"NL*CWT*E{station:04d}*{1 + index % 2}",
        "meterValues": values,
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def start_emulator(
    profile: bool, log_path: Path, database: str = "dynamodb-local"
) -> tuple[subprocess.Popen, str, str]:
    """`make run`'s emulator on free ports; its DynamoDB Local keeps data in a fresh directory
    (`database="memory"`: in-memory moto, as before DynamoDB Local)."""
    port, moto_port, key = free_port(), free_port(), demo_key()
    env = {**os.environ, "PORT": str(port), "MOTO_PORT": str(moto_port), "DEMO_API_KEY": key}
    env["CHARGEWATCH_DATA_DIR"] = "memory" if database == "memory" else str(log_path.parent / "data")
    env["DYNAMODB_LOCAL_PORT"] = str(free_port())
    for name in ("AWS_ENDPOINT_URL", "CHARGEWATCH_AWS_MODE"):
        env.pop(name, None)
    if profile:
        env["CHARGEWATCH_PROFILE"] = str(log_path.with_suffix(".prof"))
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "chargewatch_tools.emulator"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the emulator exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if (
                requests.get(f"{url}/v1/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=2).status_code
                == 200
            ):
                return process, url, key
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the emulator did not answer within 90 s:\n{log_path.read_text()}")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), to tell work from waiting on a busy machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stop_emulator(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def run_concurrently(url: str, key: str, payloads: list[bytes], clients: int):
    """Send `payloads` from `clients` threads, each with its own keep-alive connection:
    (latencies ms, wall seconds, {status or 'connection': count})."""
    from concurrent.futures import ThreadPoolExecutor

    shares = [payloads[i::clients] for i in range(clients)]
    failures: dict = {}

    def client(share: list[bytes]) -> list[float]:
        measured = []
        with requests.Session() as http:
            http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            for payload in share:
                sent = time.perf_counter()
                try:
                    status = http.post(f"{url}/v1/sessions", data=payload, timeout=120).status_code
                except requests.RequestException:
                    status = "connection"
                measured.append((time.perf_counter() - sent) * 1000)
                if status != 200:
                    failures[status] = failures.get(status, 0) + 1
        return measured

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [value for share in pool.map(client, shares) for value in share]
    return latencies, time.perf_counter() - started, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=100, help="meter values per session")
    parser.add_argument("--warmup", type=int, default=20, help="requests sent first and not measured")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile inside the emulator, printed at the end")
    parser.add_argument("--url", help="benchmark an emulator that is already running (with --api-key)")
    parser.add_argument("--api-key")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients of the second run (0: none)")
    parser.add_argument(
        "--database", choices=("dynamodb-local", "memory"), default="dynamodb-local", help="the emulator's table"
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    total = args.warmup + args.requests * (2 if args.clients else 1)
    bodies = [session_body(index, args.readings, rng) for index in range(total)]
    log_path = Path(tempfile.mkdtemp(prefix="chargewatch-bench-")) / "emulator.log"
    process = None
    if args.url:
        if not args.api_key:
            raise SystemExit("--url needs --api-key")
        url, key = args.url.rstrip("/"), args.api_key
    else:
        started = time.perf_counter()
        process, url, key = start_emulator(args.profile, log_path, args.database)
        print(f"emulator ready in {time.perf_counter() - started:.1f} s at {url} (log: {log_path})")
        print("  " + next((line.strip() for line in log_path.read_text().splitlines() if "Database" in line), ""))

    latencies: list[float] = []
    failures: dict[int, int] = {}
    try:
        with requests.Session() as http:
            http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            import json

            payloads = [json.dumps(body).encode() for body in bodies]
            for payload in payloads[: args.warmup]:
                http.post(f"{url}/v1/sessions", data=payload, timeout=60)
            cpu_start = cpu_seconds(process.pid) if process is not None else None
            load_start = os.getloadavg()[0]
            wall_start = time.perf_counter()
            for payload in payloads[args.warmup : args.warmup + args.requests]:
                sent = time.perf_counter()
                try:
                    response = http.post(f"{url}/v1/sessions", data=payload, timeout=120)
                except requests.RequestException as error:
                    raise SystemExit(
                        f"request {len(latencies) + 1} failed: {error}; emulator log: {log_path}"
                    ) from None
                latencies.append((time.perf_counter() - sent) * 1000)
                if response.status_code != 200:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1
                    if sum(failures.values()) == 1:
                        print(f"first failure: {response.status_code} {response.text[:500]}", file=sys.stderr)
            wall = time.perf_counter() - wall_start
            cpu_end = cpu_seconds(process.pid) if process is not None else None
        concurrent = (
            run_concurrently(url, key, payloads[args.warmup + args.requests :], args.clients) if args.clients else None
        )
    finally:
        exit_code = stop_emulator(process) if process is not None else None

    ordered = sorted(latencies)
    size = len(payloads[-1])
    print(
        f"\nPOST /v1/sessions, {len(latencies)} requests, {args.readings} meter values each "
        f"(~{size / 1024:.1f} KiB body), one client, keep-alive, after {args.warmup} warm-up requests"
    )
    print(
        f"  p50 {percentile(ordered, 0.50):7.1f} ms   p90 {percentile(ordered, 0.90):7.1f} ms   "
        f"p99 {percentile(ordered, 0.99):7.1f} ms   max {ordered[-1]:7.1f} ms   "
        f"mean {statistics.fmean(ordered):6.1f} ms"
    )
    print(f"  throughput {len(latencies) / wall:6.1f} requests/s over {wall:.1f} s")
    if cpu_start is not None and cpu_end is not None:
        print(
            f"  emulator CPU time per request {(cpu_end - cpu_start) / len(latencies) * 1000:6.1f} ms "
            f"(load average {load_start:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
    tenth = max(1, len(latencies) // 10)
    print(
        f"  p50 of the first {tenth}: {statistics.median(latencies[:tenth]):.1f} ms, "
        f"of the last {tenth}: {statistics.median(latencies[-tenth:]):.1f} ms (does latency grow with the table?)"
    )
    if concurrent is not None:
        many, many_wall, many_failures = concurrent
        many.sort()
        print(f"\nPOST /v1/sessions, {len(many)} more requests from {args.clients} concurrent clients")
        print(
            f"  p50 {percentile(many, 0.50):7.1f} ms   p99 {percentile(many, 0.99):7.1f} ms   "
            f"throughput {len(many) / many_wall:6.1f} requests/s "
            f"({len(many) / many_wall / (len(latencies) / wall):.2f}x one client; "
            f"p50 {percentile(many, 0.50) / percentile(ordered, 0.50):.1f}x)"
        )
        if many_failures:
            print(f"  NON-200 answers or connection errors: {many_failures}")
        for status, count in many_failures.items():
            failures[status] = failures.get(status, 0) + count
    if failures:
        print(f"  NON-200 answers: {failures}")
    p99 = percentile(ordered, 0.99)
    verdict = "meets" if p99 <= TARGET_P99_MS else "MISSES"
    print(f"  target p99 <= {TARGET_P99_MS:.0f} ms: {verdict} ({p99:.1f} ms)")
    if exit_code is not None:
        print(f"  emulator stopped with exit code {exit_code}" + ("" if exit_code == 0 else f" (log: {log_path})"))
        if args.profile:
            print(f"\nprofile of the emulator (from {log_path}):")
            text = log_path.read_text()
            print(text[text.find("function calls") :][:12000] if "function calls" in text else text[-4000:])
    return 1 if failures or (exit_code not in (None, 0)) else 0


if __name__ == "__main__":
    sys.exit(main())
