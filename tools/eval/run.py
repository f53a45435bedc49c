"""`python -m chargewatch_tools.eval`: CSAR-2 quality on labelled synthetic sessions,
with IsolationForest and PyOD ECOD baselines measured in the same run.

Per category: precision / recall / F1, where a detection counts when its timeRange
overlaps a labelled range of the same category with IoU >= 0.5. Per session: false
positive rate on clean sessions and on hard negatives, and AUPRC of the session score.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

import csar
from csar.result import parse_timestamp

from ..synth import CATEGORIES, HARD_NEGATIVES, generate
from .baselines import EcodBaseline, IsolationForestBaseline, session_features
from .metrics import CategoryCounts, average_precision, match_session


def _load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _intervals(items, category_key="category", start_key="startTimestamp", end_key="endTimestamp"):
    result = []
    for item in items:
        start, end = parse_timestamp(item[start_key]), parse_timestamp(item[end_key])
        if start is not None and end is not None:
            result.append((item[category_key], start, end))
    return result


def evaluate(sessions: list[dict], train: list[dict], min_iou: float, batch_size: int = 2000) -> dict:
    started = time.perf_counter()
    analyses = []
    for i in range(0, len(sessions), batch_size):
        analyses.extend(csar.analyze_batch(sessions[i : i + batch_size]))
    engine_seconds = time.perf_counter() - started

    counts = {c: CategoryCounts() for c in CATEGORIES}
    for session, analysis in zip(sessions, analyses, strict=True):
        detections = [
            (a.category, parse_timestamp(a.start_timestamp), parse_timestamp(a.end_timestamp))
            for a in analysis.anomalies
        ]
        truths = _intervals(session["labels"])
        det_hits, truth_hits = match_session(detections, truths, min_iou)
        for category, hit in det_hits:
            if hit:
                counts[category].true_positive += 1
            else:
                counts[category].false_positive += 1
        for category, hit in truth_hits:
            if not hit:
                counts[category].false_negative += 1

    kinds = np.array([s["kind"] for s in sessions])
    flagged = np.array([a.is_anomaly for a in analyses])
    labels = kinds == "anomalous"
    scores = np.array([a.anomaly_score for a in analyses])
    per_hard_negative = {}
    for name in HARD_NEGATIVES:
        members = np.array([name in s["hardNegatives"] and s["kind"] == "hard_negative" for s in sessions])
        if members.any():
            per_hard_negative[name] = (float(flagged[members].mean()), int(members.sum()))

    def session_figures(session_scores: np.ndarray, decided: np.ndarray) -> dict:
        return {
            "auprc": average_precision(labels, session_scores),
            "fpr_clean": float(decided[kinds == "clean"].mean()),
            "fpr_hard": float(decided[kinds == "hard_negative"].mean()),
            "recall": float(decided[labels].mean()),
        }

    results = {
        "sessions": len(sessions),
        "by_kind": {k: int((kinds == k).sum()) for k in ("clean", "hard_negative", "anomalous")},
        "engine_seconds": engine_seconds,
        "categories": {
            c: {
                "precision": v.precision,
                "recall": v.recall,
                "f1": v.f1,
                "tp": v.true_positive,
                "fp": v.false_positive,
                "fn": v.false_negative,
            }
            for c, v in counts.items()
        },
        "per_hard_negative_fpr": per_hard_negative,
        "csar": session_figures(scores, flagged),
        "baselines": {},
    }
    f1s = [v["f1"] for v in results["categories"].values() if not np.isnan(v["f1"])]
    results["macro_f1"] = float(np.mean(f1s)) if f1s else float("nan")

    train_features = session_features(train)
    eval_features = session_features(sessions)
    clean_rate = 1.0 - labels.mean()
    for baseline_class in (IsolationForestBaseline, EcodBaseline):
        baseline = baseline_class(seed=0).fit(train_features)
        train_scores = baseline.score(train_features)
        # Threshold at the training set's anomaly share, as a deployed model would be.
        threshold = np.quantile(train_scores, clean_rate)
        baseline_scores = baseline.score(eval_features)
        results["baselines"][baseline.name] = session_figures(baseline_scores, baseline_scores > threshold)
    return results


def _fmt(x: float) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:5.3f}"


def print_report(results: dict, command: str) -> None:
    print(f"# {command}")
    print(
        f"sessions: {results['sessions']} "
        f"(clean {results['by_kind']['clean']}, hard negatives {results['by_kind']['hard_negative']}, "
        f"anomalous {results['by_kind']['anomalous']}); csar time {results['engine_seconds']:.2f} s"
    )
    print()
    print("| category | precision | recall | F1 | TP | FP | FN |")
    print("|---|---|---|---|---|---|---|")
    for category, row in results["categories"].items():
        print(
            f"| {category} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} "
            f"| {row['tp']} | {row['fp']} | {row['fn']} |"
        )
    print(f"| **macro F1** | | | **{_fmt(results['macro_f1'])}** | | | |")
    print()
    print("| model (session level) | AUPRC | recall | FPR clean | FPR hard negatives |")
    print("|---|---|---|---|---|")
    rows = {"CSAR-2": results["csar"], **results["baselines"]}
    for name, row in rows.items():
        cells = (row["auprc"], row["recall"], row["fpr_clean"], row["fpr_hard"])
        print(f"| {name} | " + " | ".join(_fmt(cell) for cell in cells) + " |")
    print()
    print("| hard negative (alone or paired) | CSAR-2 FPR | sessions |")
    print("|---|---|---|")
    for name, (fpr, count) in results["per_hard_negative_fpr"].items():
        print(f"| {name} | {_fmt(fpr)} | {count} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargewatch_tools.eval", description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="evaluation sessions to generate")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--train-n", type=int, default=1500, help="unlabelled sessions to fit the baselines")
    parser.add_argument("--input", help="evaluate a labelled .jsonl file instead of generating")
    parser.add_argument("--min-iou", type=float, default=0.5)
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N misclassified sessions")
    args = parser.parse_args(argv)

    sessions = _load(args.input) if args.input else list(generate(args.n, seed=args.seed, progress=True))
    train = list(generate(args.train_n, seed=args.seed + 1, progress=True))
    results = evaluate(sessions, train, args.min_iou)
    command = "python -m chargewatch_tools.eval " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    print_report(results, command.strip())
    if args.show_errors:
        _show_errors(sessions, args.show_errors, args.min_iou)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _show_errors(sessions: list[dict], limit: int, min_iou: float) -> None:
    shown = defaultdict(int)
    for session in sessions:
        analysis = csar.analyze_session(session["meterValues"], session.get("metadata"))
        detections = [
            (a.category, parse_timestamp(a.start_timestamp), parse_timestamp(a.end_timestamp))
            for a in analysis.anomalies
        ]
        truths = _intervals(session["labels"])
        det_hits, truth_hits = match_session(detections, truths, min_iou)
        wrong = [c for c, hit in det_hits if not hit] + [c for c, hit in truth_hits if not hit]
        for category in set(wrong):
            if shown[category] >= limit:
                continue
            shown[category] += 1
            print(
                f"[{category}] {session['sessionId']} kind={session['kind']} hard={session['hardNegatives']} "
                f"labels={session['labels']} found={[a.to_dict() for a in analysis.anomalies]}"
            )
