"""template.yaml as the single source of truth for local infrastructure.

Tests (under moto's mock_aws) and the local emulator (against moto server) create the table,
queues and bucket from the template's own resource properties, and build each function's
environment from its Globals + Environment, so tests and infrastructure cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation short-form tags (!Ref, !GetAtt, ...)."""


def _tag_constructor(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


@lru_cache(maxsize=4)
def load_template(path: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)


@dataclass
class Stack:
    """Physical names of the template's resources in one local deployment."""

    template: dict[str, Any]
    region: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------ intrinsic functions
    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                if attribute == "Arn":
                    return self.arns[logical_id]
                return self.refs[logical_id]
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in argument)
                return left == right
            if key == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                for name in list(self.refs) + list(self.parameters) + ["AWS::Region", "AWS::URLSuffix"]:
                    text = text.replace(f"${{{name}}}", str(self._ref(name)))
                return text
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        if name == "AWS::Region":
            return self.region
        if name == "AWS::URLSuffix":
            return "amazonaws.com"
        if name in self.parameters:
            return self.parameters[name]
        return self.refs.get(name, name)

    # ------------------------------------------------------------ functions
    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def function_environment(self, logical_id: str) -> dict[str, str]:
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        resource = self.template["Resources"][logical_id]["Properties"]
        own_env = resource.get("Environment", {}).get("Variables", {})
        merged = {**globals_env, **own_env}
        return {name: str(self.resolve(value)) for name, value in merged.items()}

    def process_environment(self) -> dict[str, str]:
        """Every function's environment in one: what a process that runs several functions (the
        tests, the emulator) needs. Each variable means the same in every function that has it."""
        merged: dict[str, str] = {}
        for logical_id in self.resources("AWS::Serverless::Function"):
            merged.update(self.function_environment(logical_id))
        return merged

    def http_routes(self) -> list[dict[str, Any]]:
        """Every HttpApi event of every function: method, path, function logical id, auth."""
        routes = []
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            for event_name, event in (resource["Properties"].get("Events") or {}).items():
                if event["Type"] != "HttpApi":
                    continue
                properties = event.get("Properties", {})
                auth = (properties.get("Auth") or {}).get("Authorizer")
                routes.append(
                    {
                        "function": logical_id,
                        "event": event_name,
                        "method": properties.get("Method", "ANY").upper(),
                        "path": properties.get("Path", "/"),
                        "authorizer": auth,
                    }
                )
        return routes

    def default_authorizer(self) -> dict[str, Any] | None:
        """(authorizer name, function logical id) of the HttpApi's default authorizer: an explicit
        HttpApi resource's, or the implicit API's (Globals HttpApi)."""
        configs = [resource["Properties"] for resource in self.resources("AWS::Serverless::HttpApi").values()]
        configs.append(self.template.get("Globals", {}).get("HttpApi") or {})
        for config in configs:
            auth = config.get("Auth") or {}
            name = auth.get("DefaultAuthorizer")
            if name:
                config = auth["Authorizers"][name]
                function_ref = config["FunctionArn"]["Fn::GetAtt"]
                return {
                    "name": name,
                    "function": function_ref[0] if isinstance(function_ref, list) else function_ref.split(".")[0],
                }
        return None

    def function_code(self, logical_id: str) -> tuple[Path, str]:
        """(code directory, handler) of a function."""
        properties = self.template["Resources"][logical_id]["Properties"]
        return ROOT / properties["CodeUri"], properties["Handler"]


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}


