"""PanicWindowPolicy (Knative KPA): parsing, window arithmetic, panic mode, rate limits, fail-safe,
irregular ticks, guards, and end-to-end backtests of the bundled examples (KPA and AWS step scaling)."""

from __future__ import annotations

import math
import pickle

import pytest

from workbench import backtest
from workbench.core import errors, loading, policies
from workbench.core.decisions import Reason
from workbench.core.observations import Observation
from workbench.core.policies import panic

START = 1000.0
BASE = {"replicas": "{min: 1, max: 100}", "target": "10", "targetUtilization": "1.0"}  # 10 per replica


def load(body: str) -> panic.PanicSpec:
    return loading.load_policy_text(
        f"apiVersion: scalelab/v1\nkind: PanicWindowPolicy\nmetadata: {{name: t}}\nspec:\n{body}", "t.yaml")


def spec(**fields: str) -> panic.PanicSpec:
    merged = {**BASE, **fields}
    return load("".join(f"  {k}: {v}\n" for k, v in merged.items()))


def metrics(value):
    if isinstance(value, dict):
        return {"cpu": 0.5, "memory": 0.5, "p95_ms": 100.0, **value}
    return {"cpu": 0.5, "memory": 0.5, "qps": value, "p95_ms": 100.0}


def run(sp, values, replicas, *, ready=None, times=None, feedback=True):
    """One decision per value (qps, or a metrics dict; None = missing) at START + 15 s * i, or at
    START + times[i]. ``ready``: an int (fixed), a list (per tick) or None (= the current count).
    With ``feedback`` each decision becomes the next tick's current count.
    Returns [(decision, state before, state after)]."""
    state = policies.initial_state(sp, replicas, START)
    out = []
    for i, v in enumerate(values):
        now = START + (times[i] if times is not None else 15.0 * i)
        r = replicas if ready is None else ready[i] if isinstance(ready, list) else ready
        decision, new = policies.decide(Observation(metrics(v), replicas, r), state, sp, now)
        assert decision.change == decision.replicas - replicas
        out.append((decision, state, new))
        state = new
        if feedback:
            replicas = decision.replicas
    return out


def last(sp, values, replicas, **kw):
    return run(sp, values, replicas, feedback=False, **kw)[-1][0]


def summary(d):
    return d.replicas, d.reason.value


# ------------------------------------------------------------------------------------ parsing


def test_registered_and_defaults_are_knative():
    assert policies.FAMILIES["PanicWindowPolicy"] is panic.FAMILY
    sp = load("  replicas: {min: 2, max: 50}\n  target: 100\n")
    assert (sp.kind, sp.min_replicas, sp.max_replicas, sp.metric) == ("PanicWindowPolicy", 2, 50, "qps")
    assert (sp.target_utilization, sp.stable_window, sp.panic_window, sp.panic_threshold) == (0.7, 60.0, 6.0, 2.0)
    assert (sp.max_scale_up_rate, sp.max_scale_down_rate, sp.scale_down_delay) == (1000.0, 2.0, 0.0)
    assert sp.target_value == 70.0
    assert sp.metrics_needed() == frozenset({"qps"})
    assert pickle.loads(pickle.dumps(sp)) == sp


@pytest.mark.parametrize("body, expected", [
    ("  targetUtilization: 70%\n  panicThreshold: 200%\n",
     {"target_utilization": 0.7, "panic_threshold": 2.0}),
    ("  panicWindow: 10s\n", {"panic_window": 10.0}),
    ("  stableWindow: 2m\n  panicWindowPercentage: 25\n", {"stable_window": 120.0, "panic_window": 30.0}),
    ("  scaleDownDelay: 5m\n", {"scale_down_delay": 300.0}),
    ("  metric: concurrency\n", {"metric": "concurrency"}),
    ("  maxScaleUpRate: 1.5\n  maxScaleDownRate: 4\n", {"max_scale_up_rate": 1.5, "max_scale_down_rate": 4.0}),
], ids=["percent-strings", "panic-window-duration", "panic-window-percentage", "scale-down-delay",
        "concurrency", "rates"])
