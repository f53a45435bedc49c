"""Physics-based, labelled synthetic charging sessions.

A session is simulated on a fine time grid from the charging physics (battery capacity,
charging efficiency, constant power then taper, the station's rating), then sampled the
way a station reports it (interval, clock jitter, meter quantisation, units, numeric
strings). Hard negatives are physical behaviours that must not be reported (SuspendedEV
pauses, curtailment, DC taper, coarse meters, clock jitter, sparse sampling); anomalies
are injected with their true time range: the first and last reported reading timestamps
the anomaly covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from csar.categories import CATEGORIES

# Injected inside the charging phase: they need power flowing around them.
STEADY_CATEGORIES = frozenset({"ENERGY_PIT", "POWER_OVER_RATING", "FROZEN_TELEMETRY", "ENERGY_POWER_MISMATCH"})
HARD_NEGATIVES = (
    "dc_taper",
    "suspended_ev_pause",
    "curtailment",
    "meter_quantisation",
    "clock_jitter",
    "sparse_sampling",
)

AC_RATINGS_KW = (3.7, 7.4, 11.0, 22.0)
DC_RATINGS_KW = (50.0, 100.0, 150.0, 350.0)
SAMPLING_S = (30, 60, 60, 120, 300, 300, 600, 900)
FINE_STEP_S = 10.0
EPOCH_2026 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Plan:
    """What to simulate; the generator fills it, then `simulate` realises it."""

    current_type: str
    rated_kw: float
    vehicle_max_kw: float
    capacity_kwh: float
    efficiency: float
    start_soc: float
    target_soc: float
    taper_soc: float
    duration_s: float
    interval_s: int
    jitter_s: float
    resolution_kwh: float
    # (start_s, end_s, factor) windows applied to the physical power
    power_windows: list = field(default_factory=list)
    idle: bool = False  # vehicle never draws (ZERO_ENERGY)
    charge_end_s: float = 0.0  # when the undisturbed vehicle would stop drawing
    steady_end_s: float = 0.0  # end of the constant-power phase


def _fmt(seconds: float, style: int) -> str:
    moment = EPOCH_2026 + timedelta(seconds=seconds)
    if style == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if style == 2:
        return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _vehicle_power(plan: Plan, soc: float) -> float:
    """Power the vehicle accepts at a state of charge: constant, then a taper."""
    ceiling = min(plan.rated_kw, plan.vehicle_max_kw)
    if plan.current_type == "DC":
        if soc <= plan.taper_soc:
            return ceiling
        fraction = (soc - plan.taper_soc) / max(100.0 - plan.taper_soc, 1.0)
        return ceiling * max(0.08, math.exp(-2.3 * fraction))
    if soc >= 97.0:  # AC constant-voltage phase at the very end
        return ceiling * max(0.2, (100.0 - soc) / 3.0)
    return ceiling


def simulate(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fine-grid (time s, power kW at the meter, SoC %) of the physical session."""
    steps = int(plan.duration_s // FINE_STEP_S) + 1
    times = np.arange(steps) * FINE_STEP_S
    power = np.zeros(steps)
    soc = np.zeros(steps)
    level = plan.start_soc
    factor = np.ones(steps)
    for start, end, f in plan.power_windows:
        inside = (times >= start) & (times < end)
        factor[inside] = f if f >= 0 else factor[inside]
    for i in range(steps):
        soc[i] = level
        if plan.idle or level >= plan.target_soc:
            soc[i:] = level  # full: nothing changes any more
            break
        p = _vehicle_power(plan, level) * factor[i]
        power[i] = p
        level = min(100.0, level + p * plan.efficiency * FINE_STEP_S / 3600.0 / plan.capacity_kwh * 100.0)
    return times, power, soc


class SessionBuilder:
    """Draws one session plan, simulates it, injects anomalies, emits readings + labels."""

    def __init__(self, rng: np.random.Generator, index: int):
        self.rng = rng
        self.index = index

    # -- planning ---------------------------------------------------------------
    def plan(self, hard_negatives: set[str], steady: bool = False) -> Plan:
        rng = self.rng
        dc = "dc_taper" in hard_negatives or rng.random() < 0.45
        if dc:
            rated = float(rng.choice(DC_RATINGS_KW[:2] if steady else DC_RATINGS_KW))
            vehicle = float(rng.uniform(40, 250))
            start_soc = float(rng.uniform(5, 25 if steady else 50))
            target = float(rng.uniform(85, 100)) if "dc_taper" in hard_negatives else float(rng.uniform(60, 100))
        else:
            rated = float(rng.choice(AC_RATINGS_KW))
            vehicle = float(rng.choice((3.7, 7.4, 11.0, 22.0)))
            start_soc = float(rng.uniform(5, 70))
            target = float(rng.uniform(80, 100))
        if steady:
            vehicle = max(vehicle, rated)  # the station, not the car, limits the power
            target = 100.0
        plan = Plan(
            current_type="DC" if dc else "AC",
            rated_kw=rated,
            vehicle_max_kw=vehicle,
            capacity_kwh=float(rng.uniform(30, 100)),
            efficiency=float(rng.uniform(0.85, 0.95)),
            start_soc=start_soc,
            target_soc=target,
            taper_soc=float(rng.uniform(55, 80)),
            duration_s=12 * 3600.0,
            interval_s=60,
            jitter_s=0.0,
            resolution_kwh=float(rng.choice((0.1, 1.0))) if "meter_quantisation" in hard_negatives else 0.001,
        )
        # How long the vehicle charges, from the physics, decides the sampling that makes
        # sense: stations report every 30-900 s and a session has 15-240 samples.
        times, power, _ = simulate(plan)
        charging = times[power > 0]
        charge_end = float(charging[-1]) + FINE_STEP_S if len(charging) else 1800.0
        ceiling = min(plan.rated_kw, plan.vehicle_max_kw)
        steady_phase = times[(power >= 0.95 * ceiling)]
        plan.steady_end_s = float(steady_phase[-1]) if len(steady_phase) else 0.0
        choices = [i for i in SAMPLING_S if i <= charge_end / 15] or [30]
        if "sparse_sampling" in hard_negatives:
            choices = [600, 900]
            charge_end = max(charge_end, 15 * 900.0)
        plan.interval_s = int(rng.choice(choices))
        plan.charge_end_s = charge_end
        tail = float(rng.uniform(0.0, 0.25)) * charge_end
        plan.duration_s = min(charge_end + tail, 240.0 * plan.interval_s)
        plan.duration_s = max(plan.duration_s, 15.0 * plan.interval_s)
        if "clock_jitter" in hard_negatives:
            plan.jitter_s = min(5.0, plan.interval_s / 10.0)
        return plan

    # -- one session ---------------------------------------------------------------
    def build(self, category: str | None, hard_negatives: set[str], attempt: int = 0) -> dict[str, Any]:
        rng = self.rng
        # Anomalies that live inside the charging phase need a long constant-power phase.
        plan = self.plan(hard_negatives, steady=category in STEADY_CATEGORIES)
        charge_end = plan.charge_end_s
        if "suspended_ev_pause" in hard_negatives:
            length = float(rng.uniform(600, 2400))
            start = float(rng.uniform(0.15, 0.6)) * charge_end
            plan.power_windows.append((start, start + length, 0.0))
            plan.duration_s += length
        if "curtailment" in hard_negatives:
            length = float(rng.uniform(900, 3600))
            start = float(rng.uniform(0.1, 0.5)) * charge_end
            level = float(rng.uniform(0.4, 0.8))
            plan.power_windows.append((start, start + length, level))
            plan.duration_s += length * (1.0 - level)
        truth: tuple[float, float] | None = None
        if category == "ZERO_ENERGY":
            plan.idle = True
            plan.duration_s = max(plan.duration_s, 1200.0, 4.0 * plan.interval_s)
        gap = max(900.0, 5.0 * plan.interval_s) * float(rng.uniform(1.4, 3.0))
        if category == "TIME_GAP":
            plan.duration_s += gap + 2 * plan.interval_s
        if category in ("ENERGY_PIT", "POWER_OVER_RATING"):
            length = max(900.0, 3.0 * plan.interval_s) * float(rng.uniform(1.0, 2.0))
            earliest = max(1200.0, 3.0 * plan.interval_s)
            room = min(plan.steady_end_s, 200.0 * plan.interval_s)
            latest = max(earliest, room - length - 3.0 * plan.interval_s)
            start = float(rng.uniform(earliest, latest))
            if category == "ENERGY_PIT":
                ceiling = min(plan.rated_kw, plan.vehicle_max_kw)
                factor = min(max(float(rng.uniform(0.08, 0.22)), 0.8 / ceiling), 0.25)
            else:
                plan.vehicle_max_kw = max(plan.vehicle_max_kw, plan.rated_kw * 2)
                factor = float(rng.uniform(1.2, 1.4))
            plan.power_windows.append((start, start + length, factor))
            plan.duration_s = max(plan.duration_s + length, start + length + 6 * plan.interval_s)
            truth = (start, start + length)
        plan.duration_s = min(plan.duration_s, 300.0 * plan.interval_s)
        sample_times = np.arange(0.0, plan.duration_s + 1e-9, plan.interval_s)
        n = len(sample_times)

        times, power, soc = simulate(plan)
        if category == "ENERGY_PIT" and truth is not None and attempt < 5:
            # A pit recovers: if charging had already tapered or stopped when the dip
            # ended, this draw is a step-down, not a pit; draw again.
            before = np.interp(truth[0] - 60.0, times, power)
            after = np.interp(truth[1] + 2 * plan.interval_s, times, power)
            if after < 0.8 * before:
                return self.build(category, hard_negatives, attempt + 1)
        delivered = np.concatenate(([0.0], np.cumsum(power[:-1] * FINE_STEP_S / 3600.0)))
        energy = np.interp(sample_times, times, delivered)
        power_true = np.interp(sample_times, times, power)
        soc_true = np.interp(sample_times, times, soc)
        # Sessions with ZERO_ENERGY or PIT must not also be short of physics evidence.
        reported_power = power_true * (1.0 + rng.normal(0.0, 0.01, n))
        reported_power[power_true == 0] = 0.0
        has_power = rng.random() < 0.85 or category in (
            "ENERGY_POWER_MISMATCH",
            "FROZEN_TELEMETRY",
            "ENERGY_PIT",
            "POWER_OVER_RATING",
        )
        has_soc = (
            (plan.current_type == "DC" and rng.random() < 0.8)
            or rng.random() < 0.25
            or category
            in (
                "SOC_DECREASE",
                "SOC_ENERGY_INCONSISTENT",
            )
        )
        register_start = float(rng.choice((0.0, rng.uniform(100, 90000))))
        reported_soc = soc_true.copy()
        labels: list[tuple[str, float, float]] = []
        metadata: dict[str, Any] = {"currentType": plan.current_type}
        if rng.random() < 0.5 or category == "POWER_OVER_RATING":
            metadata["maxPowerKw"] = plan.rated_kw
        if rng.random() < 0.3:
            metadata["batteryCapacityKwh"] = round(plan.capacity_kwh, 1)
        keep = np.ones(n, dtype=bool)
        disorder: list[int] = []
        duplicate_at: int | None = None
        unit_scaled: list[int] = []

        def covered(window: tuple[float, float]) -> tuple[float, float]:
            inside = np.flatnonzero((sample_times >= window[0]) & (sample_times <= window[1]))
            if len(inside) == 0:
                nearest = int(np.argmin(np.abs(sample_times - window[0])))
                inside = np.array([nearest])
            return float(sample_times[inside[0]]), float(sample_times[inside[-1]])

        # Injection points are drawn from where the vehicle is actually charging.
        charging = np.flatnonzero((power_true[:-1] > 0.5) & (power_true[1:] > 0.5)) + 1
        charging = charging[(charging >= 1) & (charging <= n - 2)]
        if len(charging) < 4:
            charging = np.arange(1, max(2, n - 1))

        def middle(lo: float, hi: float) -> int:
            first = int(len(charging) * lo)
            last = max(first + 1, int(len(charging) * hi))
            return int(charging[int(rng.integers(first, min(last, len(charging))))])

        if category == "ENERGY_PIT" and truth is not None:
            labels.append((category, *covered(truth)))
        elif category == "POWER_OVER_RATING" and truth is not None:
            # Truth is where the physical power really exceeded 1.1x the rating.
            over = np.flatnonzero(
                (power_true > 1.1 * plan.rated_kw) & (sample_times >= truth[0]) & (sample_times <= truth[1])
            )
            if len(over):
                labels.append((category, float(sample_times[over[0]]), float(sample_times[over[-1]])))
        elif category == "ZERO_ENERGY":
            labels.append((category, float(sample_times[0]), float(sample_times[-1])))
        elif category == "KWH_DECREASE" and rng.random() < 0.2:
            # one reading dips (a bad sample) and the register comes back
            k = middle(0.2, 0.8)
            energy[k] -= float(rng.uniform(0.5, 0.95)) * energy[k] if energy[k] > 1 else 0.0
            energy[k] = min(energy[k], energy[k - 1] - 0.5)
            labels.append((category, float(sample_times[k - 1]), float(sample_times[k + 1])))
        elif category == "ENERGY_SPIKE" and rng.random() < 0.3:
            # one reading jumps (a bad sample) and the register comes back
            k = middle(0.2, 0.8)
            rated = metadata.get("maxPowerKw") or (1.2 * float(np.percentile(power_true, 95)) if has_power else 350.0)
            energy[k] += max(1.0, rated * float(rng.uniform(2.5, 8.0)) * (plan.interval_s + 10) / 3600.0)
            labels.append((category, float(sample_times[k - 1]), float(sample_times[k + 1])))
        elif category == "KWH_DECREASE":
            k = middle(0.2, 0.8)
            if rng.random() < 0.5:  # reset: the register restarts from zero
                energy[k:] = energy[k:] - energy[k] + float(rng.uniform(0.0, 0.05))
                register_start = 0.0 if rng.random() < 0.5 else register_start
                energy[:k] += register_start
                register_start = 0.0
            else:  # rollover of a 5-digit display register
                wrap = 10.0 ** int(rng.integers(4, 6))
                register_start = wrap - (energy[k] + energy[k - 1]) / 2.0
                energy = np.mod(energy + register_start, wrap)
                register_start = 0.0
            labels.append((category, float(sample_times[k - 1]), float(sample_times[k])))
        elif category == "ENERGY_SPIKE":
            k = middle(0.2, 0.8)
            rated = metadata.get("maxPowerKw") or (1.2 * float(np.percentile(power_true, 95)) if has_power else 350.0)
            jump = max(1.0, rated * float(rng.uniform(2.5, 8.0)) * (plan.interval_s + 10) / 3600.0)
            energy[k:] += jump
            labels.append((category, float(sample_times[k - 1]), float(sample_times[k])))
        elif category == "ENERGY_POWER_MISMATCH":
            a = middle(0.05, 0.3)
            a = min(a, int(charging[-1]) - 6) if len(charging) > 8 else a
            b = min(int(charging[-1]), a + max(5, int(len(charging) * float(rng.uniform(0.3, 0.6)))))
            factor = float(rng.choice((rng.uniform(0.3, 0.65), rng.uniform(1.4, 2.0))))
            increments = np.diff(energy)
            increments[a:b] *= factor
            energy = np.concatenate(([energy[0]], energy[0] + np.cumsum(increments)))
            delivered_between = np.interp(sample_times[b], times, delivered) - np.interp(
                sample_times[a], times, delivered
            )
            if abs(energy[b] - energy[a] - delivered_between) < 1.0:
                # too little energy to be a measurable mismatch: make the drift larger
                increments[a:b] *= 1.5 if factor > 1 else 0.5
                energy = np.concatenate(([energy[0]], energy[0] + np.cumsum(increments)))
            labels.append((category, float(sample_times[a]), float(sample_times[b])))
        elif category == "FROZEN_TELEMETRY":
            need = max(7, int(math.ceil(900.0 / plan.interval_s)) + 1)
            a = middle(0.1, 0.3)
            b = min(n - 1, a + need)
            stuck = energy[a]
            energy[b + 1 :] = energy[b + 1 :] - energy[b] + stuck  # the frozen energy is lost
            energy[a : b + 1] = stuck
            labels.append((category, float(sample_times[a]), float(sample_times[b])))
        elif category == "SOC_DECREASE":
            k = middle(0.3, 0.7)
            m = min(n, k + int(rng.integers(2, 8)))
            # BMS recalibration: SoC falls at k, then either recovers after a few
            # samples or keeps the offset. The anomaly is the fall (last peak to k).
            m = n if rng.random() < 0.5 else m
            # "Falls by more than 2 points" is what the readings show, so the fall must
            # beat the rise charging adds over one interval.
            rise = max(0.0, float(soc_true[k] - soc_true[k - 1]))
            reported_soc[k:m] -= rise + float(rng.uniform(4, 15))
            labels.append((category, float(sample_times[k - 1]), float(sample_times[k])))
        elif category == "SOC_ENERGY_INCONSISTENT":
            gained = soc_true - soc_true[0]
            if rng.random() < 0.5:
                reported_soc = soc_true[0] + gained * float(rng.uniform(0.0, 0.12))  # SoC barely moves
            else:
                # SoC races ahead: energy implies a battery under 10 kWh.
                ratio = plan.capacity_kwh * plan.efficiency / 0.9 / float(rng.uniform(3, 7))
                reported_soc = np.minimum(100.0, soc_true[0] + gained * ratio)
            labels.append((category, float(sample_times[0]), float(sample_times[-1])))
        elif category == "TIME_GAP":
            k = middle(0.2, 0.6)
            drop = (sample_times > sample_times[k]) & (sample_times < sample_times[k] + gap)
            keep &= ~drop
            after = np.flatnonzero(~drop & (sample_times > sample_times[k]))
            if len(after) == 0:
                keep[-1] = True
                after = np.array([n - 1])
            labels.append((category, float(sample_times[k]), float(sample_times[after[0]])))
        elif category == "TIMESTAMP_DISORDER":
            k = middle(0.2, 0.8)
            if rng.random() < 0.6:
                disorder = [k, k + 1] if k + 1 < n else [k - 1, k]
                labels.append((category, float(sample_times[disorder[0]]), float(sample_times[disorder[1]])))
            else:
                duplicate_at = k
                labels.append((category, float(sample_times[k]), float(sample_times[k])))
        elif category == "UNIT_MISMATCH":
            k = middle(0.2, 0.8)
            unit_scaled = list(range(k, min(n - 1, k + int(rng.integers(1, 4)))))
            labels.append((category, float(sample_times[unit_scaled[0]]), float(sample_times[unit_scaled[-1]])))

        # -- report it the way a station does ---------------------------------------
        register = np.floor((energy + register_start) / plan.resolution_kwh + 1e-9) * plan.resolution_kwh
        if category in ("KWH_DECREASE", "ENERGY_SPIKE") and register_start == 0.0 and rng.random() < 0.5:
            register += float(rng.uniform(100, 5000))
            register = np.round(register / plan.resolution_kwh) * plan.resolution_kwh
        energy_in_wh = category != "UNIT_MISMATCH" and rng.random() < 0.5
        power_in_w = rng.random() < 0.5
        as_string = rng.random() < 0.4
        ts_style = int(rng.choice((0, 0, 0, 1, 2)))
        jitter = rng.uniform(-plan.jitter_s, plan.jitter_s, n) if plan.jitter_s else np.zeros(n)
        offset = float(rng.uniform(0, 300 * 86400))
        stamps = [_fmt(offset + sample_times[i] + jitter[i], ts_style) for i in range(n)]
        decimals = max(0, int(round(-math.log10(plan.resolution_kwh)))) if plan.resolution_kwh < 1 else 0

        def value(x: float) -> Any:
            return f"{x}" if as_string else x

        readings: list[dict[str, Any]] = []
        for i in range(n):
            if not keep[i]:
                continue
            e = float(register[i]) * (1000.0 if i in unit_scaled else 1.0)
            if energy_in_wh:
                readings.append(
                    {
                        "timestamp": stamps[i],
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "value": value(round(e * 1000.0, max(0, decimals - 3))),
                    }
                )
            else:
                readings.append(
                    {
                        "timestamp": stamps[i],
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "kWh",
                        "value": value(round(e, decimals)),
                    }
                )
            if has_power:
                pw = float(reported_power[i])
                readings.append(
                    {
                        "timestamp": stamps[i],
                        "measurand": "Power.Active.Import",
                        "unit": "W" if power_in_w else "kW",
                        "value": value(round(pw * 1000.0, 1) if power_in_w else round(pw, 3)),
                    }
                )
            if has_soc:
                readings.append(
                    {
                        "timestamp": stamps[i],
                        "measurand": "SoC",
                        "unit": "Percent",
                        "value": value(int(np.clip(np.round(reported_soc[i]), 0, 100))),
                    }
                )
        per_sample = 1 + int(has_power) + int(has_soc)
        if disorder:
            # the two samples arrive in swapped order
            pos = [int(np.sum(keep[:j])) * per_sample for j in disorder]
            first = readings[pos[0] : pos[0] + per_sample]
            second = readings[pos[1] : pos[1] + per_sample]
            readings[pos[0] : pos[0] + per_sample] = second
            readings[pos[1] : pos[1] + per_sample] = first
        if duplicate_at is not None:
            pos = int(np.sum(keep[:duplicate_at])) * per_sample
            clone = dict(readings[pos])
            bump = max(0.5, 10 * plan.resolution_kwh)
            clone["value"] = value(round(float(clone["value"]) + (bump * 1000 if clone["unit"] == "Wh" else bump), 3))
            readings.insert(pos + per_sample, clone)

        base = EPOCH_2026 + timedelta(seconds=offset)
        return {
            "sessionId": f"synth-{self.index:06d}",
            "meterValues": readings,
            "metadata": metadata,
            "labels": [
                {
                    "category": c,
                    "startTimestamp": (base + timedelta(seconds=lo)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "endTimestamp": (base + timedelta(seconds=hi)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for c, lo, hi in labels
            ],
            "hardNegatives": sorted(hard_negatives),
            "kind": "anomalous" if labels else ("hard_negative" if hard_negatives else "clean"),
        }


def generate(
    n: int,
    seed: int = 0,
    hard_negatives_fraction: float = 0.3,
    anomaly_fraction: float = 0.45,
    categories: tuple[str, ...] = CATEGORIES,
    progress: bool = False,
):
    """Yield n labelled sessions; the same seed always yields the same sessions."""
    rng = np.random.default_rng(seed)
    iterator = range(n)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=n, desc="synth", unit="session")
    for i in iterator:
        draw = rng.random()
        category = None
        hard: set[str] = set()
        if draw < anomaly_fraction and categories:
            category = categories[int(rng.integers(len(categories)))]
        elif draw < anomaly_fraction + hard_negatives_fraction:
            count = 1 + int(rng.random() < 0.3)
            hard = set(rng.choice(HARD_NEGATIVES, size=count, replace=False).tolist())
        yield SessionBuilder(np.random.default_rng([seed, i]), i).build(category, hard)
