"""PredictivePolicy: parsing, the Holt-Winters forecaster, warm-up and fallback, scaling ahead of a
known rise, guards, quiet ticks, determinism, and end-to-end backtests through the public API."""

from __future__ import annotations

import math
import pickle
import random
from pathlib import Path

import pytest

from workbench import backtest
from workbench.core import errors, loading, policies
from workbench.core.decisions import Reason
from workbench.core.observations import Observation
from workbench.core.policies import forecast, predictive

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scenarios" / "policies" / "predictive.yaml"
DAY = 86400.0
B = 300.0                       # bucket
T0 = 1_700_006_400.0            # a UTC midnight (and a bucket boundary)
M = 288                         # buckets per day

# A plain, exact configuration: forecast sized at 100 req/s per replica, reactive floor on qps at
# 100 req/s per replica with no tolerance, no margins, bucket means.
FORECAST = {"targetPerReplica": 100, "headroom": 0, "errorMargin": 0, "downHysteresis": 0, "aggregate": "mean",
            "bucket": "5m", "season": "1d", "minHistory": "1d", "schedulingBufferSeconds": 0}
REACTIVE = {"metric": "qps", "target": 100, "tolerance": 0}


def flow(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"


def load(body: str) -> predictive.PredictiveSpec:
    return loading.load_policy_text(
        f"apiVersion: scalelab/v1\nkind: PredictivePolicy\nmetadata: {{name: t}}\nspec:\n{body}", "t.yaml")


def spec(replicas="{min: 1, max: 100}", limits=None, **over) -> predictive.PredictiveSpec:
    fc = {**FORECAST, **{k: v for k, v in over.items() if k != "reactive"}}
    fc = {k: v for k, v in fc.items() if v is not None}
    body = f"  replicas: {replicas}\n"
    if limits:
        body += f"  limits: {flow(limits)}\n"
    body += f"  forecast: {flow(fc)}\n  reactive: {flow({**REACTIVE, **over.get('reactive', {})})}\n"
    return load(body)


def run(sp, load_at, *, start=T0, end=None, step=15.0, replicas=10, times=None, metrics=None, state=None):
    """Drive ``decide`` over ticks (every ``step`` s from ``start`` to ``end``, or at ``times``),
    the decision becoming the next tick's count. ``load_at(t)`` gives qps (None = missing);
    ``metrics(t, qps, replicas)`` may build the whole metric dict. Returns ([(t, decision)], state, replicas)."""
    state = policies.initial_state(sp, replicas, start) if state is None else state
    if times is None:
        n = int(round((end - start) / step))
        times = [start + i * step for i in range(n)]
    out = []
    for t in times:
        q = load_at(t)
        m = metrics(t, q, replicas) if metrics else {"cpu": 0.5, "memory": 0.5, "qps": q, "p95_ms": 100.0}
        d, state = policies.decide(Observation(m, replicas, replicas), state, sp, t)
        assert d.change == d.replicas - replicas
        out.append((t, d))
        replicas = d.replicas
    return out, state, replicas


def constant(value):
    return lambda t: value


# ------------------------------------------------------------------------------------ parsing


def test_example_policy_parses_to_the_documented_spec():
    sp = backtest.load_policy(EXAMPLE).spec
    assert (sp.kind, sp.name, sp.min_replicas, sp.max_replicas) == ("PredictivePolicy", "predictive", 2, 50)
    assert (sp.target_per_replica, sp.headroom, sp.margin, sp.hysteresis, sp.buffer) == (85, 0.05, 1, 0.1, 180)
    assert (sp.bucket, sp.season, sp.min_history, sp.sample_every, sp.use_max, sp.horizon) == \
        (300, 86400, 86400, 60, True, 1)
    assert sp.model == forecast.Params(m=288, multiplicative=False, weekly=False, alpha=0.3, beta=0.01, gamma=0.3,
                                       gamma_weekly=0.2, trend_cap=2, error_weight=300 / 3600)
    assert (sp.reactive_metric, sp.reactive_target, sp.tolerance) == ("cpu", 0.7, 0.1)
    assert (sp.limits.max_step_up, sp.limits.max_step_down, sp.limits.min_seconds_between_changes,
            sp.limits.stabilization_down) == (10, 2, 60, 1800)
    assert sp.metrics_needed() == {"qps", "cpu"}


def test_defaults():
    sp = load("  replicas: {min: 1, max: 9}\n  forecast: {targetPerReplica: 50}\n"
              "  reactive: {metric: cpu, target: 0.6}\n")
    assert (sp.headroom, sp.margin, sp.hysteresis, sp.use_max, sp.buffer, sp.horizon) == (0, 1, 0.1, True, 0, 0)
    assert (sp.bucket, sp.season, sp.min_history, sp.sample_every, sp.tolerance) == (300, 86400, 86400, 60, 0.1)
    assert sp.model == forecast.Params(m=288, trend_cap=1, error_weight=300 / 3600)
    assert sp.limits.max_step_up is None and sp.limits.stabilization_down == 0


@pytest.mark.parametrize("body, messages", [
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, buckett: 5m}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.buckett: unknown key 'buckett'; did you mean 'bucket'?"]),
    ("  replicas: {min: 1, max: 9}\n  forecast: {headroom: 0.1}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast: missing required key 'targetPerReplica'"]),
    ("  replicas: {min: 1, max: 9}\n  forecast: {targetPerReplica: 50}\n",
     ["t.yaml:5: spec: missing required key 'reactive'"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, bucket: 7m}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.season: must be a whole number (>= 2) of buckets (420s), got 86400s"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, minHistory: 12h}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.minHistory: must be >= season (86400s): the model needs one whole season, got 43200s"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, season: 12h, weekly: true}\n"
     "  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.weekly: needs season: 1d (the weekly profile is 7 days), got season 43200s"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, sampleEvery: 7m}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.sampleEvery: must divide bucket (300s) evenly, got 420s"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, bucket: 1s, weekly: true, sampleEvery: 1s}\n"
     "  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.bucket: season / bucket gives 604800 slots (max 100000); use a longer bucket"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, gammaWeekly: 0.1}\n  reactive: {metric: qps, target: 50}\n",
     ["t.yaml:6: spec.forecast.gammaWeekly: only used with weekly: true"]),
    ("  replicas: {min: 1, max: 9}\n"
     "  forecast: {targetPerReplica: 50, seasonality: exponential}\n"
     "  reactive: {metric: p95_ms, target: 50}\n",
     ["t.yaml:6: spec.forecast.seasonality: must be one of additive, multiplicative, got 'exponential'",
      "t.yaml:7: spec.reactive.metric: must be one of cpu, memory, qps, got 'p95_ms'"]),
    ("  replicas: {min: 10, max: 9}\n  limits: {maxStepUp: 0}\n"
     "  forecast: {targetPerReplica: 0, headroom: -1, alpha: 1.5, bucket: soon, schedulingBufferSeconds: -5}\n"
     "  reactive: {metric: cpu, tolerance: 1, extra: 1}\n",
     ["t.yaml:5: spec.replicas.min: min (10) must be <= max (9)",
      "t.yaml:6: spec.limits.maxStepUp: must be >= 1, got 0",
      "t.yaml:7: spec.forecast.targetPerReplica: must be > 0, got 0",
      "t.yaml:7: spec.forecast.headroom: must be >= 0, got -1",
      "t.yaml:7: spec.forecast.schedulingBufferSeconds: must be >= 0s, got -5",
      "t.yaml:7: spec.forecast.bucket: expected a duration (seconds, or like '90s', '3m', '1h'), got 'soon'",
      "t.yaml:7: spec.forecast.alpha: must be <= 1, got 1.5",
      "t.yaml:8: spec.reactive.extra: unknown key 'extra' (allowed: metric, target, tolerance)",
      "t.yaml:8: spec.reactive: missing required key 'target'",
      "t.yaml:8: spec.reactive.tolerance: must be <= 0.99, got 1"]),
], ids=["unknown-key", "no-target", "no-reactive", "season-not-whole-buckets", "min-history-below-season",
        "weekly-needs-1d", "bucket-not-multiple-of-sample", "too-many-slots", "gamma-weekly-without-weekly",
        "bad-choices", "every-problem-at-once"])
