"""Render per-tick load as the *raw* metrics a Kubernetes service exports, in OpenMetrics text.

Why: to put real traffic (a bundled trace, or a simulator run) into a real Prometheus with
``promtool tsdb create-blocks-from openmetrics FILE DIR``, so that the default metric bindings
(``workbench.sources.bindings``) can be fetched back and checked end to end.

Input: per-tick records (``workbench.sim.records`` columns; used here: ``time``, ``demand_rps``,
``served_rps`` (default: demand), ``ready_replicas``, ``cpu``, ``memory``); tick ``i`` holds
constant rates over ``[time[i], time[i+1])``, the last tick lasts the median spacing.
``records_from_trace`` turns a plain trace into such records with an ideal autoscaler (the
fewest pods meeting the SLO at each sample, from the service model).

Output families, sampled every ``scrape_seconds`` from the first tick to the end of the last:

=========================================  =========  ========================================================
``http_requests_total``                    counter    ``{namespace, service, code}``: code 200 counts served
                                                      requests, code 503 (only when any) dropped ones; the sum
                                                      of both grows at ``demand_rps`` exactly (piecewise linear)
``http_request_duration_seconds``          histogram  ``{namespace, service, le}``: served requests by latency,
                                                      from the service model's exact M/M/c tail
                                                      ``P(T > le) = tail(rho, le - network)``; dropped requests
                                                      only in ``+Inf`` (their ``_sum`` share is the timeout)
``container_cpu_usage_seconds_total``      counter    per pod ``{namespace, pod, container}``, from 0 at the
                                                      pod's start, growing at ``cpu * cpu_request_cores``
``container_memory_working_set_bytes``     gauge      per pod: ``memory * memory_limit_bytes``
``kube_pod_container_resource_requests``   gauge      per pod: ``resource="cpu"`` (cores), ``"memory"`` (bytes)
``kube_pod_container_resource_limits``     gauge      per pod: ``resource="memory"`` (bytes)
``kube_pod_status_ready``                  gauge      per pod: ``condition="true"`` = 1
=========================================  =========  ========================================================

Pods: tick ``i`` has ``ready_replicas[i]`` pods; new pods get fresh names
(``{workload}-{serial:05d}``) and scale-downs remove the newest first, as a ReplicaSet does.
A pod's series exist only while it does. Backfilled data carries no staleness markers, so a
removed pod stays visible to instant selectors for Prometheus' lookback delta (5 min by default;
tests start Prometheus with a shorter ``--query.lookback-delta``).

Format rules promtool needs (checked here): one series at a time, samples in ascending time,
timestamps in **seconds** (a value >= 1e11 is rejected as milliseconds), ``# EOF`` last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.core import errors

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MILLISECONDS_ABOVE = 1e11
TYPES = ("counter", "gauge", "histogram")


@dataclass(frozen=True)
class Sample:
    """One series: sample name (``foo_total``, ``foo_bucket``, ...), labels, times (s), values."""

    name: str
    labels: Mapping[str, str]
    times: np.ndarray
    values: np.ndarray


@dataclass
class Family:
    """One metric family: ``name`` without the ``_total`` suffix for counters."""

    name: str
    type: str
    help: str = ""
    series: list[Sample] = field(default_factory=list)

    def add(self, sample_name: str, labels: Mapping[str, str], times: np.ndarray, values: np.ndarray) -> None:
        self.series.append(Sample(sample_name, dict(labels), np.asarray(times, dtype=np.float64),
                                  np.asarray(values, dtype=np.float64)))


@dataclass(frozen=True)
class Workload:
    """Labels and pod resources of the rendered service."""

    namespace: str
    workload: str
    service: str | None = None
    container: str = "app"
    cpu_request_cores: float = 1.0
    memory_limit_bytes: float = 1024.0 * 2**20

    @property
    def service_name(self) -> str:
        return self.service or self.workload


# -- plain trace -> records ----------------------------------------------------------------------
def records_from_trace(times: Sequence[float], rps: Sequence[float], service: Any) -> pd.DataFrame:
    """Per-sample records for a plain trace: an ideal autoscaler keeps exactly the fewest ready
    pods that meet the SLO (``service.demand_replicas``); CPU, memory and p95 from
    ``service.per_tick``. ``service`` is a ``workbench.sim.service.ServiceModel``."""
    times = np.asarray(times, dtype=np.float64)
    demand = np.asarray(rps, dtype=np.float64)
    ready = np.asarray(service.demand_replicas(demand), dtype=np.int64)
    truth = service.per_tick(demand, ready)
    return pd.DataFrame({
        "time": pd.to_datetime(times, unit="s", utc=True),
        "demand_rps": demand,
        "served_rps": truth["served_rps"],
        "ready_replicas": ready,
        "cpu": truth["cpu"],
        "memory": truth["memory"],
        "p95_ms": truth["p95_ms"],
    })


# -- records -> families ---------------------------------------------------------------------------
def _tick_bounds(records: pd.DataFrame) -> np.ndarray:
    if "time" in records:
        t = pd.to_datetime(records["time"], utc=True)
        start = t.astype("int64").to_numpy() / 10 ** {"s": 0, "ms": 3, "us": 6, "ns": 9}[t.dt.unit]
    else:
        raise errors.UserError("records need a 'time' column (UTC datetimes)")
    start = np.asarray(start, dtype=np.float64)
    if len(start) < 2 or not (np.diff(start) > 0).all():
        raise errors.UserError("records need at least 2 ticks in strictly increasing time")
    return np.append(start, start[-1] + np.median(np.diff(start)))


def _integral(bounds: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Integral of a piecewise-constant rate at each bound (0 at the first)."""
    return np.concatenate([[0.0], np.cumsum(rate * np.diff(bounds))])


