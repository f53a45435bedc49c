"""docs/openapi.json is generated from the resolvers and committed; stale means this fails."""

import json

from chargewatch_tools import openapi


def test_committed_openapi_matches_the_code():
    committed = openapi.OUTPUT.read_text()
    assert committed == openapi.render(), "docs/openapi.json is stale: run `make openapi`"


def test_every_template_route_is_documented():
    from chargewatch_tools.infra import Stack, load_template, parameter_defaults

    template = load_template()
    stack = Stack(template=template, region="eu-west-1", parameters=parameter_defaults(template))
    document = json.loads(openapi.OUTPUT.read_text())
    for route in stack.http_routes():
        assert route["method"].lower() in document["paths"].get(route["path"], {}), route
