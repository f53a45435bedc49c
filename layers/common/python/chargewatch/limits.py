"""Every input limit of the API, in one place: the request schemas, the body parser, the services
and docs/errors.md ("Input limits and errors") all read them from here.

Each limit exists so that anything the server accepts can be stored and read back: a value that
passes these checks never fails later in DynamoDB (400 KB items, 38-digit numbers), in the engine
or in a response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# --------------------------------------------------------------------------- request bodies

# Lambda refuses payloads over 6 MB; the handlers answer 413 themselves below that.
MAX_BODY_BYTES = 6 * 1024 * 1024
# Deeper JSON has no meaning in this API (its deepest document is 4 levels) and costs stack.
MAX_JSON_DEPTH = 32
# DynamoDB numbers hold 38 significant digits; a longer literal cannot be stored as sent.
MAX_NUMBER_DIGITS = 38

# --------------------------------------------------------------------------- identifiers

# Ids travel in URL paths and DynamoDB keys: no "/" (API Gateway would split the path), no
# spaces, "%", "?" or "#", nothing that needs escaping in a URL path segment.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]*$"
MAX_IDENTIFIER_LENGTH = 128  # sessionId, chargingStationId
MAX_SUB_IDENTIFIER_LENGTH = 64  # connectorId, evseId
# eMI3 / ISO 15118 EVSE ids separate their parts with "*" (NL*CWT*E0042*1); these ids are filters
# and key parts, never a path segment of their own, and "*" needs no escaping in either.
SUB_IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+*\-]*$"
STATUS_PATTERN = r"^[A-Za-z][A-Za-z_\-]*$"
MAX_STATUS_LENGTH = 32

# --------------------------------------------------------------------------- sessions

MAX_READINGS_PER_REQUEST = 50_000
# Far more than fits the body limit with realistic sessions; clients send big files in several
# submits (`chargewatch upload` does).
MAX_SESSIONS_PER_BATCH = 10_000
# Free-form session metadata is stored inside the session's item (400 KB at most, shared with its
# counters and analysis summary): a cap far below that keeps every session readable.
MAX_METADATA_BYTES = 16 * 1024

# Meter-value timestamps: RFC 3339 date-times (an offset-less one is taken as UTC, as OCPP sends UTC).
# Nothing was charged by an OCPP charger before 2000; a charger clock may run ahead by hours, not days.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE_SKEW = timedelta(days=7)
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"

# Magnitude bounds per kind of measurand, in the unit stored (kWh, kW, kvarh, kvar, A, V, Hz, ...).
# Physically plausible with a wide margin; a value outside is a broken meter or a broken client.
#  - energy: a register holds at most a few GWh (10 GWh is a 350 kW charger at full power around the
#    clock for over 3 years); power: 10 MW is beyond megawatt charging (MCS, 3.75 MW). Both bounds
#    are 1000x that, because a meter reporting Wh or W under a kWh/kW label reads 1000x too high and
#    must still reach the engine, which reports it (UNIT_MISMATCH) instead of losing the session.
#  - current: 10 kA (MCS peaks at 3 kA); voltage: 10 kV (MCS runs at 1.25 kV)
#  - frequency: 1 kHz; temperature: 10,000 in any of the three units; RPM: 1,000,000
#  - power factor: 1; SoC: 0..100 percent (checked separately)
UNIT_MISLABEL_FACTOR = 1000
MAX_ENERGY_KWH = 10_000_000.0 * UNIT_MISLABEL_FACTOR
MAX_POWER_KW = 10_000.0 * UNIT_MISLABEL_FACTOR
MAX_CURRENT_A = 10_000.0
MAX_VOLTAGE_V = 10_000.0
MAX_FREQUENCY_HZ = 1_000.0
MAX_TEMPERATURE = 10_000.0
MAX_RPM = 1_000_000.0
MAX_POWER_FACTOR = 1.0
MIN_SOC_PERCENT, MAX_SOC_PERCENT = 0.0, 100.0

# --------------------------------------------------------------------------- webhooks

MAX_URL_LENGTH = 2048
# The shape only (scheme, no whitespace); chargewatch.outbound checks host, port and the SSRF rules.
WEBHOOK_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$"


def latest_timestamp(now: datetime) -> datetime:
    return now + MAX_FUTURE_SKEW
