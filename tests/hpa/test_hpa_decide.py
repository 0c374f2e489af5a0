"""``HPAPolicy.decide`` over several ticks, and the observation mapping the shells rely on."""

from __future__ import annotations

from _hpa_support import cpu_obs, load, pod, run
from workbench.core import observations, policies
from workbench.core.decisions import Reason
from workbench.core.policies import hpa, hpa_behavior

LEGACY = """
minReplicas: 1
maxReplicas: 20
metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
"""
DEFAULT_BEHAVIOR = LEGACY + "behavior: {}\n"


def low_load(current):
    return cpu_obs(current, 250)          # 25 % of request: half the 50 % target


def hot(current):
    return cpu_obs(current, 2000)         # 200 %: four times the target


def ticks(make, start, stop, step=15):
    return [(float(t), make) for t in range(start, stop + 1, step)]


def test_family_is_registered_and_needs_pods():
    assert policies.FAMILIES["HPAPolicy"] is hpa.FAMILY
    assert hpa.FAMILY.needs_pods


def test_seeded_history_holds_a_legacy_scale_down_for_the_window_then_releases():
    """Pitfall 9 + section 4: the seed {4, t=0} blocks the scale-down; the legacy window is inclusive,
    so it still holds at t=300 and releases at the next sync."""
    spec = load(LEGACY)
    out, _ = run(spec, ticks(low_load, 0, 330), start_replicas=4)
    by_t = {t: d for t, d in out}
    assert by_t[0.0].replicas == 4 and by_t[0.0].reason is Reason.STABILIZED_DOWN
    assert by_t[0.0].rule == "resource/cpu"
    assert by_t[0.0].detail["proposal"] == 2 and by_t[0.0].detail["stabilized"] == 4
    assert all(by_t[float(t)].replicas == 4 for t in range(0, 301, 15))
    assert by_t[315.0].replicas == 2 and by_t[315.0].reason is Reason.SCALED and by_t[315.0].change == -2
    assert by_t[330.0].replicas == 2


def test_behavior_down_window_holds_for_300s_strictly_then_releases_within_rate_limit():
    spec = load(DEFAULT_BEHAVIOR)
    out, state = run(spec, ticks(low_load, 0, 315), start_replicas=4)
    by_t = {t: d for t, d in out}
    assert all(by_t[float(t)].replicas == 4 and by_t[float(t)].reason is Reason.STABILIZED_DOWN
               for t in range(0, 300, 15))
    assert by_t[300.0].replicas == 2                       # strict window: the t=0 seed is out at t=300
    assert state.scale_down_events == (hpa_behavior.ScaleEvent(2, 300.0),)
    assert state.scale_up_events == ()


def test_rate_limit_accumulates_across_periods_and_releases_on_the_boundary():
    spec = load(LEGACY.replace("maxReplicas: 20", "maxReplicas: 40") + """
behavior:
  scaleUp: {policies: [{type: Pods, value: 2, periodSeconds: 60}]}
""")
    out, state = run(spec, ticks(hot, 0, 135), start_replicas=2)
    seen = [(t, d.replicas, d.reason) for t, d in out]
    assert seen[0] == (0.0, 4, Reason.RATE_LIMITED)
    # 15..45 s: the +2 at t=0 is inside the 60 s period: the limit stays at 4
    assert all(r == 4 and why is Reason.RATE_LIMITED for t, r, why in seen[1:4])
    # t=60: the event sits exactly on now - 60 and no longer counts (strict)
    assert seen[4] == (60.0, 6, Reason.RATE_LIMITED)
    assert seen[8] == (120.0, 8, Reason.RATE_LIMITED)
    # at t=120 the t=0 event is older than the longest period: its slot is reused (storeScaleEvent)
    assert state.scale_up_events == (hpa_behavior.ScaleEvent(2, 120.0), hpa_behavior.ScaleEvent(2, 60.0))


def test_nil_behavior_is_not_default_behavior():
    """Pitfall 1: from 2 replicas a hot service gets 4 on the legacy path, 6 with default behavior."""
    legacy, behaved = load(LEGACY), load(DEFAULT_BEHAVIOR)
    d1, s1 = hpa.decide(hot(2), hpa.initial_state(legacy, 2, 0.0), legacy, 0.0)
    d2, s2 = hpa.decide(hot(2), hpa.initial_state(behaved, 2, 0.0), behaved, 0.0)
    assert (d1.replicas, d1.reason, d1.detail["limit"]) == (4, Reason.RATE_LIMITED, "ScaleUpLimit")
    assert (d2.replicas, d2.reason) == (2 + 4, Reason.RATE_LIMITED)
    assert d1.detail["proposal"] == d2.detail["proposal"] == 8
    assert s1.scale_up_events == () and s2.scale_up_events == (hpa_behavior.ScaleEvent(4, 0.0),)


def test_legacy_stabilization_lifts_a_scale_up_to_a_recent_higher_recommendation():
    spec = load(LEGACY)
    state = hpa.HPAState((hpa_behavior.Recommendation(10, -60.0),))
    obs = cpu_obs(5, 700)                                         # 70 % / 50 % -> ceil(1.4 * 5) = 7
    d, _ = hpa.decide(obs, state, spec, 0.0)
    assert (d.detail["proposal"], d.replicas, d.reason) == (7, 10, Reason.STABILIZED_DOWN)


def test_within_tolerance_keeps_current():
    spec = load(LEGACY)
    d, state = hpa.decide(cpu_obs(3, 530), hpa.initial_state(spec, 3, 0.0), spec, 0.0)
    assert (d.replicas, d.change, d.reason) == (3, 0, Reason.WITHIN_TOLERANCE)
    assert d.detail["metrics"]["resource/cpu"] == {"replicas": 3, "ratio": 1.06, "usage_milli": 530,
                                                   "utilization_percent": 53}


