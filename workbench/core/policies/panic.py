"""``PanicWindowPolicy``: the Knative Pod Autoscaler (KPA) decision — a stable and a panic window.

YAML (``spec``; every key but ``replicas`` and ``target`` has the Knative default)::

    replicas: {min: 2, max: 50}
    metric: qps                 # qps | concurrency (= qps * p95_ms / 1000, Little's law on p95)
    target: 100                 # per replica, in the metric's unit (req/s, or requests in flight)
    targetUtilization: 0.7      # or "70%"; the per-replica target value is target * utilization
    stableWindow: 60s
    panicWindowPercentage: 10   # panic window = 10% of the stable window; or panicWindow: 6s
    panicThreshold: 2.0         # or "200%"; 1.1 .. 10 as Knative allows
    maxScaleUpRate: 1000        # at most ceil(rate * ready) replicas
    maxScaleDownRate: 2         # at least floor(ready / rate) replicas
    scaleDownDelay: 0s          # Knative scale-down-delay: hold the highest count of the last D s

Semantics of one tick (``decide``):

* The tick's value of the metric becomes a sample ``(now, value)`` (a tick repeated at the same
  ``now`` replaces it); a missing (None, NaN, infinite or negative) value records nothing. The stable average is the mean of the samples in
  ``(now - stableWindow, now]``, the panic average the mean of those in ``(now - panicWindow, now]``
  (Knative: the mean of the per-scrape buckets that hold data). A panic window shorter than one
  control tick therefore means "the latest sample".
* ``desired_stable = ceil(stable_avg / tv)``, ``desired_panic = ceil(panic_avg / tv)`` with
  ``tv = target * targetUtilization``; both are limited to ``[floor(ready / maxScaleDownRate),
  ceil(maxScaleUpRate * ready)]`` (``ready`` = max(1, ready replicas)); a limit shortens a move,
  never reverses it (``RATE_LIMITED`` when it changed the count asked for).
* Panic starts when ``desired_panic / ready >= panicThreshold``; every tick over the threshold
  extends it; it ends at the first tick not over the threshold that is at least ``stableWindow``
  after the last tick over it (a full stable window without the panic condition). While panicking
  the count is ``max(desired_stable, desired_panic, current)``: never a scale-down (``PANIC``).
* Otherwise the count is ``desired_stable`` (``SCALED``; ``WITHIN_TOLERANCE`` when equal).
  Fail-safe: when this tick's metric is missing, a scale-down is held (``METRICS_MISSING``); with
  no sample in the stable window at all, nothing changes; the panic state changes only on ticks
  whose panic window holds a sample.
* Guards (``workbench.core.guards``): replicas min/max (``CLAMPED_MIN/MAX``, ``AT_LIMIT``; a count
  outside the bounds is corrected at once) and ``scaleDownDelay`` as scale-down stabilization
  (``STABILIZED_DOWN``): the count never drops below the highest recommendation of the last D s.

State is ``PanicState``: the samples of the stable window, the panic start and last-over times,
and the guard state; ``decide`` returns the same object when nothing changed (e.g. a tick with a
missing metric). ``Decision.rule`` is the mode (``stable`` or ``panic``); ``Decision.detail`` has
``stable_avg``, ``panic_avg``, ``desired_stable``, ``desired_panic`` (before the rate limits),
``panicking`` and ``panic_since``. Where this differs from Knative, and how the windows relate to
the simulator's metric lag: ``docs/policies/panic-window.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from workbench.core import guards, observations, schema
from workbench.core.decisions import Decision, Reason
from workbench.core.policies import base

KIND = "PanicWindowPolicy"
METRICS = ("qps", "concurrency")
_EPS = 1e-6     # seconds: window edges robust to float time stamps
_ROUND = 1e-9   # ceil(2.0000000000000004) is 2, not 3


@dataclass(frozen=True)
class PanicSpec(base.BoundedByLimits):
    name: str
    limits: guards.Limits
    metric: str = "qps"
    target: float = 100.0
    target_utilization: float = 0.7
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_delay: float = 0.0
    kind: str = KIND

    @property
    def target_value(self) -> float:
        """Per-replica value the policy aims at: target x utilization (Knative's TargetValue)."""
        return self.target * self.target_utilization

    def metrics_needed(self) -> frozenset[str]:
        return frozenset(("qps", "p95_ms")) if self.metric == "concurrency" else frozenset(("qps",))


# --------------------------------------------------------------------------------------- parse

_SPEC_KEYS = ("replicas", "metric", "target", "targetUtilization", "stableWindow", "panicWindowPercentage",
              "panicWindow", "panicThreshold", "maxScaleUpRate", "maxScaleDownRate", "scaleDownDelay")


def parse(reader: schema.Reader, spec: Any, path: str, name: str) -> PanicSpec:
    if not isinstance(spec, dict):
        reader.error(path, f"expected a mapping, got {schema.type_name(spec)}")
        return PanicSpec(name=name, limits=guards.Limits())
    spec = reader.mapping(spec, path, _SPEC_KEYS, required=("replicas", "target"))
    rp = schema.join(path, "replicas")
    reps = reader.mapping(spec.get("replicas", {}), rp, ("min", "max"), required=("min", "max"))
    lo = reader.number(reps, "min", rp, 1, minimum=1, integer=True)
    hi = reader.number(reps, "max", rp, 1, minimum=1, integer=True)
    if reader.ok and lo > hi:
        reader.error(schema.join(rp, "min"), f"min ({lo}) must be <= max ({hi})")
    metric = reader.string(spec, "metric", path, "qps", choices=METRICS)
    target = reader.number(spec, "target", path, 100.0, minimum=0, exclusive_minimum=True)
    util = _fraction(reader, spec, "targetUtilization", path, 0.7, 0.0, 1.0, exclusive_low=True)
    stable = schema.duration(reader, spec, "stableWindow", path, 60.0, positive=True)
    if "panicWindow" in spec and "panicWindowPercentage" in spec:
        reader.error(path, "give at most one of panicWindow, panicWindowPercentage")
    if "panicWindow" in spec:
        panic = schema.duration(reader, spec, "panicWindow", path, 6.0, positive=True)
        if reader.ok and panic > stable:
            reader.error(schema.join(path, "panicWindow"),
                         f"must be <= stableWindow ({stable:g}s), got {spec['panicWindow']!r}")
    else:
        pct = reader.number(spec, "panicWindowPercentage", path, 10.0, minimum=1, maximum=100)
        panic = stable * pct / 100.0
    threshold = _fraction(reader, spec, "panicThreshold", path, 2.0, 1.1, 10.0)
    up = reader.number(spec, "maxScaleUpRate", path, 1000.0, minimum=1, exclusive_minimum=True)
    down = reader.number(spec, "maxScaleDownRate", path, 2.0, minimum=1, exclusive_minimum=True)
    delay = schema.duration(reader, spec, "scaleDownDelay", path, 0.0)
    limits = guards.Limits(min_replicas=lo, max_replicas=hi, stabilization_down=delay)
    return PanicSpec(name=name, limits=limits, metric=metric, target=target, target_utilization=util,
                     stable_window=stable, panic_window=panic, panic_threshold=threshold,
                     max_scale_up_rate=up, max_scale_down_rate=down, scale_down_delay=delay)


def _fraction(reader: schema.Reader, parent: dict, key: str, path: str, default: float, low: float, high: float,
              exclusive_low: bool = False) -> float:
    """A ratio given as a number (0.7, 2.0) or a percent string ("70%", "200%")."""
    sub = schema.join(path, key)
    value = parent.get(key, default)
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100.0
        except ValueError:
            reader.error(sub, f"expected a number or a percentage like '70%', got {parent[key]!r}")
            return default
    if isinstance(value, int) and not isinstance(value, bool) and value > high and value >= 10 \
            and low < value / 100 <= high:  # a percent written as a plain number
        reader.error(sub, f"must be <= {high:g}, got {value:g} (a ratio: write {value / 100:g} or '{value:g}%')")
        return default
    before = len(reader.problems)
    got = reader.check_number(value, sub, minimum=low, maximum=high, exclusive_minimum=exclusive_low)
    return got if len(reader.problems) == before else default


# ------------------------------------------------------------------------------------- decide


class PanicState(NamedTuple):
    samples: tuple[tuple[float, float], ...]   # (time, value), oldest first, within the stable window
    panic_since: float | None                  # when the current panic began (None: stable mode)
    panic_last: float | None                   # the last tick over the panic threshold
    guard: guards.GuardState


def initial_state(spec: PanicSpec, replicas: int, now: float) -> PanicState:
    gs = guards.GuardState()
    if spec.limits.stabilization_down > 0:
        gs = gs._replace(recs=((replicas, None),))
    return PanicState((), None, None, gs)


def observe(metrics: Any, metric: str) -> float | None:
    """This tick's value of the policy's metric, or None when missing/NaN/infinite/negative."""
    q = metrics.get("qps")
    if q is None or not 0.0 <= q < math.inf:
        return None
    if metric == "qps":
        return q
    p = metrics.get("p95_ms")
    if p is None or not 0.0 <= p < math.inf:
        return None
    return q * p / 1000.0


def rate_limit(spec: PanicSpec, raw: int, current: int, ready: int) -> int:
    """Knative's clamp to ``[floor(ready / maxScaleDownRate), ceil(maxScaleUpRate * ready)]``
    (``ready`` >= 1); here it may shorten a move, never reverse it."""
    if raw > current:
        return max(current, min(raw, math.ceil(spec.max_scale_up_rate * ready)))
    if raw < current:
        return min(current, max(raw, math.floor(ready / spec.max_scale_down_rate)))
    return raw


def decide(obs: observations.Observation, state: PanicState, spec: PanicSpec, now: float) -> tuple[Decision, PanicState]:
    m = obs.metrics
    current = obs.replicas
    value = observe(m, spec.metric)
    horizon = now - spec.stable_window + _EPS
    samples = state.samples
    if value is not None:
        i, n = 0, len(samples)
        while i < n and samples[i][0] <= horizon:
            i += 1
        if i < n and samples[-1][0] >= now:  # a repeated tick (same now) replaces its sample
            n -= 1
        samples = samples[i:n] + ((now, value),)

    # window averages (the few samples of the stable window, newest first)
    p_horizon = now - spec.panic_window + _EPS
    s_sum = p_sum = 0.0
    s_n = p_n = 0
    for t, v in reversed(samples):
        if t <= horizon:
            break
        s_sum += v
        s_n += 1
        if t > p_horizon:
            p_sum += v
            p_n += 1

    since, last = state.panic_since, state.panic_last
    stable_avg = panic_avg = raw_s = raw_p = None
    if s_n == 0:
        proposal = unlimited = current
    else:
        tv = spec.target_value
        ready = obs.ready_replicas if obs.ready_replicas > 1 else 1
        stable_avg = s_sum / s_n
        raw_s = math.ceil(stable_avg / tv - _ROUND)
        ds = raw_s if raw_s == current else rate_limit(spec, raw_s, current, ready)
        dp = ds
        if p_n:
            panic_avg = p_sum / p_n
            raw_p = math.ceil(panic_avg / tv - _ROUND)
            dp = raw_p if raw_p == current else rate_limit(spec, raw_p, current, ready)
            if raw_p / ready >= spec.panic_threshold:
                if since is None:
                    since = now
                last = now
            elif since is not None and now - last >= spec.stable_window - _EPS:
                since = last = None
        if since is not None:
            proposal = max(ds, dp, current)
            unlimited = max(raw_s, raw_p if raw_p is not None else raw_s, current)
        else:
            proposal, unlimited = ds, raw_s
    held = value is None and proposal < current
    if held or s_n == 0:
        proposal = current

    lim = spec.limits
    gs = state.guard
    if lim.stabilization_down > 0:
        gs = guards.record(lim, gs, guards.clamp(lim, proposal)[0], now)
    if proposal == current and lim.min_replicas <= current <= lim.max_replicas:
        allowed, why = current, None  # nothing for the guards to do
    else:
        allowed, why, gs = guards.apply(lim, gs, current, proposal, now)
    panicking = since is not None
    if why is not None:
        reason = why
    elif value is None and (held or s_n == 0):
        reason = Reason.METRICS_MISSING
    elif proposal != unlimited:
        reason = Reason.RATE_LIMITED
    elif panicking:
        reason = Reason.PANIC
    elif allowed != current:
        reason = Reason.SCALED
    else:
        reason = Reason.WITHIN_TOLERANCE

    detail = {"stable_avg": stable_avg, "panic_avg": panic_avg, "desired_stable": raw_s, "desired_panic": raw_p,
              "panicking": panicking, "panic_since": since}
    decision = Decision(allowed, allowed - current, reason, "panic" if panicking else "stable", m, detail)
    if samples is state.samples and since == state.panic_since and last == state.panic_last and gs is state.guard:
        return decision, state
    return decision, PanicState(samples, since, last, gs)


FAMILY = base.Family(kind=KIND, parse=parse, initial_state=initial_state, decide=decide,
                     summary="Knative KPA: stable and panic windows over a per-replica target, no scale-down in panic")