def test_parse_forms(body, expected):
    sp = load("  replicas: {min: 1, max: 10}\n  target: 10\n" + body)
    assert {k: getattr(sp, k) for k in expected} == expected
    if sp.metric == "concurrency":
        assert sp.metrics_needed() == frozenset({"qps", "p95_ms"})
    assert sp.limits.stabilization_down == sp.scale_down_delay


R = "  replicas: {min: 1, max: 10}\n  target: 10\n"


@pytest.mark.parametrize("body, messages", [
    (R + "  stableWindw: 60s\n", ["t.yaml:7: spec.stableWindw: unknown key 'stableWindw'; did you mean 'stableWindow'?"]),
    ("  replicas: {min: 1, max: 10}\n", ["t.yaml:5: spec: missing required key 'target'"]),
    (R + "  metric: cpu\n", ["t.yaml:7: spec.metric: must be one of qps, concurrency, got 'cpu'"]),
    ("  replicas: {min: 1, max: 10}\n  target: 0\n", ["t.yaml:6: spec.target: must be > 0, got 0"]),
    (R + "  targetUtilization: 1.5\n", ["t.yaml:7: spec.targetUtilization: must be <= 1, got 1.5"]),
    (R + "  targetUtilization: 70\n",
     ["t.yaml:7: spec.targetUtilization: must be <= 1, got 70 (a ratio: write 0.7 or '70%')"]),
    (R + "  targetUtilization: 'seventy%'\n",
     ["t.yaml:7: spec.targetUtilization: expected a number or a percentage like '70%', got 'seventy%'"]),
    (R + "  targetUtilization: 0%\n", ["t.yaml:7: spec.targetUtilization: must be > 0, got 0"]),
    (R + "  panicThreshold: 1.0\n", ["t.yaml:7: spec.panicThreshold: must be >= 1.1, got 1"]),
    (R + "  panicThreshold: 200\n",
     ["t.yaml:7: spec.panicThreshold: must be <= 10, got 200 (a ratio: write 2 or '200%')"]),
    (R + "  panicWindow: 6s\n  panicWindowPercentage: 10\n",
     ["t.yaml:5: spec: give at most one of panicWindow, panicWindowPercentage"]),
    (R + "  panicWindow: 90s\n", ["t.yaml:7: spec.panicWindow: must be <= stableWindow (60s), got '90s'"]),
    (R + "  panicWindowPercentage: 0\n", ["t.yaml:7: spec.panicWindowPercentage: must be >= 1, got 0"]),
    (R + "  maxScaleDownRate: 1\n", ["t.yaml:7: spec.maxScaleDownRate: must be > 1, got 1"]),
    ("  replicas: {min: 0, max: 10}\n  target: 10\n", ["t.yaml:5: spec.replicas.min: must be >= 1, got 0"]),
    ("  replicas: {min: 5, max: 3}\n  target: 10\n", ["t.yaml:5: spec.replicas.min: min (5) must be <= max (3)"]),
    (R + "  stableWindow: soon\n",
     ["t.yaml:7: spec.stableWindow: expected a duration (seconds, or like '90s', '3m', '1h'), got 'soon'"]),
    (R + "  stableWindow: 0s\n", ["t.yaml:7: spec.stableWindow: must be > 0, got '0s'"]),
    (R + "  scaleDownDelay: -5\n", ["t.yaml:7: spec.scaleDownDelay: must be >= 0s, got -5"]),
    ("  - 1\n", ["t.yaml:5: spec: expected a mapping, got list"]),
    ("  replicas: {min: 1}\n  target: fast\n  metric: rps\n  panicThreshold: 2000\n  maxScaleUpRate: 0.5\n  extra: 1\n", [
        "t.yaml:10: spec.extra: unknown key 'extra' (allowed: replicas, metric, target, targetUtilization, "
        "stableWindow, panicWindowPercentage, panicWindow, panicThreshold, maxScaleUpRate, maxScaleDownRate, "
        "scaleDownDelay)",
        "t.yaml:5: spec.replicas: missing required key 'max'",
        "t.yaml:7: spec.metric: must be one of qps, concurrency, got 'rps'",
        "t.yaml:6: spec.target: expected a number, got string 'fast'",
        "t.yaml:8: spec.panicThreshold: must be <= 10, got 2000",
        "t.yaml:9: spec.maxScaleUpRate: must be > 1, got 0.5",
    ]),
], ids=["unknown-key", "missing-target", "unknown-metric", "target-zero", "utilization-above-1",
        "utilization-as-percent-number", "utilization-bad-percent", "utilization-zero", "threshold-below-110%",
        "threshold-as-percent-number", "both-panic-windows", "panic-window-above-stable", "panic-percentage-zero",
        "down-rate-1", "min-zero", "min-above-max", "bad-duration", "zero-stable-window", "negative-delay",
        "spec-not-mapping", "every-problem-at-once"])
