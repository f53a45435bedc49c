"""API Gateway HTTP API (payload format 2.0) events, as the real service builds them."""

from __future__ import annotations

import base64
import re
import time
import uuid
from urllib.parse import parse_qsl


def route_pattern(path: str) -> re.Pattern[str]:
    """'/v1/sessions/{session_id}' -> a regex with a named group per path parameter ({proxy+} too)."""
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+"):
                pattern += f"(?P<{name[:-1]}>.+)"
            else:
                pattern += f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}$")


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    body: bytes | str | None = None,
    stage: str = "$default",
    source_ip: str = "127.0.0.1",
    authorizer_context: dict | None = None,
) -> dict:
    """A payload-2.0 event. Header names are lower-cased and repeated query keys joined by ','."""
    lowered: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in (headers or {}).items():
        if name.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    query_parameters: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        query_parameters[key] = f"{query_parameters[key]},{value}" if key in query_parameters else value
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query_parameters:
        event["queryStringParameters"] = query_parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None and body != "":
        event["body"] = body
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
    return event


def authorizer_event(request_event: dict, route_arn: str) -> dict:
    """The REQUEST authorizer event (payload 2.0) for a request event."""
    event = {
        key: request_event[key]
        for key in ("version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext")
    }
    event.update({"type": "REQUEST", "routeArn": route_arn, "identitySource": []})
    for key in ("cookies", "queryStringParameters", "pathParameters"):
        if key in request_event:
            event[key] = request_event[key]
    event["requestContext"] = {k: v for k, v in request_event["requestContext"].items() if k != "authorizer"}
    return event
