"""The scores of one run: every number a report or a regression gate compares.

``compute_scores(records, params)`` reads the simulator's flat per-tick records (a mapping of
column name to array: a dict of numpy arrays or a pandas DataFrame) and returns a frozen
``Scores`` whose ``as_dict()`` is JSON-ready (Python ints/floats, None where undefined, never NaN).
The definitions live in one module each: ``cost``, ``sla``, ``oscillation``, ``elasticity``
(SPEC metrics) and ``oracle`` (the perfect-foresight lower bound).

Columns read (one row per tick of ``params.dt`` seconds): ``demand_rps``, ``served_rps``,
``dropped_rps``, ``over_slo_share``, ``sla_violation``, ``billed_replicas``, ``ready_replicas``,
``desired_replicas``, ``demand_replicas``; ``t`` is checked for uniform spacing when present.
Every problem with the records is reported at once in a ``ScoringInputError``.

Keys of ``as_dict()`` (in this order): see ``SCORE_KEYS``. ``oracle_cost_ratio`` is the policy's
billed replica-hours over the oracle's, >= 1 for any policy without SLA misses whose pods take at
least ``startup_min_seconds`` to start; None when the oracle costs nothing (no demand).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from workbench.core import errors
from workbench.scoring import cost, elasticity, oracle, oscillation, sla


class ScoringInputError(errors.UserError):
    """The records or the score parameters cannot be scored; the message lists every problem."""


@dataclass(frozen=True, kw_only=True)
class ScoreParams:
    """How to read and price a run.

    ``dt``: tick length in seconds; ``cost_per_replica_hour``: price of one pod for one hour;
    ``flap_window_seconds``: a reversal within this is a flap; ``startup_min_seconds``: the
    shortest start-up a pod can have (the oracle pays it per pod start); ``initial_replicas``:
    pods ready at t=0 for free (for the policy and the oracle alike).
    """

    dt: float
    cost_per_replica_hour: float
    flap_window_seconds: float = 600.0
    startup_min_seconds: float
    initial_replicas: int

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.dt) and self.dt > 0):
            problems.append(f"dt must be a finite number > 0, got {self.dt!r}")
        for name in ("cost_per_replica_hour", "flap_window_seconds", "startup_min_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a finite number >= 0, got {value!r}")
        initial = self.initial_replicas
        if isinstance(initial, bool) or not isinstance(initial, (int, np.integer)) or initial < 0:
            problems.append(f"initial_replicas must be a whole number >= 0, got {self.initial_replicas!r}")
        if problems:
            raise ScoringInputError("score parameters: " + "; ".join(problems))


@dataclass(frozen=True)
class Scores:
    """All scores of one run. Field names are the JSON keys (module doc)."""

    cost_replica_hours: float
    cost: float
    sla_violation_seconds: float
    sla_violation_request_share: float
    dropped_requests: float
    scale_events: int
    scale_ups: int
    scale_downs: int
    direction_reversals: int
    flaps: int
    theta_u: float | None
    theta_o: float | None
    tau_u: float | None
    tau_o: float | None
    instability: float | None
    jitter: float | None
    oracle_cost_replica_hours: float
    oracle_cost_ratio: float | None
    mean_ready_replicas: float | None
    max_ready_replicas: int | None
    simulated_seconds: float
    ticks: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: Python ints and floats, None for undefined values (never NaN or inf)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


SCORE_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Scores))

FLOAT_COLUMNS = ("demand_rps", "served_rps", "dropped_rps", "billed_replicas")
COUNT_COLUMNS = ("ready_replicas", "desired_replicas", "demand_replicas")
REQUIRED_COLUMNS = FLOAT_COLUMNS + COUNT_COLUMNS + ("over_slo_share", "sla_violation")


def compute_scores(records: Mapping[str, Any], params: ScoreParams) -> Scores:
    """Score one run (module doc). Pure: reads the columns, never modifies them."""
    col = _columns(records, params.dt)
    dt = params.dt
    n = int(col["ready_replicas"].size)

    billed = cost.cost(col["billed_replicas"], dt, params.cost_per_replica_hour)
    misses = sla.sla_summary(
        col["demand_rps"], col["served_rps"], col["dropped_rps"],
        col["over_slo_share"], col["sla_violation"], dt,
    )
    moves = oscillation.oscillation(
        col["desired_replicas"], dt, int(params.initial_replicas), params.flap_window_seconds
    )
    spec = elasticity.spec_metrics(col["demand_replicas"], col["ready_replicas"], dt)
    best_hours = oracle.oracle_replica_seconds(
        col["demand_replicas"], dt, params.startup_min_seconds, int(params.initial_replicas)
    ) / cost.SECONDS_PER_HOUR
    ready = col["ready_replicas"]

    return Scores(
        cost_replica_hours=billed.replica_hours,
        cost=billed.currency,
        sla_violation_seconds=misses.violation_seconds,
        sla_violation_request_share=misses.violation_request_share,
        dropped_requests=misses.dropped_requests,
        scale_events=moves.scale_events,
        scale_ups=moves.scale_ups,
        scale_downs=moves.scale_downs,
        direction_reversals=moves.direction_reversals,
        flaps=moves.flaps,
        theta_u=spec.theta_u,
        theta_o=spec.theta_o,
        tau_u=spec.tau_u,
        tau_o=spec.tau_o,
        instability=spec.instability,
        jitter=spec.jitter,
        oracle_cost_replica_hours=best_hours,
        oracle_cost_ratio=billed.replica_hours / best_hours if best_hours > 0 else None,
        mean_ready_replicas=float(ready.mean()) if n else None,
        max_ready_replicas=int(ready.max()) if n else None,
        simulated_seconds=n * dt,
        ticks=n,
    )


def _columns(records: Mapping[str, Any], dt: float) -> dict[str, np.ndarray]:
    """The columns as numpy arrays of the right dtype; every problem reported at once."""
    missing = [name for name in REQUIRED_COLUMNS if name not in records]
    if missing:
        raise ScoringInputError(f"records: missing column(s): {', '.join(missing)}")
    col: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for name in REQUIRED_COLUMNS + (("t",) if "t" in records else ()):
        values = np.asarray(records[name])
        if values.ndim != 1:
            problems.append(f"{name}: expected one value per tick, got shape {values.shape}")
            continue
        if name == "sla_violation":
            col[name] = values.astype(bool)
            continue
        try:
            numbers = values.astype(np.float64)
        except (TypeError, ValueError):
            problems.append(f"{name}: not numeric (dtype {values.dtype})")
            continue
        if name == "over_slo_share":
            numbers = np.where(np.isnan(numbers), 0.0, numbers)
            if not np.all((numbers >= 0) & (numbers <= 1)):
                problems.append(f"{name}: values must be in [0, 1] (or NaN when nothing was served)")
        elif not np.all(np.isfinite(numbers)):
            problems.append(f"{name}: has NaN or infinite values (first at row {_first_bad(numbers)})")
            continue
        elif name != "t" and numbers.size and numbers.min() < 0:
            problems.append(f"{name}: has negative values (first at row {int(np.argmax(numbers < 0))})")
        if name in COUNT_COLUMNS:
            if not np.issubdtype(values.dtype, np.integer) and not np.all(numbers == np.round(numbers)):
                problems.append(f"{name}: must hold whole numbers")
                continue
            col[name] = numbers.astype(np.int64) if values.dtype != np.int64 else values
        else:
            col[name] = numbers
    lengths = {name: array.size for name, array in col.items()}
    if len(set(lengths.values())) > 1:
        problems.append("columns differ in length: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
    elif "t" in col and col["t"].size > 1:
        steps = np.diff(col["t"])
        off = np.flatnonzero(np.abs(steps - dt) > 1e-6 * dt)
        if off.size:
            row = int(off[0]) + 1
            problems.append(f"t: ticks must be {dt} s apart (row {row} is {steps[row - 1]} s after row {row - 1})")
    if problems:
        raise ScoringInputError("records: " + "; ".join(problems))
    return col


def _first_bad(numbers: np.ndarray) -> int:
    return int(np.argmax(~np.isfinite(numbers)))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None