def render(records: pd.DataFrame, workload: Workload, *, service: Any = None, scrape_seconds: float = 15.0,
           buckets: Sequence[float] = DEFAULT_BUCKETS) -> list[Family]:
    """The raw metric families for ``records`` (see the module docstring). The latency histogram
    needs ``service`` (a ``ServiceModel``); without it, it is left out."""
    bounds = _tick_bounds(records)
    count = int(np.floor((bounds[-1] - bounds[0]) / scrape_seconds + 1e-9)) + 1
    scrapes = bounds[0] + np.arange(count, dtype=np.float64) * scrape_seconds
    if scrapes.size and scrapes[-1] >= MILLISECONDS_ABOVE:
        raise errors.UserError(f"timestamp {scrapes[-1]:.0f} looks like milliseconds; OpenMetrics needs seconds")
    tick = np.clip(np.searchsorted(bounds, scrapes, side="right") - 1, 0, len(bounds) - 2)
    demand = records["demand_rps"].to_numpy(dtype=np.float64)
    served = records["served_rps"].to_numpy(dtype=np.float64) if "served_rps" in records else demand.copy()
    dropped = np.maximum(demand - served, 0.0)
    ready = records["ready_replicas"].to_numpy().astype(np.int64)
    ns, svc = workload.namespace, workload.service_name

    requests = Family("http_requests", "counter", "HTTP requests by status code")
    requests.add("http_requests_total", {"namespace": ns, "service": svc, "code": "200"},
                 scrapes, np.interp(scrapes, bounds, _integral(bounds, served)))
    if (dropped > 0).any():
        requests.add("http_requests_total", {"namespace": ns, "service": svc, "code": "503"},
                     scrapes, np.interp(scrapes, bounds, _integral(bounds, dropped)))
    families = [requests]
    if service is not None:
        families.append(_histogram(bounds, scrapes, served, dropped, ready, workload, service, buckets))
    families.extend(_pods(records, bounds, scrapes, tick, ready, workload))
    return families


def _histogram(bounds, scrapes, served, dropped, ready, workload: Workload, service: Any,
               buckets: Sequence[float]) -> Family:
    les = sorted(float(b) for b in buckets)
    pods = np.maximum(ready, 1)
    cap = float(service.capacity_rps)
    rho = np.clip(served / pods / cap, 0.0, 1.0 - 1e-9)
    network = float(service.network_ms) / 1000.0
    fam = Family("http_request_duration_seconds", "histogram", "request latency (model: M/M/c per pod)")
    labels = {"namespace": workload.namespace, "service": workload.service_name}
    for le in les:
        below = np.zeros_like(rho) if le <= network else 1.0 - service.tail(rho, le - network)
        total = np.interp(scrapes, bounds, _integral(bounds, served * below))
        fam.add("http_request_duration_seconds_bucket", {**labels, "le": _number(le)}, scrapes, total)
    count = np.interp(scrapes, bounds, _integral(bounds, served + dropped))
    fam.add("http_request_duration_seconds_bucket", {**labels, "le": "+Inf"}, scrapes, count)
    c, mu = service.workers_per_pod, service.mu
    wait = service.erlang_c(rho) / (c * mu * (1.0 - rho))
    mean = network + 1.0 / mu + wait
    total_time = served * mean + dropped * float(service.timeout_ms) / 1000.0
    fam.add("http_request_duration_seconds_count", labels, scrapes, count)
    fam.add("http_request_duration_seconds_sum", labels, scrapes, np.interp(scrapes, bounds, _integral(bounds, total_time)))
    return fam


