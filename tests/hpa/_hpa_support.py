"""Builders shared by the HPA tests: policy documents, pods and observations."""

from __future__ import annotations

from workbench.core import loading, observations
from workbench.core.policies import hpa


def load(spec_yaml: str, name: str = "t"):
    """An ``HPASpec`` from the body of ``spec:`` (indented by the caller or not)."""
    body = "\n".join("  " + line for line in spec_yaml.strip("\n").splitlines())
    text = f"apiVersion: scalelab/v1\nkind: HPAPolicy\nmetadata: {{name: {name}}}\nspec:\n{body}\n"
    return loading.load_policy_text(text, "policy.yaml")


def pod(name: str, cpu: float | None, request: float | None = 1000, *, ready: bool = True, phase: str = "Running",
        start: float = -3600.0, transition: float | None = None, metric_time: float | None = None,
        extra: dict | None = None, deleted: bool = False) -> observations.PodSample:
    metrics = dict(extra or {})
    if cpu is not None:
        metrics["cpu"] = cpu
    return observations.PodSample(name=name, phase=phase, ready=ready, start_time=start,
                                  ready_transition_time=start if transition is None else transition,
                                  deleted=deleted, request_milli=request, metrics=metrics, metric_time=metric_time)


def cpu_obs(replicas: int, usage_each: float, request: float = 1000, *, metrics: dict | None = None,
            status: int | None = None) -> observations.Observation:
    """``replicas`` ready pods, each using ``usage_each`` millicores of ``request``."""
    pods = tuple(pod(f"p{i}", usage_each, request) for i in range(replicas))
    return observations.Observation(metrics=metrics or {}, replicas=replicas, ready_replicas=replicas, pods=pods,
                                    status_replicas=status)


def run(spec, ticks, state=None, start_replicas=None):
    """Drive ``decide`` over ``ticks`` = [(now, observation_factory(current))]; the shell applies each decision."""
    current = start_replicas
    if state is None:
        state = hpa.initial_state(spec, current, ticks[0][0])
    out = []
    for now, make in ticks:
        decision, state = hpa.decide(make(current), state, spec, now)
        out.append((now, decision))
        current = decision.replicas
    return out, state
