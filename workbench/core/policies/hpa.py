"""``HPAPolicy``: a faithful Kubernetes HorizontalPodAutoscaler (autoscaling/v2) as a policy family.

One ``decide`` is one sync of ``reconcileAutoscaler`` (ALGORITHM.md section 1):

1. ``current == 0`` with ``minReplicas != 0``: scaling disabled (``SCALING_DISABLED``);
   ``current`` outside ``[min, max]``: brought back at once (``CLAMPED_MIN``/``CLAMPED_MAX``);
2. otherwise every metric gives a proposal (``evaluate_metric``, section 2) and
   ``compute_replicas_for_metrics`` takes the max; all metrics invalid, or some invalid and the
   max below ``current``, means no scaling at all (``METRICS_MISSING``, section 3);
3. the proposal is normalized by the legacy path (no ``behavior``) or the behavior path
   (``hpa_behavior``, sections 4-5); a change is recorded as a scale event (behavior only).

The spec and parser live in ``hpa_spec``; the per-metric math in ``hpa_replicas``.

Observation mapping (what shells fill in; ``FAMILY.needs_pods`` is True):

* ``Resource``/``ContainerResource`` metrics read per-pod samples from ``observation.pods``:
  ``PodSample.metrics[key]`` is the usage in milli and ``PodSample.metrics[key + "_request"]`` the
  request in milli, where ``key`` is the resource name (``cpu``, ``memory``) or
  ``"<container>/<resource>"`` for a ContainerResource metric. For ``cpu`` without a
  container, ``PodSample.request_milli`` is used when ``cpu_request`` is absent.
  Grouping (section 2.2) uses ``phase``, ``ready``, ``start_time``, ``ready_transition_time``
  (None = no Ready condition), ``deleted`` and ``metric_time``/``metric_window`` (a
  ``metric_time`` of None means a sample taken at ``now``).
* ``Pods`` metrics: ``PodSample.metrics[name]`` in milli. A missing key, None or NaN = no sample.
* A ``PodSample`` with ``phase == UNLISTED`` is a sample whose pod is no longer in the pod list
  (metric lag): it is not a listed pod, but its sample counts as upstream's unmatched samples do.
* ``Object``/``External``: ``observation.metrics[name]`` in plain units (x1000 to milli); None =
  the metric failed this sync (an invalid metric). ``AverageValue`` targets divide by
  ``observation.status_replicas`` (falls back to ``replicas``).
"""

from __future__ import annotations

import math
from numbers import Rational
from typing import Any, NamedTuple

from workbench.core import observations
from workbench.core.decisions import Decision, Reason
from workbench.core.policies import base, hpa_behavior, hpa_replicas, hpa_spec
from workbench.core.policies.hpa_spec import HPASpec, parse  # noqa: F401  (re-exported)

KIND = hpa_spec.KIND
UNLISTED = "Unlisted"


class HPAState(NamedTuple):
    """The controller's in-memory state for one HPA (lost on restart, like upstream's)."""

    recommendations: tuple[hpa_behavior.Recommendation, ...] = ()
    scale_up_events: tuple[hpa_behavior.ScaleEvent, ...] = ()
    scale_down_events: tuple[hpa_behavior.ScaleEvent, ...] = ()


class MetricContext(NamedTuple):
    """Everything a metric's calculation needs besides the spec and the observation."""

    current: int
    status: int
    tolerances: hpa_replicas.Tolerances
    cpu_initialization_period: float
    initial_readiness_delay: float
    now: float


class MetricResult(NamedTuple):
    """One metric's proposal (``replicas``) or its failure (``error``; ``replicas`` None)."""

    key: str
    replicas: int | None
    usage: int | None = None          # raw average / average / object usage / per-pod usage (milli)
    utilization: int | None = None    # Resource Utilization targets: integer percent
    ratio: float | None = None
    error: str | None = None


class Proposal(NamedTuple):
    replicas: int | None              # None: no usable proposal (section 3)
    rule: str
    results: tuple[MetricResult, ...]


def initial_state(spec: HPASpec, replicas: int, now: float) -> HPAState:
    """``recordInitialRecommendation``: the history starts as ``{replicas, now}`` (pitfall 9)."""
    return HPAState((hpa_behavior.Recommendation(replicas, now),), (), ())


def context(spec: HPASpec, obs: observations.Observation, now: float) -> MetricContext:
    flags = spec.controller
    status = obs.status_replicas if obs.status_replicas is not None else obs.replicas
    return MetricContext(obs.replicas, status, spec.tolerances(), flags.cpu_initialization_period,
                         flags.initial_readiness_delay, now)


# ------------------------------------------------------------------------- one metric (2)


