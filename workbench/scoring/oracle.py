"""The oracle: the cheapest ready-replica schedule with perfect foresight (a cost lower bound).

Problem. Given the per-tick demand ``d_t`` (fewest ready pods that meet the SLO, an integer
>= 0), a tick length ``dt``, a start-up cost ``L`` (``startup_seconds``: every pod start is billed
``L`` seconds before the pod is ready) and ``I`` pods ready at t=0 for free, find the supply
``s_t >= d_t`` (every tick) minimising::

    cost(s) = sum_t s_t * dt  +  L * starts(s),   starts(s) = sum_t (s_t - s_{t-1})^+ with s_{-1} = I

No SLA miss is allowed, the oracle never pays for terminating pods and it knows the future, so
``cost`` is a lower bound on the replica-seconds of any policy that meets the SLO at every tick and
whose pods take at least ``L`` to start (``oracle_cost_ratio >= 1`` for such a policy; a policy
that misses the SLO can be cheaper than the oracle).

Decomposition. Pods are interchangeable, so ``s`` is a stack of levels ``j = 1..max(d)`` with
level ``j`` on at tick t iff ``s_t >= j``, and the cost splits per level (starts are the 0->1
edges of each level's indicator). Level ``j`` must be on at every tick with ``d_t >= j``; it then
pays:

* ``dt`` per needed tick                                  (in total: ``dt * sum_t d_t``);
* per *interior gap* of ``g`` ticks with ``d < j`` between two needed ticks:
  ``min(g * dt, L)`` (keep the pod running through it, or stop it and start it again);
* before its first need at tick ``f_j``: ``L`` if ``j > I`` (a new pod), else
  ``min(f_j * dt, L)`` (keep the free initial pod, or stop it and restart);
* nothing after its last need, and nothing for a level never needed (initial pods above
  ``max(d)`` are stopped at once).

Fast evaluation, numpy-only, O(N log(L/dt)). Work on the run-length encoding ``v`` of ``d``
(equal neighbours merged). First charge *every* interior gap ``L``: level ``j`` has as many needed
runs as up-crossings of ``j``, so the number of interior gaps over all levels is
``U - max(d)`` with ``U = sum_t (d_t - d_{t-1})^+`` (``d_{-1} = 0``). Then refund
``L - g * dt`` for every *short* gap (``g * dt <= L``). A gap at any level is a maximal stretch of
runs below the level, bounded on both sides by higher runs; identify it by its *leftmost highest*
run ``c``: its left boundary ``a`` is the nearest run to the left with ``v >= v_c`` -- which must be
strictly greater, else ``c`` is not the leftmost maximum -- and its right boundary ``b`` the
nearest run to the right with ``v > v_c``. That gap of ``g`` ticks (end of ``a`` to start of ``b``)
exists for exactly the levels ``(v_c, min(v_a, v_b)]``. A short gap spans at most
``floor(L/dt)`` runs, so the nearest-larger searches only look that far: a binary descent over a
sparse table of range maxima with ``log2(L/dt)`` rows, for all runs at once. The first needs
``f_j`` come from a ``searchsorted`` on the prefix maximum of ``d``.

Invariants (tested): equals a per-level loop and an exhaustive dynamic programme on small inputs;
``L = 0`` gives ``dt * sum(d)``; ``cost(oracle_schedule(...)) == oracle_replica_seconds(...)``;
``oracle_schedule(...) >= d`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Plan:
    """What both entry points need: the runs, the short interior gaps and the first needs."""

    n: int
    values: np.ndarray        # run values (int64)
    lengths: np.ndarray       # ticks per run
    up_crossings: int         # U = sum of (d_t - d_{t-1})^+ with d_{-1} = 0
    gap_from: np.ndarray      # first tick of each short interior gap (g * dt <= L)
    gap_to: np.ndarray        # one past its last tick
    gap_levels: np.ndarray    # how many levels have this gap
    first_need: np.ndarray    # f_j (in ticks) for j = 1..max(d)


def oracle_replica_seconds(
    demand_replicas: np.ndarray, dt: float, startup_seconds: float, initial_replicas: int
) -> float:
    """Billed replica-seconds of the cheapest schedule with ``s_t >= d_t`` (see module doc).

    ``demand_replicas``: whole numbers >= 0 per tick; ``dt`` > 0; ``startup_seconds`` >= 0;
    ``initial_replicas`` >= 0. Raises ``ValueError`` otherwise. 0.0 for an empty or all-zero demand.
    """
    plan = _plan(demand_replicas, dt, startup_seconds, initial_replicas)
    top = plan.first_need.size
    if top == 0:
        return 0.0
    serving = float(np.dot(plan.values, plan.lengths)) * dt
    refunds = startup_seconds - (plan.gap_to - plan.gap_from) * dt
    gaps = (plan.up_crossings - top) * startup_seconds - float(np.dot(plan.gap_levels, refunds))
    kept = min(initial_replicas, top)
    first = float(np.minimum(plan.first_need[:kept] * dt, startup_seconds).sum())
    first += (top - kept) * startup_seconds
    return serving + gaps + first


def oracle_schedule(
    demand_replicas: np.ndarray, dt: float, startup_seconds: float, initial_replicas: int
) -> np.ndarray:
    """Ready replicas per tick (int64) of one optimal schedule (same arguments as the cost).

    A gap is bridged (the pod kept running) when ``g * dt <= L``, an initial pod is kept until its
    first need when ``f_j * dt <= L``; ties cost the same either way and are resolved towards
    fewer pod starts.
    """
    plan = _plan(demand_replicas, dt, startup_seconds, initial_replicas)
    d = np.repeat(plan.values, plan.lengths)
    if plan.n == 0:
        return d
    weights = plan.gap_levels.astype(np.float64)
    delta = np.bincount(plan.gap_from, weights=weights, minlength=plan.n + 1)
    delta -= np.bincount(plan.gap_to, weights=weights, minlength=plan.n + 1)
    kept = plan.first_need[: min(initial_replicas, plan.first_need.size)]
    kept = kept[kept * dt <= startup_seconds]
    delta[0] += kept.size
    delta -= np.bincount(kept, minlength=plan.n + 1)
    extra = np.rint(np.cumsum(delta[: plan.n])).astype(np.int64)
    return d + extra


def schedule_replica_seconds(
    ready_replicas: np.ndarray, dt: float, startup_seconds: float, initial_replicas: int
) -> float:
    """``cost(s)`` of a given ready-replica schedule: ``sum s*dt + L * starts(s)`` (module doc)."""
    s = np.asarray(ready_replicas, dtype=np.int64)
    if s.size == 0:
        return 0.0
    rises = np.diff(s, prepend=np.int64(initial_replicas))
    starts = int(rises[rises > 0].sum())
    return float(s.sum()) * dt + startup_seconds * starts


def _plan(demand_replicas: np.ndarray, dt: float, startup_seconds: float, initial_replicas: int) -> _Plan:
    d = _check(demand_replicas, dt, startup_seconds, initial_replicas)
    n = int(d.size)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return _Plan(0, empty, empty, 0, empty, empty, empty, empty)

    cut = np.flatnonzero(d[1:] != d[:-1]) + 1
    starts = np.concatenate((np.zeros(1, dtype=np.int64), cut))
    ends = np.concatenate((cut, np.array([n], dtype=np.int64)))
    values = d[starts]
    rises = np.diff(values, prepend=np.int64(0))
    up_crossings = int(rises[rises > 0].sum())

    top = int(values.max())
    prefix_max = np.maximum.accumulate(values)
    first_run = np.searchsorted(prefix_max, np.arange(1, top + 1, dtype=np.int64), side="left")
    first_need = starts[first_run]

    # A short gap (g * dt <= L) has at most floor(L/dt) runs inside: its boundaries are at most
    # that + 1 runs from its peak. (+2: slack for rounding; every candidate is re-checked below.)
    reach = int(min(startup_seconds / dt, n)) + 2
    v = values.astype(np.int32) if top < np.iinfo(np.int32).max else values
    right = _first_reaching(v, reach, strict=True)
    left = _first_reaching(v[::-1], reach, strict=False)[::-1]
    left = np.where(left >= 0, values.size - 1 - left, -1)
    peaks = np.flatnonzero((left >= 0) & (right >= 0))
    a, b = left[peaks], right[peaks]
    keep = (values[a] > values[peaks]) & ((starts[b] - ends[a]) * dt <= startup_seconds)
    peaks, a, b = peaks[keep], a[keep], b[keep]           # leftmost highest run of a short gap
    gap_levels = np.minimum(values[a], values[b]) - values[peaks]
    return _Plan(n, values, ends - starts, up_crossings, ends[a], starts[b], gap_levels, first_need)


def _check(demand_replicas: np.ndarray, dt: float, startup_seconds: float, initial_replicas: int) -> np.ndarray:
    d = np.asarray(demand_replicas)
    if d.ndim != 1:
        raise ValueError(f"demand_replicas must be one-dimensional, got shape {d.shape}")
    if d.size and not np.issubdtype(d.dtype, np.integer):
        if not np.all(np.isfinite(d)) or not np.all(d == np.round(d)):
            raise ValueError("demand_replicas must hold whole numbers")
    d = d.astype(np.int64, copy=False)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
    if not (np.isfinite(startup_seconds) and startup_seconds >= 0):
        raise ValueError(f"startup_seconds must be a finite number >= 0, got {startup_seconds}")
    if initial_replicas < 0:
        raise ValueError(f"initial_replicas must be >= 0, got {initial_replicas}")
    if d.size and d.min() < 0:
        raise ValueError("demand_replicas must be >= 0")
    return d


def _first_reaching(v: np.ndarray, reach: int, strict: bool) -> np.ndarray:
    """For every i, the first j in (i, i + reach] with ``v[j] > v[i]`` (strict) or ``>=``; else -1.

    Sparse table ``table[p][i] = max(v[i : i + 2**p])`` (values past the end count as +infinity),
    then a binary descent: ``pos`` is the last index such that ``v[i+1..pos]`` all fail the test;
    try to extend it by ``2**p`` for p from large to small. The rows cover at least ``reach``; the
    result is re-checked, so a descent stopped short by the reach answers -1.
    """
    n = v.size
    big = np.iinfo(v.dtype).max
    table = [np.concatenate((v, np.full(1, big, dtype=v.dtype)))]
    width = 1
    while 2 * width - 1 < reach and width < n:
        prev = table[-1]
        table.append(np.maximum(prev, np.concatenate((prev[width:], np.full(width, big, dtype=v.dtype)))))
        width *= 2
    pos = np.arange(n, dtype=np.int64 if n > np.iinfo(np.int32).max // 2 else np.int32)
    for p in range(len(table) - 1, -1, -1):
        block = table[p][pos + 1]
        fails = (block <= v) if strict else (block < v)
        pos += fails.astype(pos.dtype) << p
    found = pos + 1
    hit = v[np.minimum(found, n - 1)]
    ok = (found < n) & ((hit > v) if strict else (hit >= v)) & (found - np.arange(n) <= reach)
    return np.where(ok, found, -1).astype(np.int64)
