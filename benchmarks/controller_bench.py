"""Live controller timings: one reconcile without a network, 500 targets per 15 s loop, RSS.

* reconcile: ``controller.loop.reconcile`` with an in-memory scale (``act.MemoryScale``) and static
  metrics (``observe.StaticObserver``), decision log in memory, telemetry on: a quiet tick (hold)
  and a tick that scales. Target: <= 5 ms.
* 500 targets: the Kubernetes API emulator in its own process (``python -m controller.testing``,
  pinned to another core), the controller pinned to one core; one loop = every target's lock,
  scale read, decision and (for ~10% of them) a scale patch. Metrics from a static observer, or,
  when the ``prometheus`` binary is installed, from a real Prometheus scraping 2,000 live series
  (4 instant queries + 1 freshness query per target). Target: a loop fits in the 15 s interval.

Run: ``.venv/bin/python benchmarks/controller_bench.py [--targets 500] [--no-prometheus]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller import act, breaker, config, decision_log, locks, loop, observe, reload, runner, telemetry  # noqa: E402

POLICY = """apiVersion: scalelab/v1
kind: TieredPolicy
metadata: {name: bench}
spec:
  replicas: {min: 2, max: 1000}
  limits: {maxStepUp: 2, maxStepDown: 1, minSecondsBetweenChanges: 0, scaleDownStabilizationSeconds: 300}
  rules:
    - name: emergency
      when: {all: [cpu > 0.80, qps > 1000, p95_ms > 800]}
      action: {change: +2}
    - name: gentle
      when: {any: [cpu > 0.70, memory > 0.85]}
      action: {change: +1, recheckAfterSeconds: 180}
    - name: scale-down
      when: {all: [cpu < 0.30, p95_ms < 250], forSeconds: 600}
      action: {change: -1}