def evaluate_metric(metric: hpa_spec.MetricSpec, obs: observations.Observation, ctx: MetricContext) -> MetricResult:
    """``computeReplicasForMetric``: dispatch one metric spec to its ``hpa_replicas`` function."""
    try:
        return _evaluate(metric, obs, ctx)
    except hpa_replicas.MetricError as exc:
        return MetricResult(metric.key, None, error=str(exc))


def _evaluate(metric: hpa_spec.MetricSpec, obs: observations.Observation, ctx: MetricContext) -> MetricResult:
    t, tol, key = metric.target, ctx.tolerances, metric.key
    if metric.type in (hpa_spec.RESOURCE, hpa_spec.CONTAINER_RESOURCE, hpa_spec.PODS):
        is_resource = metric.type != hpa_spec.PODS
        sample_key = pod_metric_key(metric)
        listed, samples, requests = pods_view(obs.pods or (), sample_key, is_resource and metric.container is None
                                               and metric.name == "cpu", ctx.now)
        g = hpa_replicas.Grouping(is_resource and metric.name == "cpu", ctx.cpu_initialization_period,
                                  ctx.initial_readiness_delay, ctx.now)
        if t.type == hpa_spec.UTILIZATION:
            r = hpa_replicas.resource_replicas(ctx.current, t.average_utilization, listed, samples, requests,
                                               metric.name, tol, g)
            return MetricResult(key, r.replicas, r.raw_average, r.utilization, r.ratio)
        p = hpa_replicas.plain_replicas(ctx.current, t.average_value_milli, listed, samples, tol, g)
        return MetricResult(key, p.replicas, p.usage, None, p.ratio)
    value = obs.metrics.get(metric.name)
    usage = to_milli(value)
    if usage is None:
        raise hpa_replicas.MetricError(f"unable to get {metric.type.lower()} metric {metric.name}")
    if metric.type == hpa_spec.EXTERNAL:
        usage = hpa_replicas.saturating_sum((usage,))
    if t.type == hpa_spec.VALUE:
        listed = tuple(p for p in obs.pods or () if p.phase != UNLISTED)
        p = hpa_replicas.usage_ratio_replicas(ctx.current, usage, t.value_milli, tol, listed)
    else:
        p = hpa_replicas.per_pod_replicas(ctx.status, usage, t.average_value_milli, tol)
    return MetricResult(key, p.replicas, p.usage, None, p.ratio)


def pod_metric_key(metric: hpa_spec.MetricSpec) -> str:
    """The ``PodSample.metrics`` key a metric reads (see the module docstring)."""
    if metric.type == hpa_spec.CONTAINER_RESOURCE:
        return f"{metric.container}/{metric.name}"
    return metric.name


def pods_view(pods: tuple[observations.PodSample, ...], key: str, cpu_pod_request: bool, now: float):
    """PodSamples -> (listed pods, samples by pod name incl. unmatched, requests by listed pod)."""
    listed = []
    samples: dict[str, hpa_replicas.Sample] = {}
    requests: dict[str, int | None] = {}
    req_key = key + "_request"
    for pod in pods:
        values = pod.metrics or {}
        v = _pod_milli(values.get(key))
        if v is not None:
            ts = now if pod.metric_time is None else pod.metric_time
            samples[pod.name] = hpa_replicas.Sample(v, ts, pod.metric_window)
        if pod.phase == UNLISTED:
            continue
        listed.append(pod)
        req = _pod_milli(values.get(req_key))
        if req is None and cpu_pod_request:
            req = _pod_milli(pod.request_milli)
        requests[pod.name] = req
    return tuple(listed), samples, requests


