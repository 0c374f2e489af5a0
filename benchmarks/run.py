"""`make bench`: how fast a policy-month backtests, next to a bare Python loop over the same ticks.

Workload: the bundled Wikipedia January 2016 scenario cut to exactly 30 days at a 15 s control
interval (172,800 ticks), the seed's tiered policy and the full service model (M/M/c latency,
lognormal pod start-up, metric lag). Phases timed separately, best of ``--repeat`` runs:

* simulate: the SimPy engine calling the pure decision core on every tick;
* records+scores: the per-tick table and every score including the oracle;
* policy-month: simulate + records + scores (the trace is loaded once, outside the timing);
* bare loop: a plain Python loop over the same 172,800 ticks: a one-line threshold autoscaler
  that appends a record per tick (no service model, lag, guards or SimPy) — and, for scale, an
  empty loop that only sums;
* trivial SimPy: one SimPy timeout per tick and nothing else (what a naive design pays).

Targets (issue #2): policy-month <= 1.0 s on one core, <= 5x the bare loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import simpy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workbench import backtest  # noqa: E402
from workbench.scoring import scores as scoring  # noqa: E402
from workbench.sim import engine, records  # noqa: E402
from workbench.sim.load import build_load  # noqa: E402

TICKS = 30 * 86400 // 15


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def empty_loop(values: list[float]) -> float:
    """The least a loop over the ticks can do."""
    total = 0.0
    for v in values:
        total += v
    return total


def bare_loop(values: list[float]) -> list[int]:
    """A bare Python loop over the same ticks: a one-line threshold autoscaler with a record per
    tick, no service model, no lag, no guards, no SimPy — the floor any simulator sits on."""
    replicas, out = 4, []
    for v in values:
        cpu = v / (replicas * 120.0)
        if cpu > 0.7 and replicas < 50:
            replicas += 1
        elif cpu < 0.3 and replicas > 2:
            replicas -= 1
        out.append(replicas)
    return out


def trivial_simpy(n: int) -> float:
    env = simpy.Environment()

    def tick(env):
        for _ in range(n):
            yield env.timeout(15)
    env.process(tick(env))
    env.run()
    return env.now


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    policy = backtest.load_policy(REPO / "scenarios/policies/tiered.yaml")
    scenario = backtest.load_scenario(REPO / "scenarios/wikipedia-2016-01.yaml")
    scenario = dataclasses.replace(scenario, trace=dataclasses.replace(scenario.trace, duration=30 * 86400.0))
    t_load, load = best(lambda: build_load(scenario), 1)
    assert load.ticks == TICKS, load.ticks

    def simulate():
        return engine.Engine(policy.spec, scenario, load).run()

    def finish(raw):
        frame = records.build(raw, scenario, load)
        params = scoring.ScoreParams(dt=load.dt, cost_per_replica_hour=scenario.cost_per_replica_hour,
                                     flap_window_seconds=scenario.flap_window_seconds,
                                     startup_min_seconds=scenario.startup.minimum,
                                     initial_replicas=raw.initial_replicas)
        return scoring.compute_scores(frame, params)

    t_sim, raw = best(simulate, args.repeat)
    t_fin, sc = best(lambda: finish(raw), args.repeat)
    t_month, _ = best(lambda: finish(simulate()), args.repeat)
    values = load.demand.tolist()
    t_bare, _ = best(lambda: bare_loop(values), args.repeat)
    t_empty, _ = best(lambda: empty_loop(values), args.repeat)
    t_simpy, _ = best(lambda: trivial_simpy(TICKS), args.repeat)

    rows = [
        ("trace load + resample (once)", t_load),
        ("simulate (SimPy engine + core)", t_sim),
        ("records + scores (incl. oracle)", t_fin),
        ("policy-month (simulate+records+scores)", t_month),
        ("bare Python loop (threshold autoscaler)", t_bare),
        ("empty Python loop (sum only)", t_empty),
        ("trivial SimPy, one timeout per tick", t_simpy),
    ]
    print(f"scalelab benchmark — {TICKS:,} ticks (30 days at 15 s), tiered policy, full service model")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, pinned to one core, "
          f"best of {args.repeat}")
    print()
    print(f"| {'phase':<40} | {'wall s':>8} | {'ticks/s':>12} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 14}|")
    for name, t in rows:
        print(f"| {name:<40} | {t:>8.3f} | {TICKS / t:>12,.0f} |")
    ratio = t_month / t_bare
    print()
    print(f"decisions per run: {raw.decisions_called:,}; scale events: {sc.as_dict()['scale_events']}")
    print(f"policy-month: {t_month:.3f} s (target <= 1.0 s: {'MET' if t_month <= 1.0 else 'MISSED'}); "
          f"{ratio:.2f}x the bare loop (target <= 5x: {'MET' if ratio <= 5 else 'MISSED'}), "
          f"{t_month / t_empty:.0f}x the empty loop")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
