"""The SimPy model: pods that take time to start, a control loop calling the pure core, metric lag.

Time is simulation seconds from the first tick (the policy is given epoch seconds as ``now``).
The world changes only at *events*: a pod becomes Ready (a SimPy event, scheduled at its drawn
start-up delay), or the policy changes the replica count. Between two events the ready count is
constant, so the control process runs every control tick of that stretch in one tight loop
("burst") and yields to SimPy only when the next event is due. No SimPy event is paid for a tick
where nothing changed. Families that offer an exact ``quiet_mask``/``settled`` pair (the tiered
policy) go further: ticks on which ``decide`` provably holds with an unchanged state are filled
in bulk without calling it (``skip_quiet=False`` turns this off; the tests compare both).

What the policy sees is what Prometheus would show: per-tick true values (CPU, memory, p95) are
averaged over the rate window ending at the last scrape at or before ``now − delay``. Window
averages come from prefix sums filled one burst at a time with numpy, so each tick costs O(1).
A warm-up stretch before tick 0 (the first tick's load on the initial replicas) fills the first
window, as a real Prometheus would have history.

Tick semantics: tick k covers [t_k, t_k + dt). Its true metrics use the pods ready at t_k. The
decision at t_k sees only complete ticks before k; a scale-down removes pods at t_k (effective
from tick k + 1); new pods are ready from the first tick starting at or after their ready time.
Deterministic for a given scenario seed.
"""

from __future__ import annotations

import bisect
import gc
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import simpy
from simpy.events import URGENT

from workbench.core import policies
from workbench.core.decisions import Reason
from workbench.core.observations import Observation, PodSample
from workbench.sim import pods as podmod
from workbench.sim.load import Load
from workbench.sim.scenario import Scenario

Progress = Callable[[int, int], None]
HOLD = Reason.NO_RULE_MATCHED


@dataclass
class RawRun:
    """What the engine produced; ``records.build`` turns it into the flat per-tick table."""

    ready: np.ndarray
    desired: np.ndarray
    seen: np.ndarray            # (4, N): cpu, memory, p95, qps as seen by the policy
    reasons: list
    rules: list
    ledger: podmod.PodLedger
    initial_replicas: int
    decisions_called: int