def test_loader_reports_every_problem_with_line_and_path(body, messages):
    with pytest.raises(errors.SpecError) as info:
        load(body)
    assert [str(p) for p in info.value.problems] == messages


# ---------------------------------------------------------------------------------- forecaster


def sine(j: int) -> float:
    return 1000.0 + 400.0 * math.sin(2 * math.pi * j / M)


def fit(params, values, first=0):
    model = forecast.empty(params)
    for j, y in enumerate(values, first):
        if y is not None:
            model = forecast.update(params, model, j, y)
    return model


@pytest.mark.parametrize("multiplicative", [False, True], ids=["additive", "multiplicative"])
def test_a_pure_sine_with_period_season_is_forecast_exactly_after_one_season(multiplicative):
    p = forecast.Params(m=M, multiplicative=multiplicative)
    model = fit(p, [sine(j) for j in range(M - 1)])
    assert not model.ready and forecast.predict(p, model, M) is None
    model = forecast.update(p, model, M - 1, sine(M - 1))
    assert model.ready and model.buckets == M and model.trend == 0.0
    worst = 0.0
    for j in range(M, 3 * M):   # two more days, one step ahead each bucket
        worst = max(worst, abs(forecast.predict(p, model, j) / sine(j) - 1))
        model = forecast.update(p, model, j, sine(j))
    assert worst < 1e-12 and model.error < 1e-12