def test_parse_errors(body, messages):
    with pytest.raises(errors.SpecError) as info:
        load(body)
    assert [str(p) for p in info.value.problems] == messages


@pytest.mark.parametrize("values, metric, expected", [
    ({"qps": 5.0}, "qps", 5.0),
    ({"qps": 0.0}, "qps", 0.0),
    ({"qps": None}, "qps", None),
    ({"qps": math.nan}, "qps", None),
    ({"qps": math.inf}, "qps", None),
    ({"qps": -1.0}, "qps", None),
    ({}, "qps", None),
    ({"qps": 100.0, "p95_ms": 200.0}, "concurrency", 20.0),
    ({"qps": 100.0, "p95_ms": None}, "concurrency", None),
    ({"qps": None, "p95_ms": 200.0}, "concurrency", None),
], ids=["qps", "zero", "none", "nan", "inf", "negative", "absent", "concurrency", "concurrency-no-p95",
        "concurrency-no-qps"])
def test_observe(values, metric, expected):
    assert panic.observe(values, metric) == expected


# --------------------------------------------------------------------------- stable windows


@pytest.mark.parametrize("values, current, expected", [
    ([40, 40, 40, 40], 4, (4, "WITHIN_TOLERANCE", 40.0, 4)),
    ([40, 50, 60, 70], 4, (6, "SCALED", 55.0, 6)),                 # mean of the 4 samples of 60 s
    ([70, 40, 40, 40, 40], 4, (4, "WITHIN_TOLERANCE", 40.0, 4)),   # the sample 60 s old has left
    ([30], 2, (3, "SCALED", 30.0, 3)),                             # first tick: one sample
    ([21, 21, 21, 21], 2, (3, "SCALED", 21.0, 3)),                 # ceil(2.1)
    ([20, 20, 20, 20], 2, (2, "WITHIN_TOLERANCE", 20.0, 2)),       # exact multiple: no extra replica
    ([30, 30, 30, 30], 4, (3, "SCALED", 30.0, 3)),
    ([0, 0, 0, 0], 4, (2, "RATE_LIMITED", 0.0, 0)),                # at most halve (maxScaleDownRate 2)
], ids=["steady", "mean-of-four", "oldest-sample-leaves", "first-tick", "ceil", "exact-multiple", "scale-down",
        "zero-load"])
def test_stable_window_arithmetic(values, current, expected):
    d = last(spec(), values, current)
    assert (d.replicas, d.reason.value, d.detail["stable_avg"], d.detail["desired_stable"]) == expected
    assert d.rule == "stable" and d.detail["panicking"] is False and d.detail["panic_since"] is None


@pytest.mark.parametrize("fields, values, current, expected", [
    ({"target": "3", "targetUtilization": "0.7"}, [21] * 4, 10, (10, 10)),        # 21 / 2.0999999999999996
    ({"target": "100", "targetUtilization": "70%"}, [700] * 4, 10, (10, 10)),
    ({"target": "100", "targetUtilization": "0.7"}, [701] * 4, 10, (11, 11)),
    ({"metric": "concurrency"}, [{"qps": 100.0, "p95_ms": 400.0}] * 4, 4, (4, 4)),  # 100/s x 0.4 s = 40 in flight
    ({"stableWindow": "2m"}, [80, 80, 80, 80, 40, 40, 40, 40], 6, (6, 6)),          # 8 samples: mean 60
], ids=["float-noise-no-extra-replica", "utilization-percent", "just-above", "concurrency", "longer-window"])
def test_target_value_and_metric(fields, values, current, expected):
    d = last(spec(**fields), values, current)
    assert (d.replicas, d.detail["desired_stable"]) == expected


