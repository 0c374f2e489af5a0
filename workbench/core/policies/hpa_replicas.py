"""Per-metric replica math of the Kubernetes HPA (autoscaling/v2), ALGORITHM.md sections 2.1-2.7.

Follows ``pkg/controller/podautoscaler/replica_calculator.go`` and ``metrics/utilization.go``
(current master: per-direction ``Tolerances``, MaxInt32/MaxInt64 saturation). Each function
names the upstream function it mirrors. Everything here is integer milli-units (CPU
millicores, metric values x1000) and IEEE float64 ratios, exactly like upstream, so results are
bit-for-bit the same, including the truncations (pitfall 2).

Inputs are plain values: the pod list (``observations.PodSample``, *listed* pods only), a
mapping ``pod name -> Sample`` (which may hold *unmatched* samples for pods not in the list)
and per-pod requests. Errors are raised as ``MetricError``; ``hpa.compute_replicas_for_metrics``
turns them into "invalid metric" (section 3). Pure: no clock, ``now`` is a parameter.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, NamedTuple, Sequence

from workbench.core import errors, observations

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class MetricError(errors.ScalelabError):
    """A metric cannot give a proposal this sync (upstream returns an error). Internal to the core:
    the HPA family catches it and reports the metric as invalid (never raised to a shell)."""


class Tolerances(NamedTuple):
    """``Tolerances.isWithin``: ``(1 - down) <= ratio <= (1 + up)``, both bounds inclusive."""

    down: float = 0.1
    up: float = 0.1

    def within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


class Sample(NamedTuple):
    """One pod's metric sample (``metricsclient.PodMetric``): value in milli, its timestamp and window."""

    value: int
    timestamp: float = 0.0
    window: float = 30.0


class Grouping(NamedTuple):
    """What ``groupPods`` needs besides pods and samples: is this the CPU resource, the controller's
    ``--horizontal-pod-autoscaler-cpu-initialization-period`` and
    ``--horizontal-pod-autoscaler-initial-readiness-delay`` (seconds), and ``now``."""

    cpu: bool
    cpu_initialization_period: float
    initial_readiness_delay: float
    now: float


class PodGroups(NamedTuple):
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


class ResourceResult(NamedTuple):
    replicas: int
    utilization: int      # integer percent of request, first pass, truncated
    raw_average: int      # average usage (milli), first pass, truncated
    ratio: float
    within: bool


class PlainResult(NamedTuple):
    replicas: int
    usage: int            # average (milli), first pass, truncated
    ratio: float
    within: bool


# ------------------------------------------------------------------------------------ helpers


def ceil_replicas(x: float) -> int:
    """``int32(math.Ceil(x))`` with the newer code's saturation at MaxInt32 (and NaN -> 0)."""
    if x != x:
        return 0
    if x >= MAX_INT32:
        return MAX_INT32
    if x <= -MAX_INT32 - 1:
        return -MAX_INT32 - 1
    return math.ceil(x)


def saturating_sum(values: Iterable[int]) -> int:
    """Sum of external series values, saturating at MaxInt64 (``GetExternalMetricReplicas``)."""
    total = 0
    for v in values:
        total += v
        if total >= MAX_INT64:
            return MAX_INT64
    return total