@pytest.mark.parametrize("multiplicative, mae_below, max_below", [(False, 0.04, 0.2), (True, 0.04, 0.2)],
                         ids=["additive", "multiplicative"])
def test_a_noisy_sine_is_forecast_within_tolerance_and_the_error_is_tracked(multiplicative, mae_below, max_below):
    """5% multiplicative noise: from day 3 on the one-step forecast is within 4% of the true
    curve on average (the noise itself is 5%), and the tracked error is about the noise level."""
    p = forecast.Params(m=M, multiplicative=multiplicative)
    rng = random.Random(7)
    model, errs = forecast.empty(p), []
    for j in range(7 * M):
        if j >= 2 * M:
            errs.append(abs(forecast.predict(p, model, j) / sine(j) - 1))
        model = forecast.update(p, model, j, sine(j) * (1 + rng.gauss(0, 0.05)))
    assert sum(errs) / len(errs) < mae_below and max(errs) < max_below
    assert 0.03 < model.error < 0.05


@pytest.mark.parametrize("multiplicative, growth, day3_max, day10_max", [
    (False, 0.02, 0.02, 0.006), (False, 0.05, 0.04, 0.012),
    (True, 0.02, 0.02, 0.008), (True, 0.05, 0.04, 0.014),
], ids=["additive-2%/day", "additive-5%/day", "multiplicative-2%/day", "multiplicative-5%/day"])
def test_a_growing_sine_is_tracked(multiplicative, growth, day3_max, day10_max):
    """Growth the first season cannot separate from the daily shape is partly absorbed into the
    profile (the trend starts at 0); the error shrinks as gamma corrects the profile."""
    per = 1000.0 * growth / M
    f = lambda j: 1000.0 + per * j + 400.0 * math.sin(2 * math.pi * j / M)  # noqa: E731
    p = forecast.Params(m=M, multiplicative=multiplicative, trend_cap=2)
    model, errs = forecast.empty(p), []
    for j in range(10 * M):
        if j >= 2 * M:
            errs.append(abs(forecast.predict(p, model, j) / f(j) - 1))
        model = forecast.update(p, model, j, f(j))
    assert max(errs) < day3_max and max(errs[-2 * M:]) < day10_max


@pytest.mark.parametrize("after, error", [(0, 0.2736), (1, 0.1912), (3, 0.0915), (6, 0.0266), (10, 0.0001)],
                         ids=lambda v: str(v))
