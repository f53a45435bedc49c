"""Detection and ranking metrics, numpy only (sklearn is used for baselines, not here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def interval_iou(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """IoU of two closed time intervals in seconds; a reading instant counts as 1 s wide."""
    a_end, b_end = a_end + 1.0, b_end + 1.0
    overlap = min(a_end, b_end) - max(a_start, b_start)
    if overlap <= 0:
        return 0.0
    union = max(a_end, b_end) - min(a_start, b_start)
    return overlap / union


@dataclass
class CategoryCounts:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else float("nan")

    @property
    def recall(self) -> float:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if np.isnan(p) or np.isnan(r) or p + r == 0:
            return 0.0 if (self.true_positive + self.false_negative) else float("nan")
        return 2 * p * r / (p + r)


def match_session(
    detections: list[tuple[str, float, float]], truths: list[tuple[str, float, float]], min_iou: float
) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Greedy one-to-one matching per category: (category, matched) for detections and truths."""
    used = [False] * len(truths)
    detection_hits = []
    for category, start, end in detections:
        best, best_iou = -1, min_iou
        for j, (t_category, t_start, t_end) in enumerate(truths):
            if used[j] or t_category != category:
                continue
            iou = interval_iou(start, end, t_start, t_end)
            if iou >= best_iou:
                best, best_iou = j, iou
        if best >= 0:
            used[best] = True
        detection_hits.append((category, best >= 0))
    return detection_hits, [(t[0], used[j]) for j, t in enumerate(truths)]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (ties share a threshold)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp = np.cumsum(sorted_labels)[last_of_tie]
    seen = (np.arange(len(scores)) + 1)[last_of_tie]
    precision = tp / seen
    recall = tp / positives
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))
