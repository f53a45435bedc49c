"""Invariants of template.yaml that the design relies on."""

from fnmatch import fnmatchcase

import pytest

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


def _alarm_metrics(properties):
    """(namespace, metric name, dimensions) of every metric an alarm reads (single or metric math)."""
    if "MetricName" in properties:
        return [(properties["Namespace"], properties["MetricName"], properties.get("Dimensions") or [])]
    found = []
    for query in properties.get("Metrics") or []:
        metric = (query.get("MetricStat") or {}).get("Metric")
        if metric:
            found.append((metric["Namespace"], metric["MetricName"], metric.get("Dimensions") or []))
    return found


def _alarmed(namespace, metric_name, dimension_name):
    """{referenced resource: alarm names} for alarms on `metric_name` with that dimension."""
    found = {}
    for name, alarm in _resources("AWS::CloudWatch::Alarm").items():
        for metric_namespace, metric, dimensions in _alarm_metrics(alarm["Properties"]):
            for dimension in dimensions:
                if (metric_namespace, metric, dimension["Name"]) == (namespace, metric_name, dimension_name):
                    value = dimension["Value"]
                    target = (value.get("Fn::GetAtt") or [None])[0] if "Fn::GetAtt" in value else value.get("Ref")
                    found.setdefault(target, []).append(name)
    return found


def test_every_alarm_notifies_the_operations_topic_and_ignores_missing_data():
    alarms = _resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 5
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert {"Ref": "OperationsAlarmTopic"} in properties["AlarmActions"], name
        assert properties["TreatMissingData"] == "notBreaching", name
        assert properties.get("AlarmDescription"), name
        if "Metrics" in properties:  # metric math: exactly one query is the alarm's value
            assert sum(query.get("ReturnData", True) for query in properties["Metrics"]) == 1, name
    # the e-mail subscription is optional (AlarmEmail empty by default)
    template = load_template()
    (subscription,) = _resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] in template["Conditions"]
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_every_dead_letter_queue_is_alarmed_on_any_message():
    queues = _resources("AWS::SQS::Queue")
    dlqs = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue.get("Properties", {})
    }
    assert len(dlqs) == 4
    alarmed = _alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    assert dlqs <= set(alarmed), f"DLQs without an alarm: {sorted(dlqs - set(alarmed))}"
    for queue in dlqs:
        for name in alarmed[queue]:
            properties = _resources("AWS::CloudWatch::Alarm")[name]["Properties"]
            assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0), name
            assert properties["EvaluationPeriods"] == 1, name


def test_the_api_is_alarmed_on_5xx_and_p99_latency():
    alarms = _resources("AWS::CloudWatch::Alarm")
    server_errors = _alarmed("AWS/ApiGateway", "5xx", "ApiId")
    latency = _alarmed("AWS/ApiGateway", "Latency", "ApiId")
    assert set(server_errors) == set(latency) == {"ServerlessHttpApi"}
    (latency_alarm,) = latency["ServerlessHttpApi"]
    assert alarms[latency_alarm]["Properties"]["ExtendedStatistic"] == "p99"


@pytest.mark.parametrize("metric_name", ["Errors", "Throttles"])
def test_every_function_nobody_waits_on_is_alarmed_on_lambda_errors_and_throttles(metric_name):
    """Queue consumers and schedules; an HTTP function's failure is a 5xx, alarmed at the API."""
    functions = _resources("AWS::Serverless::Function")
    background = {
        name
        for name, function in functions.items()
        if any(event["Type"] != "HttpApi" for event in (function["Properties"].get("Events") or {}).values())
    }
    assert len(background) == 6
    assert background <= set(_alarmed("AWS/Lambda", metric_name, "FunctionName"))


def test_an_operations_dashboard_shows_api_functions_queues_and_business_metrics():
    (dashboard,) = _resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    for needle in (
        "AWS/ApiGateway",
        "5xx",
        "p99",
        'MetricName=\\"Errors\\"',
        'MetricName=\\"Throttles\\"',
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "SessionsAnalysed",
        "AnomaliesDetected",
        "BatchLagSeconds",
        "WebhookDeliveryFailures",
        "PlanLimitRefusals",
    ):
        assert needle in body, needle


def _log_group_of(function):
    config = function["Properties"].get("LoggingConfig") or load_template()["Globals"]["Function"]["LoggingConfig"]
    return config.get("LogGroup", {}).get("Ref")


def test_every_function_logs_to_a_retained_log_group_with_retention_and_the_api_logs_access():
    template = load_template()
    groups = _resources("AWS::Logs::LogGroup")
    for name, function in _resources("AWS::Serverless::Function").items():
        group = _log_group_of(function)
        assert group in groups, f"{name} logs to no log group of the stack"
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"], name
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain", name
    access = template["Globals"]["HttpApi"]["AccessLogSettings"]
    assert access["DestinationArn"]["Fn::GetAtt"][0] in groups
    for field in ("$context.requestId", "$context.status", "$context.authorizer.organizationId"):
        assert field in access["Format"]


def test_stateful_resources_are_retained_and_the_table_has_no_unconsumed_stream():
    stateful = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Cognito::UserPool")
    for kind in stateful:
        for name, resource in _resources(kind).items():
            assert resource.get("DeletionPolicy") == resource.get("UpdateReplacePolicy") == "Retain", name
    (table,) = _resources("AWS::DynamoDB::Table").values()
    assert "StreamSpecification" not in table["Properties"]


