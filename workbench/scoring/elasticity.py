"""SPEC elasticity metrics: how well supply followed demand.

Sources: N. Herbst, S. Kounev, R. Reussner, "Elasticity in Cloud Computing: What It Is, and What
It Is Not", ICAC 2013 (accuracy, timeshare, jitter); N. Herbst et al., "Ready for Rain? A View
from SPEC Research on the Future of Cloud Metrics", SPEC RG technical report SPEC-RG-2016-01
(accuracy normalised by demand, wrong-provisioning timeshare, instability, jitter). We implement
the 2016 report's forms.

Inputs per tick of length ``dt`` (k = 0..N-1): demand ``d_k`` = fewest ready replicas that meet
the SLO (``demand_replicas``), supply ``s_k`` = ready replicas (``ready_replicas``);
``T = N * dt``. With ``x^+ = max(x, 0)`` and ``[.]`` the indicator:

* under-provisioning accuracy ``theta_U = 100/T * sum_k (d_k - s_k)^+ / max(d_k, 1) * dt``;
* over-provisioning accuracy  ``theta_O = 100/T * sum_k (s_k - d_k)^+ / max(d_k, 1) * dt``;
  the papers divide by ``d_k``, which is 0 in ticks without demand; we divide by ``max(d_k, 1)``
  there, so at zero demand ``s`` idle replicas count as ``100 * s`` percent over-provisioning
  (and under-provisioning is impossible). theta_O is not bounded by 100;
* under-/over-provisioning timeshare ``tau_U = 100/T * sum_k [d_k > s_k] * dt``,
  ``tau_O = 100/T * sum_k [s_k > d_k] * dt`` (percent of time);
* instability ``upsilon = 100/(T - dt) * sum_{k>=1} min(|sgn(s_k - s_{k-1}) - sgn(d_k - d_{k-1})|, 1) * dt``:
  the percent of the N-1 tick-to-tick steps in which supply and demand do not move in the same
  direction (one moves and the other does not, or they move oppositely; both flat counts as
  together). The report writes the normaliser as ``T - 1`` with T counted in samples; with T in
  seconds that is ``T - dt``. Undefined (None) for fewer than 2 ticks;
* jitter ``j = (E_S - E_D) / T`` in adaptations per *hour*, where ``E_S`` is the number of steps
  k >= 1 with ``s_k != s_{k-1}`` (supply adaptations) and ``E_D`` the number with
  ``d_k != d_{k-1}`` (demand changes). Negative: supply too sluggish, positive: supply
  oscillates more than demand. Changes are counted within the run only (the tick before the first
  is unknown).

All are None for an empty run (T = 0). Invariants: ``0 <= tau_U + tau_O <= 100``;
``0 <= theta_U <= 100``; all 0 when ``s == d`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Elasticity:
    theta_u: float | None
    theta_o: float | None
    tau_u: float | None
    tau_o: float | None
    instability: float | None
    jitter: float | None


def spec_metrics(demand_replicas: np.ndarray, ready_replicas: np.ndarray, dt: float) -> Elasticity:
    """theta_U, theta_O, tau_U, tau_O (percent), instability (percent), jitter (per hour)."""
    d = np.asarray(demand_replicas, dtype=np.int64)
    s = np.asarray(ready_replicas, dtype=np.int64)
    n = d.size
    if n == 0:
        return Elasticity(None, None, None, None, None, None)
    denominator = np.maximum(d, 1).astype(np.float64)
    gap = s - d
    # 100/T * sum(x * dt) == 100 * mean(x) since T = N * dt
    theta_u = 100.0 * float(np.sum(np.maximum(-gap, 0) / denominator)) / n
    theta_o = 100.0 * float(np.sum(np.maximum(gap, 0) / denominator)) / n
    tau_u = 100.0 * np.count_nonzero(gap < 0) / n
    tau_o = 100.0 * np.count_nonzero(gap > 0) / n
    ds, dd = np.diff(s), np.diff(d)
    apart = np.sign(ds) != np.sign(dd)        # == min(|sgn(ds) - sgn(dd)|, 1)
    instability = 100.0 * np.count_nonzero(apart) / (n - 1) if n > 1 else None
    hours = n * dt / SECONDS_PER_HOUR
    jitter = (np.count_nonzero(ds) - np.count_nonzero(dd)) / hours
    return Elasticity(
        theta_u=theta_u,
        theta_o=theta_o,
        tau_u=float(tau_u),
        tau_o=float(tau_o),
        instability=None if instability is None else float(instability),
        jitter=float(jitter),
    )
