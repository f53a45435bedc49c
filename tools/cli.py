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
    from chargewatch_tools.emulator.dynamodb_local import running_endpoint

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT
    dynamodb = running_endpoint(endpoint)  # `make run` keeps its table in DynamoDB Local
    return {
        **({"AWS_ENDPOINT_URL_DYNAMODB": dynamodb} if dynamodb else {}),
        "AWS_ENDPOINT_URL": endpoint,
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


def _backfill_station_counts(args: argparse.Namespace) -> int:
    """Count stations (and stations / connectors with anomalies) written before those counters existed.
    Idempotent and safe beside live traffic; reads each tenant's stations once."""
    _configure(args)
    from chargewatch.dal import tenant_registry
    from chargewatch.services.stations import backfill_tenant_counts

    for organization_id in [args.org] if args.org else list(tenant_registry.list_tenant_ids()):
        print(json.dumps({"organizationId": organization_id, **backfill_tenant_counts(organization_id)}))
    return 0


def _configure_user_pool(args: argparse.Namespace) -> None:
    """Point the Cognito helpers at the emulator's user pool or a deployed stack's."""
    if getattr(args, "local", False):
        import boto3

        from chargewatch_tools.infra import create_stack, local_jwks_url

        os.environ.update(local_environment())
        # finds the emulator's resources (creates only what is missing)
        stack = create_stack(boto3.Session(region_name=os.environ["AWS_REGION"]), prefix=LOCAL_PREFIX)
        os.environ.update(
            {
                name: value
                for name, value in stack.function_environment("AuthorizerFunction").items()
                if name.startswith("COGNITO_") or name == "TABLE_NAME"
            }
        )
        os.environ["COGNITO_JWKS_URL"] = local_jwks_url(stack, os.environ["AWS_ENDPOINT_URL"]) or ""
    elif getattr(args, "stack", None):
        os.environ["COGNITO_USER_POOL_ID"] = _stack_output(args.stack, "UserPoolId")
        os.environ["COGNITO_CLIENT_ID"] = _stack_output(args.stack, "UserPoolClientId")
        os.environ["TABLE_NAME"] = _stack_output(args.stack, "TableName")
    from chargewatch import settings

    settings.reload_settings()


def _create_user(args: argparse.Namespace) -> int:
    """A person who can sign in; optionally a member of an organization (with a role)."""
    _configure_user_pool(args)
    _configure(argparse.Namespace(table=os.environ.get("TABLE_NAME")))
    from chargewatch import clock
    from chargewatch.dal import members, organizations, users
    from chargewatch.services import cognito

    if args.org and organizations.get(args.org) is None:
        print(
            json.dumps({"error": {"code": "organization_not_found", "message": f"no organization {args.org}"}}),
            file=sys.stderr,
        )
        return 2
    try:
        user_id = cognito.admin_create_user(args.email, args.password)
    except Exception as error:  # Cognito's password policy and friends: say what it said
        print(json.dumps({"error": {"code": "create_user_failed", "message": str(error)}}), file=sys.stderr)
        return 2
    now = clock.iso_now()
    # A person's default organization is the one they created or first joined: a later --org adds a
    # membership without moving it.
    existing = users.get(user_id)
    keeps_default = existing is not None and bool(existing.defaultOrganizationId)
    users.upsert(
        user_id,
        email=args.email,
        now=now,
        super_admin=args.super_admin or None,
        default_organization_id=None if keeps_default else args.org,
    )
    if args.org:
        members.put_member(args.org, user_id=user_id, email=args.email, role=args.role, joined_at=now)
    print(
        json.dumps(
            {
                "userId": user_id,
                "email": args.email,
                "organizationId": args.org,
                "role": args.role if args.org else None,
                "superAdmin": bool(args.super_admin),
            }
        )
    )
    return 0


def _login(args: argparse.Namespace) -> int:
    _configure_user_pool(args)
    from chargewatch.services import cognito

    try:
        result = cognito.login(args.email, args.password)
    except Exception as error:
        print(json.dumps({"error": {"code": "login_failed", "message": str(error)}}), file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "idToken": result["IdToken"],
                    "accessToken": result["AccessToken"],
                    "expiresIn": result.get("ExpiresIn"),
                }
            )
        )
    else:
        print(result["IdToken"])
    return 0


def _add_target(parser: argparse.ArgumentParser, *, table: bool = True) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--local", action="store_true", help="the emulator started by `make run`")
    target.add_argument("--stack", help="a deployed CloudFormation stack (reads its outputs)")
    if table:
        target.add_argument("--table", help="an explicit table name")


def _add_admin(subparsers) -> None:
    admin = subparsers.add_parser("admin", help="provisioning (works locally and against AWS)")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create_org = admin_commands.add_parser("create-org", help="create an organization and its first API key")
    create_org.add_argument("--name", required=True)
    create_org.add_argument("--plan", default="free", choices=["free", "pro", "enterprise"])
    _add_target(create_org)
    create_org.set_defaults(handler=_create_org)
    backfill = admin_commands.add_parser(
        "backfill-station-counts",
        help="count stations and stations/connectors with anomalies stored before those counters",
    )
    backfill.add_argument("--org", help="one organization (default: every registered tenant)")
    _add_target(backfill)
    backfill.set_defaults(handler=_backfill_station_counts)
    create_user = admin_commands.add_parser("create-user", help="create a person who signs in with Cognito")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--password", required=True)
    create_user.add_argument("--org", help="make the user a member of this organization")
    create_user.add_argument("--role", default="member", choices=["owner", "admin", "member"])
    create_user.add_argument("--super-admin", action="store_true", help="platform-wide super admin")
    _add_target(create_user, table=False)
    create_user.set_defaults(handler=_create_user)
    login = subparsers.add_parser("login", help="sign in with e-mail and password; prints an ID token")
    login.add_argument("--email", required=True)
    login.add_argument("--password", required=True)
    login.add_argument("--json", action="store_true", help="print ID and access token as JSON")
    _add_target(login, table=False)
    login.set_defaults(handler=_login)


def build_parser() -> argparse.ArgumentParser:
    from chargewatch_tools.demo import add_cli as add_demo_cli
    from chargewatch_tools.dlq import add_cli as add_dlq_cli
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
    add_dlq_cli(subparsers)
    add_demo_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
