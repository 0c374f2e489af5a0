"""``PredictivePolicy``: forecast demand from its own history, scale ahead, keep a reactive floor.

::

    spec:
      replicas: {min: 2, max: 50}
      limits: {maxStepUp: 10, maxStepDown: 2, minSecondsBetweenChanges: 60,
               scaleDownStabilizationSeconds: 1800}
      forecast:
        targetPerReplica: 85          # req/s one replica should carry (required)
        headroom: 0.05                # extra capacity on top of the forecast        (default 0)
        errorMargin: 1                # + this many times the recent forecast error  (default 1)
        downHysteresis: 0.1           # the forecast lowers the count only when it needs 10% less
        schedulingBufferSeconds: 180  # scale this far ahead (start-up delay + metric lag; default 0)
        bucket: 5m                    # history is aggregated into buckets of this length
        aggregate: max                # bucket value: max (default) or mean of its samples
        sampleEvery: 1m               # qps is sampled once per this interval into the bucket
        season: 1d                    # the seasonal period (a whole number of buckets)
        seasonality: additive         # or multiplicative
        weekly: false                 # add a weekly correction profile (needs season: 1d)
        minHistory: 1d                # forecast only after this much history (>= season)
        alpha: 0.3                    # Holt-Winters smoothing: level, trend, daily, weekly
        beta: 0.01
        gamma: 0.3
        gammaWeekly: 0.2
      reactive: {metric: cpu, target: 0.7, tolerance: 0.1}   # metric: cpu | memory | qps

One tick (``decide``):

1. *History.* The observed ``qps`` is sampled once per ``sampleEvery`` (the first tick in each
   interval with a valid value) into the open bucket. When a tick falls into a later bucket, the
   open bucket closes: its value (max or mean of its samples) is folded into the Holt-Winters model
   (``forecast``), and the forecast term for the new bucket is computed once and cached. Buckets
   without samples (gaps, missing metrics) are missing: no history, no model update.
2. *Forecast term* (cached per bucket): the highest forecast over the buckets a pod requested
   during the current bucket could be serving in — the current bucket ``k`` up to
   ``k + ceil(schedulingBufferSeconds / bucket)`` — so capacity is requested one scheduling buffer
   ahead; ``peak = max forecast * (1 + errorMargin * recent relative one-step error)`` and
   ``forecast_replicas = ceil(peak * (1 + headroom) / targetPerReplica)``. Below the current count
   the term is ``ceil(peak * (1 + headroom) * (1 + downHysteresis) / targetPerReplica)`` (capped at
   the current count), so +-1 replica of forecast noise does not flap.
3. *Reactive floor* (every tick), HPA style: for ``cpu``/``memory`` (utilisation averaged over ready
   pods) ``ratio = value / target`` and ``ceil(ready * ratio)``; for ``qps`` ``ceil(qps / target)``
   with ``ratio = qps / (current * target)``. Within ``tolerance`` of 1 the floor is the current
   count. A utilisation floor never shrinks while pods are still starting (``ready < current``).
4. *Combine:* ``max(forecast, reactive)`` — ``FORECAST`` when the forecast term binds, ``SCALED``
   when the reactive floor does. Until ``minHistory`` of buckets with data exist (and one whole
   season has passed), the reactive floor alone decides (``WARMING_UP``; ``detail`` says how much
   history is missing). A hold is ``NO_RULE_MATCHED`` (``WARMING_UP`` while warming up).
5. *Fail-safe:* when ``qps`` or the reactive metric is missing the count never goes down
   (``METRICS_MISSING``); the forecast may still raise it.
6. The shared guards (``workbench.core.guards``): bounds, step limits, scale-down protection,
   stabilization, one change per interval.

``Decision.rule`` names the binding term (``forecast`` or ``reactive``; "" on holds); ``Decision.detail`` carries
``forecast_qps``, ``forecast_replicas``, ``reactive_replicas``, ``history_seconds`` (and
``history_missing_seconds`` while warming up).

Cost: a quiet tick (no sample, no bucket change, no change in the guards' state) does arithmetic on
a handful of numbers and returns the *same* state object; a sampling tick replaces one small
tuple; a bucket close updates the model in O(1) (see ``forecast``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from workbench.core import guards, observations, schema
from workbench.core.decisions import Decision, Reason
from workbench.core.policies import base, forecast

KIND = "PredictivePolicy"
REACTIVE_METRICS = ("cpu", "memory", "qps")
_INF = math.inf
_MAX_SLOTS = 100_000


@dataclass(frozen=True)
class PredictiveSpec(base.BoundedByLimits):
    name: str
    limits: guards.Limits
    target_per_replica: float
    headroom: float
    bucket: float
    season: float
    min_history: float
    buffer: float
    sample_every: float
    model: forecast.Params
    reactive_metric: str
    reactive_target: float
    tolerance: float
    margin: float = 1.0
    use_max: bool = True
    hysteresis: float = 0.1
    kind: str = KIND

    @property
    def horizon(self) -> int:
        """Buckets looked ahead of the current one: ceil(schedulingBufferSeconds / bucket)."""
        return math.ceil(self.buffer / self.bucket - 1e-9)

    def metrics_needed(self) -> frozenset[str]:
        return frozenset(("qps", self.reactive_metric))


# --------------------------------------------------------------------------------------- parse

_SPEC_KEYS = ("replicas", "limits", "forecast", "reactive")
_LIMIT_KEYS = ("maxStepUp", "maxStepDown", "minSecondsBetweenChanges", "scaleDownStabilizationSeconds",
               "scaleDownDelayAfterScaleUpSeconds")
_FORECAST_KEYS = ("targetPerReplica", "headroom", "errorMargin", "downHysteresis", "schedulingBufferSeconds",
                  "bucket", "aggregate", "sampleEvery", "season", "seasonality", "weekly", "minHistory",
                  "alpha", "beta", "gamma", "gammaWeekly")
_REACTIVE_KEYS = ("metric", "target", "tolerance")


def parse(reader: schema.Reader, spec: dict, path: str, name: str) -> PredictiveSpec:
    spec = reader.mapping(spec, path, _SPEC_KEYS, required=("replicas", "forecast", "reactive"))
    limits = _parse_limits(reader, spec, path)

    fp = schema.join(path, "forecast")
    fc = {}
    if "forecast" in spec:  # (its absence is reported once, above)
        fc = reader.mapping(spec["forecast"], fp, _FORECAST_KEYS, required=("targetPerReplica",))
    target = reader.number(fc, "targetPerReplica", fp, 1.0, minimum=0, exclusive_minimum=True)
    headroom = reader.number(fc, "headroom", fp, 0.0, minimum=0)
    margin = reader.number(fc, "errorMargin", fp, 1.0, minimum=0)
    hysteresis = reader.number(fc, "downHysteresis", fp, 0.1, minimum=0)
    aggregate = reader.string(fc, "aggregate", fp, "max", choices=("max", "mean"))
    buffer = schema.duration(reader, fc, "schedulingBufferSeconds", fp, 0.0)
    bucket = _positive(schema.duration(reader, fc, "bucket", fp, 300.0, positive=True), 300.0)
    season = _positive(schema.duration(reader, fc, "season", fp, 86400.0, positive=True), 86400.0)
    weekly = reader.boolean(fc, "weekly", fp, False)
    seasonality = reader.string(fc, "seasonality", fp, "additive", choices=("additive", "multiplicative"))
    sample = _positive(schema.duration(reader, fc, "sampleEvery", fp, 60.0, positive=True), 60.0)
    smoothing = {key: reader.number(fc, key, fp, default, minimum=0, maximum=1)
                 for key, default in (("alpha", 0.3), ("beta", 0.01), ("gamma", 0.3), ("gammaWeekly", 0.2))}
    if "gammaWeekly" in fc and not weekly:
        reader.error(schema.join(fp, "gammaWeekly"), "only used with weekly: true")

    m = season / bucket
    whole = abs(m - round(m)) < 1e-9
    if not _multiple(bucket, sample):
        reader.error(schema.join(fp, "sampleEvery"), f"must divide bucket ({bucket:g}s) evenly, got {sample:g}s")
    if not whole or round(m) < 2:
        reader.error(schema.join(fp, "season"),
                     f"must be a whole number (>= 2) of buckets ({bucket:g}s), got {season:g}s")
    elif round(m) * (7 if weekly else 1) > _MAX_SLOTS:
        reader.error(schema.join(fp, "bucket"), f"season / bucket gives {round(m) * (7 if weekly else 1)} slots "
                     f"(max {_MAX_SLOTS}); use a longer bucket")
    if weekly and season != 86400.0:
        reader.error(schema.join(fp, "weekly"),
                     f"needs season: 1d (the weekly profile is 7 days), got season {season:g}s")
    min_history = schema.duration(reader, fc, "minHistory", fp, season)
    if min_history < season:
        reader.error(schema.join(fp, "minHistory"),
                     f"must be >= season ({season:g}s): the model needs one whole season, got {min_history:g}s")
    if not _multiple(bucket, sample) or not whole:
        m = 2  # placeholder: the document is rejected anyway

    rp = schema.join(path, "reactive")
    re_ = {}
    if "reactive" in spec:
        re_ = reader.mapping(spec["reactive"], rp, _REACTIVE_KEYS, required=("metric", "target"))
    metric = reader.string(re_, "metric", rp, "cpu", choices=REACTIVE_METRICS)
    rtarget = reader.number(re_, "target", rp, 1.0, minimum=0, exclusive_minimum=True)
    tolerance = reader.number(re_, "tolerance", rp, 0.1, minimum=0, maximum=0.99)

    horizon = math.ceil(buffer / bucket - 1e-9)
    params = forecast.Params(m=max(2, round(m)), multiplicative=seasonality == "multiplicative", weekly=weekly,
                             alpha=smoothing["alpha"], beta=smoothing["beta"], gamma=smoothing["gamma"],
                             gamma_weekly=smoothing["gammaWeekly"], trend_cap=horizon + 1,
                             error_weight=min(1.0, bucket / 3600.0))  # the error is an EWMA over ~1 hour
    return PredictiveSpec(name=name, limits=limits, target_per_replica=target, headroom=headroom, bucket=bucket,
                          season=season, min_history=min_history, buffer=buffer, sample_every=sample, model=params,
                          reactive_metric=metric or "cpu", reactive_target=rtarget, tolerance=tolerance,
                          margin=margin, use_max=aggregate == "max", hysteresis=hysteresis)


def _positive(value: float, placeholder: float) -> float:
    return value if value > 0 else placeholder  # an invalid value was reported; keep checking the rest


def _multiple(value: float, unit: float) -> bool:
    ratio = value / unit
    return abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1


def _parse_limits(reader: schema.Reader, spec: dict, path: str) -> guards.Limits:
    rp = schema.join(path, "replicas")
    reps = reader.mapping(spec.get("replicas", {}), rp, ("min", "max"), required=("min", "max"))
    lo = reader.number(reps, "min", rp, 1, minimum=0, integer=True)
    hi = reader.number(reps, "max", rp, 1, minimum=1, integer=True)
    if "min" in reps and "max" in reps and isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        reader.error(schema.join(rp, "min"), f"min ({lo}) must be <= max ({hi})")
    lp = schema.join(path, "limits")
    lim = reader.mapping(spec.get("limits", {}), lp, _LIMIT_KEYS)
    return guards.Limits(
        min_replicas=lo,
        max_replicas=hi,
        max_step_up=reader.number(lim, "maxStepUp", lp, None, minimum=1, integer=True),
        max_step_down=reader.number(lim, "maxStepDown", lp, None, minimum=1, integer=True),
        min_seconds_between_changes=schema.duration(reader, lim, "minSecondsBetweenChanges", lp, 0.0),
        stabilization_down=schema.duration(reader, lim, "scaleDownStabilizationSeconds", lp, 0.0),
        scale_down_delay_after_up=schema.duration(reader, lim, "scaleDownDelayAfterScaleUpSeconds", lp, 0.0),
    )


# -------------------------------------------------------------------------------------- state


class Forecast(NamedTuple):
    """The forecast term while one bucket is open (computed once, when the bucket opens)."""

    qps: float | None            # peak forecast over the look-ahead (None while warming up)
    replicas: int | None         # replicas that peak needs
    down: int | None             # the term when it would lower the count (with downHysteresis)
    history: float               # seconds of history (buckets with data x bucket)
    missing: float               # seconds of history still missing before forecasting starts


class PredictiveState(NamedTuple):
    """Immutable. ``bucket``/``total``/``n`` are the open bucket (index, sum or max of its samples,
    sample count); ``bucket_end`` and ``next_sample`` are times, so a tick compares instead of dividing."""

    guard: guards.GuardState
    bucket: int
    bucket_end: float
    total: float
    n: int
    next_sample: float
    model: forecast.Model
    forecast: Forecast


def initial_state(spec: PredictiveSpec, replicas: int, now: float) -> PredictiveState:
    gs = guards.GuardState()
    if spec.limits.stabilization_down > 0:
        gs = gs._replace(recs=((replicas, None),))
    model = forecast.empty(spec.model)
    b = int(now // spec.bucket)
    return PredictiveState(gs, b, (b + 1) * spec.bucket, 0.0, 0, now, model, forecast_for(spec, model, b))


def forecast_for(spec: PredictiveSpec, model: forecast.Model, b: int) -> Forecast:
    """The forecast term while bucket ``b`` is open."""
    history = model.buckets * spec.bucket
    if not model.ready or history < spec.min_history - 1e-6:
        return Forecast(None, None, None, history, max(spec.min_history - history, 0.0))
    peak = forecast.peak(spec.model, model, b, b + spec.horizon) * (1.0 + spec.margin * model.error)
    raw = peak * (1.0 + spec.headroom) / spec.target_per_replica
    return Forecast(peak, math.ceil(raw - 1e-9), math.ceil(raw * (1.0 + spec.hysteresis) - 1e-9), history, 0.0)


_WARMING, _FORECAST, _SCALED = Reason.WARMING_UP, Reason.FORECAST, Reason.SCALED
_MISSING, _HOLD = Reason.METRICS_MISSING, Reason.NO_RULE_MATCHED
_ceil = math.ceil


def decide(obs: observations.Observation, state: PredictiveState, spec: PredictiveSpec,
           now: float) -> tuple[Decision, PredictiveState]:
    m = obs.metrics
    current = obs.replicas
    new = state

    # 1. history: a tick in a later bucket closes the open one (missing buckets stay missing)
    if now >= state.bucket_end:
        b = int(now // spec.bucket)
        model = state.model
        if state.n and b > state.bucket:
            y = state.total if spec.use_max else state.total / state.n
            model = forecast.update(spec.model, model, state.bucket, y)
        if b > state.bucket:
            new = PredictiveState(state.guard, b, (b + 1) * spec.bucket, 0.0, 0, state.next_sample, model,
                                  forecast_for(spec, model, b))
    q = m.get("qps")
    qps_ok = q is not None and 0.0 <= q < _INF
    if qps_ok and now >= new.next_sample:
        total = new.total
        total = (q if q > total else total) if spec.use_max else total + q
        new = PredictiveState(new.guard, new.bucket, new.bucket_end, total, new.n + 1,
                              (now // spec.sample_every + 1.0) * spec.sample_every, new.model, new.forecast)
    fc = new.forecast

    # 3. reactive floor, HPA style
    metric = spec.reactive_metric
    v = q if metric == "qps" else m.get(metric)
    reactive = None
    if v is not None and 0.0 <= v < _INF:
        if metric == "qps":
            raw = v / spec.reactive_target
            reactive = current if current > 0 and abs(raw / current - 1.0) <= spec.tolerance else _ceil(raw - 1e-9)
        else:
            ready = obs.ready_replicas
            if ready > 0:
                ratio = v / spec.reactive_target
                if abs(ratio - 1.0) <= spec.tolerance:
                    reactive = current
                else:
                    reactive = _ceil(ratio * ready - 1e-9)
                    if reactive < current and ready < current:
                        reactive = current  # pods still starting: their load is not in the average yet

    # 2 + 4. the forecast term and the combination
    fr = fc.replicas
    if fr is None:
        if reactive is None:
            target, stage, rule = current, _MISSING, ""
        else:
            target, stage, rule = reactive, _WARMING, "reactive"
    else:
        term = fr if fr >= current else (fc.down if fc.down < current else current)
        if reactive is None or term >= reactive:
            target, stage, rule = term, _FORECAST, "forecast"
        else:
            target, stage, rule = reactive, _SCALED, "reactive"
    # 5. fail-safe: never down on missing metrics
    if target < current and (reactive is None or not qps_ok):
        target, stage = current, _MISSING

    # 6. guards
    lim = spec.limits
    gs = state.guard
    if target == current and lim.min_replicas <= current <= lim.max_replicas:
        if lim.stabilization_down > 0 and (not gs.recs or gs.recs[-1][0] != current):
            gs = guards.record(lim, gs, current, now)
        allowed, rule = current, ""
        reason = stage if stage is _MISSING or fr is None else _HOLD
    else:
        gs = guards.record(lim, gs, guards.clamp(lim, target)[0], now)
        allowed, why, gs = guards.apply(lim, gs, current, target, now)
        reason = why if why is not None else stage
        if not lim.min_replicas <= current <= lim.max_replicas:
            rule = ""  # brought back into bounds, whatever the terms said

    if fr is None:
        detail = {"forecast_qps": None, "forecast_replicas": None, "reactive_replicas": reactive,
                  "history_seconds": fc.history, "history_missing_seconds": fc.missing}
    else:
        detail = {"forecast_qps": fc.qps, "forecast_replicas": fr, "reactive_replicas": reactive,
                  "history_seconds": fc.history}
    if gs is not state.guard:
        new = PredictiveState(gs, *new[1:])
    return Decision(allowed, allowed - current, reason, rule, m, detail), new


FAMILY = base.Family(kind=KIND, parse=parse, initial_state=initial_state, decide=decide,
                     summary="Holt-Winters demand forecast, scaled ahead by the start-up delay, with a reactive floor")
