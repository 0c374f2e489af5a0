"""Scenario files: the traffic, the service model, the SLO, what monitoring shows, the price.

One YAML document per scenario; every problem is reported at once with file, line and path. A
sketch (every key but ``trace`` and ``service`` has a default)::

    name: nasa-1995-07
    description: NASA KSC web server, July 1995 (launch-day flash crowd on the 13th)
    trace:
      csv: ../data/traces/nasa_http_1995_1min.csv    # or parquet: FILE, synthetic: {...}, prometheus: {...}
      column: requests_per_s
      start: 1995-07-01T04:00:00Z                    # optional window (ISO-8601)
      duration: 30d                                  # or end: ...
      peak_rps: 2400          # rescale so the trace's maximum is this (or scale: F, mean_rps: R)
      gaps: interpolate       # interpolate | hold | zero | error
      metrics: {queue_depth: some_column}            # custom metrics straight from trace columns
    service:
      capacity_rps_per_pod: 120        # or latency.workers_per_pod
      startup_seconds: {distribution: lognormal, median: 45, p95: 120}
      termination_seconds: 30          # still billed after removal
      cpu: {per_rps: 0.006, idle: 0.05, request: 1.0}     # cores
      memory: {base_mb: 300, per_rps_mb: 1.5, limit_mb: 1024}
      latency: {model: mmc, service_time_ms: 25, network_ms: 0, timeout_ms: 30000}
    sla: {p95_ms: 500}
    metrics: {scrape_seconds: 15, rate_window_seconds: 120, delay_seconds: 0}
    cost: {per_replica_hour: 0.04}
    control: {interval_seconds: 15}
    scoring: {flap_window_seconds: 600}
    initial_replicas: auto             # or a number; auto = replicas needed at the first tick
    seed: 7

``trace: {prometheus: {url, bindings, start, end, step, column, cache, ...}}`` replays a range of a
real Prometheus (see ``workbench.sources.request``); it is fetched once and cached as Parquet.

Relative paths are resolved against the scenario file's folder. Pure: ``parse_scenario`` takes
text; ``load_scenario`` reads the file.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from workbench.core import errors, schema
from workbench.sim import pods
from workbench.sim.service import ServiceModel
from workbench.sources import request
from workbench.traces import synthetic


@dataclass(frozen=True)
class TraceSpec:
    kind: str                              # csv | parquet | synthetic | prometheus
    path: str | None = None
    column: str = "requests_per_s"
    start: float | None = None             # epoch seconds
    end: float | None = None
    duration: float | None = None
    scale: float | None = None
    peak_rps: float | None = None
    mean_rps: float | None = None
    gaps: str = "interpolate"
    max_gap_seconds: float | None = None
    synthetic: Any = None                  # synthetic.SyntheticSpec
    prometheus: Any = None                 # request.FetchRequest
    metrics: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str
    trace: TraceSpec
    service: ServiceModel
    startup: pods.StartupDistribution
    description: str = ""
    termination_seconds: float = 0.0
    scrape_seconds: float = 15.0
    rate_window_seconds: float = 120.0
    metrics_delay_seconds: float = 0.0
    cost_per_replica_hour: float = 0.04
    flap_window_seconds: float = 600.0
    interval_seconds: float = 15.0
    initial_replicas: int | None = None
    seed: int = 7

    def with_trace(self, path: str, column: str) -> "Scenario":
        """The same service model on other traffic (``--trace/--column``): the window keys that
        referred to the original trace's dates are dropped; the rescaling rule is kept."""
        kind = "parquet" if path.lower().endswith((".parquet", ".pq")) else "csv"
        t = replace(self.trace, kind=kind, path=path, column=column, start=None, end=None,
                    synthetic=None, prometheus=None, metrics={})
        return replace(self, trace=t)


_TOP = ("name", "description", "trace", "service", "sla", "metrics", "cost", "control", "scoring",
        "initial_replicas", "seed")
_TRACE = ("csv", "parquet", "synthetic", "column", "start", "end", "duration", "scale", "peak_rps", "mean_rps",
          "gaps", "max_gap_seconds", "metrics", "prometheus")