def create_stack(
    session,
    *,
    prefix: str = "chargewatch-local",
    parameters: dict[str, str] | None = None,
    template_path: str | Path = TEMPLATE_PATH,
) -> Stack:
    """Create the template's table(s), queues and bucket(s) with a boto3 session."""
    template = load_template(str(template_path))
    stack = Stack(
        template=template, region=session.region_name, parameters={**parameter_defaults(template), **(parameters or {})}
    )
    account = "123456789012"
    dynamodb, sqs, s3 = session.client("dynamodb"), session.client("sqs"), session.client("s3")

    for logical_id, resource in stack.resources("AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        name = f"{prefix}-{logical_id}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if properties.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        if properties.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        existing = dynamodb.list_tables()["TableNames"]
        if name not in existing:
            dynamodb.create_table(**kwargs)
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        stack.refs[logical_id] = name
        stack.arns[logical_id] = f"arn:aws:dynamodb:{stack.region}:{account}:table/{name}"

    queues = stack.resources("AWS::SQS::Queue")
    # dead-letter queues first: the others name them in their redrive policy
    ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
    for logical_id, resource in ordered:
        properties = resource.get("Properties", {})
        name = f"{prefix}-{logical_id}"
        attributes = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in properties:
                attributes[key] = str(properties[key])
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(stack.resolve(properties["RedrivePolicy"]))
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.refs[logical_id] = url
        stack.arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    for logical_id in stack.resources("AWS::S3::Bucket"):
        name = f"{prefix}-{logical_id}".lower()
        try:
            if stack.region == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack.region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        stack.refs[logical_id] = name
        stack.arns[logical_id] = f"arn:aws:s3:::{name}"

    _create_user_pools(stack, session, prefix)

    for logical_id in stack.resources("AWS::Serverless::Function"):
        stack.refs.setdefault(logical_id, f"{prefix}-{logical_id}")
        stack.arns.setdefault(logical_id, f"arn:aws:lambda:{stack.region}:{account}:function:{prefix}-{logical_id}")
    # the explicit HttpApi resources, and SAM's implicit one (HttpApi events without an ApiId)
    for logical_id in [*stack.resources("AWS::Serverless::HttpApi"), "ServerlessHttpApi"]:
        stack.refs.setdefault(logical_id, "local")
    return stack


def _create_user_pools(stack: Stack, session, prefix: str) -> None:
    """The template's Cognito user pool(s) and app client(s); re-used when they already exist."""
    pools = stack.resources("AWS::Cognito::UserPool")
    if not pools:
        return
    cognito = session.client("cognito-idp")
    for logical_id, resource in pools.items():
        properties = stack.resolve(resource.get("Properties", {}))
        name = f"{prefix}-{logical_id}"
        existing = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name]
        if existing:
            pool_id = existing[0]["Id"]
        else:
            kwargs = {
                key: properties[key]
                for key in ("UsernameAttributes", "AutoVerifiedAttributes", "Policies", "MfaConfiguration")
                if key in properties
            }
            pool_id = cognito.create_user_pool(PoolName=name, **kwargs)["UserPool"]["Id"]
        stack.refs[logical_id] = pool_id
        stack.arns[logical_id] = f"arn:aws:cognito-idp:{stack.region}:123456789012:userpool/{pool_id}"
    for logical_id, resource in stack.resources("AWS::Cognito::UserPoolClient").items():
        properties = stack.resolve(resource.get("Properties", {}))
        pool_id = properties["UserPoolId"]
        name = f"{prefix}-{logical_id}"
        clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
        found = [c for c in clients if c["ClientName"] == name]
        if found:
            client_id = found[0]["ClientId"]
        else:
            client_id = cognito.create_user_pool_client(
                UserPoolId=pool_id,
                ClientName=name,
                GenerateSecret=bool(properties.get("GenerateSecret")),
                ExplicitAuthFlows=properties.get("ExplicitAuthFlows", []),
            )["UserPoolClient"]["ClientId"]
        stack.refs[logical_id] = client_id


def local_jwks_url(stack: Stack, endpoint: str) -> str | None:
    """Where an emulator (moto server) serves the user pool's signing keys. Locally the tokens'
    `iss` names the real AWS URL, so the keys' URL is configured on its own (COGNITO_JWKS_URL)."""
    pools = stack.resources("AWS::Cognito::UserPool")
    if not pools:
        return None
    return f"{endpoint.rstrip('/')}/{stack.refs[next(iter(pools))]}/.well-known/jwks.json"