# -------------------------------------------------------------------------------------- panic


@pytest.mark.parametrize("fields, values, current, ready, expected", [
    ({}, [40, 40, 40, 40, 90], 4, 4, (9, "PANIC", 52.5, 90.0, 6, 9, True)),
    ({}, [40, 40, 40, 40, 79], 4, 4, (8, "PANIC", 49.75, 79.0, 5, 8, True)),      # 8/4 = 200 %: inclusive
    ({}, [40, 40, 40, 40, 70], 4, 4, (5, "SCALED", 47.5, 70.0, 5, 7, False)),     # 7/4 = 175 %
    ({"panicThreshold": "3.0"}, [40, 40, 40, 40, 90], 4, 4, (6, "SCALED", 52.5, 90.0, 6, 9, False)),
    ({}, [40, 40, 40, 40, 90], 8, 4, (9, "PANIC", 52.5, 90.0, 6, 9, True)),      # 9 / 4 *ready* pods
    ({}, [40, 40, 40, 40, 90], 8, 8, (6, "SCALED", 52.5, 90.0, 6, 9, False)),     # 9 / 8
    ({"panicWindow": "30s"}, [40, 40, 40, 80, 90], 4, 4, (9, "PANIC", 62.5, 85.0, 7, 9, True)),
    ({}, [10, 10, 10, 10, 20], 1, 0, (2, "PANIC", 12.5, 20.0, 2, 2, True)),       # no ready pod counts as 1
], ids=["spike", "at-threshold", "below-threshold", "threshold-300%", "ready-not-desired", "all-ready",
        "panic-window-two-samples", "no-ready-pods"])
def test_entering_panic(fields, values, current, ready, expected):
    d = last(spec(**fields), values, current, ready=ready)
    got = (d.replicas, d.reason.value, d.detail["stable_avg"], d.detail["panic_avg"], d.detail["desired_stable"],
           d.detail["desired_panic"], d.detail["panicking"])
    assert got == expected
    assert d.rule == ("panic" if expected[-1] else "stable")
    assert d.detail["panic_since"] == (START + 60.0 if expected[-1] else None)


def test_no_scale_down_while_panicking_and_leaving_after_one_stable_window():
    # pods are slow: 4 stay ready throughout; the burst is one tick, then the load falls to 10/s
    out = run(spec(), [40, 40, 40, 40, 90, 10, 10, 10, 10, 10], 4, ready=4)
    got = [(d.replicas, d.reason.value, d.rule, d.detail["desired_stable"]) for d, _, _ in out]
    assert got == [
        (4, "WITHIN_TOLERANCE", "stable", 4), (4, "WITHIN_TOLERANCE", "stable", 4),
        (4, "WITHIN_TOLERANCE", "stable", 4), (4, "WITHIN_TOLERANCE", "stable", 4),
        (9, "PANIC", "panic", 6),
        (9, "PANIC", "panic", 5), (9, "PANIC", "panic", 4), (9, "PANIC", "panic", 3),  # stable wants less: held
        (2, "RATE_LIMITED", "stable", 1),   # 60 s after the last tick over the threshold: stable again,
        (2, "RATE_LIMITED", "stable", 1),   # down to floor(4 ready / 2) = 2 at most
    ]
    assert [d.detail["panic_since"] for d, _, _ in out[4:8]] == [START + 60.0] * 4


@pytest.mark.parametrize("stable_window, exit_index", [("60s", 8), ("30s", 6), ("2m", 12)],
                         ids=["60s", "30s", "2m"])
def test_panic_lasts_one_stable_window(stable_window, exit_index):
    values = [40, 40, 40, 40, 90] + [10] * 12
    out = run(spec(stableWindow=stable_window), values, 4, ready=4)
    panicking = [d.detail["panicking"] for d, _, _ in out]
    assert panicking == [False] * 4 + [True] * (exit_index - 4) + [False] * (len(values) - exit_index)
    assert all(d.replicas == 9 for d, _, _ in out[4:exit_index])


