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
    wiki = backtest.load_scenario(REPO / "scenarios/wikipedia-2016-01.yaml")
    wiki = dataclasses.replace(wiki, trace=dataclasses.replace(wiki.trace, duration=30 * 86400.0))
    nasa = backtest.load_scenario(REPO / "scenarios/nasa-1995-07.yaml")
    workloads = [("wikipedia 2016-01, 30 d", wiki), ("nasa 1995-07 (flash crowd), 27.5 d", nasa)]

    def finish(raw, scenario, load):
        frame = records.build(raw, scenario, load)
        params = scoring.ScoreParams(dt=load.dt, cost_per_replica_hour=scenario.cost_per_replica_hour,
                                     flap_window_seconds=scenario.flap_window_seconds,
                                     startup_min_seconds=scenario.startup.minimum,
                                     initial_replicas=raw.initial_replicas)
        return scoring.compute_scores(frame, params)

    rows, notes, month = [], [], None
    for label, scenario in workloads:
        t_load, load = best(lambda: build_load(scenario), 1)
        sim = lambda: engine.Engine(policy.spec, scenario, load).run()  # noqa: E731
        t_sim, raw = best(sim, args.repeat)
        t_fin, sc = best(lambda: finish(raw, scenario, load), args.repeat)
        t_all, _ = best(lambda: finish(sim(), scenario, load), args.repeat)
        t_every, raw_every = best(lambda: engine.Engine(policy.spec, scenario, load, skip_quiet=False).run(), 1)
        per_month = t_all * TICKS / load.ticks
        if month is None:
            month = per_month
        rows += [(f"{label}: trace load + resample", t_load, load.ticks),
                 (f"{label}: simulate", t_sim, load.ticks),
                 (f"{label}: simulate, decide() on every tick", t_every, load.ticks),
                 (f"{label}: records + scores (incl. oracle)", t_fin, load.ticks),
                 (f"{label}: policy-month (sim+records+scores)", t_all, load.ticks)]
        notes.append(f"{label}: {load.ticks:,} ticks, decide() called on {raw.decisions_called:,}, "
                     f"{sc.as_dict()['scale_events']} scale events; per 30 days: {per_month:.3f} s")
    values = wiki_values = build_load(wiki).demand.tolist()
    t_bare, _ = best(lambda: bare_loop(values), args.repeat)
    t_empty, _ = best(lambda: empty_loop(wiki_values), args.repeat)
    t_simpy, _ = best(lambda: trivial_simpy(TICKS), args.repeat)
    rows += [("bare Python loop (threshold autoscaler), 30 d", t_bare, TICKS),
             ("empty Python loop (sum only), 30 d", t_empty, TICKS),
             ("trivial SimPy, one timeout per tick, 30 d", t_simpy, TICKS)]

    print(f"scalelab benchmark — tiered policy, full service model, 15 s control interval")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, pinned to one core, "
          f"best of {args.repeat}")
    print()
    width = max(len(r[0]) for r in rows)
    print(f"| {'phase':<{width}} | {'wall s':>8} | {'ticks/s':>12} |")
    print(f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * 14}|")
    for name, t, ticks in rows:
        print(f"| {name:<{width}} | {t:>8.3f} | {ticks / t:>12,.0f} |")
    print()
    for note in notes:
        print(note)
    ratio = month / t_bare
    print(f"policy-month (wikipedia, 30 d): {month:.3f} s (target <= 1.0 s: {'MET' if month <= 1.0 else 'MISSED'}); "
          f"{ratio:.1f}x the bare loop (target <= 5x: {'MET' if ratio <= 5 else 'MISSED'}), "
          f"{month / t_empty:.0f}x the empty loop")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
