"""Cold import time of every handler module (functions/*/app.py), each in a fresh interpreter.

    python tests/perf/bench_imports.py [--runs 5]

Each measurement is a new `python` process that times (time.perf_counter) only the import of the
handler module, loaded from its file as Lambda loads `app.lambda_handler` from the function's code
directory, with the template's environment. Interpreter start-up is not counted. A bare
`import boto3` is measured the same way in the same run, as the yardstick: the numbers move with
the machine and its disk cache, the ratio much less. Reported: the median of --runs runs.
Target: the sessions handler <= 350 ms. `--top N` also lists the sessions handler's N heaviest
imports (from `-X importtime`, cumulative). A benchmark prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_SESSIONS_MS = 350.0

_TIMED_IMPORT = """
import importlib.util, sys, time
sys.path.insert(0, {code_dir!r})
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print((time.perf_counter() - started) * 1000)
"""

_TIMED_BOTO3 = """
import time
started = time.perf_counter()
import boto3
print((time.perf_counter() - started) * 1000)
"""


def handler_environment() -> dict[str, str]:
    """What the functions see at cold start (template Globals), without touching AWS."""
    env = {
        **os.environ,
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "TABLE_NAME": "chargewatch-bench-Table",
        "STAGE": "dev",
        "API_KEY_ENV": "test",
        "POWERTOOLS_SERVICE_NAME": "chargewatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Chargewatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def run_once(code: str, env: dict[str, str]) -> float:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"import failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def heaviest_imports(path: Path, env: dict[str, str], top: int) -> list[tuple[float, str]]:
    code = _TIMED_IMPORT.format(code_dir=str(path.parent), path=str(path))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    prelude = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import importlib.util, sys, time"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    ).stderr
    already = {line.rsplit("|", 1)[1].strip() for line in prelude.splitlines() if line.startswith("import time:")}
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        name = name[1:]  # the column separator's space; what is left is two spaces per nesting level
        if (
            len(name) - len(name.lstrip()) == 0 and name.strip() not in already
        ):  # imported first-hand (not inside another import)
            rows.append((int(cumulative_us) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=12, help="heaviest imports of the sessions handler (0: none)")
    args = parser.parse_args()
    env = handler_environment()

    handlers = sorted(ROOT.glob("functions/*/app.py"))
    # Interleave the runs (boto3, each handler, boto3, ...) so disk-cache and load drift hit all alike.
    samples: dict[str, list[float]] = {"import boto3": []}
    for handler in handlers:
        samples[f"functions/{handler.parent.name}/app.py"] = []
    subprocess.run([sys.executable, "-c", "import boto3"], cwd=ROOT, env=env, check=True)  # warm the disk cache
    for _ in range(args.runs):
        samples["import boto3"].append(run_once(_TIMED_BOTO3, env))
        for handler in handlers:
            code = _TIMED_IMPORT.format(code_dir=str(handler.parent), path=str(handler))
            samples[f"functions/{handler.parent.name}/app.py"].append(run_once(code, env))

    baseline = statistics.median(samples["import boto3"])
    print(f"Cold import, fresh interpreter each time, median of {args.runs} runs (python {sys.version.split()[0]})\n")
    print(f"{'module':34} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'x boto3':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:34} {median:10.1f} {min(values):8.1f} {max(values):8.1f} {median / baseline:8.2f}")
    sessions_key = "functions/sessions/app.py"
    if sessions_key in samples:
        sessions = statistics.median(samples[sessions_key])
        verdict = "meets" if sessions <= TARGET_SESSIONS_MS else "MISSES"
        print(
            f"\ntarget: sessions handler <= {TARGET_SESSIONS_MS:.0f} ms: {verdict} ({sessions:.1f} ms, "
            f"{sessions / baseline:.2f} x a bare `import boto3` of {baseline:.1f} ms on this machine now)"
        )
        if args.top:
            print(f"\nheaviest first-hand imports of {sessions_key} (-X importtime, cumulative ms, one run):")
            for ms, name in heaviest_imports(ROOT / sessions_key, env, args.top):
                print(f"  {ms:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
