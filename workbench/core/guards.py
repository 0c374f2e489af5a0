"""Guards shared by rule-based and model-based families: bounds, step limits, timing.

Given the current replica count and a proposed target, ``apply`` returns the count actually
allowed and the reason when a guard changed or blocked it. Order, each step seeing the
previous one's result:

1. out of range: when ``current`` is outside [min, max] the count is brought back at once
   (no step limit, no cooldown), like the HPA controller does;
2. bounds: the target is clamped to [min, max] (``CLAMPED_MIN``/``CLAMPED_MAX``; ``AT_LIMIT`` when
   nothing is left to do);
3. step limits: at most ``max_step_up`` up / ``max_step_down`` down per change (``STEP_LIMITED``);
4. scale-down protection: no scale-down within ``scale_down_delay_after_up`` seconds of the last
   scale-up (``SCALE_DOWN_PROTECTED``);
5. scale-down stabilization: the count never drops below the highest recommendation that was in
   force at any time in the last ``stabilization_down`` seconds (``STABILIZED_DOWN``). A
   recommendation is in force from the tick it is first made until another one replaces it;
6. cooldown: at most one change per ``min_seconds_between_changes`` (``COOLDOWN``).

``GuardState`` is immutable; ``record`` and ``apply`` return the same object when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from workbench.core.decisions import Reason


@dataclass(frozen=True)
class Limits:
    min_replicas: int = 1
    max_replicas: int = 10
    max_step_up: int | None = None
    max_step_down: int | None = None
    min_seconds_between_changes: float = 0.0
    stabilization_down: float = 0.0
    scale_down_delay_after_up: float = 0.0


class GuardState(NamedTuple):
    last_change: float | None = None
    last_up: float | None = None
    # recommendations as (value, superseded_at); the newest has superseded_at None
    recs: tuple[tuple[int, float | None], ...] = ()


def record(limits: Limits, gs: GuardState, recommendation: int, now: float) -> GuardState:
    """Remember this tick's recommendation for the stabilization window (no-op when unchanged)."""
    if limits.stabilization_down <= 0:
        return gs
    recs = gs.recs
    if recs and recs[-1][0] == recommendation:
        return gs
    horizon = now - limits.stabilization_down
    kept = tuple(r for r in recs[:-1] if r[1] is not None and r[1] > horizon)
    if recs:
        kept += ((recs[-1][0], now),)
    return gs._replace(recs=kept + ((recommendation, None),))


def stabilized_floor(limits: Limits, gs: GuardState, now: float) -> int | None:
    """Highest recommendation in force during the last ``stabilization_down`` seconds."""
    horizon = now - limits.stabilization_down
    best = None
    for value, until in gs.recs:
        if (until is None or until > horizon) and (best is None or value > best):
            best = value
    return best


def clamp(limits: Limits, target: int) -> tuple[int, Reason | None]:
    if target > limits.max_replicas:
        return limits.max_replicas, Reason.CLAMPED_MAX
    if target < limits.min_replicas:
        return limits.min_replicas, Reason.CLAMPED_MIN
    return target, None


def apply(limits: Limits, gs: GuardState, current: int, target: int, now: float) -> tuple[int, Reason | None, GuardState]:
    """Return (allowed replicas, reason if a guard changed/blocked it, new state)."""
    # 1. current out of range: correct at once
    if current > limits.max_replicas or current < limits.min_replicas:
        fixed, why = clamp(limits, current)
        return fixed, why, _changed(gs, current, fixed, now)
    # 2. bounds
    wanted, why = clamp(limits, target)
    if wanted == current:
        return current, (Reason.AT_LIMIT if why is not None else None), gs
    allowed = wanted
    # 3. step limits
    if allowed > current and limits.max_step_up is not None and allowed - current > limits.max_step_up:
        allowed, why = current + limits.max_step_up, Reason.STEP_LIMITED
    elif allowed < current and limits.max_step_down is not None and current - allowed > limits.max_step_down:
        allowed, why = current - limits.max_step_down, Reason.STEP_LIMITED
    if allowed < current:
        # 4. scale-down protection
        if limits.scale_down_delay_after_up > 0 and gs.last_up is not None \
                and now - gs.last_up < limits.scale_down_delay_after_up:
            return current, Reason.SCALE_DOWN_PROTECTED, gs
        # 5. stabilization
        if limits.stabilization_down > 0:
            floor = stabilized_floor(limits, gs, now)
            if floor is not None and floor > allowed:
                if floor >= current:
                    return current, Reason.STABILIZED_DOWN, gs
                allowed, why = floor, Reason.STABILIZED_DOWN
    # 6. cooldown
    if gs.last_change is not None and now - gs.last_change < limits.min_seconds_between_changes:
        return current, Reason.COOLDOWN, gs
    return allowed, why, _changed(gs, current, allowed, now)


def _changed(gs: GuardState, current: int, new: int, now: float) -> GuardState:
    if new == current:
        return gs
    return gs._replace(last_change=now, last_up=now if new > current else gs.last_up)
