"""`chargewatch run` (the local emulator) and `chargewatch invoke` (a Docker-free `sam local invoke`).

`invoke` loads the function named in template.yaml with its template environment, exactly as the
emulator's gateway does (FunctionRegistry), runs it once on the event file and prints its result.
Where its AWS calls go:

- the emulator of `make run`, when something listens on 127.0.0.1:4566 (or on AWS_ENDPOINT_URL
  when that is set): AWS_ENDPOINT_URL points there and resources are the `chargewatch-local-*` ones;
- `--endpoint-url URL`: that endpoint (moto server, LocalStack), same resource names;
- otherwise (or with `--in-process`): a fresh in-memory moto in this process, with the template's
  resources created and the demo organization provisioned as the emulator does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from typing import Any
from urllib.parse import urlsplit


def add_cli(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="start the local emulator: moto on 127.0.0.1:4566 and the HTTP API on 127.0.0.1:$PORT (3000)",
        description="Start the local emulator (Ctrl-C stops it; the table is kept in DynamoDB Local under "
        "CHARGEWATCH_DATA_DIR, default .local/data). Environment: PORT, MOTO_PORT, DYNAMODB_LOCAL_PORT, "
        "DEMO_API_KEY, DEMO_ORGANIZATION_ID, CHARGEWATCH_EMULATOR_VERBOSE, CHARGEWATCH_EMULATOR_SCHEDULES (0 = off), "
        "CHARGEWATCH_PROFILE.",
    )
    run.add_argument("--port", type=int, default=None, help="API port (default: $PORT or 3000; 0 = any free port)")
    run.add_argument(
        "--moto-port",
        type=int,
        default=None,
        help="moto server port (default: $MOTO_PORT or 4566, the LocalStack edge port)",
    )
    run.add_argument("--verbose", action="store_true", default=None, help="print one line per request")
    run.set_defaults(handler=_run)

    invoke = subparsers.add_parser(
        "invoke",
        help="run one function of template.yaml with one event (like `sam local invoke`, no Docker)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument(
        "function", metavar="LogicalId", help="function logical id in template.yaml, e.g. SessionsFunction"
    )
    invoke.add_argument("--event", "-e", required=True, help="event JSON file ('-' reads stdin)")
    invoke.add_argument(
        "--env-vars",
        "-n",
        metavar="FILE",
        help='JSON overrides of the template environment, as for sam: {"Parameters": {...}, "<LogicalId>": {...}}',
    )
    target = invoke.add_mutually_exclusive_group()
    target.add_argument(
        "--endpoint-url", help="AWS endpoint to use (moto server / LocalStack) instead of probing 127.0.0.1:4566"
    )
    target.add_argument(
        "--in-process",
        action="store_true",
        help="use a fresh in-memory moto in this process even if an emulator is running",
    )
    invoke.set_defaults(handler=_invoke)


# --------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from chargewatch_tools.emulator.server import run

    return run(args.port, args.moto_port, verbose=args.verbose)


# --------------------------------------------------------------------------- invoke


def _load_json(path: str, what: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise SystemExit(f"cannot read {what} {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"{what} {path} is not valid JSON: {error}") from None


def _env_overrides(path: str | None, logical_id: str) -> dict[str, str]:
    """sam's --env-vars format: "Parameters" applies to every function, "<LogicalId>" to one."""
    if not path:
        return {}
    document = _load_json(path, "env-vars file")
    if not isinstance(document, dict):
        raise SystemExit(f"env-vars file {path} must be a JSON object")
    merged: dict[str, str] = {}
    for section in ("Parameters", logical_id):
        values = document.get(section) or {}
        if not isinstance(values, dict):
            raise SystemExit(f"env-vars file {path}: {section!r} must be an object of variables")
        merged.update({name: "" if value is None else str(value) for name, value in values.items()})
    return merged


