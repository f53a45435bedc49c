"""CSAR-2: per-session anomaly engine for EV charging meter values (pure numpy).

    import csar
    result = csar.analyze_session(meter_values, metadata=None, history=None, params=None)
    results = csar.analyze_batch(sessions, params=None)

See docs/engine.md for each category's rule, thresholds and hard negatives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .categories import BILLING_RELEVANT, CATEGORIES

if TYPE_CHECKING:
    from . import shade  # SHADE station-day engine: csar.shade.analyze_station_day
    from .engine import analyze_batch, analyze_session
    from .params import DEFAULT_PARAMS, CsarParams
    from .result import MODEL_ID, MODEL_VERSION, Anomaly, SessionAnalysis

# Loaded on first use, so that `csar.categories` (and `import csar`) cost no numpy import.
_LAZY = {
    "shade": ".shade",
    "analyze_batch": ".engine",
    "analyze_session": ".engine",
    "DEFAULT_PARAMS": ".params",
    "CsarParams": ".params",
    "MODEL_ID": ".result",
    "MODEL_VERSION": ".result",
    "Anomaly": ".result",
    "SessionAnalysis": ".result",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'csar' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name == "shade" else getattr(module, name)
    globals()[name] = value
    return value


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
