"""`chargewatch invoke` on the sample events in events/, in-process mode (no emulator needed).

Each in-process invoke starts from an empty in-memory AWS with the template's resources and the
demo organization, so a create answers 200 and a get/put/patch of that session answers 404.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chargewatch_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_KEY = "cw_test_SampleEventsDemoKey00000000000010wlJ6V"  # the key in events/authorizer/request.json


def invoke(capsys, *argv: str) -> dict:
    code = main(["invoke", *argv, "--in-process"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize(
    "event, status",
    [
        ("create.json", 200),
        ("list.json", 200),
        ("get.json", 404),
        ("patch.json", 404),
        ("put.json", 404),
        ("create-unauthenticated.json", 401),
    ],
)
def test_sessions_events(capsys, event, status):
    result = invoke(capsys, "SessionsFunction", "--event", str(ROOT / "events/sessions" / event))
    assert result["statusCode"] == status, result
    body = json.loads(result["body"])
    if status == 200 and event == "create.json":
        assert body["sessionId"] == "sess-abc-001" and "isAnomaly" in body and "anomalies" in body
    if status == 200 and event == "list.json":
        assert body["pagination"]["totalCount"] == 0
    if status >= 400:
        assert set(body["error"]) == {"code", "message", "details"}


def test_authorizer_event_with_the_demo_key(capsys, monkeypatch):
    monkeypatch.setenv("DEMO_API_KEY", SAMPLE_KEY)
    result = invoke(capsys, "AuthorizerFunction", "--event", str(ROOT / "events/authorizer/request.json"))
    assert result["isAuthorized"] is True
    assert result["context"]["authStatus"] == "ok"
    assert result["context"]["organizationId"] == "00000000-0000-4000-8000-000000000001"


def test_authorizer_event_without_a_key_is_denied_in_context(capsys):
    result = invoke(capsys, "AuthorizerFunction", "--event", str(ROOT / "events/authorizer/missing-key.json"))
    assert result["context"] == {
        "authStatus": "denied",
        "errorStatus": "401",
        "errorCode": "missing_credentials",
        "errorMessage": "Authorization header with a Bearer API key or user token is required",
    }


def test_env_vars_file_overrides_the_template(capsys, tmp_path):
    overrides = tmp_path / "env.json"
    overrides.write_text(json.dumps({"SessionsFunction": {"MAX_BODY_BYTES": "100"}}))
    result = invoke(
        capsys, "SessionsFunction", "--event", str(ROOT / "events/sessions/create.json"), "--env-vars", str(overrides)
    )
    assert result["statusCode"] == 413


def test_invoke_leaves_the_environment_as_it_was(capsys):
    before = dict(os.environ)
    invoke(capsys, "SessionsFunction", "--event", str(ROOT / "events/sessions/list.json"))
    assert dict(os.environ) == before


def test_unknown_function_is_a_clear_error():
    with pytest.raises(SystemExit, match="NoSuchFunction is not a function in template.yaml"):
        main(["invoke", "NoSuchFunction", "--event", str(ROOT / "events/sessions/list.json"), "--in-process"])


def test_console_script_prints_only_the_result_on_stdout():
    """The real command line: logs go to stderr, stdout parses as the handler's JSON result."""
    command = Path(sys.executable).parent / "chargewatch"
    completed = subprocess.run(
        [str(command), "invoke", "SessionsFunction", "--event", "events/sessions/create.json", "--in-process"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["statusCode"] == 200
