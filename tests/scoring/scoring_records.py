"""Build small, consistent per-tick records by hand for the scoring tests."""

from __future__ import annotations

from typing import Sequence

import numpy as np

RPS_PER_REPLICA = 100.0


def make_records(
    *,
    demand_replicas: Sequence[int],
    ready_replicas: Sequence[int],
    desired_replicas: Sequence[int] | None = None,
    billed_replicas: Sequence[float] | None = None,
    demand_rps: Sequence[float] | None = None,
    served_rps: Sequence[float] | None = None,
    over_slo_share: Sequence[float] | None = None,
    dt: float = 60.0,
) -> dict[str, np.ndarray]:
    """Records with every column; unspecified columns follow from demand and supply:
    ``demand_rps = 100 * d``, ``served = min(demand, 100 * s)``, ``dropped = demand - served``,
    ``desired = ready``, ``billed = ready``, ``over_slo_share = 0``."""
    d = np.asarray(demand_replicas, dtype=np.int64)
    s = np.asarray(ready_replicas, dtype=np.int64)
    demand = d * RPS_PER_REPLICA if demand_rps is None else np.asarray(demand_rps, dtype=np.float64)
    served = np.minimum(demand, s * RPS_PER_REPLICA) if served_rps is None else np.asarray(served_rps, dtype=np.float64)
    violation = s < d
    return {
        "t": np.arange(d.size) * dt,
        "demand_rps": demand.astype(np.float64),
        "served_rps": served.astype(np.float64),
        "dropped_rps": (demand - served).astype(np.float64),
        "ready_replicas": s,
        "desired_replicas": s.copy() if desired_replicas is None else np.asarray(desired_replicas, dtype=np.int64),
        "billed_replicas": s.astype(np.float64) if billed_replicas is None else np.asarray(billed_replicas, dtype=np.float64),
        "p95_ms": np.where(violation, np.inf, 100.0),
        "over_slo_share": np.zeros(d.size) if over_slo_share is None else np.asarray(over_slo_share, dtype=np.float64),
        "sla_violation": violation,
        "demand_replicas": d,
    }
