"""`chargewatch upload` against the emulator over real HTTP: the emulator's queue poller runs the
batch consumer by itself, so a submitted file completes without anyone draining the queue."""

import json

import pytest
from seed_examples import energy_session, seed_session

from chargewatch_tools.cli import main
from chargewatch_tools.upload import Line, UploadError, pack

DROP = {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:40:00Z", "unit": "Wh", "value": 500}


@pytest.fixture(scope="module")
def emulator():
    from chargewatch_tools.emulator.server import start_emulator

    running = start_emulator(port=0, moto_port=0)
    try:
        yield running
    finally:
        running.stop()


def _write(path, sessions):
    path.write_text("".join(json.dumps(session) + "\n" for session in sessions))
    return str(path)


def test_upload_chunks_waits_and_summarises(emulator, tmp_path, capsys):
    sessions = [energy_session(f"up-{i:02d}", station=f"CP-U{i % 3}", readings=6) for i in range(24)]
    for session in sessions[::6]:
        session["meterValues"].append(DROP)
    sessions.append(seed_session("up-soc"))
    path = _write(tmp_path / "sessions.jsonl", sessions)
    code = main(
        [
            "upload",
            path,
            "--api",
            emulator.url,
            "--key",
            emulator.api_key,
            "--max-body-bytes",
            "12000",
            "--poll-interval",
            "0.2",
            "--timeout",
            "120",
            "--json",
            "--quiet",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(summary["batches"]) > 1  # the body limit split the file into several submits
    assert (summary["sessions"], summary["processedSessions"], summary["failedSessions"]) == (25, 25, 0)
    assert summary["anomaliesByCategory"]["KWH_DECREASE"] >= 4
    assert summary["anomaliesByCategory"]["SOC_DECREASE"] == 1

    # the same file again is idempotent; a changed session is a failure with its reason
    sessions[1]["meterValues"].pop()
    code = main(
        [
            "upload",
            _write(tmp_path / "changed.jsonl", sessions),
            "--api",
            emulator.url,
            "--key",
            emulator.api_key,
            "--poll-interval",
            "0.2",
            "--timeout",
            "120",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "24 processed, 1 failed" in out and "up-01: session up-01 already exists with a different body" in out
    assert "KWH_DECREASE" in out


def test_upload_reports_an_invalid_session_by_line(emulator, tmp_path, capsys):
    sessions = [energy_session(f"bad-{i}") for i in range(4)]
    sessions[2]["meterValues"][1]["value"] = "x"
    code = main(
        [
            "upload",
            _write(tmp_path / "bad.jsonl", sessions),
            "--api",
            emulator.url,
            "--key",
            emulator.api_key,
            "--quiet",
        ]
    )
    assert code == 1  # some sessions failed; the three valid ones were analysed
    out = capsys.readouterr().out
    assert "3 processed, 1 failed" in out
    assert "bad-2: line 3: meterValues[1].value" in out


def test_pack_respects_the_body_limit():
    lines = [Line(i + 1, json.dumps({"sessionId": f"s{i}", "pad": "x" * 80})) for i in range(50)]
    chunks = pack(lines, max_body_bytes=1000)
    assert [line.number for chunk in chunks for line in chunk] == list(range(1, 51))
    assert all(len('{"sessions":[' + ",".join(line.text for line in chunk) + "]}") <= 1000 for chunk in chunks)
    assert len(pack(lines, max_body_bytes=10**6, max_sessions=20)) == 3
    with pytest.raises(UploadError, match="line 1"):
        pack(lines[:1], max_body_bytes=50)