def _pod_milli(v: Any) -> int | None:
    """A per-pod value already in milli -> int (rounded up like ``MilliValue``); None/NaN -> None."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if v != v:
        return None
    return math.ceil(round(v, 6))


def to_milli(v: Any) -> int | None:
    """A plain-unit metric value -> milli (x1000), saturating at MaxInt64; None/NaN -> None.

    Floats are rounded to the nearest milli; ints and exact rationals (``fractions.Fraction``,
    as the conformance runner passes) are converted exactly, rounding up like ``MilliValue``.
    """
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, Rational)):
        m = v * 1000
        m = math.ceil(m) if m >= 0 else -math.ceil(-m)
    else:
        f = float(v)
        if f != f:
            return None
        if f * 1000 >= hpa_replicas.MAX_INT64:
            return hpa_replicas.MAX_INT64
        if f * 1000 <= -hpa_replicas.MAX_INT64:
            return -hpa_replicas.MAX_INT64
        m = round(f * 1000)
    return max(-hpa_replicas.MAX_INT64, min(hpa_replicas.MAX_INT64, m))


# ---------------------------------------------------------------------- all metrics (3)


def compute_replicas_for_metrics(spec: HPASpec, obs: observations.Observation, ctx: MetricContext) -> Proposal:
    """``computeReplicasForMetrics``: the max over valid proposals; ``replicas`` None when every
    metric is invalid, or when some are and the max is below ``current`` (no scale-down on
    partial data, pitfall 12)."""
    results = tuple(evaluate_metric(m, obs, ctx) for m in spec.metrics)
    best, rule, invalid = 0, "", 0
    for r in results:
        if r.replicas is None:
            invalid += 1
        elif best == 0 or r.replicas > best:
            best, rule = r.replicas, r.key
    if invalid >= len(results) or (invalid and best < ctx.current):
        first_bad = next(r.key for r in results if r.replicas is None)
        return Proposal(None, first_bad, results)
    return Proposal(best, rule, results)


# ------------------------------------------------------------------------------ decide (1)

_LIMIT_REASONS = {hpa_behavior.SCALE_UP_LIMIT: Reason.RATE_LIMITED, hpa_behavior.SCALE_DOWN_LIMIT: Reason.RATE_LIMITED,
                  hpa_behavior.TOO_MANY: Reason.CLAMPED_MAX, hpa_behavior.TOO_FEW: Reason.CLAMPED_MIN}


def decide(obs: observations.Observation, state: HPAState, spec: HPASpec, now: float) -> tuple[Decision, HPAState]:
    """One HPA sync (``reconcileAutoscaler``). Returns the same ``state`` when nothing changed."""
    current = obs.replicas
    if current == 0 and spec.min_replicas != 0:
        return Decision(0, 0, Reason.SCALING_DISABLED, "", obs.metrics, None), state
    if current > spec.max_replicas or current < spec.min_replicas:
        above = current > spec.max_replicas
        desired = spec.max_replicas if above else spec.min_replicas
        reason = Reason.CLAMPED_MAX if above else Reason.CLAMPED_MIN
        rule = "maxReplicas" if above else "minReplicas"
        return _finish(obs, state, spec, current, desired, reason, rule, state.recommendations, None, now)

    ctx = context(spec, obs, now)
    proposal = compute_replicas_for_metrics(spec, obs, ctx)
    detail: dict[str, Any] = {"metrics": {r.key: _result_detail(r) for r in proposal.results}}
    if proposal.replicas is None:
        return Decision(current, 0, Reason.METRICS_MISSING, proposal.rule, obs.metrics, detail), state
    desired = proposal.replicas
    if spec.behavior is None:
        norm = hpa_behavior.normalize_legacy(state.recommendations, current, desired, spec.min_replicas,
                                             spec.max_replicas, spec.controller, now)
    else:
        norm = hpa_behavior.normalize_with_behaviors(state.recommendations, state.scale_up_events,
                                                     state.scale_down_events, current, desired, spec.min_replicas,
                                                     spec.max_replicas, spec.behavior, spec.controller, now)
    detail.update(proposal=desired, stabilized=norm.stabilized, limit=norm.limit_reason,
                  path="legacy" if spec.behavior is None else "behavior")
    if norm.limit_reason in _LIMIT_REASONS:
        reason = _LIMIT_REASONS[norm.limit_reason]
    elif norm.stabilized > desired:
        reason = Reason.STABILIZED_DOWN
    elif norm.stabilized < desired:
        reason = Reason.STABILIZED_UP
    elif norm.replicas == current:
        reason = Reason.WITHIN_TOLERANCE
    else:
        reason = Reason.SCALED
    return _finish(obs, state, spec, current, norm.replicas, reason, proposal.rule, norm.recommendations, detail, now)


def _finish(obs: observations.Observation, state: HPAState, spec: HPASpec, current: int, desired: int,
            reason: Reason, rule: str, recs: tuple, detail: dict | None, now: float) -> tuple[Decision, HPAState]:
    up, down = state.scale_up_events, state.scale_down_events
    if desired != current:
        # storeScaleEvent: the shell applies the decision, so the rescale is recorded now
        up, down = hpa_behavior.store_scale_event(spec.behavior, up, down, current, desired, now)
    if recs is state.recommendations and up is state.scale_up_events and down is state.scale_down_events:
        new_state = state
    else:
        new_state = HPAState(recs, up, down)
    return Decision(desired, desired - current, reason, rule, obs.metrics, detail), new_state


def _result_detail(r: MetricResult) -> dict[str, Any]:
    if r.replicas is None:
        return {"error": r.error}
    out: dict[str, Any] = {"replicas": r.replicas, "ratio": r.ratio, "usage_milli": r.usage}
    if r.utilization is not None:
        out["utilization_percent"] = r.utilization
    return out


FAMILY = base.Family(kind=KIND, parse=parse, initial_state=initial_state, decide=decide, needs_pods=True,
                     summary="faithful Kubernetes HPA (autoscaling/v2): metrics targets, tolerance, behavior")
