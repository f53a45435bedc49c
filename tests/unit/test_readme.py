"""The README's first steps work in the order a newcomer runs them."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_start_session_does_not_collide_with_the_sample_events():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") : readme.index("## What is here")]
    (session_id,) = re.findall(r'"sessionId": "([^"]+)"', quick_start)
    for path in (ROOT / "events").rglob("*.json"):
        event = json.loads(path.read_text())
        body = json.loads(event["body"]) if isinstance(event.get("body"), str) and event["body"].startswith("{") else {}
        assert session_id not in (body.get("sessionId"), (event.get("pathParameters") or {}).get("session_id")), path