def test_a_level_step_is_followed_at_rate_alpha(after, error):
    """+500 req/s from bucket s on: the one-step error shrinks by ~(1 - alpha) per bucket."""
    p = forecast.Params(m=M)
    s = 2 * M + 100
    f = lambda j: sine(j) + (500.0 if j >= s else 0.0)  # noqa: E731
    model = fit(p, [f(j) for j in range(s + after)])
    assert abs(forecast.predict(p, model, s + after) / f(s + after) - 1) == pytest.approx(error, abs=5e-5)


def test_slots_missing_from_the_first_season_are_interpolated():
    p = forecast.Params(m=M)
    values = [None if 100 <= j < 110 else sine(j) for j in range(M)]
    model = fit(p, values)
    assert model.ready and model.buckets == M - 10
    for j in range(M + 100, M + 110):   # linear between slots 99 and 110: within 0.2% of the sine
        assert forecast.predict(p, model, j) == pytest.approx(sine(j), rel=2e-3)


def test_a_gap_weights_the_next_value_like_the_missed_buckets():
    """After g missing buckets the level moves by 1 - (1 - alpha)^(g + 1) of the surprise."""
    p = forecast.Params(m=M, alpha=0.3)
    model = fit(p, [1000.0] * M)                      # flat: level 1000, profile 0
    after_gap = forecast.update(p, model, M + 4, 2000.0)  # buckets M..M+3 missing
    assert after_gap.level == pytest.approx(1000.0 + 1000.0 * (1 - 0.7 ** 5))
    assert after_gap.buckets == M + 1 and after_gap.last == M + 4
    assert forecast.update(p, after_gap, M + 2, 5.0) is after_gap   # an old bucket is ignored


def test_chunked_profiles_are_immutable():
    prof = forecast.chunked(range(200))
    new = forecast.put(prof, 130, -1)
    assert forecast.get(new, 130) == -1 and forecast.get(prof, 130) == 130
    assert forecast.flat(new) == tuple(-1 if i == 130 else i for i in range(200))
    assert new[0] is prof[0] and new[1] is prof[1] and new[3] is prof[3]   # only one chunk copied


# ------------------------------------------------------------------------------ warm-up, fallback


@pytest.mark.parametrize("min_history", ["1d", "2d"])
def test_warming_up_until_exactly_min_history_then_forecast(min_history):
    sp = spec(minHistory=min_history, headroom=0.2)   # forecast 1000 * 1.2 / 100 = 12 > reactive 10
    horizon = DAY * (2 if min_history == "2d" else 1)
    out, _, _ = run(sp, constant(1000.0), end=T0 + horizon + 60)
    before = [d for t, d in out if t < T0 + horizon]
    assert {d.reason for d in before} == {Reason.WARMING_UP}
    assert {d.rule for d in before} == {""} and {d.replicas for d in before} == {10}
    last_warm = before[-1].detail
    assert last_warm == {"forecast_qps": None, "forecast_replicas": None, "reactive_replicas": 10,
                         "history_seconds": horizon - B, "history_missing_seconds": B}
    assert out[0][1].detail["history_missing_seconds"] == horizon
    t, first = out[len(before)]
    assert t == T0 + horizon
    assert (first.replicas, first.reason, first.rule) == (12, Reason.FORECAST, "forecast")
    assert first.detail == {"forecast_qps": 1000.0, "forecast_replicas": 12, "reactive_replicas": 10,
                            "history_seconds": horizon}
    assert [d.reason for _, d in out[len(before) + 1:]] == [Reason.NO_RULE_MATCHED] * 3


def test_warming_up_scales_on_the_reactive_floor():
    out, _, _ = run(spec(), lambda t: 1000.0 if t < T0 + 3600 else 2345.0, end=T0 + 3700, replicas=10)
    changed = [(t - T0, d.replicas, d.reason, d.rule) for t, d in out if d.change]
    assert changed == [(3600, 24, Reason.WARMING_UP, "reactive")]


