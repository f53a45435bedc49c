"""Each CSAR-2 category: a positive case, and the hard negatives it must stay silent on."""

from __future__ import annotations

import pytest
from csar_session_builders import (
    ENERGY,
    POWER,
    SOC,
    anomaly,
    categories,
    energy_readings,
    iso,
    session,
    set_energy,
)

import csar


def analyze(readings, **metadata):
    return csar.analyze_session(readings, metadata or None)


def assert_clean(result):
    assert not result.is_anomaly, [a.to_dict() for a in result.anomalies]
    assert result.anomalies == []


# ----------------------------------------------------------------------------- KWH_DECREASE


def test_register_reset_is_a_kwh_decrease_of_kind_reset():
    readings, times, registers = session(11.0, minutes=30)
    for i, r in enumerate(energy_readings(readings)[15:]):
        r["value"] = round(registers[15 + i] - registers[15], 3)  # restarts from zero
    result = analyze(readings)
    found = anomaly(result, "KWH_DECREASE")
    assert found.details["kind"] == "reset"
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[14]), iso(times[15]))
    assert found.bucket_start == 2 and found.bucket_end == 3
    assert result.is_incident  # billing relevant, > 0.5 kWh involved


def test_register_rollover_is_a_kwh_decrease_of_kind_rollover():
    readings, _, registers = session(22.0, minutes=30, register_start_kwh=99995.0)
    for r, value in zip(energy_readings(readings), registers, strict=True):
        r["value"] = round(value % 100000.0, 3)
    assert anomaly(analyze(readings), "KWH_DECREASE").details["kind"] == "rollover"


def test_quantised_register_at_low_power_never_decreases():
    readings, _, _ = session(3.7, minutes=60, interval_s=30, resolution_kwh=0.1)
    assert_clean(analyze(readings))


# ----------------------------------------------------------------------------- ENERGY_SPIKE


def test_energy_jump_far_above_the_rating_is_a_spike():
    readings, times, _ = session(11.0, minutes=30)
    for r in energy_readings(readings)[10:]:
        r["value"] += 6.0
    found = anomaly(analyze(readings, maxPowerKw=11), "ENERGY_SPIKE")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[9]), iso(times[10]))


def test_clock_jitter_at_full_rated_power_is_not_a_spike():
    jitter = lambda i: (5, -5, 3, -4, 0)[i % 5]  # noqa: E731
    readings, _, _ = session(22.0, minutes=40, interval_s=30, jitter_s=jitter)
    assert_clean(analyze(readings, maxPowerKw=22))


def test_sparse_dc_sampling_with_idle_tail_is_not_a_spike():
    # 150 kW for 15 min then idle: idle samples must not drag the rating estimate down.
    readings, _, _ = session(lambda t: 150.0 if t < 900 else 0.0, minutes=180, interval_s=900)
    assert "ENERGY_SPIKE" not in categories(analyze(readings))


# ----------------------------------------------------------------------------- ENERGY_POWER_MISMATCH


def test_meter_counting_half_of_reported_power_is_a_mismatch():
    readings, times, registers = session(22.0, minutes=40)
    energies = energy_readings(readings)
    for i in range(10, len(energies)):
        # from sample 10 to 25 the register only counts half
        counted = registers[min(i, 25)] - registers[10]
        energies[i]["value"] = round(registers[10] + 0.5 * counted + (registers[i] - registers[min(i, 25)]), 3)
    found = anomaly(analyze(readings), "ENERGY_POWER_MISMATCH")
    assert found.start_timestamp == iso(times[10]) and found.end_timestamp == iso(times[25])
    assert found.details["direction"] == "energy_below_power"


def test_suspended_ev_pause_and_curtailment_do_not_mismatch():
    def profile(t):
        if 1210 <= t < 2410:
            return 0.0  # SuspendedEV, starting between two samples
        if 3000 <= t < 4800:
            return 11.0  # curtailed to half
        return 22.0

    readings, _, _ = session(profile, minutes=120, interval_s=300)
    assert_clean(analyze(readings, maxPowerKw=22))


