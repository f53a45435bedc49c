"""`chargewatch schedule fire <name> [--date YYYY-MM-DD]`: run a template schedule on demand.

<name> is a function logical id (ShadeSchedulerFunction) or its schedule event name (DailyShade).
The function runs in this process with an EventBridge Scheduled Event (`detail.date` when --date
is given), against the running emulator (`make run`, whose queue pollers then run the workers)
or, when none answers, in-process moto; `--drain` also runs the template's SQS consumers here
until the queues are empty. `chargewatch schedule backfill-tenants` adds organizations created
before the tenant registry existed (an admin Scan; never on a request path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid

SCHEDULE_TYPES = ("Schedule", "ScheduleV2")


def schedules(template: dict) -> dict[str, str]:
    """{name: function logical id} for every schedule event, under its function and its event name."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") in SCHEDULE_TYPES:
                found[logical_id] = logical_id
                found[event_name] = logical_id
    return found


def scheduled_event(day: str | None, *, catch_up: bool = False) -> dict:
    from chargewatch import clock

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": clock.iso_now(),
        "region": os.environ.get("AWS_REGION", "eu-west-1"),
        "resources": [],
        "detail": {"catchUp": True} if catch_up else ({"date": day} if day else {}),
    }


def _fire(args: argparse.Namespace) -> int:
    from chargewatch_tools.emulator import cli as emulator_cli
    from chargewatch_tools.infra import load_template

    known = schedules(load_template())
    if args.name not in known:
        raise SystemExit(f"no schedule named {args.name} (known: {', '.join(sorted(known)) or 'none'})")
    endpoint = None if args.in_process else emulator_cli._probe_endpoint()
    saved = dict(os.environ)
    try:
        with contextlib.ExitStack() as resources:
            stack = emulator_cli._prepare_target(endpoint, resources)
            registry = emulator_cli._registry(stack, {}, endpoint)
            with contextlib.redirect_stdout(sys.stderr):
                result = registry.invoke(known[args.name], scheduled_event(args.date, catch_up=args.catch_up))
                handled = 0
                if args.drain or endpoint is None:
                    import boto3

                    from chargewatch_tools.emulator.queues import QueuePoller

                    handled = QueuePoller(
                        registry, boto3.client("sqs", region_name=stack.region), failed_visibility_seconds=0
                    ).drain()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        emulator_cli._rebind()
    print(json.dumps({"function": known[args.name], "result": result, "messagesHandledHere": handled}, default=str))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from chargewatch_tools.cli import _configure

    _configure(args)
    from chargewatch.dal import organizations as organizations_dal
    from chargewatch.dal import tenant_registry

    count = 0
    for item in organizations_dal.OrganizationItem.scan(
        organizations_dal.OrganizationItem.SK == organizations_dal.PROFILE_SK
    ):
        tenant_registry.register_tenant(item.organizationId, item.createdAt)
        count += 1
    print(json.dumps({"registered": count}))
    return 0


def add_cli(subparsers) -> None:
    schedule = subparsers.add_parser(
        "schedule", help="run template schedules on demand (DailyShade station-days, WebhookSweep)"
    )
    commands = schedule.add_subparsers(dest="schedule_command", required=True)
    fire = commands.add_parser("fire", help="invoke a scheduled function now")
    fire.add_argument("name", help="function logical id or schedule event name, e.g. DailyShade or WebhookSweep")
    fire.add_argument("--date", help="the day to analyse (YYYY-MM-DD, UTC); default: yesterday")
    fire.add_argument(
        "--catch-up",
        action="store_true",
        help="DailyShade: analyse every station-day with sessions and no SHADE result (`make run`: each minute)",
    )
    fire.add_argument(
        "--drain", action="store_true", help="also run the queue consumers here until the queues are empty"
    )
    fire.add_argument("--in-process", action="store_true", help="ignore a running emulator; use in-process moto")
    fire.set_defaults(handler=_fire)
    backfill = commands.add_parser("backfill-tenants", help="register organizations created before the tenant registry")
    target = backfill.add_mutually_exclusive_group()
    target.add_argument("--local", action="store_true")
    target.add_argument("--stack")
    target.add_argument("--table")
    backfill.set_defaults(handler=_backfill)
