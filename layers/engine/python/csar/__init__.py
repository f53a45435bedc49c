"""CSAR-2: per-session anomaly engine for EV charging meter values (pure numpy).

    import csar
    result = csar.analyze_session(meter_values, metadata=None, history=None, params=None)
    results = csar.analyze_batch(sessions, params=None)

See docs/engine.md for each category's rule, thresholds and hard negatives.
"""

from . import shade  # SHADE station-day engine: csar.shade.analyze_station_day
from .engine import analyze_batch, analyze_session
from .params import DEFAULT_PARAMS, CsarParams
from .result import BILLING_RELEVANT, CATEGORIES, MODEL_ID, MODEL_VERSION, Anomaly, SessionAnalysis

__all__ = [
    "BILLING_RELEVANT",
    "CATEGORIES",
    "DEFAULT_PARAMS",
    "MODEL_ID",
    "MODEL_VERSION",
    "Anomaly",
    "CsarParams",
    "SessionAnalysis",
    "analyze_batch",
    "analyze_session",
    "shade",
]
