"""`chargewatch upload FILE.jsonl`: send a file of sessions through the batch API and wait for it.

One session per line, in the shape of POST /v1/sessions. API Gateway and Lambda cap a
request body at 6 MB, so the file goes out as several batches: consecutive lines are packed into
submits of at most --max-body-bytes (default 5 MB, leaving headroom) and --max-sessions. Each
batch is then polled (GET /v1/sessions/batch/{id}) until it is completed, and a summary is
printed: sessions, anomalies by category, failures with their reasons (an invalid session is a
failure named by its line; the valid ones around it are analysed).

Works against the local emulator (`make run`: --api http://127.0.0.1:3000) and a deployed stack
(--api https://<api-id>.execute-api.<region>.amazonaws.com/<stage>). Standard library HTTP only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API = "http://127.0.0.1:3000"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_SESSIONS_PER_SUBMIT = 10_000
RESULTS_PAGE_SIZE = 100
_RETRYABLE = {429, 500, 502, 503, 504}


class UploadError(Exception):
    pass


@dataclass
class Line:
    number: int  # 1-based line of the file
    text: str  # the session as compact JSON


@dataclass
class Summary:
    sessions: int = 0
    batches: list[str] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    anomalous: int = 0
    categories: Counter = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "batches": self.batches,
            "processedSessions": self.processed,
            "failedSessions": self.failed,
            "anomalousSessions": self.anomalous,
            "anomaliesByCategory": dict(self.categories.most_common()),
            "failures": self.failures,
        }


class Api:
    def __init__(self, base_url: str, key: str, timeout: float = 120.0, retries: int = 4):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.retries = retries

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                payload = error.read()
                if error.code in _RETRYABLE and attempt < self.retries:
                    time.sleep(min(10.0, 0.5 * 2**attempt))
                    continue
                try:
                    return error.code, json.loads(payload or b"null")
                except ValueError:
                    return error.code, {"error": {"message": payload.decode(errors="replace")[:500]}}
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt < self.retries:
                    time.sleep(min(10.0, 0.5 * 2**attempt))
                    continue
                raise UploadError(f"cannot reach {self.base_url}: {error}") from error
        raise UploadError("unreachable")


def read_lines(path: str, default_station: str | None = None) -> list[Line]:
    lines = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                session = json.loads(raw)
            except ValueError as error:
                raise UploadError(f"line {number}: not valid JSON ({error})") from None
            if not isinstance(session, dict):
                raise UploadError(f"line {number}: expected a JSON object (one session)")
            if default_station and not session.get("chargingStationId"):
                session["chargingStationId"] = default_station
            lines.append(Line(number, json.dumps(session, separators=(",", ":"))))
    return lines


def pack(lines: list[Line], max_body_bytes: int, max_sessions: int = MAX_SESSIONS_PER_SUBMIT) -> list[list[Line]]:
    """Consecutive lines in submits whose body `{"sessions":[...]}` stays within max_body_bytes."""
    envelope = len('{"sessions":[]}')
    chunks: list[list[Line]] = []
    current: list[Line] = []
    size = envelope
    for line in lines:
        line_size = len(line.text.encode()) + 1
        if envelope + line_size > max_body_bytes:
            raise UploadError(
                f"line {line.number}: one session of {line_size} bytes exceeds the "
                f"{max_body_bytes}-byte request limit; split its meter values"
            )
        if current and (size + line_size > max_body_bytes or len(current) >= max_sessions):
            chunks.append(current)
            current, size = [], envelope
        current.append(line)
        size += line_size
    if current:
        chunks.append(current)
    return chunks


def _explain(status: int, body: Any, chunk: list[Line]) -> str:
    """An API error, with `sessions[i]` translated to the line of the file."""
    error = (body or {}).get("error") or {}
    details = error.get("details") or []
    messages = [
        _on_line(f"{detail.get('field', '')}: {detail.get('message', '')}".strip(": "), chunk)
        for detail in details or [{"field": "", "message": error.get("message") or body}]
    ]
    return f"HTTP {status} {error.get('code', '')}: " + "; ".join(messages)


def _on_line(text: str, chunk: list[Line]) -> str:
    """'sessions[2].meterValues[1].value: ...' -> 'line 7: meterValues[1].value: ...' (the file's line)."""
    match = re.match(r"sessions\[(\d+)\]\.?(.*)", text, re.DOTALL)
    if match and int(match.group(1)) < len(chunk):
        return f"line {chunk[int(match.group(1))].number}: {match.group(2)}"
    return text


def _progress(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="session", disable=not enabled, file=sys.stderr)


def upload(
    path: str,
    api: Api,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_sessions: int = MAX_SESSIONS_PER_SUBMIT,
    poll_interval: float = 1.0,
    timeout: float = 3600.0,
    default_station: str | None = None,
    progress: bool = True,
) -> Summary:
    lines = read_lines(path, default_station)
    if not lines:
        raise UploadError(f"{path}: no sessions")
    summary = Summary(sessions=len(lines))
    totals: dict[str, int] = {}
    chunks: dict[str, list[Line]] = {}
    with _progress(len(lines), "submit", progress) as bar:
        for chunk in pack(lines, max_body_bytes, max_sessions):
            body = ('{"sessions":[' + ",".join(line.text for line in chunk) + "]}").encode()
            status, answer = api.call("POST", "/v1/sessions/batch", body)
            if status != 200:
                raise UploadError(
                    _explain(status, answer, chunk)
                    + (f" (earlier batches were submitted: {', '.join(summary.batches)})" if summary.batches else "")
                )
            summary.batches.append(answer["batchId"])
            totals[answer["batchId"]] = int(answer["totalSessions"])
            chunks[answer["batchId"]] = chunk
            bar.update(len(chunk))
    deadline = time.monotonic() + timeout
    finished: dict[str, dict[str, Any]] = {}
    with _progress(len(lines), "analyse", progress) as bar:
        done_before = 0
        while len(finished) < len(summary.batches):
            done = 0
            for batch_id in summary.batches:
                if batch_id not in finished:
                    status, state = api.call("GET", f"/v1/sessions/batch/{batch_id}?page=0&pageSize=1")
                    if status != 200:
                        raise UploadError(_explain(status, state, []))
                    if state["status"] in ("completed", "completed_with_failures"):
                        finished[batch_id] = state
                else:
                    state = finished[batch_id]
                done += int(state["processedSessions"]) + int(state["failedSessions"])
            bar.update(done - done_before)
            done_before = done
            if len(finished) < len(summary.batches):
                if time.monotonic() > deadline:
                    raise UploadError(
                        f"batches not completed after {timeout:.0f} s: "
                        + ", ".join(b for b in summary.batches if b not in finished)
                    )
                time.sleep(poll_interval)
    for batch_id in summary.batches:
        summary.processed += int(finished[batch_id]["processedSessions"])
        summary.failed += int(finished[batch_id]["failedSessions"])
        for page in range(-(-totals[batch_id] // RESULTS_PAGE_SIZE)):
            status, state = api.call("GET", f"/v1/sessions/batch/{batch_id}?page={page}&pageSize={RESULTS_PAGE_SIZE}")
            if status != 200:
                raise UploadError(_explain(status, state, []))
            for result in state["results"]:
                if result.get("status") == "failed":
                    message = _on_line(result.get("message") or "", chunks[batch_id])
                    summary.failures.append({"sessionId": result["sessionId"], "message": message})
                    continue
                summary.anomalous += bool(result.get("isAnomaly"))
                summary.categories.update(anomaly["category"] for anomaly in result.get("anomalies") or [])
    return summary


def print_summary(summary: Summary, out=None, max_failures: int = 20) -> None:
    out = out or sys.stdout
    print(
        f"sessions: {summary.sessions} in {len(summary.batches)} batch(es): "
        f"{summary.processed} processed, {summary.failed} failed, {summary.anomalous} anomalous",
        file=out,
    )
    if summary.categories:
        print("anomalies by category:", file=out)
        width = max(len(category) for category in summary.categories)
        for category, count in summary.categories.most_common():
            print(f"  {category:<{width}}  {count}", file=out)
    else:
        print("anomalies by category: none", file=out)
    if summary.failures:
        print("failures:", file=out)
        for failure in summary.failures[:max_failures]:
            print(f"  {failure['sessionId']}: {failure['message']}", file=out)
        if len(summary.failures) > max_failures:
            print(f"  ... and {len(summary.failures) - max_failures} more (--json lists all)", file=out)


def run(args: argparse.Namespace) -> int:
    key = args.key or os.environ.get("CHARGEWATCH_API_KEY")
    if not key:
        print("no API key: pass --key or set CHARGEWATCH_API_KEY (`make run` prints the demo key)", file=sys.stderr)
        return 2
    api = Api(args.api or os.environ.get("CHARGEWATCH_API_URL") or DEFAULT_API, key)
    try:
        summary = upload(
            args.file,
            api,
            max_body_bytes=args.max_body_bytes,
            max_sessions=args.max_sessions,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            default_station=args.default_station,
            progress=not args.quiet,
        )
    except (UploadError, OSError) as error:
        print(f"upload failed: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print_summary(summary)
    return 1 if summary.failed else 0


def add_cli(subparsers) -> None:
    """Register `upload` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "upload",
        help="submit a JSONL file of sessions through the batch API and wait",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="JSON lines, one session per line (POST /v1/sessions shape)")
    parser.add_argument("--api", help=f"API base URL (default: $CHARGEWATCH_API_URL or {DEFAULT_API})")
    parser.add_argument("--key", help="API key (default: $CHARGEWATCH_API_KEY)")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest submit body (default 5 MB; the API refuses more than 6 MB)",
    )
    parser.add_argument("--max-sessions", type=int, default=MAX_SESSIONS_PER_SUBMIT, help="most sessions per submit")
    parser.add_argument("--default-station", help="chargingStationId for lines without one")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between status polls")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)
