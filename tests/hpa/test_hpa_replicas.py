"""Per-metric replica math: the points the upstream vectors cannot tell apart, and the edges."""

from __future__ import annotations

import pytest

from _hpa_support import pod
from workbench.core.policies import hpa_replicas as rc

TOL = rc.Tolerances(0.1, 0.1)
NOW = 0.0
CPU = rc.Grouping(True, 300.0, 30.0, NOW)


def samples_of(pods):
    return {p.name: rc.Sample(p.metrics["cpu"], NOW, 30.0) for p in pods if "cpu" in (p.metrics or {})}


def requests_of(pods):
    return {p.name: p.request_milli for p in pods}


def resource(current, target, pods, extra_samples=None, tol=TOL):
    samples = samples_of(pods)
    samples.update(extra_samples or {})
    return rc.resource_replicas(current, target, pods, samples, requests_of(pods), "cpu", tol, CPU)


def test_unready_pods_are_zero_filled_on_scale_up_with_unequal_requests():
    """ALGORITHM.md 2.3: with unequal requests, re-adding the unready pod at usage 0 changes the
    answer (3); leaving it out, as a mutant would, gives 2. Every upstream vector has equal requests."""
    ready = pod("a", 900, 1000)
    never_ready = pod("b", 200, 200, ready=False)       # Ready=False since start: unready for CPU
    r = resource(2, 50, [ready, never_ready])
    assert (r.utilization, r.raw_average) == (90, 900)  # first pass: ready pods only
    assert r.ratio == 1.5                               # (900 / 1200) -> 75 % / 50 %
    assert r.replicas == 3


def test_without_unready_pods_the_fast_path_multiplies_by_ready_count():
    r = resource(2, 50, [pod("a", 900, 1000), pod("b", 900, 1000)])
    assert (r.replicas, r.utilization) == (4, 90)


def test_missing_pods_on_scale_down_count_as_max_100_percent_or_target_of_their_own_request():
    pods = [pod("a", 100, 1000), pod("b", 100, 1000), pod("c", None, 3000)]
    r = resource(3, 50, pods)
    # first pass 10 % -> 0.2; c filled with 3000*100//100: (200+3000)/5000 = 64 % -> 1.28 > 1: direction flip
    assert r.replicas == 3
    r = resource(3, 150, pods)
    # c filled with 3000*150//100 = 4500: (200+4500)/5000 = 94 % -> 0.626..; ceil(0.6266*3) = 2
    assert r.replicas == 2


def test_missing_pods_stay_out_at_ratio_exactly_one():
    pods = [pod("a", 500, 1000), pod("b", None, 1000)]
    assert resource(4, 50, pods).replicas == 4


def test_unmatched_samples_count_in_the_rebalance_multiplier_but_not_in_utilization():
    pods = [pod("a", 800, 1000), pod("b", None, 1000)]
    r = resource(2, 20, pods, extra_samples={"gone": rc.Sample(5000)})
    # first pass: only a has a request: 80 % -> ratio 4; b missing -> 0; newRatio 800/2000 = 40 % -> 2.0;
    # the multiplier is the 3 samples present (a, b, gone), not the 2 listed pods: ceil(2.0 * 3) = 6
    assert (r.utilization, r.replicas) == (80, 6)


@pytest.mark.parametrize("error_pods,message", [
    ([], "no pods returned by selector while calculating replica count"),
    ([pod("a", 100, None)], "missing request for cpu in pod a"),
    ([pod("a", 100, ready=False)], "did not receive metrics for targeted pods (pods might be unready)"),
])
def test_resource_errors(error_pods, message):
    with pytest.raises(rc.MetricError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resource(1, 50, error_pods)


def test_plain_average_truncates_and_fills_missing_with_target():
    pods = [pod("a", 10, None), pod("b", 11, None), pod("c", None, None)]
    samples = samples_of(pods)
    r = rc.plain_replicas(3, 100, pods, samples, TOL, rc.Grouping(False, 300, 30, NOW))
    assert r.usage == 10                      # (10 + 11) // 2
    # ratio 0.1 < 1: c filled with exactly 100 -> (121)//3 = 40 -> 0.4 -> ceil(1.2) = 2
    assert r.replicas == 2


def test_custom_metrics_ignore_readiness_but_not_pending():
    g = rc.Grouping(False, 300, 30, NOW)
    pods = [pod("a", 10, ready=False, start=-1.0), pod("p", None, phase="Pending")]
    groups = rc.group_pods(pods, samples_of(pods), g)
    assert (groups.ready_count, groups.unready, groups.missing) == (1, frozenset({"p"}), frozenset())


@pytest.mark.parametrize("tol,ratio,within", [
    (rc.Tolerances(0.1, 0.1), 0.9, True), (rc.Tolerances(0.1, 0.1), 1.1, True),
    (rc.Tolerances(0.1, 0.1), 0.8999, False), (rc.Tolerances(0.0, 0.5), 1.4, True),
    (rc.Tolerances(0.0, 0.5), 0.99, False), (rc.Tolerances(0.3, 0.0), 1.0001, False),
])
def test_tolerance_is_inclusive_and_per_direction(tol, ratio, within):
    assert tol.within(ratio) is within


def test_value_target_uses_running_ready_pods_and_scale_from_zero():
    pods = [pod("a", None), pod("b", None, ready=False), pod("c", None, phase="Pending", ready=False)]
    assert rc.usage_ratio_replicas(3, 20_000, 10_000, TOL, pods).replicas == 2     # ceil(2.0 * 1 ready)
    assert rc.usage_ratio_replicas(0, 1_500, 1_000, TOL, ()).replicas == 2         # ceil(1.5), no tolerance
    assert rc.usage_ratio_replicas(0, 1_050, 1_000, TOL, ()).replicas == 2
    with pytest.raises(rc.MetricError):
        rc.usage_ratio_replicas(3, 20_000, 10_000, TOL, ())


def test_saturation():
    assert rc.saturating_sum([rc.MAX_INT64, 1]) == rc.MAX_INT64
    assert rc.ceil_replicas(1e30) == rc.MAX_INT32
    r = rc.per_pod_replicas(1, rc.MAX_INT64, 1, TOL)
    assert (r.replicas, r.usage) == (rc.MAX_INT32, rc.MAX_INT64)


def test_per_pod_average_uses_status_replicas_only_for_tolerance():
    assert rc.per_pod_replicas(4, 20_166, 5_000, TOL) == (4, 5042, 20_166 / 20_000, True)
    assert rc.per_pod_replicas(9, 20_166, 5_000, TOL).replicas == 5
    assert rc.per_pod_replicas(0, 0, 5_000, TOL).replicas == 0