"""
SPIKE = {"cpu": 0.95, "memory": 0.5, "qps": 2400.0, "p95_ms": 1500.0}
CALM = {"cpu": 0.50, "memory": 0.5, "qps": 500.0, "p95_ms": 300.0}
NS = "bench"


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    current = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


# -- 1. one reconcile without a network --------------------------------------------------------------
def bench_reconcile(n: int = 5000) -> list[tuple[str, str, str]]:
    ref = config.TargetRef.parse("shop/deployment/web")
    policy = reload.parse(POLICY, "bench.yaml")
    rows = []
    for label, values in (("quiet tick (hold)", CALM), ("scaling tick (+2, write)", SPIKE)):
        mem = act.MemoryScale()
        mem.add(ref, 4)
        rt = loop.TargetRuntime(config=config.TargetConfig(ref, "p", "b"), primary=loop.Slot(policy),
                                observer=observe.StaticObserver(values), lock=locks.NoLock(),
                                breaker=breaker.Breaker(), min_interval=0.0)
        sink = decision_log.MemoryLog()
        ctx = loop.Context(actor=mem, log=sink.write, telemetry=telemetry.Telemetry())
        times = []
        for i in range(n):
            if values is SPIKE and mem.objects[ref.id][0] > 900:
                mem.add(ref, 4)
            t = time.perf_counter()
            loop.reconcile(rt, 1000.0 + i * 61.0, ctx)
            times.append(time.perf_counter() - t)
            if len(sink.entries) > 1000:
                sink.entries.clear()
        times.sort()
        median, p99 = times[len(times) // 2] * 1e6, times[int(len(times) * 0.99)] * 1e6
        rows.append((f"reconcile, no network: {label}", f"median {median:,.0f} µs, p99 {p99:,.0f} µs",
                     "<= 5 ms: " + ("met" if p99 <= 5000 else "NOT met")))
    return rows


# -- 2. many targets against the emulator ------------------------------------------------------------
class Emulator:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cpus = os.cpu_count() or 1
        self.proc = subprocess.Popen([sys.executable, "-m", "controller.testing", "--port", "0"], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, text=True,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if cpus > 1 else None)
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def seed(api_client, names: list[str]) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    for name in names:
        labels = {"app": name}
        apps.create_namespaced_deployment(NS, client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1DeploymentSpec(replicas=4, selector=client.V1LabelSelector(match_labels=labels),
                                         template=client.V1PodTemplateSpec(
                                             metadata=client.V1ObjectMeta(labels=labels),
                                             spec=client.V1PodSpec(containers=[client.V1Container(
                                                 name="app", image="pause")])))))


def bindings_text(workload: str) -> str:
    queries = "\n".join(f'    {m}: max(app_{m}{{workload="{{workload}}"}})' for m in ("cpu", "memory", "qps", "p95_ms"))
    return (f"apiVersion: scalelab/v1\nkind: MetricBindings\nspec:\n  namespace: {NS}\n  workload: {workload}\n"
            f"  queries:\n{queries}\n    replicas: null\n    cpu_cores: null\n    memory_bytes: null\n")


def bench_targets(n: int, lock: str, workers: int, prom_url: str | None, loops: int = 3) -> tuple[str, str, str]:
    from kubernetes import client

    emulator = Emulator()
    try:
        cfg = client.Configuration(host=emulator.url)
        cfg.retries = False
        cfg.connection_pool_maxsize = max(8, workers * 2 + 2)
        api_client = client.ApiClient(cfg)
        names = [f"svc{i:04d}" for i in range(n)]
        seed(api_client, names)
        with tempfile.TemporaryDirectory() as tmp:
            policy = Path(tmp) / "policy.yaml"
            policy.write_text(POLICY)
            targets = []
            for name in names:
                bindings = Path(tmp) / f"{name}.yaml"
                bindings.write_text(bindings_text(name))
                targets.append(config.TargetConfig(config.TargetRef(NS, "deployment", name), str(policy), str(bindings),
                                                   min_interval=0.0))
            settings = config.Settings(targets=tuple(targets), prometheus_url=prom_url or "http://127.0.0.1:1",
                                       lock=config.LockSpec.parse(lock), identity="bench", workers=workers,
                                       interval=15.0, api_timeout=10.0)
            c = runner.Controller(settings, api_client=api_client, sink=decision_log.MemoryLog())
            tick = [0]
            if prom_url is None:
                for i, rt in enumerate(c.targets):
                    rt.observer = observe.StaticObserver(
                        lambda now, i=i: SPIKE if (tick[0] + i) % 10 == 0 else CALM)
            walls = []
            for k in range(loops):
                tick[0] = k
                started = time.perf_counter()
                entries = c.run_once()
                walls.append(time.perf_counter() - started)
                c.sink.entries.clear()
            writes = sum(1 for e in entries if e["result"] == "success" and e["action"] != "hold")
            failures = sum(1 for e in entries if e["result"] == "failure")
            current, peak = rss_mb()
            c.close()
    finally:
        emulator.stop()
    steady = statistics.median(walls[1:]) if len(walls) > 1 else walls[0]
    source = "real Prometheus" if prom_url else "static metrics"
    label = f"{n} targets, lock {lock}, {workers} worker(s), {source}"
    return (label, f"first loop {walls[0]:.2f} s, then {steady:.2f} s ({writes} writes, {failures} failures/loop); "
                   f"RSS {current:.0f} MB (peak {peak:.0f})",
            "fits in 15 s" if max(walls) <= 15.0 else "does NOT fit in 15 s")


def live_prometheus(n: int):
    """A real Prometheus scraping n workloads x 4 gauges every second (None when not installed)."""
    import shutil

    if shutil.which("prometheus") is None:
        return None, None
    from tests.controller import support

    exporter = support.LiveMetrics()
    for i in range(n):
        exporter.set(f"svc{i:04d}", SPIKE if i % 10 == 0 else CALM)
    root = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    server = support.ScrapingProm(root, [f"127.0.0.1:{exporter.port}"]).start()
    support.wait_until(lambda: support.prom_value(server.url, 'count(app_cpu)') == n, 60, what="the first scrape")
    return server, exporter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--no-prometheus", action="store_true")
    args = parser.parse_args()
    pin(0)
    rows = bench_reconcile()
    rows.append(bench_targets(args.targets, "none", 1, None))
    rows.append(bench_targets(args.targets, "lease", 1, None))
    rows.append(bench_targets(args.targets, "lease", 4, None))
    if not args.no_prometheus:
        server, exporter = live_prometheus(args.targets)
        if server is not None:
            try:
                rows.append(bench_targets(args.targets, "lease", 1, server.url))
                rows.append(bench_targets(args.targets, "lease", 4, server.url))
            finally:
                server.stop()
                exporter.stop()
    current, peak = rss_mb()
    rows.append(("process RSS at the end", f"{current:.0f} MB (peak {peak:.0f} MB)", ""))
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'controller benchmark (one core; emulator on another)':<{width}} | {'result':<{vwidth}} | target")
    print("-" * width + "-|-" + "-" * vwidth + "-|-------")
    for name, value, target in rows:
        print(f"{name:<{width}} | {value:<{vwidth}} | {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
