"""The aggregate: every key of ``compute_scores`` on hand-built records, JSON shape, input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_records import make_records
from workbench.core import errors
from workbench.scoring import scores

KEYS = [
    "cost_replica_hours", "cost", "sla_violation_seconds", "sla_violation_request_share",
    "dropped_requests", "scale_events", "scale_ups", "scale_downs", "direction_reversals", "flaps",
    "theta_u", "theta_o", "tau_u", "tau_o", "instability", "jitter", "oracle_cost_replica_hours",
    "oracle_cost_ratio", "mean_ready_replicas", "max_ready_replicas", "simulated_seconds", "ticks",
]
INT_KEYS = {"scale_events", "scale_ups", "scale_downs", "direction_reversals", "flaps", "max_ready_replicas", "ticks"}

PARAMS = scores.ScoreParams(dt=60.0, cost_per_replica_hour=0.5, startup_min_seconds=120.0, initial_replicas=2)

# Eight one-minute ticks. d = demand replicas, s = ready replicas (misses at ticks 2 and 7).
EIGHT_TICKS = dict(
    demand_replicas=[2, 2, 3, 3, 1, 0, 0, 2],
    ready_replicas=[2, 2, 2, 3, 3, 2, 2, 1],
    desired_replicas=[2, 3, 3, 3, 2, 1, 1, 2],      # initial 2: up@1, down@4, down@5, up@7
    billed_replicas=[2, 3, 3, 3, 3, 2, 2, 2],       # 20 pod-minutes
    demand_rps=[200, 200, 300, 300, 100, 0, 0, 200],
    served_rps=[200, 200, 200, 300, 100, 0, 0, 100],
    over_slo_share=[0, 0, 0.5, 0, 0, float("nan"), float("nan"), 0.25],
)
EIGHT_TICKS_EXPECTED = {
    "cost_replica_hours": 20 / 60,
    "cost": 20 / 60 * 0.5,
    "sla_violation_seconds": 120.0,
    # late: 200*0.5 + 100*0.25 = 125 rps-ticks, dropped 200, arrived 1300
    "sla_violation_request_share": 325 / 1300,
    "dropped_requests": 200 * 60.0,
    "scale_events": 4,
    "scale_ups": 2,
    "scale_downs": 2,
    "direction_reversals": 2,                      # up@1->down@4, down@5->up@7
    "flaps": 2,                                    # 180 s and 120 s apart, window 600 s
    "theta_u": 100 / 8 * (1 / 3 + 1 / 2),
    "theta_o": 100 / 8 * (2 / 1 + 2 / 1 + 2 / 1),  # ticks 5 and 6 have d = 0: divided by 1
    "tau_u": 25.0,
    "tau_o": 37.5,
    # sgn ds = [0,0,1,0,-1,0,-1], sgn dd = [0,1,0,-1,-1,0,1]
    "instability": 100 * 4 / 7,
    "jitter": (3 - 4) / (480 / 3600),
    # 13 pod-ticks + level 1 gap (2 ticks = 120 s = L) + level 2 gap (3 ticks, capped at L) + level 3 start L
    "oracle_cost_replica_hours": (13 * 60 + 120 + 120 + 120) / 3600,
    "oracle_cost_ratio": (20 * 60) / (13 * 60 + 360),
    "mean_ready_replicas": 17 / 8,
    "max_ready_replicas": 3,
    "simulated_seconds": 480.0,
    "ticks": 8,
}


def assert_scores(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key, want in expected.items():
        value = got[key]
        if want is None or key in INT_KEYS:
            assert value == want and type(value) is type(want), key
        else:
            assert type(value) is float, key
            assert value == pytest.approx(want, rel=1e-12, abs=1e-12), key


def test_every_score_of_a_hand_built_run():
    assert_scores(scores.compute_scores(make_records(**EIGHT_TICKS), PARAMS).as_dict(), EIGHT_TICKS_EXPECTED)


def test_a_dataframe_scores_like_a_dict():
    records = make_records(**EIGHT_TICKS)
    assert scores.compute_scores(pd.DataFrame(records), PARAMS) == scores.compute_scores(records, PARAMS)


def test_key_list_and_json():
    result = scores.compute_scores(make_records(**EIGHT_TICKS), PARAMS).as_dict()
    assert list(result) == KEYS == list(scores.SCORE_KEYS)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert all(type(v) in (int, float, type(None)) for v in result.values())


ZERO_DEMAND_EXPECTED = {
    "cost_replica_hours": 2.5 * 60 / 3600, "cost": 2.5 * 60 / 3600 * 0.5,
    "sla_violation_seconds": 0.0, "sla_violation_request_share": 0.0, "dropped_requests": 0.0,
    "scale_events": 1, "scale_ups": 0, "scale_downs": 1, "direction_reversals": 0, "flaps": 0,
    "theta_u": 0.0, "theta_o": 100 * 2 / 3, "tau_u": 0.0, "tau_o": 100 * 2 / 3,
    "instability": 50.0, "jitter": 1 / (180 / 3600),
    "oracle_cost_replica_hours": 0.0, "oracle_cost_ratio": None,
    "mean_ready_replicas": 2 / 3, "max_ready_replicas": 1, "simulated_seconds": 180.0, "ticks": 3,
}

EMPTY_EXPECTED = {
    "cost_replica_hours": 0.0, "cost": 0.0,
    "sla_violation_seconds": 0.0, "sla_violation_request_share": 0.0, "dropped_requests": 0.0,
    "scale_events": 0, "scale_ups": 0, "scale_downs": 0, "direction_reversals": 0, "flaps": 0,
    "theta_u": None, "theta_o": None, "tau_u": None, "tau_o": None, "instability": None, "jitter": None,
    "oracle_cost_replica_hours": 0.0, "oracle_cost_ratio": None,
    "mean_ready_replicas": None, "max_ready_replicas": None, "simulated_seconds": 0.0, "ticks": 0,
}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param(
            make_records(demand_replicas=[0, 0, 0], ready_replicas=[1, 1, 0], desired_replicas=[1, 1, 0],
                         billed_replicas=[1, 1, 0.5]),
            ZERO_DEMAND_EXPECTED, id="all-zero-demand",
        ),
        pytest.param(make_records(demand_replicas=[], ready_replicas=[]), EMPTY_EXPECTED, id="empty-run"),
    ],
)
def test_degenerate_runs_have_no_nan(records, expected):
    params = scores.ScoreParams(dt=60.0, cost_per_replica_hour=0.5, startup_min_seconds=120.0, initial_replicas=1)
    result = scores.compute_scores(records, params).as_dict()
    assert_scores(result, expected)
    json.dumps(result, allow_nan=False)


def _broken(**changes):
    records = make_records(**EIGHT_TICKS)
    for name, value in changes.items():
        if value is None:
            del records[name]
        else:
            records[name] = value
    return records


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param(_broken(billed_replicas=None, sla_violation=None),
                     "records: missing column(s): billed_replicas, sla_violation", id="missing-columns"),
        pytest.param(_broken(billed_replicas=np.ones(7)),
                     "records: columns differ in length: demand_rps=8, served_rps=8, dropped_rps=8, "
                     "billed_replicas=7, ready_replicas=8, desired_replicas=8, demand_replicas=8, "
                     "over_slo_share=8, sla_violation=8, t=8", id="unequal-lengths"),
        pytest.param(_broken(billed_replicas=np.r_[np.ones(3), np.nan, np.ones(4)]),
                     "records: billed_replicas: has NaN or infinite values (first at row 3)", id="nan-billing"),
        pytest.param(_broken(ready_replicas=np.r_[2.5, np.ones(7)], served_rps=-np.ones(8)),
                     "records: served_rps: has negative values (first at row 0); "
                     "ready_replicas: must hold whole numbers", id="two-problems-at-once"),
        pytest.param(_broken(over_slo_share=np.full(8, 1.5)),
                     "records: over_slo_share: values must be in [0, 1] (or NaN when nothing was served)",
                     id="share-out-of-range"),
        pytest.param(_broken(t=np.r_[0, 60, 120, 200, 260, 320, 380, 440.0]),
                     "records: t: ticks must be 60.0 s apart (row 3 is 80.0 s after row 2)", id="non-uniform-t"),
        pytest.param(_broken(demand_rps=np.array(list("abcdefgh"))),
                     "records: demand_rps: not numeric (dtype <U1)", id="text-column"),
    ],
)
def test_bad_records_are_reported_with_every_problem(records, message):
    with pytest.raises(scores.ScoringInputError) as info:
        scores.compute_scores(records, PARAMS)
    assert str(info.value) == message
    assert isinstance(info.value, errors.UserError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(dict(dt=0.0), "score parameters: dt must be a finite number > 0, got 0.0", id="zero-dt"),
        pytest.param(dict(cost_per_replica_hour=-1.0, flap_window_seconds=float("inf")),
                     "score parameters: cost_per_replica_hour must be a finite number >= 0, got -1.0; "
                     "flap_window_seconds must be a finite number >= 0, got inf", id="two-problems"),
        pytest.param(dict(initial_replicas=1.5),
                     "score parameters: initial_replicas must be a whole number >= 0, got 1.5", id="fractional-initial"),
        pytest.param(dict(initial_replicas=True),
                     "score parameters: initial_replicas must be a whole number >= 0, got True", id="bool-initial"),
    ],
)
def test_bad_parameters(changes, message):
    fields = dict(dt=60.0, cost_per_replica_hour=0.5, startup_min_seconds=120.0, initial_replicas=2) | changes
    with pytest.raises(scores.ScoringInputError) as info:
        scores.ScoreParams(**fields)
    assert str(info.value) == message


def test_params_are_frozen_and_window_defaults_to_ten_minutes():
    assert PARAMS.flap_window_seconds == 600.0
    with pytest.raises(AttributeError):
        PARAMS.dt = 1.0  # type: ignore[misc]


@st.composite
def runs_without_sla_misses(draw):
    """Supply s >= d everywhere; billing >= sum s*dt + startup * (pod starts beyond the initial)."""
    d = np.array(draw(st.lists(st.integers(0, 6), min_size=1, max_size=40)))
    s = d + np.array(draw(st.lists(st.integers(0, 3), min_size=d.size, max_size=d.size)))
    initial = draw(st.integers(0, 8))
    dt = draw(st.sampled_from([1.0, 10.0, 15.0, 60.0]))
    startup_min = draw(st.sampled_from([0.0, 5.0, 30.0, 45.0, 120.0, 600.0]))
    startup = startup_min + draw(st.sampled_from([0.0, 1.0, 30.0]))   # real pods are no faster
    starts = np.maximum(np.diff(s, prepend=initial), 0)
    terminating = np.array(draw(st.lists(st.floats(0, 2), min_size=d.size, max_size=d.size)))
    billed = s + startup * starts / dt + terminating
    records = make_records(demand_replicas=d, ready_replicas=s, billed_replicas=billed, dt=dt)
    params = scores.ScoreParams(dt=dt, cost_per_replica_hour=0.04, startup_min_seconds=startup_min,
                                initial_replicas=initial)
    return records, params


@settings(max_examples=300, deadline=None)
@given(runs_without_sla_misses())
def test_the_oracle_is_a_lower_bound_for_any_policy_without_sla_misses(run):
    records, params = run
    result = scores.compute_scores(records, params)
    assert result.sla_violation_seconds == 0.0 and result.tau_u == 0.0
    assert result.oracle_cost_replica_hours <= result.cost_replica_hours * (1 + 1e-12) + 1e-12
    if result.oracle_cost_ratio is not None:
        assert result.oracle_cost_ratio >= 1 - 1e-12