_SERVICE = ("capacity_rps_per_pod", "startup_seconds", "termination_seconds", "cpu", "memory", "latency")


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    return parse_scenario(text, str(path), base_dir=p.parent)


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    doc, lines = schema.parse_yaml(text, source)
    r = schema.Reader(source, lines)
    doc = r.mapping(doc, "", _TOP, required=("trace", "service"))
    name = r.string(doc, "name", "", Path(source).stem)
    description = doc.get("description", "")
    trace = _parse_trace(r, doc["trace"], "trace", base_dir) if "trace" in doc else TraceSpec(kind="csv")
    sla = r.mapping(doc.get("sla", {}), "sla", ("p95_ms",))
    slo = r.number(sla, "p95_ms", "sla", 500.0, minimum=0, exclusive_minimum=True)
    service, startup, termination = _parse_service(r, doc.get("service", {}), "service", slo)
    met = r.mapping(doc.get("metrics", {}), "metrics", ("scrape_seconds", "rate_window_seconds", "delay_seconds"))
    scrape = schema.duration(r, met, "scrape_seconds", "metrics", 15.0, positive=True)
    window = schema.duration(r, met, "rate_window_seconds", "metrics", 120.0, positive=True)
    delay = schema.duration(r, met, "delay_seconds", "metrics", 0.0)
    cost = r.mapping(doc.get("cost", {}), "cost", ("per_replica_hour",))
    price = r.number(cost, "per_replica_hour", "cost", 0.04, minimum=0)
    ctl = r.mapping(doc.get("control", {}), "control", ("interval_seconds",))
    interval = schema.duration(r, ctl, "interval_seconds", "control", 15.0, positive=True)
    sc = r.mapping(doc.get("scoring", {}), "scoring", ("flap_window_seconds",))
    flap = schema.duration(r, sc, "flap_window_seconds", "scoring", 600.0)
    initial: int | None = None
    if doc.get("initial_replicas", "auto") != "auto":
        initial = r.number(doc, "initial_replicas", "", None, minimum=0, integer=True)
    seed = r.number(doc, "seed", "", 7, minimum=0, integer=True)
    r.finish()
    return Scenario(name=name, source=source, trace=trace, service=service, startup=startup,
                    description=str(description), termination_seconds=termination, scrape_seconds=scrape,
                    rate_window_seconds=window, metrics_delay_seconds=delay, cost_per_replica_hour=price,
                    flap_window_seconds=flap, interval_seconds=interval, initial_replicas=initial, seed=seed)


def _parse_trace(r: schema.Reader, value: Any, path: str, base_dir: Path | None) -> TraceSpec:
    t = r.mapping(value, path, _TRACE)
    sources = [k for k in ("csv", "parquet", "synthetic", "prometheus") if k in t]
    if len(sources) != 1:
        r.error(path, f"needs exactly one of csv, parquet, synthetic, prometheus (found {', '.join(sources) or 'none'})")
        return TraceSpec(kind="csv")
    kind = sources[0]
    file = None
    syn = None
    prom = None
    if kind in ("csv", "parquet"):
        file = r.string(t, kind, path, "")
        if file and base_dir is not None and not Path(file).is_absolute():
            file = str(base_dir / file)
    elif kind == "prometheus":
        prom = request.parse(r, t["prometheus"], schema.join(path, "prometheus"), base_dir)
        if prom.column is not None and "column" in t:
            r.error(schema.join(path, "column"), "give the column once: here or in prometheus.column")
    else:
        syn = synthetic.parse(r, t["synthetic"], schema.join(path, "synthetic"))
    column = r.string(t, "column", path, getattr(syn, "column", None) or getattr(prom, "column", None)
                      or ("qps" if prom is not None else "requests_per_s"))
    start = _timestamp(r, t, "start", path)
    end = _timestamp(r, t, "end", path)
    if start is not None and end is not None and end <= start:
        r.error(schema.join(path, "end"), "must be after start")
    duration = schema.duration(r, t, "duration", path, None, positive=True)
    if duration is not None and end is not None:
        r.error(path, "give end or duration, not both")
    scalers = [k for k in ("scale", "peak_rps", "mean_rps") if k in t]
    if len(scalers) > 1:
        r.error(path, f"give at most one of scale, peak_rps, mean_rps (found {', '.join(scalers)})")
    numbers = {k: r.number(t, k, path, None, minimum=0, exclusive_minimum=True) for k in ("scale", "peak_rps", "mean_rps")}
    gaps = r.string(t, "gaps", path, "interpolate", choices=("interpolate", "hold", "zero", "error"))
    max_gap = schema.duration(r, t, "max_gap_seconds", path, None, positive=True)
    metrics: dict[str, str] = {}
    if "metrics" in t:
        mp = schema.join(path, "metrics")
        for k, v in r.mapping(t["metrics"], mp, t["metrics"] if isinstance(t["metrics"], dict) else ()).items():
            if not isinstance(v, str):
                r.error(schema.join(mp, str(k)), f"expected a trace column name, got {schema.type_name(v)}")
            else:
                metrics[str(k)] = v
    return TraceSpec(kind=kind, path=file, column=column, start=start, end=end, duration=duration,
                     scale=numbers["scale"], peak_rps=numbers["peak_rps"], mean_rps=numbers["mean_rps"],
                     gaps=gaps, max_gap_seconds=max_gap, synthetic=syn, prometheus=prom, metrics=metrics)