def test_a_gap_in_the_ticks_delays_the_end_of_warm_up_by_the_gap():
    sp = spec(headroom=0.2)
    times = [T0 + 15 * i for i in range(5760 + 500) if not 1000 <= i < 1480]   # 2 h without ticks
    out, _, _ = run(sp, constant(1000.0), times=times)
    first = next((t, d) for t, d in out if d.reason is not Reason.WARMING_UP)
    assert first[0] == T0 + DAY + 7200
    assert first[1].detail["history_seconds"] == DAY


def test_missing_qps_during_warm_up_leaves_buckets_missing():
    sp = spec(reactive={"metric": "cpu", "target": 0.5})
    q = lambda t: None if T0 + 3600 <= t < T0 + 7200 else 1000.0   # noqa: E731
    out, _, _ = run(sp, q, end=T0 + 3 * 3600, metrics=lambda t, qps, r: {"cpu": 0.5, "qps": qps})
    assert out[-1][1].detail["history_seconds"] == 3 * 3600 - 3600 - B   # the open bucket has not closed


def warmed(sp, value=1000.0, replicas=10):
    """State after one day of a constant load (qps ``value``), and the count the policy reached."""
    _, state, replicas = run(sp, constant(value), end=T0 + DAY, replicas=replicas)
    return state, replicas


def one(sp, state, metrics, current, ready=None, now=T0 + DAY):
    d, new = policies.decide(Observation(metrics, current, current if ready is None else ready), state, sp, now)
    return d, new


NAN = float("nan")


@pytest.mark.parametrize("headroom, metrics, current, expected", [
    (0.5, {"qps": None, "cpu": 0.5}, 10, (15, Reason.FORECAST, "forecast")),    # forecast still raises
    (0.5, {"qps": NAN, "cpu": 0.5}, 10, (15, Reason.FORECAST, "forecast")),
    (0.0, {"qps": None, "cpu": 0.25}, 14, (14, Reason.METRICS_MISSING, "")),      # never down without qps
    (0.0, {"qps": 1000.0, "cpu": None}, 14, (14, Reason.METRICS_MISSING, "")),    # ... or the floor's metric
    (0.0, {"qps": 1000.0, "cpu": NAN}, 14, (14, Reason.METRICS_MISSING, "")),
    (0.0, {"qps": 1000.0, "cpu": 0.25}, 14, (10, Reason.FORECAST, "forecast")),   # both known: down
    (0.0, {"qps": 1000.0, "cpu": 0.9}, 10, (18, Reason.SCALED, "reactive")),      # floor above forecast
    (0.0, {"qps": -5.0, "cpu": 0.25}, 14, (14, Reason.METRICS_MISSING, "")),      # negative = invalid
], ids=["up-no-qps", "up-nan-qps", "down-no-qps", "down-no-cpu", "down-nan-cpu", "down-ok", "floor-binds",
        "negative-qps"])
def test_missing_metrics_never_scale_down(headroom, metrics, current, expected):
    sp = spec(headroom=headroom, reactive={"metric": "cpu", "target": 0.5})
    state, _ = warmed(sp)
    d, _ = one(sp, state, metrics, current)
    assert (d.replicas, d.reason, d.rule) == expected


def test_missing_reactive_metric_during_warm_up_holds():
    sp = spec(reactive={"metric": "cpu", "target": 0.5})
    state = policies.initial_state(sp, 7, T0)
    d, _ = one(sp, state, {"qps": 5000.0, "cpu": None}, 7, now=T0)
    assert (d.replicas, d.reason, d.detail["reactive_replicas"]) == (7, Reason.METRICS_MISSING, None)


