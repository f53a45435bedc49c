"""Batch-analysis consumer (SQS): one batch part per message, partial batch failures.

Logic lives in chargewatch.services.batches; this handler decodes records, passes on how often a
message was received (the last allowed receive records its sessions as failed before the DLQ) and
keeps a part from starting when the invocation could time out in the middle of it.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import batches

processor = BatchProcessor(event_type=EventType.SQS)
# a part (<= 100 sessions) takes a few seconds; never start one with less than this left
_MIN_REMAINING_MS = 30_000


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < _MIN_REMAINING_MS:
        raise TimeoutError("not enough time left for a batch part; the message comes back")
    receive_count = int(record.attributes.approximate_receive_count or 1)
    batches.process_part(json.loads(record.body), receive_count=receive_count)


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
