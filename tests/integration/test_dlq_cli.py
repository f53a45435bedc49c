"""`chargewatch dlq list|show|redrive` against the template's queues (moto)."""

from __future__ import annotations

import json

import boto3

from chargewatch_tools import cli
from chargewatch_tools.dlq import dead_letter_queues
from chargewatch_tools.infra import load_template


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_every_dead_letter_queue_and_its_source_is_a_stack_output():
    template = load_template()
    pairs = dead_letter_queues(template)
    assert pairs == {
        "BatchAnalysisDLQ": "BatchAnalysisQueue",
        "WebhookDeliveryDLQ": "WebhookDeliveryQueue",
        "ShadeDLQ": "ShadeQueue",
        "FineTuneDLQ": "FineTuneQueue",
    }
    for logical_id in [*pairs, *pairs.values()]:
        assert template["Outputs"][f"{logical_id}Url"]["Value"] == {"Ref": logical_id}


def test_list_show_and_redrive_move_messages_back_to_their_queue(stack, capsys):
    sqs = boto3.client("sqs", region_name="eu-west-1")
    dlq, source = stack.refs["BatchAnalysisDLQ"], stack.refs["BatchAnalysisQueue"]
    bodies = [json.dumps({"organizationId": "org-1", "batchId": "b-1", "part": part}) for part in range(12)]
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)

    assert cli.main(["dlq", "list", "--prefix", "test"]) == 0
    counts = {line["queue"]: line for line in _lines(capsys)}
    assert counts["BatchAnalysisDLQ"]["messages"] == 12 and counts["BatchAnalysisDLQ"]["source"] == "BatchAnalysisQueue"
    assert counts["ShadeDLQ"]["messages"] == 0

    assert cli.main(["dlq", "show", "BatchAnalysisDLQ", "--max", "3", "--prefix", "test"]) == 0
    shown = _lines(capsys)
    assert len(shown) == 3 and all(line["body"] in bodies for line in shown)

    assert cli.main(["dlq", "redrive", "BatchAnalysisDLQ", "--max", "5", "--prefix", "test"]) == 0
    assert _lines(capsys) == [{"queue": "BatchAnalysisDLQ", "to": "BatchAnalysisQueue", "moved": 5}]
    assert cli.main(["dlq", "redrive", "BatchAnalysisDLQ", "--prefix", "test"]) == 0
    assert _lines(capsys)[0]["moved"] == 7

    moved = []
    while batch := sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", []):
        moved += [message["Body"] for message in batch]
        for message in batch:
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(moved) == sorted(bodies)
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_an_unknown_queue_is_refused_with_the_known_names(stack):
    import pytest

    with pytest.raises(SystemExit) as refused:
        cli.main(["dlq", "redrive", "NoSuchDLQ", "--prefix", "test"])
    assert "BatchAnalysisDLQ" in str(refused.value)