def test_a_new_burst_extends_panic():
    out = run(spec(), [40, 40, 40, 40, 90, 10, 90] + [10] * 6, 4, ready=4)
    panicking = [d.detail["panicking"] for d, _, _ in out]
    assert panicking == [False] * 4 + [True] * 6 + [False] * 3   # 60 s after the *second* burst (index 6)
    assert {d.detail["panic_since"] for d, _, _ in out[4:10]} == {START + 60.0}
    assert out[10][0].reason is Reason.RATE_LIMITED and out[10][0].replicas == 2


def test_panic_scales_up_further_and_keeps_the_highest_count():
    out = run(spec(), [40, 40, 40, 40, 90, 130, 100, 60], 4, ready=4)
    assert [summary(d) for d, _, _ in out[4:]] == [(9, "PANIC"), (13, "PANIC"), (13, "PANIC"), (13, "PANIC")]


# -------------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("fields, values, current, ready, expected", [
    ({"maxScaleUpRate": "1.5"}, [200], 4, 4, (6, "RATE_LIMITED")),      # ceil(1.5 x 4)
    ({"maxScaleUpRate": "2"}, [200], 4, 2, (4, "RATE_LIMITED")),        # 2 x 2 ready = 4: hold, never down
    ({}, [200], 4, 4, (20, "PANIC")),                                   # 1000 x: no limit in practice
    ({}, [10], 8, 8, (4, "RATE_LIMITED")),                              # floor(8 / 2)
    ({"maxScaleDownRate": "4"}, [10], 8, 8, (2, "RATE_LIMITED")),
    ({"maxScaleDownRate": "1.5"}, [10], 8, 8, (5, "RATE_LIMITED")),     # floor(5.33)
    ({}, [10], 8, 4, (2, "RATE_LIMITED")),                              # relative to the ready pods
    ({}, [50], 8, 8, (5, "SCALED")),                                    # within the limit
], ids=["up-1.5x", "up-never-reverses", "up-default", "down-half", "down-quarter", "down-1.5", "down-from-ready",
        "down-within-limit"])
def test_rate_limits(fields, values, current, ready, expected):
    assert summary(last(spec(**fields), values, current, ready=ready)) == expected


# ------------------------------------------------------------------------------------ guards


@pytest.mark.parametrize("fields, values, current, expected", [
    ({"replicas": "{min: 1, max: 10}"}, [200], 4, (10, "CLAMPED_MAX")),
    ({"replicas": "{min: 1, max: 10}"}, [200], 10, (10, "AT_LIMIT")),
    ({"replicas": "{min: 3, max: 10}"}, [0, 0, 0, 0], 4, (3, "CLAMPED_MIN")),
    ({"replicas": "{min: 1, max: 10}"}, [100, 100, 100, 100], 12, (10, "CLAMPED_MAX")),   # corrected at once
    ({"replicas": "{min: 5, max: 10}"}, [60, 60, 60, 60], 2, (5, "CLAMPED_MIN")),          # into range first
], ids=["clamp-max", "at-max", "clamp-min", "above-max", "below-min"])
def test_bounds(fields, values, current, expected):
    assert summary(last(spec(**fields), values, current)) == expected


def test_scale_down_delay_holds_the_highest_recent_count():
    out = run(spec(scaleDownDelay="60s"), [80] * 4 + [40] * 8, 8)
    assert [summary(d) for d, _, _ in out] == [(8, "WITHIN_TOLERANCE")] * 4 + [(8, "STABILIZED_DOWN")] * 4 + [
        (7, "STABILIZED_DOWN"), (6, "STABILIZED_DOWN"), (5, "STABILIZED_DOWN"), (4, "SCALED")]


