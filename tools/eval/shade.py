"""`python -m chargewatch_tools.eval.shade`: SHADE precision / recall per detection type on
labelled synthetic station fleets (tools/synth/fleet.py).

A detection counts as a true positive when the same station-day carries a label of the same
type (and, for connector_offline, the same connector). Every other detection is a false
positive; every unmatched label a false negative. Hard-negative days (quiet days, new stations,
short histories) are reported separately: any detection on them is a false alarm.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from csar import shade

from ..synth.fleet import evaluation_days, generate_fleet


def evaluate(stations: int, weeks: int, seed: int, eval_days: int = 14) -> dict:
    fleet = generate_fleet(stations=stations, weeks=weeks, seed=seed, eval_days=eval_days)
    tp, fp, fn = Counter(), Counter(), Counter()
    negatives, negative_alarms = Counter(), Counter()
    clean_days = clean_alarms = analysed = 0
    started = time.perf_counter()
    for station in fleet:
        for day in evaluation_days(station, eval_days):
            analysis = shade.analyze_station_day(day, station.energy[day], station.history_for(day))
            analysed += 1
            found = {(d.type, d.connectorId if d.type == "connector_offline" else None) for d in analysis.detections}
            labels = {(label["type"], label.get("connectorId")) for label in station.labels.get(day, [])}
            for key in found:
                (tp if key in labels else fp)[key[0]] += 1
            for key in labels - found:
                fn[key[0]] += 1
            if day in station.negatives and not labels:
                kind = station.negatives[day]
                negatives[kind] += 1
                negative_alarms[kind] += bool(found)
            elif not labels:
                clean_days += 1
                clean_alarms += bool(found)
    seconds = time.perf_counter() - started
    per_type = {}
    for kind in shade.DETECTION_TYPES:
        precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else None
        recall = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else None
        per_type[kind] = {"tp": tp[kind], "fp": fp[kind], "fn": fn[kind],
                          "precision": None if precision is None else round(precision, 3),
                          "recall": None if recall is None else round(recall, 3)}
    return {
        "stations": stations, "weeks": weeks, "seed": seed, "stationDays": analysed,
        "perType": per_type,
        "cleanDayFalseAlarmRate": round(clean_alarms / clean_days, 4) if clean_days else None,
        "hardNegatives": {kind: {"days": negatives[kind], "falseAlarms": negative_alarms[kind]} for kind in sorted(negatives)},
        "stationDaysPerSecond": round(analysed / seconds, 1) if seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargewatch_tools.eval.shade", description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", action="store_true", help="print the raw report as JSON")
    args = parser.parse_args(argv)
    reports = [evaluate(args.stations, args.weeks, seed) for seed in args.seeds]
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    print("SHADE on synthetic fleets (tools/synth/fleet.py)")
    print(f"{'seed':>4} {'type':<18} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}")
    for report in reports:
        for kind, row in report["perType"].items():
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{report['seed']:>4} {kind:<18} {row['tp']:>4} {row['fp']:>4} {row['fn']:>4} "
                  f"{fmt(row['precision']):>9} {fmt(row['recall']):>7}")
        negatives = ", ".join(f"{k} {v['falseAlarms']}/{v['days']}" for k, v in report["hardNegatives"].items())
        print(f"     station-days {report['stationDays']}, clean-day false-alarm rate {report['cleanDayFalseAlarmRate']}, "
              f"hard-negative false alarms: {negatives}; {report['stationDaysPerSecond']} station-days/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
