"""`chargewatch dlq list|show|redrive`: what sits in the dead-letter queues, and moving it back.

The dead-letter queues and the queue each one serves come from template.yaml (RedrivePolicy).
A queue is found by its stack output (`--stack NAME`: `<LogicalId>Url`), by the emulator's names
(`--local`) or by a resource-name prefix (`--prefix P`: queue `P-<LogicalId>`, as tests and the
emulator create them). `redrive` sends each message's body and attributes to the source queue
and deletes it from the dead-letter queue only after the send succeeded; a message is never lost,
at worst (a crash between send and delete) it is processed twice, which every consumer tolerates.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

_RECEIVE_BATCH = 10


def dead_letter_queues(template: dict[str, Any]) -> dict[str, str]:
    """{dead-letter queue logical id: logical id of the queue that sends to it}."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        redrive = (resource.get("Properties") or {}).get("RedrivePolicy")
        if redrive:
            found[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]] = logical_id
    return found


def _receive(
    sqs, queue_url: str, *, visibility_timeout: int | None = None, count: int = _RECEIVE_BATCH
) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": max(1, min(count, _RECEIVE_BATCH)),
        "WaitTimeSeconds": 1,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if visibility_timeout is not None:
        kwargs["VisibilityTimeout"] = visibility_timeout
    return sqs.receive_message(**kwargs).get("Messages", [])


def peek(sqs, queue_url: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` messages, left in the queue (visible again at once)."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, limit // _RECEIVE_BATCH) + 2):
        batch = _receive(sqs, queue_url, visibility_timeout=0)
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh[: limit - len(seen)]:
            seen[message["MessageId"]] = message
        if len(seen) >= limit:
            break
    return list(seen.values())


def redrive(sqs, dlq_url: str, target_url: str, *, limit: int | None = None) -> int:
    """Move messages from `dlq_url` to `target_url` (all of them, or `limit`); returns how many."""
    moved = 0
    while limit is None or moved < limit:
        # never receive more than will be moved: a received message stays hidden for a minute
        wanted = _RECEIVE_BATCH if limit is None else limit - moved
        batch = _receive(sqs, dlq_url, visibility_timeout=60, count=wanted)
        if not batch:
            break
        for message in batch:
            send: dict[str, Any] = {"QueueUrl": target_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**send)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


# --------------------------------------------------------------------------- command line


def _queue_urls(args: argparse.Namespace, sqs, logical_ids: list[str]) -> dict[str, str]:
    if args.stack:
        from chargewatch_tools.cli import _stack_output

        return {logical_id: _stack_output(args.stack, f"{logical_id}Url") for logical_id in logical_ids}
    from chargewatch_tools.cli import LOCAL_PREFIX

    prefix = args.prefix or LOCAL_PREFIX
    return {logical_id: sqs.get_queue_url(QueueName=f"{prefix}-{logical_id}")["QueueUrl"] for logical_id in logical_ids}


def _session(args: argparse.Namespace):
    import os

    import boto3

    if args.local:
        from chargewatch_tools.cli import local_environment

        os.environ.update(local_environment())
    return boto3.client("sqs")


def _resolve(args: argparse.Namespace) -> tuple[Any, dict[str, str], dict[str, str]]:
    from chargewatch_tools.infra import load_template

    pairs = dead_letter_queues(load_template())
    if getattr(args, "queue", None) and args.queue not in pairs:
        raise SystemExit(f"no dead-letter queue {args.queue} (known: {', '.join(sorted(pairs))})")
    wanted = [args.queue] if getattr(args, "queue", None) else sorted(pairs)
    sqs = _session(args)
    urls = _queue_urls(args, sqs, sorted({*wanted, *(pairs[name] for name in wanted)}))
    return sqs, {name: pairs[name] for name in wanted}, urls


def _list(args: argparse.Namespace) -> int:
    sqs, pairs, urls = _resolve(args)
    for dlq, source in pairs.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=urls[dlq], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        print(
            json.dumps(
                {
                    "queue": dlq,
                    "source": source,
                    "messages": int(attributes["ApproximateNumberOfMessages"]),
                    "inFlight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                }
            )
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    sqs, _, urls = _resolve(args)
    for message in peek(sqs, urls[args.queue], args.max):
        attributes = message.get("Attributes") or {}
        print(
            json.dumps(
                {
                    "messageId": message["MessageId"],
                    "sentAt": attributes.get("SentTimestamp"),
                    "receiveCount": attributes.get("ApproximateReceiveCount"),
                    "body": message["Body"],
                }
            )
        )
    return 0


def _redrive(args: argparse.Namespace) -> int:
    sqs, pairs, urls = _resolve(args)
    source = pairs[args.queue]
    moved = redrive(sqs, urls[args.queue], urls[source], limit=args.max)
    print(json.dumps({"queue": args.queue, "to": source, "moved": moved}))
    return 0


def add_cli(subparsers) -> None:
    dlq = subparsers.add_parser(
        "dlq", help="dead-letter queues: count, inspect, move messages back (docs/operations.md)"
    )
    commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = commands.add_parser("list", help="every dead-letter queue, its source queue and its message count")
    show = commands.add_parser("show", help="print up to --max messages of one dead-letter queue (left in place)")
    show.add_argument("queue", help="logical id, e.g. BatchAnalysisDLQ")
    show.add_argument("--max", type=int, default=10)
    move = commands.add_parser("redrive", help="move messages back to the queue they came from")
    move.add_argument("queue", help="logical id, e.g. WebhookDeliveryDLQ")
    move.add_argument("--max", type=int, default=None, help="move at most this many (default: all)")
    for command, handler in ((listing, _list), (show, _show), (move, _redrive)):
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("--local", action="store_true", help="the emulator started by `make run`")
        target.add_argument("--stack", help="a deployed CloudFormation stack (reads its <Queue>Url outputs)")
        target.add_argument("--prefix", help="queues named <prefix>-<LogicalId> (the emulator: chargewatch-local)")
        command.set_defaults(handler=handler)