@pytest.mark.parametrize("reactive, metrics, current, ready, expected", [
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.8}, 10, 10, 16),           # ceil(10 * 0.8 / 0.5)
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.8}, 12, 10, 16),           # ready pods carry the average
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.54}, 10, 10, 10),          # within tolerance 0.1
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.2}, 10, 10, 4),
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.2}, 10, 6, 10),            # pods still starting: no shrink
    ({"metric": "cpu", "target": 0.5}, {"cpu": 0.8}, 10, 0, 10),            # no ready pod: unknown, hold
    ({"metric": "memory", "target": 0.8}, {"memory": 0.9}, 10, 10, 12),
    ({"metric": "qps", "target": 100}, {"qps": 1234.0}, 10, 10, 13),        # ceil(1234 / 100)
    ({"metric": "qps", "target": 100}, {"qps": 1050.0}, 10, 3, 10),         # 1050 / (10 * 100) within 0.1
], ids=["cpu-up", "cpu-starting-up", "cpu-tolerance", "cpu-down", "cpu-starting-down", "cpu-no-ready",
        "memory", "qps", "qps-tolerance"])
def test_reactive_floor_is_hpa_style(reactive, metrics, current, ready, expected):
    sp = spec(reactive={"tolerance": 0.1, **reactive})
    state = policies.initial_state(sp, current, T0)
    d, _ = one(sp, state, {"qps": 1000.0, "cpu": 0.5, "memory": 0.5, **metrics}, current, ready, now=T0)
    assert d.replicas == expected
    assert d.reason is (Reason.WARMING_UP if expected != current or ready else Reason.METRICS_MISSING)


# -------------------------------------------------------------------------------- scaling ahead


def daily_rise(t: float) -> float:
    """200 req/s, 1000 req/s from 12:00 to 18:00 UTC every day."""
    return 1000.0 if 12 * 3600 <= (t - T0) % DAY < 18 * 3600 else 200.0


@pytest.mark.parametrize("buffer, lead", [(0, 0), (60, 300), (120, 300), (300, 300), (301, 600), (600, 600)],
                         ids=lambda v: str(v))
def test_capacity_is_there_a_scheduling_buffer_before_a_known_rise(buffer, lead):
    """Day 2 of a load that rises every day at 12:00: the forecast requests the 10 replicas the rise
    needs ``ceil(buffer / bucket)`` buckets ahead; the reactive floor alone only at 12:00."""
    noon = T0 + DAY + 12 * 3600
    sp = spec(schedulingBufferSeconds=buffer, limits={"scaleDownStabilizationSeconds": 3600})
    out, _, _ = run(sp, daily_rise, end=noon + 600, replicas=2)
    first = next((t, d) for t, d in out if t > T0 + DAY and d.replicas >= 10)
    assert first[0] == noon - lead
    assert first[1].reason is Reason.FORECAST   # at lead 0 both terms ask for 10: ties go to the forecast

    reactive_only = spec(schedulingBufferSeconds=buffer, minHistory="30d",
                         limits={"scaleDownStabilizationSeconds": 3600})
    out, _, _ = run(reactive_only, daily_rise, end=noon + 600, replicas=2)
    assert next(t for t, d in out if t > T0 + DAY and d.replicas >= 10) == noon


def test_the_forecast_holds_capacity_when_load_dips_for_a_moment_within_a_busy_period():
    """The forecast term keeps the afternoon's replicas through a 1-minute dip on day 2 that the
    reactive floor alone would follow down (no stabilization here)."""
    dip = T0 + DAY + 14 * 3600
    q = lambda t: 100.0 if dip <= t < dip + 60 else daily_rise(t)   # noqa: E731
    for sp, low in ((spec(), 10), (spec(minHistory="30d"), 1)):
        out, _, _ = run(sp, q, start=T0, end=dip + 120, replicas=2)
        assert min(d.replicas for t, d in out if dip <= t < dip + 120) == low


# ------------------------------------------------------------------------------------- guards


