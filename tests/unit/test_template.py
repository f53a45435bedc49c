"""Invariants of template.yaml that the design relies on."""
from chargewatch_tools.infra import load_template


def _resources(kind):
    return {k: v for k, v in load_template()["Resources"].items() if v["Type"] == kind}


def test_table_is_on_demand_with_pitr_and_ttl():
    (table,) = _resources("AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert {index["IndexName"] for index in properties["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}


def test_every_queue_with_work_has_a_dlq_and_a_long_enough_visibility():
    queues = _resources("AWS::SQS::Queue")
    working = {k: v for k, v in queues.items() if "RedrivePolicy" in v["Properties"]}
    assert working, "expected at least the batch-analysis queue"
    for name, queue in working.items():
        redrive = queue["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] >= 5, name
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues, name
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * 120, name


def test_functions_use_python_311_json_logs_and_tracing():
    function_globals = load_template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["LoggingConfig"]["LogFormat"] == "JSON"
    assert function_globals["Tracing"] == "Active"
    for layer in _resources("AWS::Serverless::LayerVersion").values():
        assert layer["Metadata"]["BuildMethod"] == "python3.11"