class Engine:
    def __init__(self, spec: Any, scenario: Scenario, load: Load, progress: Progress | None = None,
                 skip_quiet: bool = True):
        self.spec = spec
        self.family = policies.family(spec)
        self.scenario = scenario
        self.load = load
        self.svc = scenario.service
        self.progress = progress
        self.skip_quiet = skip_quiet
        self.rng = np.random.default_rng(scenario.seed)
        self._delays = np.empty(0)
        self._delay_i = 0

    # ------------------------------------------------------------------ metric windows
    def _windows(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        sc, dt = self.scenario, self.load.dt
        k = np.arange(n, dtype=float)
        last_scrape = np.floor((k * dt - sc.metrics_delay_seconds) / sc.scrape_seconds + 1e-9) * sc.scrape_seconds
        end = np.floor(last_scrape / dt + 1e-9).astype(np.int64)       # exclusive, relative ticks
        width = max(1, int(round(sc.rate_window_seconds / dt)))
        begin = end - width
        warm = int(max(0, -begin.min()))
        return begin + warm, end + warm, warm

    def initial_replicas(self) -> int:
        if self.scenario.initial_replicas is not None:
            n = self.scenario.initial_replicas
        else:
            n = int(self.svc.demand_replicas(self.load.demand[:1])[0])
        return int(min(max(n, self.spec.min_replicas), self.spec.max_replicas))

    def _draw_delay(self) -> float:
        if self._delay_i >= len(self._delays):
            self._delays = self.scenario.startup.sample(self.rng, 1024)
            self._delay_i = 0
        d = float(self._delays[self._delay_i])
        self._delay_i += 1
        return d

    # ------------------------------------------------------------------ run
    def run(self) -> RawRun:
        load, svc = self.load, self.svc
        n, dt = load.ticks, load.dt
        B, E, warm = self._windows(n)
        m = warm + n
        lam = np.concatenate([np.full(warm, load.demand[0]), load.demand])
        init = self.initial_replicas()
        ready_int = np.empty(m, dtype=np.int64)
        # prefix sums of (cpu, memory, p95, valid) over internal ticks
        prefix = np.zeros((4, m + 1))
        self._fill(prefix, ready_int, lam, 0, warm, init)
        qps_seen = self._window_mean(lam, B, E)
        extra_seen = {k: self._window_mean(np.concatenate([np.full(warm, v[0]), v]), B, E)
                      for k, v in load.extra.items()}
        seen = np.full((4, n), np.nan)
        seen[3] = qps_seen
        qps_l = qps_seen.tolist()
        extra_l = {k: v.tolist() for k, v in extra_seen.items()}

        env = simpy.Environment()
        ledger = podmod.PodLedger()
        starting: dict[int, None] = {}
        ready_pods = [ledger.add(0.0, 0.0) for _ in range(init)]
        self._n_initial = init
        desired_l = [0] * n
        reasons: list = [None] * n
        rules_: list = [""] * n
        decide = self.family.decide
        needs_pods = self.family.needs_pods
        quiet_mask, settled = self.family.quiet_mask, self.family.settled
        if quiet_mask is None or settled is None or self.skip_quiet is False:
            quiet_mask = None
        spec = self.spec
        state = self.family.initial_state(spec, init, load.start)
        counters = {"calls": 0}
        t0 = load.start
        report_every = max(1, n // 100)

        def on_ready(event: simpy.Event) -> None:
            pod = event.value
            if pod in starting:
                del starting[pod]
                ready_pods.append(pod)

        def scale(now: float, current: int, target: int) -> None:
            if target > current:
                for _ in range(target - current):
                    delay = self._draw_delay()
                    pod = ledger.add(now, now + delay)
                    starting[pod] = None
                    ev = simpy.Event(env)
                    ev._ok, ev._value = True, pod
                    ev.callbacks.append(on_ready)
                    env.schedule(ev, URGENT, now + delay - env.now)  # the burst runs ahead of env.now
            else:
                for _ in range(current - target):
                    if starting:
                        pod, _ = starting.popitem()
                    else:
                        pod = ready_pods.pop()
                    ledger.end(pod, now)

        def control(env: simpy.Environment):
            nonlocal state
            desired = init
            k = 0
            chunk = 256
            next_report = report_every
            while k < n:
                tk = k * dt
                if env.now < tk:
                    yield env.timeout(tk - env.now)
                horizon = env.peek()
                k_stop = min(n, k + chunk)
                if not math.isinf(horizon):
                    k_stop = min(k_stop, max(k + 1, math.ceil(horizon / dt - 1e-9)))
                ready = len(ready_pods)
                self._fill(prefix, ready_int, lam, warm + k, warm + k_stop, ready)
                cpu_l, mem_l, p95_l = self._seen(prefix, B[k:k_stop], E[k:k_stop], seen, k)
                acted = -1
                span = k_stop - k
                if quiet_mask is not None:
                    arrays = {"cpu": seen[0, k:k_stop], "memory": seen[1, k:k_stop], "p95_ms": seen[2, k:k_stop],
                              "qps": seen[3, k:k_stop]}
                    for name, vals in extra_seen.items():
                        arrays[name] = vals[k:k_stop]
                    mask = quiet_mask(spec, desired, arrays)
                    loud = np.flatnonzero(~mask).tolist() + [span]  # next non-quiet tick from any j
                    quiet_l = mask.tolist()
                j = 0
                while j < span:
                    i = k + j
                    if quiet_mask is not None and quiet_l[j] and settled(spec, state, desired):
                        # decide would hold with the same state on every tick up to the next loud one
                        stop = loud[bisect.bisect_left(loud, j)]
                        desired_l[i:k + stop] = [desired] * (stop - j)
                        reasons[i:k + stop] = [HOLD] * (stop - j)
                        rules_[i:k + stop] = [""] * (stop - j)
                        j = stop
                        continue
                    metrics = {"cpu": cpu_l[j], "memory": mem_l[j], "qps": qps_l[i], "p95_ms": p95_l[j]}
                    if extra_l:
                        for name, vals in extra_l.items():
                            metrics[name] = vals[i]
                    if needs_pods:
                        obs = Observation(metrics, desired, ready, self._pods(t0, i * dt, metrics, ready_pods, starting, ledger),
                                          ready + len(starting))
                    else:
                        obs = Observation(metrics, desired, ready)
                    decision, state = decide(obs, state, spec, t0 + i * dt)
                    counters["calls"] += 1
                    desired_l[i] = decision.replicas
                    reasons[i] = decision.reason
                    rules_[i] = decision.rule
                    if decision.replicas != desired:
                        scale(i * dt, desired, decision.replicas)
                        desired = decision.replicas
                        acted = i
                        break
                    j += 1
                # adapt the burst length to how long quiet stretches last (bounded numpy work per burst)
                chunk = max(64, min(4096, 2 * (acted - k + 1))) if acted >= 0 else min(4096, chunk * 2)
                k = acted + 1 if acted >= 0 else k_stop
                if self.progress is not None and k >= next_report:
                    self.progress(k, n)
                    next_report = k + report_every

        env.process(control(env))
        gc_was_enabled = gc.isenabled()
        gc.disable()  # the loop allocates many short-lived tuples; cyclic GC passes only cost time
        try:
            env.run()
        finally:
            if gc_was_enabled:
                gc.enable()
        if self.progress is not None:
            self.progress(n, n)
        return RawRun(ready=ready_int[warm:].copy(), desired=np.array(desired_l, dtype=np.int64), seen=seen, reasons=reasons,
                      rules=rules_, ledger=ledger, initial_replicas=init, decisions_called=counters["calls"])

    # ------------------------------------------------------------------ pods, as the HPA sees them
    def _pods(self, t0: float, now: float, metrics: dict, ready_pods: list, starting: dict,
              ledger: podmod.PodLedger) -> tuple[PodSample, ...]:
        """Per-pod view for families that need it (the HPA): ready pods report the lagged
        per-pod usage the policy sees (load is balanced evenly, so every ready pod reports the
        same); starting pods are Pending (scheduled, pulling, not ready) with no sample."""
        svc = self.svc
        cpu, mem, qps, p95 = metrics["cpu"], metrics["memory"], metrics["qps"], metrics["p95_ms"]
        ready = len(ready_pods)
        cpu_req = svc.cpu_request_cores * 1000.0
        mem_req = svc.memory_limit_mb * 1024.0 * 1024.0 * 1000.0
        sample = None
        if ready and cpu == cpu and cpu is not None:
            sample = {"cpu": cpu * cpu_req, "cpu_request": cpu_req, "memory": mem * mem_req, "memory_request": mem_req,
                      "qps": qps / ready * 1000.0, "p95_ms": p95 * 1000.0}
            for name, value in metrics.items():
                if name not in sample and name not in ("cpu", "memory", "qps", "p95_ms"):
                    sample[name] = value / ready * 1000.0
        created, ready_at = ledger.created, ledger.ready_at
        # the initial pods have been running long before the first tick (past any CPU initialization)
        pods = [PodSample(f"pod-{p}", "Running", True, t0 + created[p] - (86400.0 if p < self._n_initial else 0.0),
                          t0 + ready_at[p] - (86400.0 if p < self._n_initial else 0.0), False, cpu_req, sample)
                for p in ready_pods]
        pods.extend(PodSample(f"pod-{p}", "Pending", False, t0 + created[p], t0 + created[p], False, cpu_req, None)
                    for p in starting)
        return tuple(pods)

    # ------------------------------------------------------------------ vector helpers
    def _fill(self, prefix: np.ndarray, ready_int: np.ndarray, lam: np.ndarray, i0: int, i1: int, ready: int) -> None:
        """True per-tick metrics for internal ticks [i0, i1) with ``ready`` pods, into the prefix sums."""
        if i1 <= i0:
            return
        ready_int[i0:i1] = ready
        if ready > 0:
            cpu, mem, p95 = self.svc.pod_metrics(lam[i0:i1], ready)
            block = np.vstack([cpu, mem, p95, np.ones(i1 - i0)])
        else:
            block = np.zeros((4, i1 - i0))
        np.cumsum(block, axis=1, out=prefix[:, i0 + 1:i1 + 1])
        prefix[:, i0 + 1:i1 + 1] += prefix[:, i0:i0 + 1]

    @staticmethod
    def _seen(prefix: np.ndarray, b: np.ndarray, e: np.ndarray, seen: np.ndarray, k: int) -> tuple[list, list, list]:
        s = prefix[:, e] - prefix[:, b]
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = s[:3] / s[3]
        vals[:, s[3] <= 0] = np.nan
        seen[:3, k:k + len(b)] = vals
        return vals[0].tolist(), vals[1].tolist(), vals[2].tolist()

    @staticmethod
    def _window_mean(x: np.ndarray, b: np.ndarray, e: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(x)])
        return (c[e] - c[b]) / (e - b)