def test_dc_taper_does_not_mismatch():
    taper = lambda t: 150.0 if t < 1200 else max(15.0, 150.0 * (1 - (t - 1200) / 2400))  # noqa: E731
    readings, _, _ = session(taper, minutes=60, interval_s=300)
    assert_clean(analyze(readings))


# ----------------------------------------------------------------------------- FROZEN_TELEMETRY


def test_register_stuck_while_power_flows_is_frozen_telemetry():
    readings, times, _ = session(11.0, minutes=60)
    energies = energy_readings(readings)
    stuck = energies[20]["value"]
    for r in energies[20:35]:
        r["value"] = stuck
    lost = energies[35]["value"] - stuck - (energies[36]["value"] - energies[35]["value"])
    for r in energies[35:]:
        r["value"] = round(r["value"] - lost, 3)  # the frozen energy is lost
    result = analyze(readings)
    found = anomaly(result, "FROZEN_TELEMETRY")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[20]), iso(times[34]))
    assert found.energy_kwh > 2.0 and result.is_incident


@pytest.mark.parametrize("interval_s", [60, 300, 900])
def test_a_twenty_minute_freeze_at_22_kw_is_found_whatever_the_sampling(interval_s):
    """20 minutes of a stuck register while 22 kW are reported: ~7 kWh unbilled. At 5-minute
    sampling that is 5 readings, at 15-minute sampling 2 or 3: duration and energy decide."""
    readings, times, _ = session(22.0, minutes=120, interval_s=interval_s)
    energies = energy_readings(readings)
    first = next(i for i, t in enumerate(times) if t >= 1800)
    last = next(i for i, t in enumerate(times) if t >= 1800 + 1200)
    stuck = energies[first]["value"]
    missed = energies[last]["value"] - stuck
    for index, reading in enumerate(energies):
        if first <= index <= last:
            reading["value"] = stuck
        elif index > last:
            reading["value"] = round(reading["value"] - missed, 6)  # the frozen energy is lost
    found = anomaly(analyze(readings), "FROZEN_TELEMETRY")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[first]), iso(times[last]))
    assert found.energy_kwh == pytest.approx(22.0 * (times[last] - times[first]) / 3600, rel=0.05)


def test_one_flat_minute_at_full_power_is_not_frozen():
    readings, _, _ = session(22.0, minutes=60, interval_s=60)
    energies = energy_readings(readings)
    energies[30]["value"] = energies[29]["value"]  # one reading repeated (a late register update)
    assert "FROZEN_TELEMETRY" not in categories(analyze(readings))


def test_suspended_ev_pause_is_not_frozen():
    readings, _, _ = session(lambda t: 0.0 if 1200 <= t < 2700 else 11.0, minutes=60)
    assert_clean(analyze(readings))


def test_coarse_one_kwh_register_is_not_frozen():
    readings, _, _ = session(3.7, minutes=90, interval_s=60, resolution_kwh=1.0)
    assert_clean(analyze(readings))


# ----------------------------------------------------------------------------- ENERGY_PIT


def test_power_dip_that_recovers_is_a_pit():
    readings, times, _ = session(lambda t: 3.0 if 1800 <= t < 2700 else 22.0, minutes=70)
    found = anomaly(analyze(readings), "ENERGY_PIT")
    assert found.start_timestamp == iso(1800) and found.end_timestamp == iso(2640)


def test_dc_taper_end_of_charge_step_down_and_pause_are_not_pits():
    taper = lambda t: 150.0 if t < 1200 else max(10.0, 150.0 * (1 - (t - 1200) / 1500))  # noqa: E731
    step_down = lambda t: 22.0 if t < 1800 else 4.0  # noqa: E731
    end_of_charge = lambda t: 22.0 if t < 2400 else 0.0  # noqa: E731
    pause = lambda t: 0.0 if 1800 <= t < 2700 else 22.0  # noqa: E731
    curtailment = lambda t: 11.0 if 1800 <= t < 3600 else 22.0  # noqa: E731
    for profile in (taper, step_down, end_of_charge, pause, curtailment):
        readings, _, _ = session(profile, minutes=80)
        assert "ENERGY_PIT" not in categories(analyze(readings))


