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


def test_every_dead_letter_queue_has_an_alarm_to_the_operations_topic():
    template = load_template()
    queues = _resources("AWS::SQS::Queue")
    dlqs = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue.get("Properties", {})
    }
    assert dlqs, "expected dead-letter queues"
    assert _resources("AWS::SNS::Topic").keys() >= {"OperationsAlarmTopic"}
    alarmed = {}
    for name, alarm in _resources("AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        (dimension,) = properties.get("Dimensions") or [{}]
        queue = (dimension.get("Value") or {}).get("Fn::GetAtt", [None])[0]
        if properties.get("Namespace") == "AWS/SQS" and dimension.get("Name") == "QueueName" and queue in dlqs:
            alarmed[queue] = (name, properties)
    assert set(alarmed) == dlqs, f"DLQs without an alarm: {sorted(dlqs - set(alarmed))}"
    for name, properties in alarmed.values():
        assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible", name
        assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0), name
        assert properties["Period"] * properties["EvaluationPeriods"] <= 300, name
        assert {"Ref": "OperationsAlarmTopic"} in properties["AlarmActions"], name
    # the e-mail subscription is optional (AlarmEmail empty by default)
    (subscription,) = _resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] in template["Conditions"]
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_webhook_sweeper_runs_every_five_minutes_and_may_only_read_write_the_table_and_send():
    function = load_template()["Resources"]["WebhookSweeperFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2" and event["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    policies = [next(iter(policy)) for policy in function["Policies"]]
    assert sorted(policies) == ["DynamoDBCrudPolicy", "SQSSendMessagePolicy"]