def test_an_invalid_metric_blocks_scale_down_but_not_scale_up():
    spec = load(LEGACY.replace("]\n", ", {type: External, external: {metric: {name: queue}, target: {type: Value, value: 100}}}]\n"))
    state = hpa.initial_state(spec, 4, -1000.0)
    quiet = cpu_obs(4, 100, metrics={"queue": None})
    d, new_state = hpa.decide(quiet, state, spec, 0.0)
    assert (d.replicas, d.reason, d.rule) == (4, Reason.METRICS_MISSING, "external/queue")
    assert new_state is state                                     # nothing recorded
    assert d.detail["metrics"]["external/queue"] == {"error": "unable to get external metric queue"}
    d, _ = hpa.decide(cpu_obs(4, 1000, metrics={"queue": None}), state, spec, 0.0)
    assert (d.replicas, d.rule) == (8, "resource/cpu")


def test_all_metrics_invalid_keeps_current():
    spec = load(LEGACY)
    obs = observations.Observation(metrics={}, replicas=3, ready_replicas=3, pods=())
    state = hpa.initial_state(spec, 3, 0.0)
    d, new_state = hpa.decide(obs, state, spec, 15.0)
    assert (d.replicas, d.reason) == (3, Reason.METRICS_MISSING) and new_state is state


def test_scaling_disabled_and_out_of_range_replicas():
    spec = load(DEFAULT_BEHAVIOR.replace("minReplicas: 1", "minReplicas: 2"))
    state = hpa.initial_state(spec, 0, 0.0)
    d, new_state = hpa.decide(cpu_obs(0, 0), state, spec, 0.0)
    assert (d.replicas, d.reason) == (0, Reason.SCALING_DISABLED) and new_state is state
    d, new_state = hpa.decide(hot(25), state, spec, 0.0)
    assert (d.replicas, d.reason, d.rule) == (20, Reason.CLAMPED_MAX, "maxReplicas")
    assert new_state.scale_down_events == (hpa_behavior.ScaleEvent(5, 0.0),)    # forced rescales are stored
    d, _ = hpa.decide(low_load(1), state, spec, 0.0)
    assert (d.replicas, d.reason) == (2, Reason.CLAMPED_MIN)


def test_max_across_metrics_names_the_deciding_metric():
    spec = load(LEGACY.replace("]\n", ", {type: Pods, pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: 10}}}]\n"))
    pods = tuple(pod(f"p{i}", 500, extra={"qps": 30_000}) for i in range(2))    # 30 qps/pod vs 10 -> 6
    obs = observations.Observation(metrics={}, replicas=2, ready_replicas=2, pods=pods)
    d, _ = hpa.decide(obs, hpa.initial_state(spec, 2, 0.0), spec, 0.0)
    assert (d.replicas, d.rule) == (4, "pods/qps")            # proposal 6, legacy cap max(2*2, 4) = 4
    assert d.detail["proposal"] == 6


def test_object_and_external_targets_read_plain_units_from_observation_metrics():
    spec = load("""
maxReplicas: 50
metrics:
  - {type: Object, object: {describedObject: {kind: Service, name: s}, metric: {name: hits}, target: {type: AverageValue, averageValue: 2}}}
  - {type: External, external: {metric: {name: queue}, target: {type: Value, value: 500m}}}
""")
    ctx = hpa.MetricContext(current=3, status=5, tolerances=spec.tolerances(), cpu_initialization_period=300,
                            initial_readiness_delay=30, now=0.0)
    pods = (pod("a", None), pod("b", None), pod("c", None, ready=False))
    obs = observations.Observation(metrics={"hits": 6.0, "queue": 1.25}, replicas=3, ready_replicas=2, pods=pods,
                                   status_replicas=5)
    obj, ext = (hpa.evaluate_metric(m, obs, ctx) for m in spec.metrics)
    assert (obj.replicas, obj.usage) == (3, 1200)            # ceil(6000/2000); per-pod usage ceil(6000/5)
    assert (ext.replicas, ext.usage) == (5, 1250)            # ceil(2.5 * 2 Running-and-Ready pods)


def test_memory_and_container_requests_and_unlisted_samples():
    spec = load("""
maxReplicas: 50
metrics:
  - {type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 50}}}
  - {type: ContainerResource, containerResource: {name: cpu, container: app, target: {type: Utilization, averageUtilization: 50}}}
""")
    p = observations.PodSample("a", "Running", True, -3600.0, -3600.0, metrics={
        "memory": 800, "memory_request": 1000, "app/cpu": 300, "app/cpu_request": 200})
    gone = observations.PodSample("old", hpa.UNLISTED, False, None, None, metrics={"memory": 10_000})
    obs = observations.Observation(metrics={}, replicas=1, ready_replicas=1, pods=(p, gone))
    ctx = hpa.context(spec, obs, 0.0)
    mem, cpu = (hpa.evaluate_metric(m, obs, ctx) for m in spec.metrics)
    assert (mem.replicas, mem.utilization) == (2, 80)        # the unlisted sample has no request: ignored
    assert (cpu.replicas, cpu.utilization, cpu.usage) == (3, 150, 300)


def test_decide_is_pure_and_deterministic():
    spec = load(DEFAULT_BEHAVIOR)
    state = hpa.initial_state(spec, 3, 0.0)
    first = hpa.decide(hot(3), state, spec, 15.0)
    second = hpa.decide(hot(3), state, spec, 15.0)
    assert first == second
    assert state == hpa.initial_state(spec, 3, 0.0)
