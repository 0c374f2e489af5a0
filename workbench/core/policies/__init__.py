"""Policy families behind one small Protocol (``base.Family``) and the shared entry points.

``decide(observation, state, spec, now) -> (decision, state)`` dispatches on ``spec.kind``;
``initial_state(spec, replicas, now)`` gives the state before the first tick. Shells that call
``decide`` on every tick should fetch ``family(spec).decide`` once instead.
"""

from __future__ import annotations

from typing import Any

from workbench.core import errors, observations
from workbench.core.decisions import Decision
from workbench.core.policies import base, hpa, panic, predictive, tiered

FAMILIES: dict[str, base.Family] = {f.kind: f for f in (tiered.FAMILY, hpa.FAMILY, predictive.FAMILY, panic.FAMILY)}


def family(spec: Any) -> base.Family:
    try:
        return FAMILIES[spec.kind]
    except (KeyError, AttributeError):
        raise errors.UserError(f"unknown policy kind {getattr(spec, 'kind', spec)!r}") from None


def initial_state(spec: Any, replicas: int, now: float) -> Any:
    return family(spec).initial_state(spec, replicas, now)


def decide(observation: observations.Observation, state: Any, spec: Any, now: float) -> tuple[Decision, Any]:
    """One control tick of any family: pure, deterministic, no I/O."""
    return family(spec).decide(observation, state, spec, now)
