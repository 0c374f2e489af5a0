"""Cost: what the run was billed for.

Definition. Each tick of length ``dt`` seconds bills ``billed_replicas`` pods (the average number
of pods that exist during the tick: starting + ready + terminating)::

    replica_hours = sum_t billed_t * dt / 3600
    cost          = replica_hours * price_per_replica_hour

Invariants: both are >= 0 for billed >= 0 and additive over concatenated runs; an empty run
costs 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Cost:
    replica_hours: float
    currency: float


def replica_seconds(billed_replicas: np.ndarray, dt: float) -> float:
    """``sum_t billed_t * dt``."""
    return float(np.sum(billed_replicas, dtype=np.float64)) * dt


def cost(billed_replicas: np.ndarray, dt: float, price_per_replica_hour: float) -> Cost:
    """Replica-hours and currency of a run (see module doc)."""
    hours = replica_seconds(billed_replicas, dt) / SECONDS_PER_HOUR
    return Cost(replica_hours=hours, currency=hours * price_per_replica_hour)
