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


def _operation(method: str, path: str) -> dict:
    return json.loads(openapi.OUTPUT.read_text())["paths"][path][method]


def test_statuses_follow_the_access_level():
    from chargewatch.access import PUBLIC_ROUTES, ROUTE_ACCESS

    document = json.loads(openapi.OUTPUT.read_text())
    for route_key in ROUTE_ACCESS:
        method, path = route_key.split(" ", 1)
        operation = document["paths"][path][method.lower()]
        if route_key in PUBLIC_ROUTES:
            assert operation["security"] == [] and "401" not in operation["responses"], route_key
        else:
            assert {"401", "403", "413"} <= set(operation["responses"]), route_key


def test_statuses_a_route_raises_are_documented():
    ask = _operation("post", "/v1/sessions/{session_id}/ask")["responses"]
    assert {"402", "404", "429", "502"} <= set(ask)  # AI allowance, unknown session, provider trouble
    assert set(_operation("post", "/v1/members/invitations")["responses"]) >= {"201", "409"}
    assert "200" not in _operation("post", "/v1/members/invitations")["responses"]
    assert "409" in _operation("patch", "/v1/sessions/{session_id}")["responses"]  # concurrent appends
    assert "402" in _operation("post", "/api/tenant-usage")["responses"]
    # metering a created session never fails the write: no 402 there
    assert "402" not in _operation("post", "/v1/sessions")["responses"]
    assert "422" not in _operation("post", "/v1/sessions")["responses"]


def test_raised_statuses_follows_calls_and_respects_handlers(tmp_path):
    module = tmp_path / "routes.py"
    module.write_text(
        "from chargewatch.errors import ChargewatchError, ConflictError, NotFoundError, ValidationError\n"
        "from chargewatch.services import usage\n"
        "def _find(x):\n"
        "    raise NotFoundError('gone')\n"
        "def direct():\n"
        "    _find(1)\n"
        "def swallowed():\n"
        "    try:\n"
        "        _find(1)\n"
        "    except ChargewatchError:\n"
        "        return None\n"
        "def reraised():\n"
        "    try:\n"
        "        _find(1)\n"
        "    except NotFoundError:\n"
        "        raise\n"
        "def narrow():\n"
        "    try:\n"
        "        _find(1)\n"
        "        raise ValidationError.for_field('x', 'bad')\n"
        "    except ConflictError:\n"
        "        pass\n"
        "def metered():\n"
        "    usage.ensure_ai_allowance('org')\n"
        "class Provider:\n"
        "    def explain(self):\n"
        "        raise ConflictError('busy')\n"
        "def via_object(provider):\n"
        "    return provider.explain()\n"
    )
    assert openapi.raised_statuses(module, "direct") == {404}
    assert openapi.raised_statuses(module, "swallowed") == set()
    assert openapi.raised_statuses(module, "reraised") == {404}
    assert openapi.raised_statuses(module, "narrow") == {400, 404}
    assert 402 in openapi.raised_statuses(module, "metered")  # across modules of the package
    assert openapi.raised_statuses(module, "via_object") == {409}
