"""SQS event sources of template.yaml, run locally the way Lambda's poller runs them.

For every function event of `Type: SQS`, `QueuePoller.poll_once()` receives up to `BatchSize`
messages, invokes the function in-process with a real SQS event, deletes what succeeded and
leaves failures on the queue (honouring `ReportBatchItemFailures`), so SQS itself redelivers them
and, after the queue's maxReceiveCount, moves them to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from chargewatch_tools.emulator.gateway import FunctionRegistry


@dataclass
class SqsSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    reports_item_failures: bool


def sqs_sources(registry: FunctionRegistry) -> list[SqsSource]:
    stack = registry.stack
    sources = []
    for logical_id, resource in stack.resources("AWS::Serverless::Function").items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            properties = event["Properties"]
            queue_ref = properties["Queue"]
            queue_id = queue_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in queue_ref else queue_ref.get("Ref")
            sources.append(
                SqsSource(
                    function=logical_id,
                    queue_url=stack.refs[queue_id],
                    queue_arn=stack.arns[queue_id],
                    batch_size=int(properties.get("BatchSize", 10)),
                    reports_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                )
            )
    return sources


def _record(message: dict[str, Any], source: SqsSource, region: str) -> dict[str, Any]:
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }


class QueuePoller:
    def __init__(self, registry: FunctionRegistry, sqs_client, *, failed_visibility_seconds: int | None = None):
        """`failed_visibility_seconds` shortens the wait before a failed message is redelivered
        (tests and the emulator use 0-2 s instead of the queue's production visibility timeout)."""
        self.registry = registry
        self.sqs = sqs_client
        self.sources = sqs_sources(registry)
        self.failed_visibility_seconds = failed_visibility_seconds
        self._stop = threading.Event()

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive-invoke-delete round on every source; returns the messages handled."""
        handled = 0
        for source in self.sources:
            received = self.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                continue
            handled += len(received)
            event = {"Records": [_record(message, source, self.registry.stack.region) for message in received]}
            failed_ids: set[str]
            try:
                result = self.registry.invoke(source.function, event)
            except Exception:  # the whole batch fails, as with a crashed Lambda
                import traceback

                traceback.print_exc()
                failed_ids = {message["MessageId"] for message in received}
            else:
                failures = (result or {}).get("batchItemFailures") if source.reports_item_failures else None
                failed_ids = {failure["itemIdentifier"] for failure in failures or []}
            for message in received:
                if message["MessageId"] in failed_ids:
                    if self.failed_visibility_seconds is not None:
                        self.sqs.change_message_visibility(
                            QueueUrl=source.queue_url,
                            ReceiptHandle=message["ReceiptHandle"],
                            VisibilityTimeout=self.failed_visibility_seconds,
                        )
                else:
                    self.sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return handled

    def pending(self) -> int:
        """Messages waiting or in flight on the polled queues (approximate, as SQS reports them)."""
        total = 0
        for source in self.sources:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=source.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += sum(int(value) for value in attributes.values())
        return total

    def drain(self, max_rounds: int = 1000) -> int:
        """Poll until every queue is empty right now (failed messages may still come back later)."""
        total = 0
        for _ in range(max_rounds):
            handled = self.poll_once()
            total += handled
            if handled == 0:
                return total
        return total

    def run_forever(self, idle_sleep: float = 0.2) -> None:
        while not self._stop.is_set():
            if self.poll_once() == 0:
                self._stop.wait(idle_sleep)

    def stop(self) -> None:
        self._stop.set()
