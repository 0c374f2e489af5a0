"""Normalization of the HPA's proposal: legacy path, ``behavior`` path, event bookkeeping, defaults.

ALGORITHM.md sections 4-6, after ``pkg/controller/podautoscaler/horizontal.go`` and
``pkg/apis/autoscaling/v2/defaults.go``. Every function names the upstream function it follows.

* Legacy path (``behavior`` absent): ``stabilize_legacy`` then ``convert_with_rules``.
* Behavior path: ``stabilize_with_behaviors`` then ``convert_with_behavior_rate``, with the
  scale-up/scale-down event lists kept by ``store_scale_event``.
* ``scale_up_rules``/``scale_down_rules``/``default_behavior``: API defaulting; ``ControllerFlags``:
  the controller's flag defaults; ``tolerances_for_hpa``: per-direction tolerance.

State pieces (``Recommendation``, ``ScaleEvent``) are immutable tuples; functions return new
tuples instead of mutating. Times are seconds on the caller's clock; ``now`` is a parameter.
The limiter reasons are upstream's condition reasons (``DesiredWithinRange``, ``ScaleUpLimit``,
``TooManyReplicas``, ``TooFewReplicas``, ``ScaleDownLimit``); ``hpa.decide`` maps them to
``decisions.Reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

from workbench.core.policies import hpa_replicas

PODS, PERCENT = "Pods", "Percent"
MAX, MIN, DISABLED = "Max", "Min", "Disabled"
POLICY_TYPES = (PODS, PERCENT)
SELECT_POLICIES = (MAX, MIN, DISABLED)

WITHIN_RANGE = "DesiredWithinRange"
SCALE_UP_LIMIT = "ScaleUpLimit"
TOO_MANY = "TooManyReplicas"
TOO_FEW = "TooFewReplicas"
SCALE_DOWN_LIMIT = "ScaleDownLimit"

_MIN_INT32 = -(2**31)


# ----------------------------------------------------------------------------- spec values


@dataclass(frozen=True)
class ScalingPolicy:
    """``HPAScalingPolicy``: at most ``value`` pods / percent of change per ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules``; ``None`` fields are unset (API defaulting fills them, section 6)."""

    stabilization_window_seconds: float | None = None
    select_policy: str | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class Behavior:
    """``HorizontalPodAutoscalerBehavior``. A spec without one takes the legacy path."""

    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class ControllerFlags:
    """kube-controller-manager flags (``config/v1alpha1/defaults.go``) plus the two code constants."""

    tolerance: float = 0.1                       # --horizontal-pod-autoscaler-tolerance
    downscale_stabilization: float = 300.0       # --horizontal-pod-autoscaler-downscale-stabilization
    cpu_initialization_period: float = 300.0     # --horizontal-pod-autoscaler-cpu-initialization-period
    initial_readiness_delay: float = 30.0        # --horizontal-pod-autoscaler-initial-readiness-delay
    scale_up_limit_factor: float = 2.0           # scaleUpLimitFactor (code constant)
    scale_up_limit_minimum: float = 4.0          # scaleUpLimitMinimum (code constant)


class Recommendation(NamedTuple):
    """``timestampedRecommendation``: a prenormalized proposal and when it was made."""

    replicas: int
    time: float


class ScaleEvent(NamedTuple):
    """``timestampedScaleEvent``: the magnitude of one rescale; ``outdated`` marks a reusable slot."""

    change: int
    time: float
    outdated: bool = False


class Normalized(NamedTuple):
    replicas: int
    stabilized: int
    limit_reason: str
    recommendations: tuple[Recommendation, ...]


# ---------------------------------------------------------------------------- defaults (6)


def scale_up_rules(rules: ScalingRules | None) -> ScalingRules:
    """``GenerateHPAScaleUpRules``: window 0, Max, Pods 4/15 s and Percent 100 %/15 s; a
    user-supplied policies list replaces the default list entirely."""
    return _fill(rules, ScalingRules(0, MAX, (ScalingPolicy(PODS, 4, 15), ScalingPolicy(PERCENT, 100, 15))))


def scale_down_rules(rules: ScalingRules | None) -> ScalingRules:
    """``GenerateHPAScaleDownRules``: window unset (the controller flag applies), Max, Percent 100 %/15 s."""
    return _fill(rules, ScalingRules(None, MAX, (ScalingPolicy(PERCENT, 100, 15),)))


def _fill(rules: ScalingRules | None, defaults: ScalingRules) -> ScalingRules:
    """``copyHPAScalingRules``: every set field of ``rules`` wins over the default."""
    if rules is None:
        return defaults
    return ScalingRules(
        defaults.stabilization_window_seconds if rules.stabilization_window_seconds is None
        else rules.stabilization_window_seconds,
        defaults.select_policy if rules.select_policy is None else rules.select_policy,
        defaults.policies if rules.policies is None else rules.policies,
        rules.tolerance,
    )


def default_behavior(behavior: Behavior | None) -> Behavior | None:
    """``SetDefaults_HorizontalPodAutoscalerBehavior``: a nil behavior stays nil (legacy path);
    otherwise each direction is filled, a nil direction getting the full defaults."""
    if behavior is None:
        return None
    return Behavior(scale_up_rules(behavior.scale_up), scale_down_rules(behavior.scale_down))


def init_scale_down_window(rules: ScalingRules, flags: ControllerFlags) -> ScalingRules:
    """``maybeInitScaleDownStabilizationWindow``: an unset down window takes the controller flag."""
    if rules.stabilization_window_seconds is not None:
        return rules
    return replace(rules, stabilization_window_seconds=flags.downscale_stabilization)


def tolerances_for_hpa(behavior: Behavior | None, flags: ControllerFlags) -> hpa_replicas.Tolerances:
    """``tolerancesForHpa``: ``behavior.scaleUp/scaleDown.tolerance`` when set, else the flag."""
    down = up = flags.tolerance
    if behavior is not None:
        if behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
            down = behavior.scale_down.tolerance
        if behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
            up = behavior.scale_up.tolerance
    return hpa_replicas.Tolerances(down, up)


# ------------------------------------------------------------------------ legacy path (4)


def stabilize_legacy(recs: tuple[Recommendation, ...], desired: int, window: float,
                     now: float) -> tuple[int, tuple[Recommendation, ...]]:
    """``stabilizeRecommendation``: the max of ``desired`` and every recommendation with
    ``t >= now - window`` (inclusive); then record ``{desired, now}`` over the last entry older
    than the window, or append."""
    cutoff = now - window
    best = desired
    old = -1
    for i, r in enumerate(recs):
        if r.time < cutoff:
            old = i
        elif r.replicas > best:
            best = r.replicas
    return best, _record(recs, old, Recommendation(desired, now))


def scale_up_limit_legacy(current: int, flags: ControllerFlags) -> int:
    """``calculateScaleUpLimit``: ``int32(max(factor * current, minimum))``."""
    return int(max(flags.scale_up_limit_factor * current, flags.scale_up_limit_minimum))


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int,
                       flags: ControllerFlags) -> tuple[int, str]:
    """``convertDesiredReplicasWithRules``: clamp to ``[min, min(max, scaleUpLimit)]``."""
    up_limit = scale_up_limit_legacy(current, flags)
    if max_replicas > up_limit:
        hi, hi_reason = up_limit, SCALE_UP_LIMIT
    else:
        hi, hi_reason = max_replicas, TOO_MANY
    if desired < min_replicas:
        return min_replicas, TOO_FEW
    if desired > hi:
        return hi, hi_reason
    return desired, WITHIN_RANGE


def normalize_legacy(recs: tuple[Recommendation, ...], current: int, desired: int, min_replicas: int,
                     max_replicas: int, flags: ControllerFlags, now: float) -> Normalized:
    """``normalizeDesiredReplicas``: legacy stabilization, then the legacy clamp."""
    stab, recs = stabilize_legacy(recs, desired, flags.downscale_stabilization, now)
    replicas, reason = convert_with_rules(current, stab, min_replicas, max_replicas, flags)
    return Normalized(replicas, stab, reason, recs)


# ----------------------------------------------------------------------- behavior path (5)


def stabilize_with_behaviors(recs: tuple[Recommendation, ...], current: int, desired: int,
                             up_window: float, down_window: float,
                             now: float) -> tuple[int, tuple[Recommendation, ...]]:
    """``stabilizeRecommendationWithBehaviors``: ``upRec = min`` and ``downRec = max`` of ``desired``
    and the recommendations strictly inside each window; the result is ``current`` raised to
    ``upRec`` then lowered to ``downRec``. Records the prenormalized ``desired`` over the last
    entry older than both windows, or appends."""
    up_cut, down_cut = now - up_window, now - down_window
    up_rec = down_rec = desired
    old = -1
    for i, r in enumerate(recs):
        if r.time > up_cut and r.replicas < up_rec:
            up_rec = r.replicas
        if r.time > down_cut and r.replicas > down_rec:
            down_rec = r.replicas
        if r.time < up_cut and r.time < down_cut:
            old = i
    stab = current
    if stab < up_rec:
        stab = up_rec
    if stab > down_rec:
        stab = down_rec
    return stab, _record(recs, old, Recommendation(desired, now))


def _record(recs: tuple[Recommendation, ...], old: int, rec: Recommendation) -> tuple[Recommendation, ...]:
    if old >= 0:
        return recs[:old] + (rec,) + recs[old + 1:]
    return recs + (rec,)


def replicas_change_per_period(period: float, events: tuple[ScaleEvent, ...], now: float) -> int:
    """``getReplicasChangePerPeriod``: sum of changes with ``t > now - period`` (strict)."""
    cutoff = now - period
    return sum(e.change for e in events if e.time > cutoff)


def _period_start(current: int, policy: ScalingPolicy, up_events: tuple[ScaleEvent, ...],
                  down_events: tuple[ScaleEvent, ...], now: float) -> int:
    return (current - replicas_change_per_period(policy.period_seconds, up_events, now)
            + replicas_change_per_period(policy.period_seconds, down_events, now))


def scale_up_limit(current: int, up_events: tuple[ScaleEvent, ...], down_events: tuple[ScaleEvent, ...],
                   rules: ScalingRules, now: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``: per policy ``start + value`` (Pods) or
    ``ceil(start * (1 + value/100))`` (Percent); Max takes the largest, Min the smallest,
    Disabled returns ``current``."""
    if rules.select_policy == DISABLED:
        return current
    pick_min = rules.select_policy == MIN
    result = hpa_replicas.MAX_INT32 if pick_min else _MIN_INT32
    for p in rules.policies or ():
        start = _period_start(current, p, up_events, down_events, now)
        if p.type == PODS:
            proposed = start + p.value
        else:
            proposed = math.ceil(float(start) * (1 + float(p.value) / 100))
        result = min(result, proposed) if pick_min else max(result, proposed)
    return result