@pytest.mark.parametrize("limits, replicas, expected", [
    ({}, "{min: 1, max: 100}", (20, Reason.FORECAST, "forecast")),
    ({"maxStepUp": 4}, "{min: 1, max: 100}", (14, Reason.STEP_LIMITED, "forecast")),
    ({}, "{min: 1, max: 15}", (15, Reason.CLAMPED_MAX, "forecast")),
    ({"minSecondsBetweenChanges": "2d"}, "{min: 1, max: 100}", (10, Reason.COOLDOWN, "forecast")),
], ids=["free", "step-limit", "max", "cooldown"])
def test_guards_apply_to_the_forecast(limits, replicas, expected):
    sp = spec(replicas=replicas, limits=limits or None, headroom=1.0)   # forecast 1000 * 2 / 100 = 20
    state, current = warmed(sp, replicas=8)   # the floor moved 8 -> 10 at the first tick
    assert current == 10
    d, _ = one(sp, state, {"qps": 1000.0, "cpu": 0.5}, current)
    assert (d.replicas, d.reason, d.rule) == expected


@pytest.mark.parametrize("limits, current, expected", [
    ({}, 30, (10, Reason.FORECAST, "forecast")),
    ({"maxStepDown": 3}, 30, (27, Reason.STEP_LIMITED, "forecast")),
    ({"scaleDownStabilizationSeconds": 600}, 30, (30, Reason.STABILIZED_DOWN, "forecast")),
], ids=["free", "step-limit", "stabilized"])
def test_guards_apply_to_scale_downs(limits, current, expected):
    sp = spec(limits=limits or None)
    state, _ = warmed(sp)
    _, state = one(sp, state, {"qps": 3000.0, "cpu": 0.5}, current, now=T0 + DAY - 300)  # a recommendation of 30
    d, _ = one(sp, state, {"qps": 1000.0, "cpu": 0.5}, current)
    assert (d.replicas, d.reason, d.rule) == expected


@pytest.mark.parametrize("forecast_needs, current, hysteresis, expected", [
    (1000.0, 11, 0.0, 10), (1000.0, 11, 0.1, 11), (1000.0, 12, 0.1, 11), (900.0, 11, 0.1, 10),
], ids=lambda v: str(v))
def test_down_hysteresis(forecast_needs, current, hysteresis, expected):
    """Below the current count the forecast term is ceil(need * (1 + downHysteresis))."""
    sp = spec(downHysteresis=hysteresis)
    state, _ = warmed(sp, forecast_needs)
    d, _ = one(sp, state, {"qps": forecast_needs, "cpu": 0.5}, current)
    assert d.replicas == expected


def test_out_of_range_count_is_corrected_at_once():
    sp = spec(replicas="{min: 2, max: 8}")
    state, _ = warmed(sp, 500.0, replicas=5)
    d, _ = one(sp, state, {"qps": 500.0}, 12)
    assert (d.replicas, d.reason, d.rule) == (8, Reason.CLAMPED_MAX, "")


# ------------------------------------------------------------------- state: quiet ticks, purity


def test_quiet_ticks_return_the_same_state_object():
    """After warm-up at a steady load: only sampling ticks (one a minute) make a new state; the
    model changes only when a bucket closes (every 5 minutes)."""
    sp = spec(limits={"scaleDownStabilizationSeconds": 600})
    state, current = warmed(sp)
    same = sampled = closed = 0
    for i in range(240):   # one hour of 15 s ticks
        now = T0 + DAY + 15 * i
        d, new = one(sp, state, {"qps": 1000.0, "cpu": 0.5}, current, now=now)
        assert d.replicas == current
        same += new is state
        sampled += new is not state and new.model is state.model
        closed += new.model is not state.model
        state = new
    assert (same, sampled, closed) == (180, 48, 12)


