"""An in-process API Gateway HTTP API: routes and the authorizer read from template.yaml.

`LocalGateway.handle()` does what the real gateway does for one request: match the route, run the
Lambda authorizer (payload 2.0, simple responses), build the payload-2.0 event with the
authorizer context, invoke the function's handler in this process and turn its result into an
HTTP response. The HTTP server (tools/emulator/server.py) and the tests both use it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from chargewatch_tools.emulator.events import authorizer_event, http_event, route_pattern
from chargewatch_tools.infra import Stack


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str]

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class LambdaContext:
    """Enough of the Lambda context object for powertools and our handlers."""

    def __init__(self, function_name: str, timeout_seconds: int = 29, memory_mb: int = 1024):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_seconds = timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_seconds * 1000


class FunctionRegistry:
    """Imports each function's handler once, as a cold start would, with the template's env."""

    def __init__(self, stack: Stack, instance: str = ""):
        """`instance` names one execution environment: each has its own copy of every handler
        module (its own powertools resolver and warm state), as concurrent Lambda invocations do."""
        self.stack = stack
        self.instance = instance
        self._handlers: dict[str, Callable] = {}
        self._modules: dict[str, ModuleType] = {}

    def environment(self, logical_id: str) -> dict[str, str]:
        return self.stack.function_environment(logical_id)

    def module(self, logical_id: str) -> ModuleType:
        if logical_id not in self._modules:
            code_dir, handler = self.stack.function_code(logical_id)
            module_name, _, _ = handler.rpartition(".")
            os.environ.update(self.environment(logical_id))
            from chargewatch import settings
            from chargewatch.dal import table

            table.bind(settings.reload_settings())
            spec = importlib.util.spec_from_file_location(
                f"chargewatch_function_{logical_id}{'_' + self.instance if self.instance else ''}",
                code_dir / f"{module_name}.py",
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self._modules[logical_id] = module
        return self._modules[logical_id]

    def handler(self, logical_id: str) -> Callable:
        if logical_id not in self._handlers:
            _, handler = self.stack.function_code(logical_id)
            self._handlers[logical_id] = getattr(self.module(logical_id), handler.rpartition(".")[2])
        return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict) -> Any:
        properties = self.stack.template["Resources"][logical_id]["Properties"]
        timeout = int(
            properties.get("Timeout") or self.stack.template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
        )
        return self.handler(logical_id)(event, LambdaContext(self.stack.refs.get(logical_id, logical_id), timeout))


class LocalGateway:
    def __init__(self, stack: Stack, registry: FunctionRegistry | None = None, stage: str = "$default"):
        self.stack = stack
        self.registry = registry or FunctionRegistry(stack)
        self.stage = stage
        self.default_authorizer = stack.default_authorizer()
        self.routes = []
        for route in stack.http_routes():
            self.routes.append({**route, "pattern": route_pattern(route["path"])})
        # literal paths win over parameterised ones, as in API Gateway
        self.routes.sort(key=lambda route: route["path"].count("{"))

    def match(self, method: str, path: str) -> tuple[dict | None, dict[str, str], bool]:
        """(route, path parameters, path exists with another method).

        As API Gateway HTTP APIs do, the route is matched on the path as sent (an encoded `%2F` stays
        inside its segment) and each path parameter is then percent-decoded."""
        path_known = False
        for route in self.routes:
            found = route["pattern"].match(path)
            if not found:
                continue
            path_known = True
            if route["method"] in (method, "ANY"):
                return route, {name: unquote(value) for name, value in found.groupdict().items()}, True
        return None, {}, path_known

    def allowed_methods(self, path: str) -> list[str]:
        return sorted({route["method"] for route in self.routes if route["pattern"].match(path)})

    def handle(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        query: str = "",
        body: bytes | str | None = None,
        source_ip: str = "127.0.0.1",
    ) -> GatewayResponse:
        method = method.upper()
        route, path_parameters, path_known = self.match(method, path)
        if route is None:
            # The gateway answers unknown routes and methods itself, before any authorizer runs.
            if path_known:
                response = error_response(405, "method_not_allowed", f"{method} is not allowed on {path}")
                response.headers["allow"] = ", ".join(self.allowed_methods(path))
                return response
            return error_response(404, "route_not_found", "no such route")
        route_key = f"{route['method']} {route['path']}"
        event = http_event(
            method,
            unquote(path),  # HTTP APIs hand the function the decoded path (rawPath and http.path)
            route_key=route_key,
            path_parameters=path_parameters or None,
            headers=headers,
            query=query,
            body=body,
            stage=self.stage,
            source_ip=source_ip,
        )
        authorizer_name = route.get("authorizer") or (self.default_authorizer or {}).get("name")
        if authorizer_name and authorizer_name != "NONE" and self.default_authorizer:
            verdict = self.registry.invoke(
                self.default_authorizer["function"],
                authorizer_event(event, f"arn:aws:execute-api:local:123456789012:local/{self.stage}/{method}{path}"),
            )
            if not verdict.get("isAuthorized"):
                return _json_response(403, {"message": "Forbidden"})
            event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
        try:
            result = self.registry.invoke(route["function"], event)
        except Exception:  # a crashed Lambda: the gateway answers 500
            import traceback

            traceback.print_exc()
            return _json_response(500, {"message": "Internal Server Error"})
        return _to_http(result)


def error_response(status: int, code: str, message: str) -> GatewayResponse:
    """An answer of the gateway itself, in the API's error shape."""
    return _json_response(status, {"error": {"code": code, "message": message, "details": []}})


def _json_response(status: int, body: Any) -> GatewayResponse:
    return GatewayResponse(status, {"content-type": "application/json"}, json.dumps(body).encode(), [])


def _to_http(result: Any) -> GatewayResponse:
    """Lambda proxy result (payload 2.0) -> HTTP response, as API Gateway interprets it."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json_response(200, result)
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return GatewayResponse(int(result["statusCode"]), headers, raw, list(result.get("cookies") or []))
