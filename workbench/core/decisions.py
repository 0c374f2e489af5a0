"""What a policy decided, and why.

Every call to ``decide`` returns a ``Decision``: the replica count to run, a ``Reason`` code, the
rule (or policy stage) responsible and the metric snapshot the decision was based on. Reasons
are a closed vocabulary so that logs, records and reports can be grouped by them.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping, NamedTuple


class Reason(str, enum.Enum):
    """Why the replica count is what it is. ``str`` so that it serialises as its name."""

    RULE_FIRED = "RULE_FIRED"                      # a rule asked for a change and it was applied
    NO_RULE_MATCHED = "NO_RULE_MATCHED"            # nothing matched: hold
    AT_LIMIT = "AT_LIMIT"                          # a rule matched but min/max leaves nothing to do
    CLAMPED_MIN = "CLAMPED_MIN"                    # the target was raised to minReplicas
    CLAMPED_MAX = "CLAMPED_MAX"                    # the target was lowered to maxReplicas
    STEP_LIMITED = "STEP_LIMITED"                  # the change was cut to maxStepUp/maxStepDown
    COOLDOWN = "COOLDOWN"                          # a change came too soon after the last one
    RECHECK_PENDING = "RECHECK_PENDING"            # a rule's re-check timer holds this tier
    STABILIZED_DOWN = "STABILIZED_DOWN"            # a higher recommendation in the window blocks the scale-down
    SCALE_DOWN_PROTECTED = "SCALE_DOWN_PROTECTED"  # too soon after a scale-up to scale down
    METRICS_MISSING = "METRICS_MISSING"            # needed metrics missing: never scale down on them
    WITHIN_TOLERANCE = "WITHIN_TOLERANCE"          # (HPA) usage ratio within tolerance
    SCALED = "SCALED"                              # (HPA and model-based families) proposal applied
    RATE_LIMITED = "RATE_LIMITED"                  # (HPA behavior) a scaling policy limited the change
    STABILIZED_UP = "STABILIZED_UP"                # (HPA behavior) the up window holds the scale-up
    SCALING_DISABLED = "SCALING_DISABLED"          # (HPA) current replicas 0 with minReplicas > 0
    PANIC = "PANIC"                                # (panic window) in panic mode: no scale-down
    FORECAST = "FORECAST"                          # (predictive) forecast above the reactive floor
    WARMING_UP = "WARMING_UP"                      # (predictive) not enough history: reactive only


class Decision(NamedTuple):
    """One decision. Immutable; cheap to build (it is made on every control tick).

    ``replicas`` is the desired count after every guard; ``change`` is ``replicas - current``;
    ``rule`` names the rule or stage that determined it ("" when none); ``metrics`` is the snapshot
    the policy saw; ``detail`` holds family-specific numbers (e.g. HPA usage ratios).
    """

    replicas: int
    change: int
    reason: Reason
    rule: str
    metrics: Mapping[str, float | None]
    detail: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "change": self.change,
            "reason": self.reason.value,
            "rule": self.rule,
            "metrics": dict(self.metrics),
            "detail": dict(self.detail) if self.detail else {},
        }
