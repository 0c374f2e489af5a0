"""Drive a policy through a sequence of ticks, feeding its decisions back as the current count."""

from __future__ import annotations

from workbench.core import loading, policies
from workbench.core.observations import Observation


def policy(spec_yaml: str, kind: str = "TieredPolicy"):
    return loading.load_policy_text(f"apiVersion: scalelab/v1\nkind: {kind}\nmetadata: {{name: t}}\nspec:\n{spec_yaml}", "t.yaml")


def drive(spec, ticks, replicas: int, interval: float = 15.0, start: float = 0.0):
    """``ticks``: list of metric dicts (one per interval). Returns [(now, replicas, reason, rule)]."""
    state = policies.initial_state(spec, replicas, start)
    out = []
    for i, metrics in enumerate(ticks):
        now = start + i * interval
        decision, state = policies.decide(Observation(metrics, replicas, replicas), state, spec, now)
        assert decision.change == decision.replicas - replicas
        replicas = decision.replicas
        out.append((now, replicas, decision.reason.value, decision.rule))
    return out