def test_decisions_are_deterministic_and_state_pickles():
    sp = spec(limits={"maxStepUp": 3, "scaleDownStabilizationSeconds": 600}, headroom=0.1, errorMargin=1)
    rng = random.Random(3)
    noise = [rng.uniform(0.9, 1.1) for _ in range(2 * 5760)]
    q = lambda t: daily_rise(t) * noise[int((t - T0) // 15)]   # noqa: E731
    a, sa, _ = run(sp, q, end=T0 + 2 * DAY, replicas=2)
    b, sb, _ = run(pickle.loads(pickle.dumps(sp)), q, end=T0 + 2 * DAY, replicas=2)
    assert [(t, d.replicas, d.reason, d.detail) for t, d in a] == [(t, d.replicas, d.reason, d.detail) for t, d in b]
    assert sa == sb and pickle.loads(pickle.dumps(sa)) == sa
    assert {d.reason for _, d in a} >= {Reason.WARMING_UP, Reason.FORECAST, Reason.STEP_LIMITED}


def test_irregular_ticks_count_history_per_bucket_with_a_sample():
    rng = random.Random(5)
    times, t = [], T0 + 7.0
    while t < T0 + 6 * 3600:
        times.append(t)
        t += rng.choice([5.0, 15.0, 40.0, 250.0, 900.0])   # includes gaps longer than a bucket
    out, state, _ = run(spec(), constant(800.0), times=times)
    buckets_with_ticks = {int(t // B) for t in times}
    closed = {b for b in buckets_with_ticks if b < int(times[-1] // B)}
    assert state.model.buckets == len(closed)
    assert out[-1][1].detail["history_seconds"] == len(closed) * B


def test_a_clock_going_backwards_is_ignored():
    sp = spec()
    state, current = warmed(sp)
    _, s1 = one(sp, state, {"qps": 1000.0}, current, now=T0 + DAY + 600)
    d, s2 = one(sp, s1, {"qps": 1000.0}, current, now=T0 + DAY + 30)
    assert s2 is s1 and d.replicas == current


# ------------------------------------------------------------------------------- end to end


def after_warm_up_violation_seconds(result) -> float:
    rec = result.records
    after = rec[rec.t >= DAY]
    return float(after.sla_violation.sum() * result.load.dt)


def test_backtest_example_beats_its_reactive_floor_alone(tmp_path):
    """Same file with ``minHistory: 30d`` = the reactive floor alone for the whole week. The
    synthetic week's SLA misses after warm-up are its two flash crowds, which no history predicts;
    the forecast's sizing (with headroom) still leaves the service fewer seconds over the SLO."""
    scenario = backtest.load_scenario(REPO / "scenarios" / "synthetic-flash-crowd.yaml")
    text = EXAMPLE.read_text()
    assert "minHistory: 1d" in text
    (tmp_path / "reactive.yaml").write_text(text.replace("minHistory: 1d", "minHistory: 30d"))
    pred = backtest.run(backtest.load_policy(EXAMPLE), scenario)
    floor = backtest.run(backtest.load_policy(tmp_path / "reactive.yaml"), scenario)
    reasons = pred.records.reason
    first_day = pred.records.t < DAY
    assert set(reasons[first_day]) <= {"WARMING_UP", "STABILIZED_DOWN", "COOLDOWN", "STEP_LIMITED"}
    assert "WARMING_UP" not in set(reasons[~first_day]) and "FORECAST" in set(reasons[~first_day])
    assert set(floor.records.reason) - {"STABILIZED_DOWN", "COOLDOWN", "STEP_LIMITED"} == {"WARMING_UP"}
    assert after_warm_up_violation_seconds(pred) < after_warm_up_violation_seconds(floor)


def test_backtest_forecast_does_the_work_when_the_floor_is_only_a_safety_net(tmp_path):
    """With a loose floor (CPU 85%, what a predictive policy's floor is for: surprises), the
    reactive floor alone misses the SLO on every daily ramp; with the forecast it almost never does."""
    scenario = backtest.load_scenario(REPO / "scenarios" / "synthetic-flash-crowd.yaml")
    assert "reactive: {metric: cpu, target: 0.7, tolerance: 0.1}" in EXAMPLE.read_text()
    text = EXAMPLE.read_text().replace("target: 0.7", "target: 0.85")
    (tmp_path / "p.yaml").write_text(text)
    (tmp_path / "r.yaml").write_text(text.replace("minHistory: 1d", "minHistory: 30d"))
    pred = after_warm_up_violation_seconds(backtest.run(backtest.load_policy(tmp_path / "p.yaml"), scenario))
    floor = after_warm_up_violation_seconds(backtest.run(backtest.load_policy(tmp_path / "r.yaml"), scenario))
    assert pred * 10 < floor
