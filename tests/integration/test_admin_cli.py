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


def test_create_user_keeps_the_default_organization_they_first_joined(stack, make_org, capsys):
    from chargewatch.dal import members, users

    first, _ = make_org("First Fleet")
    second, _ = make_org("Second Fleet")
    for organization_id in (first, second):
        assert (
            cli.main(
                [
                    "admin",
                    "create-user",
                    "--email",
                    "ops@example.com",
                    "--password",
                    "Passw0rd-demo",
                    "--org",
                    organization_id,
                ]
            )
            == 0
        )
    user_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["userId"]
    assert users.get(user_id).defaultOrganizationId == first
    assert members.get_member(first, user_id) is not None and members.get_member(second, user_id) is not None