def _timestamp(r: schema.Reader, t: dict, key: str, path: str) -> float | None:
    if key not in t:
        return None
    v = t[key]
    if isinstance(v, _dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)).timestamp()
    if isinstance(v, _dt.date):
        return _dt.datetime(v.year, v.month, v.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(v, str):
        try:
            d = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            return (d if d.tzinfo else d.replace(tzinfo=_dt.timezone.utc)).timestamp()
        except ValueError:
            pass
    r.error(schema.join(path, key), f"expected an ISO-8601 time like 2016-01-01T00:00:00Z, got {v!r}")
    return None


def _parse_service(r: schema.Reader, value: Any, path: str, slo: float) -> tuple[ServiceModel, pods.StartupDistribution, float]:
    s = r.mapping(value, path, _SERVICE)
    lp = schema.join(path, "latency")
    lat = r.mapping(s.get("latency", {}), lp, ("model", "service_time_ms", "workers_per_pod", "network_ms", "timeout_ms"))
    r.string(lat, "model", lp, "mmc", choices=("mmc",))
    st = r.number(lat, "service_time_ms", lp, 25.0, minimum=0, exclusive_minimum=True)
    cap = r.number(s, "capacity_rps_per_pod", path, None, minimum=0, exclusive_minimum=True)
    workers = r.number(lat, "workers_per_pod", lp, None, minimum=1, integer=True)
    if cap is not None and workers is not None:
        r.error(path, "give capacity_rps_per_pod or latency.workers_per_pod, not both")
    if workers is None:
        if cap is None:
            workers = 4
        elif cap > 0 and st > 0:  # c workers of mean service time st' with c/st' = capacity; c = round(cap*st)
            workers = max(1, round(cap * st / 1000.0))
            st = workers * 1000.0 / cap
    network = r.number(lat, "network_ms", lp, 0.0, minimum=0)
    timeout = r.number(lat, "timeout_ms", lp, max(30000.0, 2 * slo), minimum=0, exclusive_minimum=True)
    if network >= slo:
        r.error(schema.join(lp, "network_ms"), f"must be below the SLO p95 ({slo:g} ms), got {network:g}")
    cp = schema.join(path, "cpu")
    cpu = r.mapping(s.get("cpu", {}), cp, ("per_rps", "idle", "request"))
    mp = schema.join(path, "memory")
    mem = r.mapping(s.get("memory", {}), mp, ("base_mb", "per_rps_mb", "limit_mb"))
    model = ServiceModel(
        workers_per_pod=int(workers), service_time_ms=float(st),
        cpu_idle_cores=r.number(cpu, "idle", cp, 0.05, minimum=0),
        cpu_per_rps=r.number(cpu, "per_rps", cp, 0.006, minimum=0),
        cpu_request_cores=r.number(cpu, "request", cp, 1.0, minimum=0, exclusive_minimum=True),
        memory_base_mb=r.number(mem, "base_mb", mp, 300.0, minimum=0),
        memory_per_rps_mb=r.number(mem, "per_rps_mb", mp, 1.5, minimum=0),
        memory_limit_mb=r.number(mem, "limit_mb", mp, 1024.0, minimum=0, exclusive_minimum=True),
        network_ms=float(network), timeout_ms=float(timeout), slo_p95_ms=float(slo),
    )
    startup = pods.parse_startup(r, s, "startup_seconds", path)
    termination = schema.duration(r, s, "termination_seconds", path, 0.0)
    if math.isinf(startup.hi) and startup.kind != "fixed":  # pragma: no cover - parse sets a finite max
        startup = replace(startup, hi=startup.b * 10)
    return model, startup, termination
