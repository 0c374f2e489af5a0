"""Flat per-tick records: the one thing scores, plots, reports and notebooks read.

One row per control tick. Columns (units in the name where it helps):

=====================  ========  ==========================================================
``t``                  float     seconds since the first tick
``time``               datetime  UTC wall time of the tick start
``demand_rps``         float     requests/s arriving
``served_rps``         float     requests/s served (≤ demand; the rest is ``dropped_rps``)
``dropped_rps``        float     requests/s beyond the ready pods' capacity
``ready_replicas``     int       pods serving during the tick (the SPEC "supply")
``starting_replicas``  int       pods created but not yet ready, after the tick's decision
``desired_replicas``   int       the policy's replica count after its decision at this tick
``billed_replicas``    float     mean pods billed during the tick (starting + ready + terminating)
``demand_replicas``    int       fewest ready pods that meet the SLO at this demand (SPEC "demand")
``cpu``, ``memory``    float     true per-pod utilisation (fraction of request / limit)
``p95_ms``             float     true p95 latency (``timeout_ms`` when overloaded)
``over_slo_share``     float     share of served requests slower than the SLO
``sla_violation``      bool      p95 > SLO or requests dropped
``cpu_seen`` …         float     ``cpu_seen``, ``memory_seen``, ``p95_seen_ms``, ``qps_seen``: what
                                 the policy saw (lagged window averages); NaN = missing
``change``             int       desired − previous desired (0 on most ticks)
``reason``, ``rule``   category  the decision's reason code and the rule/stage responsible
=====================  ========  ==========================================================

Invariant: ``sla_violation == (ready_replicas < demand_replicas)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.core.decisions import Reason
from workbench.sim.engine import RawRun
from workbench.sim.load import Load
from workbench.sim.scenario import Scenario

COLUMNS = ("t", "time", "demand_rps", "served_rps", "dropped_rps", "ready_replicas", "starting_replicas",
           "desired_replicas", "billed_replicas", "demand_replicas", "cpu", "memory", "p95_ms", "over_slo_share",
           "sla_violation", "cpu_seen", "memory_seen", "p95_seen_ms", "qps_seen", "change", "reason", "rule")

REASON_CATEGORIES = [r.value for r in Reason]
_REASON_CODE = {r: i for i, r in enumerate(Reason)}


def _categorical(values: list[str]) -> pd.Categorical:
    codes, uniques = pd.factorize(np.array(values, dtype=object), sort=True)
    return pd.Categorical.from_codes(codes, categories=list(uniques))


def build(raw: RawRun, scenario: Scenario, load: Load) -> pd.DataFrame:
    n, dt = load.ticks, load.dt
    svc = scenario.service
    t = np.arange(n, dtype=float) * dt
    truth = svc.per_tick(load.demand, raw.ready)
    previous = np.concatenate([[raw.initial_replicas], raw.desired[:-1]])
    codes = np.fromiter(map(_REASON_CODE.__getitem__, raw.reasons), dtype=np.int8, count=n)
    reasons = pd.Categorical.from_codes(codes, categories=REASON_CATEGORIES)
    frame = pd.DataFrame({
        "t": t,
        "time": pd.to_datetime(load.start + t, unit="s", utc=True),
        "demand_rps": load.demand,
        "served_rps": truth["served_rps"],
        "dropped_rps": truth["dropped_rps"],
        "ready_replicas": raw.ready,
        "starting_replicas": raw.ledger.starting_per_tick(n, dt),
        "desired_replicas": raw.desired,
        "billed_replicas": raw.ledger.billed_per_tick(n, dt, scenario.termination_seconds),
        "demand_replicas": load.demand_replicas(svc),
        "cpu": truth["cpu"],
        "memory": truth["memory"],
        "p95_ms": truth["p95_ms"],
        "over_slo_share": truth["over_slo_share"],
        "sla_violation": truth["sla_violation"],
        "cpu_seen": raw.seen[0],
        "memory_seen": raw.seen[1],
        "p95_seen_ms": raw.seen[2],
        "qps_seen": raw.seen[3],
        "change": raw.desired - previous,
        "reason": reasons,
        "rule": _categorical(raw.rules),
    }, copy=False)
    return frame