def scale_down_limit(current: int, up_events: tuple[ScaleEvent, ...], down_events: tuple[ScaleEvent, ...],
                     rules: ScalingRules, now: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``: per policy ``start - value`` (Pods) or
    ``trunc(start * (1 - value/100))`` (Percent, may go negative); Max (the largest change)
    takes the lowest count, Min the highest, Disabled returns ``current``."""
    if rules.select_policy == DISABLED:
        return current
    pick_max = rules.select_policy == MIN
    result = _MIN_INT32 if pick_max else hpa_replicas.MAX_INT32
    for p in rules.policies or ():
        start = _period_start(current, p, up_events, down_events, now)
        if p.type == PODS:
            proposed = start - p.value
        else:
            proposed = int(float(start) * (1 - float(p.value) / 100))
        result = max(result, proposed) if pick_max else min(result, proposed)
    return result


def convert_with_behavior_rate(current: int, desired: int, min_replicas: int, max_replicas: int,
                               up_rules: ScalingRules, down_rules: ScalingRules,
                               up_events: tuple[ScaleEvent, ...], down_events: tuple[ScaleEvent, ...],
                               now: float) -> tuple[int, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the rate limit never reverses direction;
    ``maxReplicas`` applies only on the way up, ``minReplicas`` only on the way down."""
    if desired > current:
        limit = max(scale_up_limit(current, up_events, down_events, up_rules, now), current)
        if max_replicas > limit:
            allowed, reason = limit, SCALE_UP_LIMIT
        else:
            allowed, reason = max_replicas, TOO_MANY
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(scale_down_limit(current, up_events, down_events, down_rules, now), current)
        if min_replicas < limit:
            allowed, reason = limit, SCALE_DOWN_LIMIT
        else:
            allowed, reason = min_replicas, TOO_FEW
        if desired < allowed:
            return allowed, reason
    return desired, WITHIN_RANGE


def normalize_with_behaviors(recs: tuple[Recommendation, ...], up_events: tuple[ScaleEvent, ...],
                             down_events: tuple[ScaleEvent, ...], current: int, desired: int,
                             min_replicas: int, max_replicas: int, behavior: Behavior,
                             flags: ControllerFlags, now: float) -> Normalized:
    """``normalizeDesiredReplicasWithBehaviors``: ``rate_limit(stabilize(desired))`` with both
    directions API-defaulted and the down window initialized from the controller flag."""
    up = scale_up_rules(behavior.scale_up)
    down = init_scale_down_window(scale_down_rules(behavior.scale_down), flags)
    stab, recs = stabilize_with_behaviors(recs, current, desired, up.stabilization_window_seconds or 0,
                                          down.stabilization_window_seconds or 0, now)
    replicas, reason = convert_with_behavior_rate(current, stab, min_replicas, max_replicas, up, down,
                                                  up_events, down_events, now)
    return Normalized(replicas, stab, reason, recs)


# ------------------------------------------------------------------ event bookkeeping (5.4)


def longest_policy_period(rules: ScalingRules | None) -> int:
    """``getLongestPolicyPeriod``: the largest ``periodSeconds`` among the rules' policies (0 if none)."""
    if rules is None or not rules.policies:
        return 0
    return max(p.period_seconds for p in rules.policies)


def mark_outdated(events: tuple[ScaleEvent, ...], period: float, now: float) -> tuple[ScaleEvent, ...]:
    """``markScaleEventsOutdated``: events older than ``now - period`` become reusable slots."""
    cutoff = now - period
    if not any(e.time < cutoff and not e.outdated for e in events):
        return events
    return tuple(e._replace(outdated=True) if e.time < cutoff else e for e in events)


def _store(events: tuple[ScaleEvent, ...], rules: ScalingRules | None, change: int,
           now: float) -> tuple[ScaleEvent, ...]:
    events = mark_outdated(events, longest_policy_period(rules), now)
    new = ScaleEvent(change, now, False)
    for i in range(len(events) - 1, -1, -1):
        if events[i].outdated:
            return events[:i] + (new,) + events[i + 1:]
    return events + (new,)


def store_scale_event(behavior: Behavior | None, up_events: tuple[ScaleEvent, ...],
                      down_events: tuple[ScaleEvent, ...], previous: int, new: int,
                      now: float) -> tuple[tuple[ScaleEvent, ...], tuple[ScaleEvent, ...]]:
    """``storeScaleEvent``: after a rescale with a behavior, record ``|new - previous|`` in the
    direction's list, overwriting the last outdated entry (older than the direction's longest
    policy period) or appending. Without a behavior nothing is stored."""
    if behavior is None or new == previous:
        return up_events, down_events
    if new > previous:
        return _store(up_events, behavior.scale_up, new - previous, now), down_events
    return up_events, _store(down_events, behavior.scale_down, previous - new, now)
