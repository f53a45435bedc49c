"""Examples taken from seed 003 (the contract), shared by contract and integration tests."""

import copy

SEED_CREATE_SESSION = {
    "chargingStationId": "CP-NL-AMS-0042",
    "connectorId": "1",
    "meterValues": [
        {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:00:00Z", "unit": "kWh", "value": 0},
        {"measurand": "Power.Active.Import", "timestamp": "2026-02-27T10:00:00Z", "unit": "kW", "value": 0},
        {"measurand": "SoC", "timestamp": "2026-02-27T10:00:00Z", "unit": "Percent", "value": 80},
        {
            "measurand": "Energy.Active.Import.Register",
            "timestamp": "2026-02-27T10:15:00Z",
            "unit": "kWh",
            "value": 5.5,
        },
        {"measurand": "Power.Active.Import", "timestamp": "2026-02-27T10:15:00Z", "unit": "kW", "value": 22},
        {"measurand": "SoC", "timestamp": "2026-02-27T10:15:00Z", "unit": "Percent", "value": 65},
        {
            "measurand": "Energy.Active.Import.Register",
            "timestamp": "2026-02-27T10:30:00Z",
            "unit": "kWh",
            "value": 11.1,
        },
        {"measurand": "Power.Active.Import", "timestamp": "2026-02-27T10:30:00Z", "unit": "kW", "value": 22},
        {"measurand": "SoC", "timestamp": "2026-02-27T10:30:00Z", "unit": "Percent", "value": 50},
    ],
    "sessionId": "sess-abc-001",
}

SEED_REPLACE_SESSION = {
    "meterValues": [
        {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:00:00Z", "unit": "kWh", "value": 0},
        {
            "measurand": "Energy.Active.Import.Register",
            "timestamp": "2026-02-27T10:15:00Z",
            "unit": "kWh",
            "value": 5.5,
        },
        {
            "measurand": "Energy.Active.Import.Register",
            "timestamp": "2026-02-27T10:30:00Z",
            "unit": "kWh",
            "value": 11.1,
        },
    ]
}

SEED_APPEND_SESSION = {
    "meterValues": [
        {
            "measurand": "Energy.Active.Import.Register",
            "timestamp": "2026-02-27T10:45:00Z",
            "unit": "kWh",
            "value": 16.5,
        },
    ]
}

# Fields seed 003 lists for the create/replace/append response, and which of them are required (*).
ANALYSIS_RESPONSE_FIELDS = [
    "sessionId",
    "status",
    "isAnomaly",
    "anomalyScore",
    "anomalyConfidence",
    "isIncident",
    "isRecurring",
    "anomalies",
    "analyzedAt",
    "socReconstructed",
    "message",
    "createdAt",
]
ANOMALY_FIELDS = ["category", "score", "bucketRange", "timeRange", "confidence"]
LIST_ITEM_FIELDS = [
    "sessionId",
    "chargingStationId",
    "isAnomaly",
    "anomalyScore",
    "anomalyCount",
    "status",
    "createdAt",
    "lastAnalyzedAt",
]


def seed_session(session_id=None, **changes):
    body = copy.deepcopy(SEED_CREATE_SESSION)
    if session_id:
        body["sessionId"] = session_id
    body.update(changes)
    return body


def energy_session(
    session_id,
    station="CP-1",
    *,
    start_hour=10,
    readings=6,
    step_min=5,
    kw=11.0,
    day="2026-02-27",
    connector="1",
    evse=None,
):
    """A clean AC session: energy register and power every `step_min` minutes."""
    values = []
    for i in range(readings):
        minutes = start_hour * 60 + i * step_min
        stamp = f"{day}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"
        values.append(
            {
                "measurand": "Energy.Active.Import.Register",
                "timestamp": stamp,
                "unit": "Wh",
                "value": round(i * kw * step_min / 60 * 1000, 1),
            }
        )
        values.append({"measurand": "Power.Active.Import", "timestamp": stamp, "unit": "W", "value": kw * 1000})
    body = {"sessionId": session_id, "chargingStationId": station, "connectorId": connector, "meterValues": values}
    if evse:
        body["evseId"] = evse
    return body
