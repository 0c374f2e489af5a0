"""The ``reconcile`` vector kind: one whole HPA sync, run through ``hpa.decide`` itself.

A case gives the scale (``spec_replicas``, ``status_replicas``), the HPA (``min_replicas``,
``max_replicas``, ``behavior`` — null = legacy path), the controller's memory
(``recommendations`` — null = no history yet, so the controller seeds ``{spec_replicas, now}``;
``scale_up_events``/``scale_down_events``), the controller constants it assumes
(``downscale_stabilization_window_s``, ``scale_up_limit_factor``, ``scale_up_limit_minimum``,
optionally ``cpu_initialization_period_s``/``delay_of_initial_readiness_status_s``) and its metrics
in the replica-vector format (kind ``invalid`` = a metric whose computation fails).

This module turns that into an ``HPASpec`` (API-defaulting a present behavior, as the parser
does), an ``HPAState`` and one ``Observation`` (a single pod list merged from the metrics' pod
lists; Object/External values in ``Observation.metrics``, an invalid metric as an External
metric whose value is None) and calls ``hpa.decide(observation, state, spec, now=0)``.
"""

from __future__ import annotations

from typing import Any

from workbench.conformance import hpa_inputs as ci
from workbench.conformance.hpa_inputs import Skip, get, num
from workbench.core import observations
from workbench.core.policies import hpa, hpa_behavior, hpa_replicas, hpa_spec


def run(inp: dict) -> list[tuple[str, dict]]:
    spec, state, obs = build(inp)
    decision, new_state = hpa.decide(obs, state, spec, ci.NOW)
    return [("", {
        "desired_replicas": decision.replicas,
        "reason": decision.reason.value,
        "stored_recommendations": [r.replicas for r in new_state.recommendations],
        "scale_up_events": [{"change": e.change, "t": e.time, "outdated": e.outdated} for e in new_state.scale_up_events],
        "scale_down_events": [{"change": e.change, "t": e.time, "outdated": e.outdated}
                              for e in new_state.scale_down_events],
    })]


def build(inp: dict) -> tuple[hpa_spec.HPASpec, hpa.HPAState, observations.Observation]:
    current = int(num(inp, "spec_replicas"))
    status = int(num(inp, "status_replicas", current))
    init, delay = ci.grouping_params(inp)

    metric_specs: list[hpa_spec.MetricSpec] = []
    values: dict[str, Any] = {}
    pods: dict[str, list] = {}            # name -> [fields, metrics, request]
    tolerance: hpa_replicas.Tolerances | None = None
    for i, m in enumerate(get(inp, "metrics", list)):
        kind, mi = get(m, "kind", str), get(m, "input", dict, {}) or {}
        name = f"m{i}"
        if kind == "invalid":
            metric_specs.append(hpa_spec.MetricSpec(hpa_spec.EXTERNAL, f"invalid{i}",
                                                    hpa_spec.MetricTarget(hpa_spec.VALUE, value_milli=1000)))
            values[f"invalid{i}"] = None
            continue
        if kind not in ci.POD_KINDS + ci.VALUE_KINDS:
            raise Skip("unsupported-kind", f"metric kind {kind!r} in a reconcile case")
        if "tolerance" in mi:
            t = ci.tolerances(mi)
            if tolerance is not None and t != tolerance:
                raise Skip("inconsistent-tolerance", "metrics state different tolerances (one HPA has one)")
            tolerance = t
        spec = ci.metric_spec(kind, mi, name)
        metric_specs.append(spec)
        if kind in ci.VALUE_KINDS:
            values[name] = ci.metric_value(kind, mi)
        for fields, metrics, request in ci.metric_pods(kind, mi, spec):
            _merge(pods, fields, metrics, request)

    behavior, flag_tolerance = _behavior(get(inp, "behavior", dict, None), tolerance)
    flags = hpa_behavior.ControllerFlags(
        tolerance=flag_tolerance,
        downscale_stabilization=float(num(inp, "downscale_stabilization_window_s", 300)),
        cpu_initialization_period=init, initial_readiness_delay=delay,
        scale_up_limit_factor=float(num(inp, "scale_up_limit_factor", 2.0)),
        scale_up_limit_minimum=float(num(inp, "scale_up_limit_minimum", 4.0)))
    spec = hpa_spec.HPASpec(name="reconcile-case", max_replicas=int(num(inp, "max_replicas")),
                            min_replicas=int(num(inp, "min_replicas", 1)),
                            metrics=tuple(metric_specs) or hpa_spec.DEFAULT_METRICS,
                            behavior=hpa_behavior.default_behavior(behavior), controller=flags)

    recs = get(inp, "recommendations", list, None)
    if recs is None:
        state = hpa.initial_state(spec, current, ci.NOW)
    else:
        state = hpa.HPAState(ci.recommendations(recs))
    state = state._replace(scale_up_events=ci.events(get(inp, "scale_up_events", list, [])),
                           scale_down_events=ci.events(get(inp, "scale_down_events", list, [])))

    samples = tuple(ci.build_pod(f, m, r, init, delay) for f, m, r in pods.values())
    ready = sum(1 for p in samples if p.phase == "Running" and p.ready)
    obs = observations.Observation(metrics=values, replicas=current, ready_replicas=ready, pods=samples,
                                   status_replicas=status)
    return spec, state, obs


def _merge(pods: dict[str, list], fields: dict, metrics: dict, request: int | None) -> None:
    """One sync has one pod list: the same pod named by several metrics must agree."""
    name = fields["name"]
    if name not in pods:
        pods[name] = [dict(fields), dict(metrics), request]
        return
    have = pods[name]
    for k, v in fields.items():
        if k in have[0] and have[0][k] != v:
            raise Skip("inconsistent-pods", f"pod {name!r} has {k}={have[0][k]!r} in one metric and {v!r} in another")
        have[0][k] = v
    for k, v in metrics.items():
        if k in have[1] and have[1][k] != v:
            raise Skip("inconsistent-pods", f"pod {name!r} has two values for {k!r}")
        have[1][k] = v
    if request is not None:
        if have[2] is not None and have[2] != request:
            raise Skip("inconsistent-pods", f"pod {name!r} has two requests")
        have[2] = request


def _behavior(b: dict | None, tol: hpa_replicas.Tolerances | None) -> tuple[hpa_behavior.Behavior | None, float]:
    """The case's behavior, and the controller tolerance flag, such that ``tolerancesForHpa``
    yields the tolerances the metric inputs state."""
    if b is None:
        if tol is not None and tol.down != tol.up:
            raise Skip("legacy-asymmetric-tolerance",
                       "per-direction tolerances need a behavior upstream; this case has none")
        return None, 0.1 if tol is None else tol.down
    up = ci.rules(get(b, "scale_up", dict, None))
    down = ci.rules(get(b, "scale_down", dict, None))
    if tol is None:
        return hpa_behavior.Behavior(up, down), 0.1
    # an all-unset ScalingRules defaults exactly like a nil direction, so carrying the tolerance
    # through one changes nothing else
    up = up or hpa_behavior.ScalingRules()
    down = down or hpa_behavior.ScalingRules()
    up = hpa_behavior.ScalingRules(up.stabilization_window_seconds, up.select_policy, up.policies, tol.up)
    down = hpa_behavior.ScalingRules(down.stabilization_window_seconds, down.select_policy, down.policies, tol.down)
    return hpa_behavior.Behavior(up, down), tol.down