def ready_pods_count(pods: Sequence[observations.PodSample]) -> int:
    """``getReadyPodsCount``: pods in phase Running with Ready=True; an empty list is an error."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


# ------------------------------------------------------------------------------------ groupPods


def group_pods(pods: Sequence[observations.PodSample], samples: Mapping[str, Sample], g: Grouping) -> PodGroups:
    """``groupPods``: split the listed pods into ready / unready / missing / ignored (section 2.2).

    ``pod.ready`` is the Ready condition's status: True, False, or None for status Unknown (only
    the conformance vectors use None); ``ready_transition_time is None`` means no Ready condition.
    The CPU readiness rules (step 4) apply only when ``g.cpu``.
    """
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        sample = samples.get(pod.name)
        if sample is None:
            missing.add(pod.name)
            continue
        if g.cpu and _cpu_unready(pod, sample, g):
            unready.add(pod.name)
            continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_unready(pod: observations.PodSample, sample: Sample, g: Grouping) -> bool:
    transition = pod.ready_transition_time
    if transition is None or pod.start_time is None:
        return True
    ready_false = pod.ready is False
    if pod.start_time + g.cpu_initialization_period > g.now:
        # still initializing: unready if not ready, or if the sample window began before the
        # last readiness change
        return ready_false or sample.timestamp < transition + sample.window
    # past initialization: unready only if it has never become ready since it started
    return ready_false and pod.start_time + g.initial_readiness_delay > transition


# ------------------------------------------------------------------------------ usage ratios


def resource_utilization_ratio(samples: Mapping[str, Sample], requests: Mapping[str, int], target: int) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, integer utilization %, raw average usage).

    Only samples whose pod has a request entry count; ``util = (100*U) // Q`` is truncated
    before the division by the target.
    """
    usage = req = n = 0
    for name, s in samples.items():
        r = requests.get(name)
        if r is None:
            continue
        usage += s.value
        req += r
        n += 1
    if req == 0:
        raise MetricError("no metrics returned matched known pods")
    util = (100 * usage) // req
    return _div(float(util), float(target)), util, usage // n


