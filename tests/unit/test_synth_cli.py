"""`chargewatch synth` writes lines `chargewatch upload` takes as they are."""

import json

from chargewatch.schemas.sessions import CreateSessionRequest
from chargewatch_tools.cli import main
from chargewatch_tools.upload import read_lines


def test_synth_output_uploads_without_a_default_station(tmp_path):
    out = tmp_path / "sessions.jsonl"
    assert main(["synth", "--n", "12", "--seed", "3", "--stations", "4", "--out", str(out)]) == 0
    lines = read_lines(str(out))  # no default station given
    sessions = [json.loads(text) for text in out.read_text().splitlines()]
    assert len(lines) == len(sessions) == 12
    assert {session["chargingStationId"] for session in sessions} == {f"SYNTH-CP-00{i}" for i in range(1, 5)}
    for session in sessions:
        CreateSessionRequest.model_validate(session)  # what POST /v1/sessions accepts, line by line
