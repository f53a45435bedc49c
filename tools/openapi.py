"""Generate docs/openapi.json from the functions' resolvers (the code is the source of truth).

`python -m chargewatch_tools.openapi --write` rewrites the file; `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from chargewatch_tools.infra import ROOT, Stack, load_template, parameter_defaults

OUTPUT = ROOT / "docs" / "openapi.json"
TITLE = "Chargewatch API"
VERSION = "1.0.0"


def _function_apps():
    template = load_template()
    stack = Stack(template=template, region="eu-west-1", parameters=parameter_defaults(template))
    for logical_id in sorted(stack.resources("AWS::Serverless::Function")):
        code_dir, handler = stack.function_code(logical_id)
        module_file = code_dir / f"{handler.rpartition('.')[0]}.py"
        spec = importlib.util.spec_from_file_location(f"chargewatch_openapi_{logical_id}", module_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = getattr(module, "app", None)
        if app is not None and hasattr(app, "get_openapi_json_schema"):
            yield logical_id, app


def build_document() -> dict:
    document: dict = {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Anomaly detection for EV charging sessions and stations. "
            "Authenticate with `Authorization: Bearer <api key>`.",
        },
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "cw_<env>_... API key"}},
        },
        "security": [{"apiKey": []}],
    }
    for _, app in _function_apps():
        schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    _document_errors(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


_ERROR_SCHEMA = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "examples": ["meterValues[3].measurand"]},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}
_ERROR_STATUSES = {
    "400": "Invalid input; `details` names each field",
    "401": "Missing, invalid, revoked or expired credentials (API key, user token or application token)",
    "403": (
        "X-Organization-Id names an organization the caller does not belong to, "
        "or the caller's role does not allow the operation (`insufficient_privilege`)"
    ),
    "404": "Not found (or another tenant's)",
    "409": "Conflicts with the stored state",
    "413": "Body over the size limit",
    "415": "Body is not JSON",
}


def _document_errors(document: dict) -> None:
    """Our error body replaces the resolver's default 422 (we answer 400 with named fields)."""
    document["components"]["schemas"]["ErrorResponse"] = _ERROR_SCHEMA
    for schema_name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(schema_name, None)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            statuses = ["400", "401", "403"]
            if "{" in path:
                statuses.append("404")
            if method in ("post", "put", "patch"):
                statuses += ["409", "413", "415"]
            for status in statuses:
                responses[status] = {
                    "description": _ERROR_STATUSES[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite docs/openapi.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text)} bytes)")
        return 0
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print("docs/openapi.json is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
