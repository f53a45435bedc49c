"""`python -m chargewatch_tools.eval.shade`: SHADE precision / recall per detection type on
labelled synthetic station fleets (tools/synth/fleet.py).

A detection counts as a true positive when the same station-day carries a label of the same
type (and, for connector_offline, the same connector). Every other detection is a false
positive; every unmatched label a false negative. Labels the generator marks unobservable (an
outage or zero day whose silence would happen by chance more than 5 % of the time even with the
true arrival rates, a drop on a day without sessions; see tools/synth/fleet.py) are "don't care":
missing one is no false negative and a detection matching one is counted as `dontCare`, not as
a false positive. Hard-negative days (quiet days, new stations, short histories) are reported
separately: any detection on them is a false alarm.

Development seeds (the default `--seeds`, used while tuning the engine) and held-out seeds
(`--heldout`, never looked at while tuning) are reported separately and pooled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from csar import shade

from ..synth import field_fleet
from ..synth.fleet import evaluation_days, generate_fleet

FLEETS = {"synthetic": generate_fleet, "field": field_fleet.simulate_fleet}

DEVELOPMENT_SEEDS = (0, 1, 2)
HELDOUT_SEEDS = (11, 12, 13)


def evaluate(
    stations: int, weeks: int, seed: int, eval_days: int = 14, fleet_name: str = "synthetic", calendar: bool = True
) -> dict:
    """`calendar`: give the engine the station's public holidays where the fleet has them (the
    field fleet: its German state's), as an organization with a holidayCountry does."""
    fleet = FLEETS[fleet_name](stations=stations, weeks=weeks, seed=seed, eval_days=eval_days)
    tp, fp, fn, dont_care, unobservable = Counter(), Counter(), Counter(), Counter(), Counter()
    negatives, negative_alarms = Counter(), Counter()
    clean_days = clean_alarms = analysed = 0
    started = time.perf_counter()
    for station in fleet:
        for day in evaluation_days(station, eval_days):
            holidays = getattr(station, "holiday_days", None) if calendar else None
            analysis = shade.analyze_station_day(day, station.energy[day], station.history_for(day), holidays=holidays)
            analysed += 1
            found = {(d.type, d.connectorId if d.type == "connector_offline" else None) for d in analysis.detections}
            day_labels = station.labels.get(day, [])
            labels = {
                (label["type"], label.get("connectorId")) for label in day_labels if label.get("observable", True)
            }
            ignored = {
                (label["type"], label.get("connectorId")) for label in day_labels if not label.get("observable", True)
            }
            for key in found:
                if key in labels:
                    tp[key[0]] += 1
                elif key in ignored:
                    dont_care[key[0]] += 1
                else:
                    fp[key[0]] += 1
            for key in labels - found:
                fn[key[0]] += 1
            for key in ignored:
                unobservable[key[0]] += 1
            if day in station.negatives and not day_labels:
                kind = station.negatives[day]
                negatives[kind] += 1
                negative_alarms[kind] += bool(found)
            elif not day_labels:
                clean_days += 1
                clean_alarms += bool(found)
    seconds = time.perf_counter() - started
    per_type = {
        kind: {
            "tp": tp[kind],
            "fp": fp[kind],
            "fn": fn[kind],
            "dontCare": dont_care[kind],
            "unobservableLabels": unobservable[kind],
        }
        for kind in shade.DETECTION_TYPES
    }
    return _with_rates(
        {
            "stations": stations,
            "weeks": weeks,
            "seed": seed,
            "stationDays": analysed,
            "seconds": seconds,
            "perType": per_type,
            "cleanDays": clean_days,
            "cleanAlarms": clean_alarms,
            "hardNegatives": {
                kind: {"days": negatives[kind], "falseAlarms": negative_alarms[kind]} for kind in sorted(negatives)
            },
        }
    )


