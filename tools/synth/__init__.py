"""Labelled, physics-based synthetic EV charging sessions (`chargewatch synth`)."""

from .generator import CATEGORIES, HARD_NEGATIVES, generate

__all__ = ["CATEGORIES", "HARD_NEGATIVES", "generate"]