# --------------------------------------------------------------------------- missing metrics


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -1.0], ids=["none", "nan", "inf", "negative"])
def test_missing_metric_never_scales_down(missing):
    out = run(spec(), [40, 40, 40, missing], 8, feedback=False)
    d, before, after = out[-1]
    assert summary(d) == (8, "METRICS_MISSING")
    assert d.detail["stable_avg"] == 40.0 and d.detail["panic_avg"] is None
    assert after is before     # nothing recorded: the same state object


def test_missing_p95_with_the_concurrency_metric():
    values = [{"qps": 100.0, "p95_ms": 400.0}] * 3 + [{"qps": 100.0, "p95_ms": None}]
    d, before, after = run(spec(metric="concurrency"), values, 8, feedback=False)[-1]
    assert summary(d) == (8, "METRICS_MISSING") and after is before


def test_missing_metric_may_still_scale_up_on_the_window():
    d = last(spec(), [40, 40, 40, None], 3)
    assert summary(d) == (4, "SCALED")
    assert (d.detail["stable_avg"], d.detail["panic_avg"], d.detail["desired_panic"]) == (40.0, None, None)


def test_no_sample_at_all_holds():
    d, before, after = run(spec(), [None], 3)[0]
    assert summary(d) == (3, "METRICS_MISSING") and d.detail["stable_avg"] is None
    assert after is before


def test_panic_does_not_end_while_metrics_are_missing():
    out = run(spec(), [40, 40, 40, 40, 90] + [None] * 6 + [10], 4, ready=4)
    got = [(d.replicas, d.reason.value, d.detail["panicking"]) for d, _, _ in out[4:]]
    assert got == [(9, "PANIC", True)] * 4 + [(9, "METRICS_MISSING", True)] * 3 + [(2, "RATE_LIMITED", False)]


# ---------------------------------------------------------------------------- irregular ticks


@pytest.mark.parametrize("fields, times, values, current, expected", [
    ({}, [0, 10, 40, 55, 70], [50, 90, 20, 30, 40], 5, (3, "SCALED", 30.0, 40.0)),  # (10, 70]: 20, 30, 40
    ({"panicWindow": "20s"}, [0, 10, 40, 55, 70], [50, 90, 20, 30, 40], 5, (3, "SCALED", 30.0, 35.0)),
    ({}, [0, 200], [100, 10], 10, (5, "RATE_LIMITED", 10.0, 10.0)),                 # a gap longer than the window
    ({}, [5 * i for i in range(14)], [40] * 14, 4, (4, "WITHIN_TOLERANCE", 40.0, 40.0)),   # fast ticks
    ({"panicWindow": "10s"}, [5 * i for i in range(14)], [40] * 12 + [60, 80], 4, (5, "SCALED", 45.0, 70.0)),
], ids=["window-edge-excluded", "panic-window-20s", "long-gap", "5s-ticks", "5s-ticks-panic-window-10s"])
def test_irregular_ticks(fields, times, values, current, expected):
    d = last(spec(**fields), values, current, times=times)
    assert (d.replicas, d.reason.value, d.detail["stable_avg"], d.detail["panic_avg"]) == expected


def test_a_repeated_tick_replaces_its_sample():
    d = last(spec(), [40, 40, 40, 10, 70], 4, times=[0, 15, 30, 45, 45])
    assert (d.detail["stable_avg"], d.detail["panic_avg"]) == (47.5, 70.0)


def test_panic_exit_with_irregular_ticks():
    out = run(spec(), [90, 10, 10, 10], 4, ready=4, times=[0, 30, 59, 60])
    assert [(d.replicas, d.reason.value) for d, _, _ in out] == [
        (9, "PANIC"), (9, "PANIC"), (9, "PANIC"), (2, "RATE_LIMITED")]


# ------------------------------------------------------------------------- state and purity


def test_state_is_immutable_small_and_replayable():
    sp = spec()
    out = run(sp, [40] * 20, 4)
    for i, (d, before, after) in enumerate(out):
        assert len(after.samples) == min(i + 1, 4)
        again, again_state = policies.decide(Observation(metrics(40), 4, 4), before, sp, START + 15.0 * i)
        assert again == d and again_state == after
    assert isinstance(out[-1][2], tuple)   # a NamedTuple


