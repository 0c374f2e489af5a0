"""Oscillation: how often, and how nervously, the policy changed its mind.

Definitions, on the policy's ``desired_replicas`` per tick (tick k at time ``k * dt``):

* a *scale event* is a tick whose desired count differs from the previous tick's; the first tick
  is compared with ``initial_replicas``. Its direction is up (+1) or down (-1);
* ``scale_ups`` / ``scale_downs`` count events by direction (``scale_events`` is their sum);
* a *direction reversal* is a pair of consecutive scale events in opposite directions
  (up then down, or down then up); events of the same direction in a row are not reversals;
* a *flap* is a reversal whose two events are at most ``flap_window_seconds`` apart
  (``(k2 - k1) * dt <= window``, within a relative tolerance of 1e-9 for float rounding).

Invariants: ``flaps <= direction_reversals <= max(scale_events - 1, 0)``; a monotone run has no
reversals; all counts are 0 for a constant desired count equal to ``initial_replicas``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Oscillation:
    scale_events: int
    scale_ups: int
    scale_downs: int
    direction_reversals: int
    flaps: int


def oscillation(
    desired_replicas: np.ndarray, dt: float, initial_replicas: int, flap_window_seconds: float
) -> Oscillation:
    """Scale events, reversals and flaps of a desired-replica series (module doc)."""
    desired = np.asarray(desired_replicas, dtype=np.int64)
    steps = np.diff(desired, prepend=np.int64(initial_replicas))
    ticks = np.flatnonzero(steps)
    direction = np.sign(steps[ticks])
    reversal = direction[1:] != direction[:-1]
    apart = (ticks[1:] - ticks[:-1]) * dt
    close = apart <= flap_window_seconds + 1e-9 * max(flap_window_seconds, dt)
    return Oscillation(
        scale_events=int(ticks.size),
        scale_ups=int(np.count_nonzero(direction > 0)),
        scale_downs=int(np.count_nonzero(direction < 0)),
        direction_reversals=int(np.count_nonzero(reversal)),
        flaps=int(np.count_nonzero(reversal & close)),
    )
