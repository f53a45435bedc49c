"""`make run` fine-tunes for real: the upload URL names the emulator's S3 (its moto server), a
client PUTs the file there, and the job reaches a terminal state through the queue poller."""

from __future__ import annotations

import json
import time

import requests

from chargewatch_tools.synth.quirks import quirky_sessions


def test_an_uploaded_fine_tune_job_succeeds_on_the_emulator():
    from chargewatch_tools.emulator.server import start_emulator

    emulator = start_emulator(port=0, moto_port=0)
    try:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {emulator.api_key}"
            created = http.post(
                f"{emulator.url}/v1/models/fine-tune",
                json={"baseModelId": "csar-2", "name": "lagging meters", "dataSource": {"type": "upload"}},
                timeout=30,
            )
            assert created.status_code == 200, created.text
            upload_url = created.json()["uploadUrl"]
            assert upload_url.startswith(emulator.moto_url + "/")
            blob = "\n".join(json.dumps(session) for session in quirky_sessions(60, seed=3)).encode()
            assert requests.put(upload_url, data=blob, timeout=30).status_code == 200

            job_url = f"{emulator.url}/v1/models/fine-tune/{created.json()['jobId']}"
            deadline, job = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                job = http.get(job_url, timeout=30).json()
                if job["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
            assert job["status"] == "succeeded", job
            assert job["metrics"]["tuned"]["f1"] > job["metrics"]["base"]["f1"]
    finally:
        emulator.stop()
