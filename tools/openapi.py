"""Generate docs/openapi.json from the functions' resolvers (the code is the source of truth).

`python -m chargewatch_tools.openapi --write` rewrites the file; `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path

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
            yield module_file, app


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
    raised: dict[tuple[str, str], set[int]] = {}
    for module_file, app in _function_apps():
        schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
        for route in app._static_routes + app._dynamic_routes:
            raised[(route.method.lower(), route.openapi_path)] = raised_statuses(module_file, route.func.__name__)
    _document_errors(document, raised)
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
    400: "Invalid input; `details` names each field",
    401: "Missing, invalid, revoked or expired credentials (API key, user token or application token)",
    402: "A plan limit is reached (`storage_limit_exceeded`, `ai_limit_exceeded`, ...): nothing was done",
    403: "X-Organization-Id names an organization the caller does not belong to, or the caller's role does "
    "not allow the operation (`insufficient_privilege`, `user_required`)",
    404: "Not found (or another tenant's)",
    409: "Conflicts with the stored state, or a concurrent change (`concurrent_modification`: retry)",
    410: "The invitation has expired or was revoked",
    413: "Body over the size limit",
    415: "Body is not JSON",
    429: "The AI provider is throttling: retry later",
    502: "The AI provider failed or could not be reached",
}


def _document_errors(document: dict, raised: dict[tuple[str, str], set[int]]) -> None:
    """Each operation states every status it can answer: our error body replaces the resolver's default
    422 (we answer 400 with named fields); 401/403 follow the route's access level; 404/409/402/...
    are the errors its code can raise (see `raised_statuses`)."""
    from chargewatch.access import ROUTE_ACCESS, Access

    document["components"]["schemas"]["ErrorResponse"] = _ERROR_SCHEMA
    for schema_name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(schema_name, None)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            statuses = set(raised.get((method, path), ()))
            if operation.get("parameters") or "requestBody" in operation:
                statuses.add(400)
            if ROUTE_ACCESS.get(f"{method.upper()} {path}") is Access.PUBLIC:
                operation["security"] = []
            else:
                statuses |= {401, 403, 413}  # credentials, X-Organization-Id and body size: every route
                if method in ("post", "put", "patch"):
                    statuses.add(415)
                if "{" in path:
                    statuses.add(404)
            for status in sorted(statuses):
                responses.setdefault(
                    str(status),
                    {
                        "description": _ERROR_STATUSES[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    },
                )
            operation["responses"] = dict(sorted(responses.items()))


# ---------------------------------------------------------------- which errors a route's code can raise

_PACKAGE_ROOT = ROOT / "layers" / "common" / "python"


def _error_classes() -> dict[str, type]:
    from chargewatch.errors import ChargewatchError

    found, pending = {}, [ChargewatchError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _module_file(module: str) -> Path | None:
    base = _PACKAGE_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@cache
def _module(path: Path) -> tuple[dict[str, tuple[str, str | None]], dict[str, ast.AST]]:
    """(imported names -> (module file, symbol or None for a module), functions by name: top-level ones
    and, as `.name`, the methods of the module's classes)."""
    tree = ast.parse(path.read_text())
    imports: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chargewatch"):
            for alias in node.names:
                submodule = _module_file(f"{node.module}.{alias.name}")
                target = _module_file(node.module)
                if submodule:
                    imports[alias.asname or alias.name] = (str(submodule), None)
                elif target:
                    imports[alias.asname or alias.name] = (str(target), alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("chargewatch") and (target := _module_file(alias.name)) and alias.asname:
                    imports[alias.asname] = (str(target), None)
    functions: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    # methods of one name in several classes: their bodies together
                    key = f".{member.name}"
                    functions[key] = ast.Module(body=[*getattr(functions.get(key), "body", []), *member.body])
    return imports, functions


class _References(ast.NodeVisitor):
    """Names and `module.attr` references of a function body, each with the exception names caught
    around it (a `try` whose handler does not re-raise stops those errors)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str | None, frozenset[str]]] = []
        self.constructed: set[str] = set()
        self._caught: frozenset[str] = frozenset()

    def visit_Try(self, node: ast.Try) -> None:
        caught = set()
        for handler in node.handlers:
            reraises = any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
            if not reraises:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught |= {t.id if isinstance(t, ast.Name) else "BaseException" for t in types if t is not None}
                if handler.type is None:
                    caught.add("BaseException")
        outer, self._caught = self._caught, self._caught | caught
        for statement in node.body:
            self.visit(statement)
        self._caught = outer
        for handler in node.handlers:
            for statement in handler.body:
                self.visit(statement)
        for statement in node.orelse + node.finalbody:
            self.visit(statement)

    visit_TryStar = visit_Try

    def visit_Name(self, node: ast.Name) -> None:
        self.found.append((node.id, None, self._caught))

    def visit_Call(self, node: ast.Call) -> None:
        # an error class counts where it is constructed or raised, not where it is only named
        # (`isinstance(x, AuthenticationError)`)
        constructed = node.func.value if isinstance(node.func, ast.Attribute) else node.func
        if isinstance(constructed, ast.Name):
            self.constructed.add(constructed.id)
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        if isinstance(node.exc, ast.Name):
            self.constructed.add(node.exc.id)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name):
            self.found.append((node.value.id, node.attr, self._caught))
        self.generic_visit(node)


def raised_statuses(module_file: Path | str, function: str) -> set[int]:
    """The HTTP statuses of the ChargewatchErrors that `function` (in `module_file`) can raise, following
    calls through the chargewatch package. Static and deliberately generous (a call counts whether or
    not it happens); errors caught by an enclosing `try` that does not re-raise are left out."""
    classes = _error_classes()
    caught_all = {"Exception", "BaseException", "ChargewatchError"}
    memo: dict[tuple[str, str], set[str]] = {}

    def errors_of(path: str, name: str) -> set[str]:
        key = (path, name)
        if key in memo:
            return memo[key]
        memo[key] = set()  # a cycle adds nothing new
        imports, functions = _module(Path(path))
        node = functions.get(name)
        if node is None:
            return set()
        visitor = _References()
        for statement in node.body:
            visitor.visit(statement)
        result: set[str] = set()
        for base, attr, caught in visitor.found:
            reached: set[str] = set()
            if base in classes:  # NotFoundError(...), ValidationError.for_field(...)
                reached = {base} if base in visitor.constructed else set()
            elif attr is None and base in functions:
                reached = errors_of(path, base)
            elif base in imports:
                target, symbol = imports[base]
                if symbol is None and attr is not None:
                    reached = errors_of(target, attr)
                elif symbol is not None and attr is None:
                    reached = errors_of(target, symbol)
            elif attr is not None and not attr.startswith("__"):
                # a method call on an object (`provider.explain(...)`): the methods of that name in this
                # module and in the chargewatch modules it imports
                reached = errors_of(path, f".{attr}")
                for target, symbol in set(imports.values()):
                    if symbol is None:
                        reached = reached | errors_of(target, f".{attr}")
            if caught & caught_all:
                continue
            result |= {
                error
                for error in reached
                if not any(c in classes and issubclass(classes[error], classes[c]) for c in caught)
            }
        memo[key] = result
        return result

    return {classes[error].status_code for error in errors_of(str(module_file), function)} - {500}


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
