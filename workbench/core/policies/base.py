"""The small Protocol every policy family implements, and its registry entry.

A family is a module with three pure functions:

* ``parse(reader, spec, path, name) -> Spec``: build the family's frozen spec from the ``spec:``
  mapping of a policy document, recording problems in ``reader`` (never raising);
* ``initial_state(spec, replicas, now) -> State``: the state before the first tick;
* ``decide(observation, state, spec, now) -> (Decision, State)``: one control tick.

Specs expose ``kind``, ``name``, ``min_replicas``, ``max_replicas`` and ``metrics_needed()``.
State is an immutable value; ``decide`` returns the *same* object when nothing changed, so a
shell can compare states by identity and the hot path allocates nothing on quiet ticks.

Optional fast path for simulators (``quiet_mask`` + ``settled``): ``quiet_mask(spec, current,
seen)`` takes the metric arrays a stretch of ticks will show and returns a boolean array, True
where ``decide`` would certainly hold (same replicas, ``NO_RULE_MATCHED``, same state object)
*provided* the state is settled; ``settled(spec, state, current)`` says whether it is. A shell may
then skip those ticks without calling ``decide``. Both must be exact, never approximate: the
engine's tests replay every tick through ``decide`` and compare.

Adding a family: write ``workbench/core/policies/<name>.py`` with those functions and a
``FAMILY = base.Family(...)`` entry, add it to ``policies.FAMILIES``, add an example policy and a
table test. ``needs_pods`` tells shells to fill ``Observation.pods``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from workbench.core import decisions, observations, schema


class PolicySpec(Protocol):
    kind: str
    name: str
    min_replicas: int
    max_replicas: int

    def metrics_needed(self) -> frozenset[str]: ...


class BoundedByLimits:
    """Mixin for specs whose replica bounds live in ``self.limits`` (a ``guards.Limits``)."""

    @property
    def min_replicas(self) -> int:
        return self.limits.min_replicas  # type: ignore[attr-defined]

    @property
    def max_replicas(self) -> int:
        return self.limits.max_replicas  # type: ignore[attr-defined]


Decide = Callable[[observations.Observation, Any, Any, float], "tuple[decisions.Decision, Any]"]


@dataclass(frozen=True)
class Family:
    kind: str
    parse: Callable[[schema.Reader, dict, str, str], Any]
    initial_state: Callable[[Any, int, float], Any]
    decide: Decide
    needs_pods: bool = False
    summary: str = ""
    quiet_mask: Callable[[Any, int, Any], Any] | None = None
    settled: Callable[[Any, Any, int], bool] | None = None