def _with_rates(report: dict) -> dict:
    for row in report["perType"].values():
        precision = row["tp"] / (row["tp"] + row["fp"]) if row["tp"] + row["fp"] else None
        recall = row["tp"] / (row["tp"] + row["fn"]) if row["tp"] + row["fn"] else None
        row["precision"] = None if precision is None else round(precision, 3)
        row["recall"] = None if recall is None else round(recall, 3)
    report["cleanDayFalseAlarmRate"] = (
        round(report["cleanAlarms"] / report["cleanDays"], 4) if report["cleanDays"] else None
    )
    report["stationDaysPerSecond"] = round(report["stationDays"] / report["seconds"], 1) if report["seconds"] else None
    return report


def pooled(reports: list[dict], name: str) -> dict:
    """Counts summed over seeds, rates recomputed from the sums."""
    total = {
        "stations": reports[0]["stations"],
        "weeks": reports[0]["weeks"],
        "seed": name,
        "stationDays": 0,
        "seconds": 0.0,
        "cleanDays": 0,
        "cleanAlarms": 0,
        "hardNegatives": {},
        "perType": {kind: Counter() for kind in shade.DETECTION_TYPES},
    }
    for report in reports:
        for key in ("stationDays", "seconds", "cleanDays", "cleanAlarms"):
            total[key] += report[key]
        for kind, row in report["perType"].items():
            total["perType"][kind].update({k: v for k, v in row.items() if k not in ("precision", "recall")})
        for kind, row in report["hardNegatives"].items():
            total["hardNegatives"].setdefault(kind, Counter()).update(row)
    total["perType"] = {kind: dict(row) for kind, row in total["perType"].items()}
    total["hardNegatives"] = {kind: dict(row) for kind, row in total["hardNegatives"].items()}
    return _with_rates(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargewatch_tools.eval.shade", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fleet",
        choices=sorted(FLEETS),
        default="synthetic",
        help="synthetic: tools/synth/fleet.py (tuned on); field: tools/synth/field_fleet.py (independent)",
    )
    parser.add_argument("--no-calendar", action="store_true", help="do not give the engine public holidays")
    parser.add_argument("--stations", type=int, default=None, help="default 200 (synthetic) or 60 (field)")
    parser.add_argument("--weeks", type=int, default=None, help="default 8 (synthetic) or 10 (field)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEVELOPMENT_SEEDS), help="development seeds")
    parser.add_argument(
        "--heldout",
        type=int,
        nargs="*",
        default=list(HELDOUT_SEEDS),
        help="held-out seeds, never used while tuning (empty: none)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw report as JSON")
    args = parser.parse_args(argv)
    field = args.fleet == "field"
    args.stations = args.stations or (60 if field else 200)
    args.weeks = args.weeks or (10 if field else 8)
    calendar = not args.no_calendar

    def run(seed: int) -> dict:
        return evaluate(args.stations, args.weeks, seed, fleet_name=args.fleet, calendar=calendar)

    development = [run(seed) for seed in args.seeds]
    heldout = [run(seed) for seed in args.heldout]
    reports = development + [pooled(development, "dev")] + ([*heldout, pooled(heldout, "held")] if heldout else [])
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    source = (
        "the independent field fleet (tools/synth/field_fleet.py)"
        if field
        else "synthetic fleets (tools/synth/fleet.py)"
    )
    print(
        f"SHADE on {source}, {args.stations} stations x {args.weeks} weeks per seed, "
        f"{'with' if calendar else 'without'} a holiday calendar; "
        f"development seeds {args.seeds}, held-out seeds {args.heldout}"
    )
    print(f"{'seed':>4} {'type':<18} {'tp':>4} {'fp':>4} {'fn':>4} {'dc':>3} {'precision':>9} {'recall':>7}")
    for report in reports:
        for kind, row in report["perType"].items():
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(
                f"{report['seed']:>4} {kind:<18} {row['tp']:>4} {row['fp']:>4} {row['fn']:>4} {row['dontCare']:>3} "
                f"{fmt(row['precision']):>9} {fmt(row['recall']):>7}"
            )
        negatives = ", ".join(f"{k} {v['falseAlarms']}/{v['days']}" for k, v in report["hardNegatives"].items())
        print(
            f"     station-days {report['stationDays']}, "
            f"clean-day false-alarm rate {report['cleanDayFalseAlarmRate']}, "
            f"hard-negative false alarms: {negatives}; {report['stationDaysPerSecond']} station-days/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
