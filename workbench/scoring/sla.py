"""SLA misses: how long, and how many requests, the service was out of its objective.

Definitions, over ticks of length ``dt``:

* ``violation_seconds = sum_t [sla_violation_t] * dt`` -- the time in ticks whose p95 exceeded
  the SLO or that dropped requests (the simulator's ``sla_violation`` flag);
* ``dropped_requests = sum_t dropped_rps_t * dt`` -- requests beyond capacity;
* ``violation_request_share = (sum_t served_t * over_slo_share_t * dt + sum_t dropped_t * dt)
  / sum_t demand_t * dt`` -- the share of arriving requests that were answered too late or not at
  all; 0 when nothing arrived.

``over_slo_share`` is a share of the *served* requests: in a tick that served nothing it may be
NaN (undefined) and is then ignored (``served * share`` counts as 0).

Invariants: ``0 <= violation_request_share <= 1`` when served + dropped = demand and shares are in
[0, 1]; ``violation_seconds <= ticks * dt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlaSummary:
    violation_seconds: float
    violation_request_share: float
    dropped_requests: float


def sla_summary(
    demand_rps: np.ndarray,
    served_rps: np.ndarray,
    dropped_rps: np.ndarray,
    over_slo_share: np.ndarray,
    sla_violation: np.ndarray,
    dt: float,
) -> SlaSummary:
    """Seconds in violation, share of requests late or dropped, requests dropped (module doc)."""
    served = np.asarray(served_rps, dtype=np.float64)
    share = np.asarray(over_slo_share, dtype=np.float64)
    late_rps = np.where(served > 0, served * np.nan_to_num(share, nan=0.0), 0.0)
    dropped = float(np.sum(dropped_rps, dtype=np.float64)) * dt
    arrived = float(np.sum(demand_rps, dtype=np.float64)) * dt
    missed = float(late_rps.sum()) * dt + dropped
    return SlaSummary(
        violation_seconds=float(np.count_nonzero(sla_violation)) * dt,
        violation_request_share=missed / arrived if arrived > 0 else 0.0,
        dropped_requests=dropped,
    )