def test_http_routes_join_the_one_api_without_repeating_it():
    template = load_template()
    assert not _resources("AWS::Serverless::HttpApi"), "the implicit API is configured in Globals"
    assert template["Globals"]["HttpApi"]["Auth"]["DefaultAuthorizer"]
    routes = 0
    for function in _resources("AWS::Serverless::Function").values():
        for event in (function["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                routes += 1
                assert set(event["Properties"]) == {"Method", "Path"}
    assert routes >= 60


# ------------------------------------------------------------------ least privilege

# Tenant data the authorizer must never reach (partition keys as the dal writes them).
_TENANT_DATA_KEYS = [
    "ORG#org-1#SESSION#sess-1",
    "ORG#org-1#SESSIONS",
    "ORG#org-1#STATION#CP-1",
    "ORG#org-1#STATIONDIR",
    "ORG#org-1#STATS",
    "ORG#org-1#ISSUES",
    "ORG#org-1#WEBHOOK#wh-1",
    "ORG#org-1#BATCH#b-1",
    "ORG#org-1#USAGE#2026-01",
]
_SAM_BROAD_POLICIES = {"DynamoDBCrudPolicy", "S3CrudPolicy", "S3FullAccessPolicy", "S3WritePolicy", "SQSPollerPolicy"}


def _statements(function):
    for policy in function["Properties"].get("Policies") or []:
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _resources_of(statement):
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def test_no_function_has_wildcard_actions_or_broad_policy_templates():
    for name, function in _resources("AWS::Serverless::Function").items():
        templates = {next(iter(policy)) for policy in function["Properties"].get("Policies") or []}
        assert not templates & _SAM_BROAD_POLICIES, f"{name}: {templates & _SAM_BROAD_POLICIES}"
        for statement in _statements(function):
            for action in _actions(statement):
                assert not action.endswith(":*") and action != "*", f"{name}: {action}"
                assert action != "dynamodb:Scan", f"{name} may scan the table"
            assert "*" not in _resources_of(statement), f"{name}: Resource *"
            if any(action.startswith("s3:") and action != "s3:ListBucket" for action in _actions(statement)):
                for resource in _resources_of(statement):
                    # object rights only under a prefix: never the whole bucket
                    assert resource["Fn::Sub"].split("}/", 1)[1].rstrip("*"), f"{name}: {resource}"


def test_the_authorizer_only_reads_and_touches_credential_items():
    function = _resources("AWS::Serverless::Function")["AuthorizerFunction"]
    assert not [p for p in function["Properties"]["Policies"] if "Statement" not in p]
    statements = list(_statements(function))
    assert statements
    for statement in statements:
        actions = set(_actions(statement))
        assert all(action.startswith("dynamodb:") for action in actions)
        assert not actions & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"}
        patterns = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for key in _TENANT_DATA_KEYS:
            assert not any(fnmatchcase(key, pattern) for pattern in patterns), (key, patterns)
        if actions & {"dynamodb:PutItem", "dynamodb:UpdateItem"}:
            assert actions <= {"dynamodb:PutItem", "dynamodb:UpdateItem"}
            # writes: a key's / an application session's lastUsedAt and a person's profile only
            for key in ("ORG#org-1#MEMBER#u-1", "ORG#org-1#", "APIKEYHASH#abc"):
                assert not any(fnmatchcase(key, pattern) for pattern in patterns), key
    readable = next(s for s in statements if "dynamodb:Query" in _actions(s))
    patterns = readable["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    for key in ("APIKEYHASH#abc", "ORG#org-1#APIKEY#k-1", "USER#u-1#", "USER#u-1#ORGS", "ORG#org-1#MEMBER#u-1"):
        assert any(fnmatchcase(key, pattern) for pattern in patterns), key


def test_queue_urls_bucket_and_identity_settings_reach_only_their_functions():
    template = load_template()
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    for variable in (
        "BATCH_QUEUE_URL",
        "WEBHOOK_QUEUE_URL",
        "FINE_TUNE_QUEUE_URL",
        "SHADE_QUEUE_URL",
        "PAYLOAD_BUCKET",
    ):
        assert variable not in shared
    functions = _resources("AWS::Serverless::Function")

    def having(variable):
        return {
            name
            for name, function in functions.items()
            if variable in ((function["Properties"].get("Environment") or {}).get("Variables") or {})
        }

    assert having("COGNITO_USER_POOL_ID") == {"AuthorizerFunction"}
    assert having("BEDROCK_MODEL_ID") == having("EXPLAIN_PROVIDER") == {"ExplainFunction"}
    assert having("BATCH_QUEUE_URL") == {"SessionsFunction"}
    assert having("FINE_TUNE_QUEUE_URL") == {"ModelsFunction"}
    assert having("SHADE_QUEUE_URL") == {"ShadeSchedulerFunction", "ShadeWorkerFunction"}
    # a function may send to a queue exactly when it is told the queue's URL
    for name, function in functions.items():
        sends = {
            policy["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0]
            for policy in function["Properties"].get("Policies") or []
            if "SQSSendMessagePolicy" in policy
        }
        told = {
            value["Ref"]
            for value in ((function["Properties"].get("Environment") or {}).get("Variables") or {}).values()
            if isinstance(value, dict) and "Ref" in value and value["Ref"].endswith(("Queue", "DLQ"))
        }
        assert sends == told, name


def test_the_webhook_sweeper_runs_every_five_minutes_and_may_only_read_update_and_send():
    function = load_template()["Resources"]["WebhookSweeperFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2" and event["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    actions = {action for statement in _statements({"Properties": function}) for action in _actions(statement)}
    assert actions == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}
    (send,) = [policy for policy in function["Policies"] if "SQSSendMessagePolicy" in policy]
    assert send["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] == "WebhookDeliveryQueue"