# ----------------------------------------------------------------------------- SOC


def test_soc_falling_while_charging_is_a_soc_decrease():
    readings, times, _ = session(50.0, minutes=30, soc_start=20.0)
    socs = [r for r in readings if r["measurand"] == SOC]
    for r in socs[12:16]:
        r["value"] -= 8
    found = anomaly(analyze(readings), "SOC_DECREASE")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[11]), iso(times[12]))


def test_integer_soc_jitter_is_not_a_decrease():
    readings, _, _ = session(7.4, minutes=60, soc_start=30.0)
    socs = [r for r in readings if r["measurand"] == SOC]
    for r in socs[5::7]:
        r["value"] -= 1
    assert_clean(analyze(readings))


def test_soc_that_does_not_move_while_20_kwh_flow_is_inconsistent():
    readings, _, _ = session(22.0, minutes=60, soc_start=40.0)
    for r in readings:
        if r["measurand"] == SOC:
            r["value"] = 40
    found = anomaly(analyze(readings), "SOC_ENERGY_INCONSISTENT")
    assert "impliedCapacityKwh" not in found.details or found.details["impliedCapacityKwh"] > 250


def test_soc_consistent_with_a_60_kwh_battery_is_clean():
    readings, _, _ = session(50.0, minutes=40, soc_start=10.0, capacity_kwh=60.0)
    assert_clean(analyze(readings))


# ----------------------------------------------------------------------------- TIME_GAP


def test_hole_in_the_telemetry_is_a_time_gap():
    readings, times, _ = session(11.0, minutes=90)
    kept = [r for r in readings if not (iso(1800) < r["timestamp"] < iso(3600))]
    found = anomaly(analyze(kept), "TIME_GAP")
    assert (found.start_timestamp, found.end_timestamp) == (iso(1800), iso(3600))


def test_sparse_15_minute_sampling_is_not_a_gap():
    readings, _, _ = session(7.4, minutes=8 * 60, interval_s=900)
    assert_clean(analyze(readings))


# ----------------------------------------------------------------------------- TIMESTAMP_DISORDER


def test_swapped_samples_are_disorder():
    readings, times, _ = session(11.0, minutes=20, with_power=False)
    readings[5], readings[6] = readings[6], readings[5]
    result = analyze(readings)
    found = anomaly(result, "TIMESTAMP_DISORDER")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[5]), iso(times[6]))
    assert categories(result) == {"TIMESTAMP_DISORDER"}  # sorted before the other rules


def test_one_timestamp_with_two_values_is_disorder():
    readings, _, _ = session(11.0, minutes=20)
    clone = dict(energy_readings(readings)[8])
    clone["value"] += 0.7
    readings.append(clone)
    assert categories(analyze(readings)) == {"TIMESTAMP_DISORDER"}


def test_payload_grouped_by_measurand_and_exact_duplicates_are_not_disorder():
    readings, _, _ = session(11.0, minutes=20)
    grouped = [r for r in readings if r["measurand"] == ENERGY] + [r for r in readings if r["measurand"] == POWER]
    grouped.append(dict(grouped[3]))
    result = analyze(grouped)
    assert_clean(result)
    assert "duplicate" in result.message


# ----------------------------------------------------------------------------- ZERO_ENERGY


def test_plugged_in_without_charging_is_zero_energy():
    readings, times, _ = session(0.0, minutes=30)
    found = anomaly(analyze(readings), "ZERO_ENERGY")
    assert (found.start_timestamp, found.end_timestamp) == (iso(0), iso(times[-1]))


def test_short_idle_session_and_coarse_meter_with_power_are_not_zero_energy():
    short, _, _ = session(0.0, minutes=8)
    assert_clean(analyze(short))
    coarse, _, _ = session(3.7, minutes=15, resolution_kwh=1.0, register_start_kwh=1000.2)
    assert "ZERO_ENERGY" not in categories(analyze(coarse))