def _pods(records: pd.DataFrame, bounds, scrapes, tick, ready, workload: Workload) -> list[Family]:
    """Per-pod families: pods live while the tick's ready count includes them (newest leave first)."""
    cores = np.nan_to_num(records["cpu"].to_numpy(dtype=np.float64) * workload.cpu_request_cores, nan=0.0)
    memory = np.nan_to_num(records["memory"].to_numpy(dtype=np.float64) * workload.memory_limit_bytes, nan=0.0)
    used = _integral(bounds, cores)  # CPU-seconds one pod used since the first tick
    lives: list[tuple[int, int]] = []  # (birth tick, death tick) per pod serial
    live: list[int] = []
    for i, n in enumerate(ready):
        while len(live) < n:
            live.append(len(lives))
            lives.append((i, len(ready)))
        while len(live) > n:
            serial = live.pop()
            lives[serial] = (lives[serial][0], i)
    cpu = Family("container_cpu_usage_seconds", "counter", "cumulative CPU time consumed")
    mem = Family("container_memory_working_set_bytes", "gauge", "current working set")
    req = Family("kube_pod_container_resource_requests", "gauge", "requested resources")
    lim = Family("kube_pod_container_resource_limits", "gauge", "resource limits")
    rdy = Family("kube_pod_status_ready", "gauge", "pod ready condition")
    for serial, (birth, death) in enumerate(lives):
        inside = (tick >= birth) & (tick < death) & (scrapes >= bounds[birth])
        if not inside.any():
            continue
        at, ticks = scrapes[inside], tick[inside]
        pod = {"namespace": workload.namespace, "pod": f"{workload.workload}-{serial:05d}"}
        box = {**pod, "container": workload.container}
        cpu.add("container_cpu_usage_seconds_total", box, at, np.interp(at, bounds, used) - used[birth])
        mem.add("container_memory_working_set_bytes", box, at, memory[ticks])
        req.add("kube_pod_container_resource_requests", {**box, "resource": "cpu", "unit": "core"},
                at, np.full(at.size, workload.cpu_request_cores))
        req.add("kube_pod_container_resource_requests", {**box, "resource": "memory", "unit": "byte"},
                at, np.full(at.size, workload.memory_limit_bytes))
        lim.add("kube_pod_container_resource_limits", {**box, "resource": "memory", "unit": "byte"},
                at, np.full(at.size, workload.memory_limit_bytes))
        rdy.add("kube_pod_status_ready", {**pod, "condition": "true"}, at, np.ones(at.size))
    return [cpu, mem, req, lim, rdy]


# -- text ------------------------------------------------------------------------------------------
def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _stamp(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def merge(families: Iterable[Family]) -> list[Family]:
    """Families with the same name joined into one (their types must agree), first-seen order."""
    out: dict[str, Family] = {}
    for fam in families:
        if fam.type not in TYPES:
            raise ValueError(f"family {fam.name}: unknown type {fam.type!r}")
        if fam.name in out:
            if out[fam.name].type != fam.type:
                raise ValueError(f"family {fam.name} is both {out[fam.name].type} and {fam.type}")
            out[fam.name].series.extend(fam.series)
        else:
            out[fam.name] = Family(fam.name, fam.type, fam.help, list(fam.series))
    return list(out.values())


def write(families: Iterable[Family], target: str | Path | IO[str]) -> int:
    """Write OpenMetrics text ending in ``# EOF``; returns the number of samples written.
    Raises ``UserError`` for millisecond timestamps and ``ValueError`` for unordered samples."""
    if isinstance(target, (str, Path)):
        with open(target, "w", encoding="utf-8") as fh:
            return write(families, fh)
    count = 0
    for fam in merge(families):
        if fam.help:
            target.write(f"# HELP {fam.name} {fam.help}\n")
        target.write(f"# TYPE {fam.name} {fam.type}\n")
        for s in fam.series:
            if s.times.size == 0:
                continue
            if s.times.max() >= MILLISECONDS_ABOVE:
                raise errors.UserError(f"{s.name}: timestamp {s.times.max():.0f} looks like milliseconds; "
                                       "OpenMetrics backfill needs seconds")
            if not (np.diff(s.times) > 0).all():
                raise ValueError(f"{s.name}{dict(s.labels)}: samples must be in strictly ascending time")
            labels = ",".join(f'{k}="{_escape(str(v))}"' for k, v in s.labels.items())
            head = f"{s.name}{{{labels}}} " if labels else f"{s.name} "
            target.write("".join(f"{head}{_number(v)} {_stamp(t)}\n"
                                 for t, v in zip(s.times.tolist(), s.values.tolist())))
            count += s.times.size
    target.write("# EOF\n")
    return count
