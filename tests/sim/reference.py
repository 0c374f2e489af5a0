"""A deliberately naive simulator: one Python step per tick, no SimPy, no bursts, no prefix sums.

It implements the engine's documented semantics directly so the tests can check that the fast,
event-driven engine computes exactly the same run.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.core import policies
from workbench.core.observations import Observation


def simulate(spec, scenario, load):
    svc = scenario.service
    dt, n = load.dt, load.ticks
    width = max(1, int(round(scenario.rate_window_seconds / dt)))
    def window(k):
        last_scrape = math.floor((k * dt - scenario.metrics_delay_seconds) / scenario.scrape_seconds + 1e-9) * scenario.scrape_seconds
        end = math.floor(last_scrape / dt + 1e-9)
        return end - width, end
    rng = np.random.default_rng(scenario.seed)
    delays = []
    def draw():
        if not delays:
            delays.extend(scenario.startup.sample(rng, 1024).tolist()[::-1])
        return delays.pop()
    if scenario.initial_replicas is not None:
        init = scenario.initial_replicas
    else:
        init = int(svc.demand_replicas(load.demand[:1])[0])
    init = min(max(init, spec.min_replicas), spec.max_replicas)
    pods = [[0.0, 0.0, math.inf] for _ in range(init)]  # created, ready_at, ended
    truth = {}  # relative tick -> (cpu, mem, p95) or None
    def true_at(k):
        if k not in truth:
            lam = load.demand[max(k, 0)]
            ready = init if k < 0 else ready_count(k * dt)
            if ready == 0:
                truth[k] = None
            else:
                cpu, mem, p95 = svc.pod_metrics(np.array([lam]), ready)
                truth[k] = (cpu[0], mem[0], p95[0])
        return truth[k]
    def ready_count(t):
        return sum(1 for c, r, e in pods if r <= t and e >= t)
    state = policies.initial_state(spec, init, load.start)
    desired = init
    out = []
    for k in range(n):
        t = k * dt
        b, e = window(k)
        vals = [true_at(j) for j in range(b, e)]
        vals = [v for v in vals if v is not None]
        qps = float(np.mean([load.demand[max(j, 0)] for j in range(b, e)]))
        if vals:
            cpu, mem, p95 = (float(np.mean([v[i] for v in vals])) for i in range(3))
        else:
            cpu = mem = p95 = math.nan
        ready = ready_count(t)
        true_at(k)
        metrics = {"cpu": cpu, "memory": mem, "qps": qps, "p95_ms": p95}
        decision, state = policies.decide(Observation(metrics, desired, ready), state, spec, load.start + t)
        if decision.replicas > desired:
            for _ in range(decision.replicas - desired):
                pods.append([t, t + draw(), math.inf])
        elif decision.replicas < desired:
            for _ in range(desired - decision.replicas):
                alive = [i for i, (c, r, e) in enumerate(pods) if e == math.inf]
                starting = [i for i in alive if pods[i][1] > t]
                if starting:
                    victim = max(starting)
                else:
                    victim = max(alive, key=lambda i: (pods[i][1], i))
                pods[victim][2] = t
        desired = decision.replicas
        out.append((ready, desired, decision.reason.value, decision.rule))
    return out
