"""The oracle: hand-checked cases, agreement with a per-level loop and an exhaustive DP, and the
lower-bound invariant against any consistent policy."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.scoring import oracle

# (demand per tick, dt, startup, initial) -> (replica-seconds, one optimal schedule)
CASES = [
    pytest.param([0, 0, 3, 0, 0], 10.0, 30.0, 0, 120.0, [0, 0, 3, 0, 0], id="single-spike-no-initial"),
    pytest.param([0, 0, 3, 0, 0], 10.0, 30.0, 1, 110.0, [1, 1, 3, 0, 0], id="single-spike-one-initial-kept"),
    pytest.param([2, 2, 0, 0, 2, 2], 10.0, 30.0, 2, 120.0, [2, 2, 2, 2, 2, 2], id="dip-shorter-than-startup-bridged"),
    pytest.param([2, 0, 0, 0, 0, 2], 10.0, 30.0, 2, 100.0, [2, 0, 0, 0, 0, 2], id="dip-longer-than-startup-restart"),
    pytest.param([1, 0, 0, 0, 1], 10.0, 30.0, 1, 50.0, [1, 1, 1, 1, 1], id="dip-equal-to-startup-tie-bridged"),
    pytest.param([3, 1, 0, 1, 3], 10.0, 25.0, 3, 140.0, [3, 1, 1, 1, 3], id="nested-valleys"),
    pytest.param([2, 1, 2, 1, 2], 10.0, 15.0, 0, 130.0, [2, 2, 2, 2, 2], id="sawtooth-repeated-peaks"),
    pytest.param([1, 1, 1], 10.0, 30.0, 5, 30.0, [1, 1, 1], id="initial-above-demand-stopped-at-once"),
    pytest.param([0, 0, 0, 0, 2], 10.0, 30.0, 1, 80.0, [0, 0, 0, 0, 2], id="initial-below-demand-late-need"),
    pytest.param([0, 2, 2], 10.0, 30.0, 2, 60.0, [2, 2, 2], id="initial-kept-until-early-need"),
    pytest.param([3, 0, 2, 5, 0], 10.0, 0.0, 0, 100.0, [3, 0, 2, 5, 0], id="startup-zero-is-sum-of-demand"),
    pytest.param([0, 0, 0], 10.0, 30.0, 4, 0.0, [0, 0, 0], id="all-zero-demand"),
    pytest.param([], 10.0, 30.0, 2, 0.0, [], id="empty"),
]


@pytest.mark.parametrize(("demand", "dt", "startup", "initial", "seconds", "schedule"), CASES)
def test_hand_checked_cases(demand, dt, startup, initial, seconds, schedule):
    assert oracle.oracle_replica_seconds(np.array(demand, dtype=np.int64), dt, startup, initial) == pytest.approx(seconds, abs=1e-9)
    best = oracle.oracle_schedule(np.array(demand, dtype=np.int64), dt, startup, initial)
    assert best.tolist() == schedule
    assert oracle.schedule_replica_seconds(best, dt, startup, initial) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("demand", "dt", "startup", "initial", "message"),
    [
        pytest.param([1, -1], 1.0, 0.0, 0, "demand_replicas must be >= 0", id="negative-demand"),
        pytest.param([1.5], 1.0, 0.0, 0, "demand_replicas must hold whole numbers", id="fractional-demand"),
        pytest.param([1], 0.0, 0.0, 0, "dt must be a finite number > 0, got 0.0", id="zero-dt"),
        pytest.param([1], 1.0, -1.0, 0, "startup_seconds must be a finite number >= 0, got -1.0", id="negative-startup"),
        pytest.param([1], 1.0, float("inf"), 0, "startup_seconds must be a finite number >= 0, got inf", id="infinite-startup"),
        pytest.param([1], 1.0, 0.0, -1, "initial_replicas must be >= 0, got -1", id="negative-initial"),
        pytest.param([[1]], 1.0, 0.0, 0, "demand_replicas must be one-dimensional, got shape (1, 1)", id="2d"),
    ],
)
def test_rejects_bad_arguments(demand, dt, startup, initial, message):
    with pytest.raises(ValueError) as info:
        oracle.oracle_replica_seconds(np.array(demand), dt, startup, initial)
    assert str(info.value) == message


def test_float_demand_with_whole_values_is_accepted():
    assert oracle.oracle_replica_seconds(np.array([1.0, 2.0]), 1.0, 0.0, 0) == 3.0


# --- references -----------------------------------------------------------------------------


def per_level_reference(d: list[int], dt: float, startup: float, initial: int) -> float:
    """The decomposition written as plainly as possible: one level at a time."""
    total = dt * sum(d)
    for level in range(1, max(d, default=0) + 1):
        needed = [k for k, x in enumerate(d) if x >= level]
        total += startup if level > initial else min(needed[0] * dt, startup)
        for here, there in zip(needed, needed[1:]):
            total += min((there - here - 1) * dt, startup)
    return total


def exhaustive_reference(d: list[int], dt: float, startup: float, initial: int) -> float:
    """Dynamic programme over every supply level per tick; no decomposition assumed."""
    if not d:
        return 0.0
    states = max(max(d), initial) + 1
    best = [0.0 if s == initial else np.inf for s in range(states)]
    for need in d:
        best = [
            np.inf if s < need else s * dt + min(best[p] + startup * max(s - p, 0) for p in range(states))
            for s in range(states)
        ]
    return float(min(best))


demands = st.lists(st.integers(0, 5), min_size=0, max_size=24)
dts = st.sampled_from([0.5, 1.0, 10.0, 15.0])
startups = st.sampled_from([0.0, 0.5, 1.0, 10.0, 15.0, 30.0, 45.0, 120.0, 1e6])
initials = st.integers(0, 7)


@settings(max_examples=300, deadline=None)
@given(demands, dts, startups, initials)
def test_fast_oracle_equals_per_level_loop(d, dt, startup, initial):
    fast = oracle.oracle_replica_seconds(np.array(d, dtype=np.int64), dt, startup, initial)
    assert fast == pytest.approx(per_level_reference(d, dt, startup, initial), rel=1e-12, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=10), dts, startups, st.integers(0, 4))
def test_fast_oracle_equals_exhaustive_search(d, dt, startup, initial):
    fast = oracle.oracle_replica_seconds(np.array(d, dtype=np.int64), dt, startup, initial)
    assert fast == pytest.approx(exhaustive_reference(d, dt, startup, initial), rel=1e-12, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=200), dts, startups, initials)
def test_schedule_is_feasible_and_costs_the_oracle(d, dt, startup, initial):
    demand = np.array(d, dtype=np.int64)
    best = oracle.oracle_schedule(demand, dt, startup, initial)
    assert best.dtype == np.int64 and best.shape == demand.shape
    assert np.all(best >= demand)
    assert oracle.schedule_replica_seconds(best, dt, startup, initial) == pytest.approx(
        oracle.oracle_replica_seconds(demand, dt, startup, initial), rel=1e-12, abs=1e-9
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=300), startups)
def test_startup_zero_is_sum_of_demand(d, _):
    assert oracle.oracle_replica_seconds(np.array(d), 15.0, 0.0, 3) == 15.0 * sum(d)


@st.composite
def consistent_policies(draw):
    """A demand, any supply s >= d, and billing >= sum s*dt + L * (pod starts beyond the initial)."""
    d = draw(st.lists(st.integers(0, 6), min_size=1, max_size=40))
    s = [x + draw(st.integers(0, 3)) for x in d]
    initial = draw(initials)
    dt = draw(dts)
    startup = draw(startups.filter(lambda v: v < 1e5))
    slack = draw(st.lists(st.floats(0, 3), min_size=len(d), max_size=len(d)))
    starts = np.maximum(np.diff(np.array(s), prepend=initial), 0)
    billed = np.array(s) + startup * starts / dt + np.array(slack)   # start-up billed in the start tick
    return np.array(d), np.array(s), billed, dt, startup, initial


@settings(max_examples=300, deadline=None)
@given(consistent_policies())
def test_oracle_never_costs_more_than_a_policy_without_sla_misses(policy):
    d, _, billed, dt, startup, initial = policy
    policy_seconds = float(billed.sum()) * dt
    assert oracle.oracle_replica_seconds(d, dt, startup, initial) <= policy_seconds * (1 + 1e-12) + 1e-9