# ----------------------------------------------------------------------------- POWER_OVER_RATING


def test_power_above_the_rating_is_over_rating():
    readings, times, _ = session(lambda t: 14.0 if 600 <= t < 1200 else 11.0, minutes=30)
    found = anomaly(analyze(readings, maxPowerKw=11), "POWER_OVER_RATING")
    assert (found.start_timestamp, found.end_timestamp) == (iso(600), iso(1140))


def test_power_within_tolerance_or_without_rating_is_not_over_rating():
    readings, _, _ = session(lambda t: 11.8 if 600 <= t < 1200 else 11.0, minutes=30)
    assert_clean(analyze(readings, maxPowerKw=11))
    readings, _, _ = session(lambda t: 30.0 if 600 <= t < 1200 else 11.0, minutes=30)
    assert "POWER_OVER_RATING" not in categories(analyze(readings))


# ----------------------------------------------------------------------------- UNIT_MISMATCH


def test_reading_sent_in_wh_labelled_kwh_is_unit_mismatch_and_corrected():
    readings, times, registers = session(11.0, minutes=30)
    set_energy(readings, 12, registers[12] * 1000.0)
    result = analyze(readings)
    assert categories(result) == {"UNIT_MISMATCH"}  # the corrected series has no jump
    found = anomaly(result, "UNIT_MISMATCH")
    assert found.start_timestamp == found.end_timestamp == iso(times[12])
    assert "rescaled 1" in result.message


def test_register_rising_from_zero_is_not_unit_mismatch():
    readings, _, _ = session(11.0, minutes=30, register_start_kwh=0.0)
    set_energy(readings, 0, 0.001)
    assert_clean(analyze(readings))


def test_pit_is_found_from_the_register_when_no_power_is_reported():
    readings, _, _ = session(lambda t: 3.0 if 1800 <= t < 2700 else 22.0, minutes=70, with_power=False)
    found = anomaly(analyze(readings), "ENERGY_PIT")
    assert found.start_timestamp >= iso(1740) and found.end_timestamp <= iso(2700)


def test_two_resets_far_apart_are_two_anomalies_counted_once_in_the_score():
    readings, _, registers = session(11.0, minutes=90)
    energies = energy_readings(readings)
    for start in (20, 70):
        base = energies[start]["value"]
        for r in energies[start:]:
            r["value"] = round(r["value"] - base, 3)
    result = analyze(readings)
    decreases = [a for a in result.anomalies if a.category == "KWH_DECREASE"]
    assert len(decreases) == 2
    assert result.anomaly_score == max(a.score for a in decreases)


def test_one_glitched_reading_is_one_transient_spike_not_a_spike_and_a_decrease():
    readings, times, _ = session(11.0, minutes=30)
    set_energy(readings, 12, energy_readings(readings)[12]["value"] + 40.0)
    result = analyze(readings, maxPowerKw=11)
    assert categories(result) == {"ENERGY_SPIKE"}
    found = anomaly(result, "ENERGY_SPIKE")
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[11]), iso(times[13]))


def test_one_dipped_reading_is_one_transient_decrease():
    readings, times, _ = session(11.0, minutes=30)
    set_energy(readings, 12, 3.0)
    result = analyze(readings)
    assert categories(result) == {"KWH_DECREASE"}
    found = anomaly(result, "KWH_DECREASE")
    assert found.details["kind"] == "transient"
    assert (found.start_timestamp, found.end_timestamp) == (iso(times[11]), iso(times[13]))


def test_register_still_under_standby_power_is_zero_energy_not_frozen():
    readings, _, _ = session(0.5, minutes=30)
    for r in energy_readings(readings):
        r["value"] = 1000.0  # below FROZEN_TELEMETRY's 1 kW, the register reading rules
    assert categories(analyze(readings)) == {"ZERO_ENERGY"}