def test_quiet_ticks_keep_the_guard_and_panic_state_objects():
    out = run(spec(scaleDownDelay="5m"), [40] * 8, 4)
    guard_states = {id(after.guard) for _, _, after in out}
    assert len(guard_states) == 1
    assert all(after.panic_since is None for _, _, after in out)


# ------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def flash_crowd():
    return backtest.load_scenario("scenarios/synthetic-flash-crowd.yaml")


@pytest.fixture(scope="module")
def kpa_run(flash_crowd):
    return backtest.run(backtest.load_policy("scenarios/policies/panic-window.yaml"), flash_crowd)


@pytest.fixture(scope="module")
def aws_run(flash_crowd):
    return backtest.run(backtest.load_policy("scenarios/policies/aws-step-scaling.yaml"), flash_crowd)


SPIKES = (2 * 86400 + 14 * 3600, 5 * 86400 + 10 * 3600)   # synthetic-flash-crowd: 2d14h and 5d10h


def test_kpa_example_panics_only_during_flash_crowds(kpa_run):
    rec = kpa_run.records
    panics = rec[rec["reason"] == "PANIC"]
    assert len(panics) > 0
    assert set(panics["rule"]) == {"panic"}
    near = [any(at <= t <= at + 1800 for at in SPIKES) for t in panics["t"]]
    assert all(near)
    # the sharp crowd (30 s rise to 4x the load) panics at once; scale-ups there come in one big step
    sharp = panics[(panics["t"] >= SPIKES[1]) & (panics["t"] <= SPIKES[1] + 300)]
    assert len(sharp) > 0
    assert (rec.loc[panics.index, "change"] >= 0).all()   # never a scale-down in panic


def test_kpa_example_scores_are_sane(kpa_run):
    s = kpa_run.scores
    assert s["ticks"] == 40320
    assert s["sla_violation_request_share"] < 0.01
    assert 1.0 < s["oracle_cost_ratio"] < 2.0
    assert s["max_ready_replicas"] <= 50


def test_aws_step_scaling_steps_match_the_adjustments(aws_run):
    pol = backtest.load_policy("scenarios/policies/aws-step-scaling.yaml").spec
    rules = {r.name: r for r in pol.rules}
    rec = aws_run.records
    changes = rec[rec["change"] != 0]
    assert set(changes["reason"]) <= {"RULE_FIRED", "CLAMPED_MAX", "CLAMPED_MIN"}
    fired = changes[changes["reason"] == "RULE_FIRED"]
    for _, row in fired.iterrows():
        before = row["desired_replicas"] - row["change"]
        assert row["desired_replicas"] == rules[row["rule"]].action.target(before), row.to_dict()
    assert set(fired["rule"]) == {"cpu-85-plus", "cpu-70-85", "cpu-60-70", "cpu-below-30"}
    steps = {name: sorted(set((g["change"] / (g["desired_replicas"] - g["change"])).round(2)))
             for name, g in fired.groupby("rule", observed=True)}
    assert set(fired[fired["rule"] == "cpu-below-30"]["change"]) == {-1}
    assert all(0.1 <= r <= 0.5 for r in steps["cpu-60-70"])      # +10 %, at least one replica
    assert all(0.3 <= r <= 0.5 for r in steps["cpu-70-85"])      # +30 %
    assert all(0.5 <= r <= 1.0 for r in steps["cpu-85-plus"])    # +50 %
    gaps = changes["t"].diff().dropna()
    assert gaps.min() >= 120                                     # EstimatedInstanceWarmup


@pytest.mark.parametrize("rule, before, after", [
    ("cpu-60-70", 10, 11), ("cpu-60-70", 2, 3), ("cpu-60-70", 15, 17),
    ("cpu-70-85", 10, 13), ("cpu-70-85", 7, 10),
    ("cpu-85-plus", 10, 15), ("cpu-85-plus", 3, 5),
    ("cpu-below-30", 10, 9),
], ids=lambda v: str(v))
def test_aws_step_sizes(rule, before, after):
    pol = backtest.load_policy("scenarios/policies/aws-step-scaling.yaml").spec
    assert {r.name: r for r in pol.rules}[rule].action.target(before) == after
