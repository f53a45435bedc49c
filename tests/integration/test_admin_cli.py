"""`chargewatch admin create-org`: prints {"organizationId", "apiKey"} and the key works."""

import json

import pytest

from chargewatch.services import auth
from chargewatch_tools import cli


def test_create_org_prints_a_working_key(stack, capsys):
    exit_code = cli.main(
        ["admin", "create-org", "--name", "Acme Charging", "--plan", "pro", "--table", stack.refs["Table"]]
    )
    assert exit_code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"organizationId", "apiKey"}
    verdict = auth.authorize({"authorization": f"Bearer {printed['apiKey']}"})
    assert verdict.authorized and verdict.organization_id == printed["organizationId"]


def test_create_org_rejects_an_empty_name(stack, capsys):
    assert cli.main(["admin", "create-org", "--name", "  ", "--table", stack.refs["Table"]]) == 2
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "validation_error"


def test_create_org_needs_a_target(monkeypatch):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["admin", "create-org", "--name", "x"])
