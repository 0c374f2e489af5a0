"""Helpers for the controller tests: a live exporter, a scraping Prometheus, Redis, files, waits.

* ``LiveMetrics``: a prometheus-client collector the tests change on the fly (one gauge family per
  metric, label ``workload``; a value may carry an explicit sample age, which makes Prometheus
  store it with an old timestamp: a *stale* series that is still inside the lookback window).
* ``ScrapingProm``: a real Prometheus (``tests.prometheus.conftest.PromServer``'s process handling)
  scraping the exporter every second, default 5-minute lookback.
* ``RedisServer``: ``redis-server`` on a free loopback port, no persistence, stopped by PID.
* ``policy_file``/``bindings_file``/``kubeconfig_file`` and ``controller(...)``: the pieces of a
  controller under test; ``wait_until`` and ``prom_value`` for bounded waits.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import requests
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

from controller import config, decision_log, runner
from tests.prometheus.conftest import PROMETHEUS, PromServer, free_port

NS = "shop"
METRICS = ("cpu", "memory", "qps", "p95_ms")
SPIKE = {"cpu": 0.95, "memory": 0.5, "qps": 2400.0, "p95_ms": 1500.0}   # crosses the emergency rule
CALM = {"cpu": 0.50, "memory": 0.5, "qps": 500.0, "p95_ms": 300.0}      # no rule fires
LOW = {"cpu": 0.10, "memory": 0.3, "qps": 100.0, "p95_ms": 120.0}       # the scale-down rule fires

FAST_POLICY = """apiVersion: scalelab/v1
kind: TieredPolicy
metadata: {name: test-fast}
spec:
  replicas: {min: 2, max: 20}
  limits: {maxStepUp: 2, maxStepDown: 1, minSecondsBetweenChanges: 0, scaleDownStabilizationSeconds: 0}
  rules:
    - name: emergency
      when: {all: [cpu > 0.80, qps > 1000, p95_ms > 800]}
      action: {change: +2}
    - name: gentle
      when: {any: [cpu > 0.70, memory > 0.85]}
      action: {change: +1}
    - name: scale-down
      when: {all: [cpu < 0.30, p95_ms < 250]}
      action: {change: -1}
"""


class LiveMetrics:
    """Gauges ``app_<metric>{workload=...}``; ``set(workload, cpu=0.9, ...)``, ``age=`` for stale ones."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], tuple[float, float | None]] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.port = free_port()
        self._server, self._thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def set(self, workload: str, values: dict[str, float] | None = None, *, age: float | None = None,
            **more: float) -> None:
        for name, value in {**(values or {}), **more}.items():
            self._values[(name, workload)] = (float(value), age)

    def drop(self, workload: str, *names: str) -> None:
        for name in names:
            self._values.pop((name, workload), None)

    def collect(self):
        now = time.time()
        families: dict[str, GaugeMetricFamily] = {}
        for (name, workload), (value, age) in sorted(self._values.items()):
            family = families.setdefault(name, GaugeMetricFamily(f"app_{name}", f"test metric {name}",
                                                                 labels=["workload"]))
            family.add_metric([workload], value, timestamp=None if age is None else now - age)
        yield from families.values()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScrapingProm(PromServer):
    """A Prometheus scraping ``targets`` every second (default lookback: stale samples stay visible)."""

    def __init__(self, root: Path, targets: list[str]):
        super().__init__(root)
        self.targets = targets

    def start(self, *, auth=None) -> "ScrapingProm":
        cfg = self.root / "prometheus.yml"
        cfg.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "scalelab-test", "static_configs": [{"targets": self.targets}]}]}))
        self.port = free_port()
        log = open(self.root / "prometheus.log", "ab")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={self.data}",
                                      f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        if not self._wait_ready(None):
            self.stop()
            raise RuntimeError("prometheus did not become ready: "
                               + (self.root / "prometheus.log").read_text(errors="replace")[-2000:])
        return self


def prom_value(url: str, query: str) -> float | None:
    result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_until(check: Callable[[], Any], timeout: float = 15.0, step: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def wait_scraped(prom_url: str, workload: str, values: dict[str, float], timeout: float = 15.0) -> None:
    """Until Prometheus answers ``values`` for ``workload`` (NaN matches NaN)."""
    def seen() -> bool:
        for name, want in values.items():
            got = prom_value(prom_url, f'max(app_{name}{{workload="{workload}"}})')
            if got is None or not (got == want or (math.isnan(want) and math.isnan(got))):
                return False
        return True
    wait_until(seen, timeout, what=f"Prometheus to scrape {values} for {workload}")


class RedisServer:
    def __init__(self, root: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not installed: run scripts/ensure-services.sh")
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(root), "--daemonize", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis(port=self.port, socket_timeout=2)
        wait_until(self._ping, 10, 0.05, "redis-server to answer PING")

    def _ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()           # by the PID we started
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# -- files ---------------------------------------------------------------------------------------

def policy_file(tmp: Path, text: str = FAST_POLICY, name: str = "policy.yaml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def bindings_text(workload: str, **extra: str | None) -> str:
    queries: dict[str, str | None] = {m: f'max(app_{m}{{workload="{{workload}}"}})' for m in METRICS}
    queries.update({"replicas": None, "cpu_cores": None, "memory_bytes": None})
    queries.update(extra)
    return yaml.safe_dump({"apiVersion": "scalelab/v1", "kind": "MetricBindings",
                           "spec": {"namespace": NS, "workload": workload, "queries": queries}}, sort_keys=False)


def bindings_file(tmp: Path, workload: str, **extra: str | None) -> Path:
    path = tmp / f"bindings-{workload}.yaml"
    path.write_text(bindings_text(workload, **extra))
    return path


def kubeconfig_file(tmp: Path, url: str) -> Path:
    path = tmp / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "test"}}]}))
    return path


def settings(tmp: Path, prom_url: str, workload: str, *, policy: Path | None = None, kind: str = "deployment",
             **options: Any) -> config.Settings:
    """One-target settings on ``shop/<kind>/<workload>`` with fast test timers."""
    policy = policy or policy_file(tmp)
    flags = {"lock": "none", "interval": 1.0, "min_interval": 0.0, "api_timeout": 2.0, "api_retries": 2,
             "prometheus_timeout": 2.0, "identity": "test-controller", "workers": 1}
    flags.update(options)
    return config.single(f"{NS}/{kind}/{workload}", str(policy), str(bindings_file(tmp, workload)),
                         prom_url, **flags)


def controller(kube, s: config.Settings, *, sink: Any = None, redis_client: Any = None) -> runner.Controller:
    """A Controller wired to the emulator (official client, urllib3 retries off)."""
    return runner.Controller(s, api_client=kube.client(retries=False), sink=sink or decision_log.MemoryLog(),
                             redis_client=redis_client)


def replicas(kube, workload: str, kind: str = "deployments") -> int:
    return kube.get(kind, NS, workload)["spec"]["replicas"]


def results(entries: list[dict], *, shadow: bool = False) -> list[tuple[str, str, int | None, int | None]]:
    """(action, result, old, new) of the live (or shadow) entries."""
    return [(e["action"], e["result"], e["old_replicas"], e["new_replicas"]) for e in entries
            if e["shadow"] is shadow]
