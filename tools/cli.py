"""`chargewatch` command line: admin provisioning, the local emulator, synthetic data.

Where it talks to AWS is decided by the environment, exactly like the functions:
AWS_ENDPOINT_URL (moto / LocalStack) or none (real AWS), TABLE_NAME for the table.
`--local` is shorthand for the emulator started by `make run`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_PREFIX = "chargewatch-local"


def local_environment() -> dict[str, str]:
    """What `make run` uses: moto server on the LocalStack edge port, resources named by prefix."""
    return {
        "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT,
        "TABLE_NAME": f"{LOCAL_PREFIX}-Table",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
        "AWS_REGION": os.environ.get("AWS_REGION", "eu-west-1"),
    }


def _stack_output(stack_name: str, output_key: str) -> str:
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == output_key:
            return output["OutputValue"]
    raise SystemExit(f"stack {stack_name} has no output {output_key}")


def _configure(args: argparse.Namespace) -> None:
    if getattr(args, "local", False):
        os.environ.update(local_environment())
    if getattr(args, "stack", None):
        os.environ["TABLE_NAME"] = _stack_output(args.stack, "TableName")
        os.environ.setdefault("API_KEY_ENV", "live" if "prod" in args.stack else "test")
    if getattr(args, "table", None):
        os.environ["TABLE_NAME"] = args.table
    if not os.environ.get("TABLE_NAME"):
        raise SystemExit("no table: pass --local, --stack NAME or --table NAME (or set TABLE_NAME)")
    from chargewatch import settings
    from chargewatch.dal import table

    table.bind(settings.reload_settings())


def _create_org(args: argparse.Namespace) -> int:
    _configure(args)
    from chargewatch.errors import ChargewatchError
    from chargewatch.services.organizations import create_organization

    try:
        provisioned = create_organization(args.name, plan=args.plan)
    except ChargewatchError as error:
        print(json.dumps(error.to_body()), file=sys.stderr)
        return 2
    print(json.dumps({"organizationId": provisioned.organization_id, "apiKey": provisioned.api_key}))
    return 0


def _add_admin(subparsers) -> None:
    admin = subparsers.add_parser("admin", help="provisioning (works locally and against AWS)")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create_org = admin_commands.add_parser("create-org", help="create an organization and its first API key")
    create_org.add_argument("--name", required=True)
    create_org.add_argument("--plan", default="free", choices=["free", "pro", "enterprise"])
    target = create_org.add_mutually_exclusive_group()
    target.add_argument("--local", action="store_true", help="the emulator started by `make run`")
    target.add_argument("--stack", help="a deployed CloudFormation stack (reads its TableName output)")
    target.add_argument("--table", help="an explicit table name")
    create_org.set_defaults(handler=_create_org)


def build_parser() -> argparse.ArgumentParser:
    from chargewatch_tools.emulator.cli import add_cli as add_emulator_cli
    from chargewatch_tools.schedule import add_cli as add_schedule_cli
    from chargewatch_tools.synth.cli import add_cli as add_synth_cli
    from chargewatch_tools.upload import add_cli as add_upload_cli

    parser = argparse.ArgumentParser(prog="chargewatch", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_admin(subparsers)
    add_emulator_cli(subparsers)
    add_synth_cli(subparsers)
    add_upload_cli(subparsers)
    add_schedule_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