def metric_usage_ratio(samples: Mapping[str, Sample], target: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: (ratio, truncated average) over every sample present."""
    total = sum(s.value for s in samples.values())
    n = len(samples)
    avg = total // n if total >= 0 else -((-total) // n)   # Go's truncating int64 division
    return _div(float(avg), float(target)), avg


def pod_requests(pods: Sequence[observations.PodSample], requests: Mapping[str, int | None], resource: str) -> dict[str, int]:
    """``calculatePodRequests``: every listed pod needs a request, else the metric fails."""
    out: dict[str, int] = {}
    for pod in pods:
        r = requests.get(pod.name)
        if r is None:
            raise MetricError(f"missing request for {resource} in pod {pod.name}")
        out[pod.name] = r
    return out


# ------------------------------------------------------------------ Resource utilization (2.3)


def resource_replicas(current: int, target_utilization: int, pods: Sequence[observations.PodSample],
                      samples: Mapping[str, Sample], requests: Mapping[str, int | None], resource: str,
                      tol: Tolerances, g: Grouping) -> ResourceResult:
    """``GetResourceReplicas``: replicas for a Resource/ContainerResource ``Utilization`` target.

    Fast path when nothing is missing and no unready pod matters; otherwise the rebalance path:
    missing pods filled with ``req*max(100,T)//100`` on a scale-down or 0 on a scale-up, unready
    pods zero-filled on a scale-up, the ratio recomputed over every sample present, then the
    direction guards (pitfall 4). ``utilization``/``raw_average`` come from the first pass.
    """
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, samples, g)
    kept = _without(samples, groups.ignored | groups.unready)
    if not kept:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    req = pod_requests(pods, requests, resource)
    ratio, util, raw = resource_utilization_ratio(kept, req, target_utilization)

    up_with_unready = bool(groups.unready) and ratio > 1.0
    if not up_with_unready and not groups.missing:
        if tol.within(ratio):
            return ResourceResult(current, util, raw, ratio, True)
        return ResourceResult(ceil_replicas(ratio * groups.ready_count), util, raw, ratio, False)

    filled = dict(kept)
    if groups.missing:
        if ratio < 1.0:
            fallback = max(100, target_utilization)
            for name in groups.missing:
                filled[name] = Sample(req[name] * fallback // 100)
        elif ratio > 1.0:
            for name in groups.missing:
                filled[name] = Sample(0)
    if up_with_unready:
        for name in groups.unready:
            filled[name] = Sample(0)
    new_ratio, _, _ = resource_utilization_ratio(filled, req, target_utilization)
    replicas = _rebalanced(current, ratio, new_ratio, len(filled), tol)
    return ResourceResult(replicas, util, raw, new_ratio, replicas == current)


# ------------------------------------------------------ plain averages: Pods, Resource AverageValue (2.4)


def plain_replicas(current: int, target: int, pods: Sequence[observations.PodSample],
                   samples: Mapping[str, Sample], tol: Tolerances, g: Grouping) -> PlainResult:
    """``calcPlainMetricReplicas`` (``GetMetricReplicas`` for Pods metrics with ``g.cpu=False``,
    ``GetRawResourceReplicas`` for Resource ``AverageValue`` targets).

    Same shape as ``resource_replicas`` with ``avg = sum // count``. Missing pods are filled with
    exactly ``target`` when ratio < 1 and with 0 when ratio > 1; at ratio == 1 they stay out
    (pitfall 5; vector rc-pods-07 pins this: older upstream releases zero-filled them).
    """
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, samples, g)
    kept = _without(samples, groups.ignored | groups.unready)
    if not kept:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, avg = metric_usage_ratio(kept, target)

    up_with_unready = bool(groups.unready) and ratio > 1.0
    if not up_with_unready and not groups.missing:
        if tol.within(ratio):
            return PlainResult(current, avg, ratio, True)
        return PlainResult(ceil_replicas(ratio * groups.ready_count), avg, ratio, False)

    filled = dict(kept)
    if groups.missing and ratio != 1.0:
        fill = target if ratio < 1.0 else 0
        for name in groups.missing:
            filled[name] = Sample(fill)
    if up_with_unready:
        for name in groups.unready:
            filled[name] = Sample(0)
    new_ratio, _ = metric_usage_ratio(filled, target)
    replicas = _rebalanced(current, ratio, new_ratio, len(filled), tol)
    return PlainResult(replicas, avg, new_ratio, replicas == current)


def _without(samples: Mapping[str, Sample], names: frozenset[str]) -> dict[str, Sample]:
    """``removeMetricsForPods``: unmatched samples (pods not listed) are kept."""
    return {k: v for k, v in samples.items() if k not in names}


def _rebalanced(current: int, ratio: float, new_ratio: float, count: int, tol: Tolerances) -> int:
    """The rebalance path's tail: tolerance, ratio-flip guard, then the newReplicas-vs-current guard."""
    if tol.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = ceil_replicas(new_ratio * count)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


# ------------------------------------------------------ Object / External, Value target (2.5)


def usage_ratio_replicas(current: int, usage: int, target: int, tol: Tolerances,
                         pods: Sequence[observations.PodSample] | None) -> PlainResult:
    """``GetObjectMetricReplicas`` / ``GetExternalMetricReplicas`` via ``getUsageRatioReplicaCount``.

    ``usage`` is the object value or the (saturated) external sum. With ``current == 0`` the
    result is ``ceil(ratio)`` (scale from zero: no tolerance, no pods). Otherwise ``current`` when
    within tolerance, else ``ceil(ratio * Running-and-Ready pods)``; pods are only listed then.
    """
    ratio = _div(float(usage), float(target))
    if current == 0:
        return PlainResult(ceil_replicas(ratio), usage, ratio, False)
    if tol.within(ratio):
        return PlainResult(current, usage, ratio, True)
    ready = ready_pods_count(pods or ())
    return PlainResult(ceil_replicas(ratio * ready), usage, ratio, False)


# ------------------------------------------------ Object / External, AverageValue target (2.6)


def per_pod_replicas(status_replicas: int, usage: int, target_average: int, tol: Tolerances) -> PlainResult:
    """``GetObjectPerPodMetricReplicas`` / ``GetExternalPerPodMetricReplicas``.

    ``ratio = usage / (target * status)``; the proposal is ``status`` within tolerance, else
    ``ceil(usage / target)`` (saturating at MaxInt32). Pods are not consulted. The reported
    usage is the per-replica average ``ceil(usage / status)`` (MaxInt64 stays MaxInt64).
    """
    denom = float(target_average) * float(status_replicas)
    ratio = _div(float(usage), denom)
    within = tol.within(ratio)
    replicas = status_replicas if within else ceil_replicas(_div(float(usage), float(target_average)))
    if usage >= MAX_INT64:
        reported = MAX_INT64
    elif status_replicas == 0:
        reported = 0 if usage == 0 else MAX_INT64
    else:
        avg = math.ceil(float(usage) / float(status_replicas))
        reported = MAX_INT64 if avg >= MAX_INT64 else avg
    return PlainResult(replicas, reported, ratio, within)


def _div(a: float, b: float) -> float:
    """IEEE division as Go does it (x/0 = +-Inf, 0/0 = NaN) instead of Python's ZeroDivisionError."""
    if b == 0.0:
        if a == 0.0 or a != a:
            return math.nan
        return math.inf if a > 0 else -math.inf
    return a / b