def _probe_endpoint() -> str | None:
    """The running emulator's endpoint, if one answers (AWS_ENDPOINT_URL when set, else 127.0.0.1:4566)."""
    from chargewatch_tools.cli import LOCAL_ENDPOINT
    from chargewatch_tools.emulator.server import something_listens

    candidate = os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT
    parts = urlsplit(candidate)
    if parts.hostname and something_listens(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)):
        return candidate
    return None


def _invoke(args: argparse.Namespace) -> int:
    from chargewatch_tools.infra import load_template

    template = load_template()
    resource = template["Resources"].get(args.function)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        functions = sorted(k for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::Function")
        raise SystemExit(f"{args.function} is not a function in template.yaml (functions: {', '.join(functions)})")
    event = _load_json(args.event, "event file")
    overrides = _env_overrides(args.env_vars, args.function)
    endpoint = args.endpoint_url or (None if args.in_process else _probe_endpoint())

    saved_environ = dict(os.environ)
    try:
        with contextlib.ExitStack() as resources:
            stack = _prepare_target(endpoint, resources)
            if endpoint is None:
                print(
                    "invoke: in-process moto with the template's resources and the demo organization", file=sys.stderr
                )
            else:
                print(f"invoke: AWS at {endpoint}, table {stack.refs.get('Table')}", file=sys.stderr)
            registry = _registry(stack, overrides, endpoint)
            # The function's logs go to stderr (as with sam): stdout carries only the result.
            failure = None
            with contextlib.redirect_stdout(sys.stderr):
                try:
                    result = registry.invoke(args.function, event)
                except Exception as error:  # reported as Lambda reports an unhandled exception
                    traceback.print_exc()
                    failure = {
                        "errorMessage": str(error),
                        "errorType": type(error).__name__,
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    }
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        _rebind()
    if failure is not None:
        print(json.dumps(failure, indent=2))
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def _rebind() -> None:
    from chargewatch import settings
    from chargewatch.dal import table
    from chargewatch.services import auth

    table.bind(settings.reload_settings())
    auth.clear_cache()


def _prepare_target(endpoint: str | None, resources: contextlib.ExitStack):
    """Point this process at the emulator (or a fresh in-process moto) and return the Stack."""
    import boto3

    from chargewatch_tools.cli import LOCAL_PREFIX, local_environment
    from chargewatch_tools.emulator import server
    from chargewatch_tools.infra import create_stack

    if endpoint is not None:
        os.environ.update(local_environment())
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        # create_stack only adds what is missing: against the emulator it finds its resources.
        return create_stack(boto3.Session(region_name=os.environ["AWS_REGION"]), prefix=LOCAL_PREFIX)

    from moto import mock_aws

    for name in server._ENDPOINT_VARIABLES:
        os.environ.pop(name, None)
    server.apply_demo_key_policy(os.environ.get("DEMO_API_KEY") or None)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or server.DEFAULT_REGION
    os.environ.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    resources.enter_context(mock_aws())
    stack = create_stack(boto3.Session(region_name=region), prefix=LOCAL_PREFIX)
    os.environ.update(stack.process_environment())
    _rebind()
    from chargewatch.services.organizations import create_organization

    create_organization(
        server.DEMO_ORGANIZATION_NAME,
        organization_id=os.environ.get("DEMO_ORGANIZATION_ID") or server.DEFAULT_ORGANIZATION_ID,
        api_key=os.environ.get("DEMO_API_KEY") or None,
    )
    return stack


def _registry(stack, overrides: dict[str, str], endpoint: str | None):
    from chargewatch_tools.emulator.gateway import FunctionRegistry

    class _InvokeRegistry(FunctionRegistry):
        """The template environment, plus the endpoint and the --env-vars overrides."""

        def environment(self, logical_id: str) -> dict[str, str]:
            environment = dict(super().environment(logical_id))
            environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon locally
            if endpoint is not None:
                environment["AWS_ENDPOINT_URL"] = endpoint
            environment.update(overrides)
            return environment

    return _InvokeRegistry(stack)
