"""`chargewatch synth` / `python -m chargewatch_tools.synth`: write labelled sessions as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys

from .generator import CATEGORIES, generate


def _categories(text: str) -> tuple[str, ...]:
    chosen = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown categories: {', '.join(unknown)}")
    return chosen


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1000, help="number of sessions (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same file")
    parser.add_argument("--out", default="-", help="output .jsonl file (default: stdout)")
    parser.add_argument(
        "--hard-negatives-fraction",
        type=float,
        default=0.3,
        help=(
            "share of sessions with hard negatives "
            "(DC taper, pauses, curtailment, coarse meters, jitter, sparse sampling)"
        ),
    )
    parser.add_argument(
        "--anomaly-fraction", type=float, default=0.45, help="share of sessions with one injected anomaly"
    )
    parser.add_argument(
        "--categories",
        type=_categories,
        default=CATEGORIES,
        help="comma-separated subset of: " + ",".join(CATEGORIES),
    )
    parser.add_argument(
        "--stations",
        type=int,
        default=5,
        help="spread the sessions over this many stations (chargingStationId SYNTH-CP-001...), so the "
        "output can be uploaded as it is (default 5)",
    )
    parser.set_defaults(handler=run)


def _with_station(session: dict, index: int, stations: int) -> dict:
    """A station and connector for a generated session: the API needs one, the engine does not."""
    station = index % max(1, stations)
    session.setdefault("chargingStationId", f"SYNTH-CP-{station + 1:03d}")
    session.setdefault("connectorId", str(index // max(1, stations) % 2 + 1))
    return session


def run(args: argparse.Namespace) -> int:
    sessions = generate(
        args.n,
        seed=args.seed,
        hard_negatives_fraction=args.hard_negatives_fraction,
        anomaly_fraction=args.anomaly_fraction,
        categories=args.categories,
        progress=args.out != "-",
    )
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    try:
        for index, session in enumerate(sessions):
            out.write(json.dumps(_with_station(session, index, args.stations), separators=(",", ":")) + "\n")
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def add_cli(subparsers) -> None:
    """Register `synth` on an argparse subparsers object."""
    _configure(subparsers.add_parser("synth", help="generate labelled synthetic sessions (JSON lines)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargewatch_tools.synth", description=__doc__)
    _configure(parser)
    args = parser.parse_args(argv)
    return args.handler(args)
