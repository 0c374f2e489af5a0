"""What the test Prometheus holds: three datasets rendered as raw metrics and backfilled.

* ``wiki`` (namespace ``prod``, workload ``wiki``): three days of the real English Wikipedia
  trace (2016-01-04 .. 2016-01-07, hourly), served by an ideal autoscaler, scraped every 30 s;
  plus ``scalelab_known_value{namespace="prod"}``, a gauge with a distinct known value at every
  scrape (``trace rate + j/1000``) to check range queries sample for sample.
* ``sim`` (namespace ``sim``, workload ``shop``): the records of a real simulator run (tiered
  policy, 6 h synthetic diurnal load), scraped every 15 s, so replicas change often.
* ``faults`` (namespace ``faults``): series that break things: a gauge with NaN samples, one with
  a 10-minute hole, two series where one is expected, a counter that resets, a latency gauge in
  seconds.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import backtest
from workbench.sim.scenario import parse_scenario
from workbench.sim.service import ServiceModel
from workbench.sources import openmetrics as om
from workbench.traces import load_trace

REPO = Path(__file__).resolve().parents[2]
WIKI_CSV = REPO / "data/traces/wikipedia_en_desktop_2016-01_1h.csv"


def epoch(text: str) -> int:
    return int(_dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


WIKI_START = epoch("2016-01-04T00:00:00Z")
WIKI_END = epoch("2016-01-07T00:00:00Z")  # exclusive: 72 hourly samples
WIKI_SCRAPE = 30
WIKI_SERVICE = ServiceModel(workers_per_pod=16, service_time_ms=25.0, network_ms=5.0, slo_p95_ms=500.0,
                            cpu_idle_cores=0.05, cpu_per_rps=0.0012, cpu_request_cores=1.0,
                            memory_base_mb=300.0, memory_per_rps_mb=0.5, memory_limit_mb=1024.0)
WIKI_WORKLOAD = om.Workload("prod", "wiki", cpu_request_cores=1.0, memory_limit_bytes=1024.0 * 2**20)

SIM_SCRAPE = 15
SIM_SCENARIO = """name: sim-6h
trace:
  synthetic: {shape: diurnal, base: 900, amplitude: 600, peakHour: 3, noise: 0.05, duration: 6h}
service:
  capacity_rps_per_pod: 120
  startup_seconds: {distribution: lognormal, median: 45, p95: 120, min: 20}
  cpu: {per_rps: 0.0075, idle: 0.05, request: 1.0}
  memory: {base_mb: 300, per_rps_mb: 1.5, limit_mb: 1024}
  latency: {model: mmc, service_time_ms: 25, network_ms: 5}
metrics: {scrape_seconds: 15, rate_window_seconds: 120, delay_seconds: 15}
control: {interval_seconds: 15}
seed: 3
"""

FAULTS_START = epoch("2024-02-01T00:00:00Z")
FAULTS_SCRAPE = 15
FAULTS_SAMPLES = 480                 # 2 h
NAN_AT = (10, 11, 200)               # sample indices holding NaN
HOLE = range(100, 140)               # sample indices missing (10 minutes)
RESET_AT = 240                       # the counter restarts from 0 at this sample (T0 + 1 h)
LATENCY_SECONDS = 0.25


@dataclass(frozen=True)
class Wiki:
    times: np.ndarray        # hourly sample starts
    rps: np.ndarray          # requests/s per hour
    records: pd.DataFrame    # one row per hour (ideal autoscaler)
    known_times: np.ndarray  # scrape times of scalelab_known_value
    known_values: np.ndarray


@dataclass(frozen=True)
class Sim:
    records: pd.DataFrame    # the simulator's per-tick records (15 s ticks)


@dataclass(frozen=True)
class Datasets:
    wiki: Wiki
    sim: Sim
    samples: int             # samples written to the backfill file


def wiki_data() -> tuple[Wiki, list[om.Family]]:
    trace = load_trace(WIKI_CSV, ["requests_per_s"])
    keep = (trace.times >= WIKI_START) & (trace.times < WIKI_END)
    times, rps = trace.times[keep], trace.column("requests_per_s")[keep]
    records = om.records_from_trace(times, rps, WIKI_SERVICE)
    families = om.render(records, WIKI_WORKLOAD, service=WIKI_SERVICE, scrape_seconds=WIKI_SCRAPE)
    known_t = np.arange(WIKI_START, WIKI_END + 1, WIKI_SCRAPE, dtype=np.float64)
    hour = np.minimum(((known_t - WIKI_START) // 3600).astype(int), len(rps) - 1)
    known_v = rps[hour] + np.arange(known_t.size) / 1000.0
    known = om.Family("scalelab_known_value", "gauge", "the trace's rate plus j/1000 at scrape j")
    known.add("scalelab_known_value", {"namespace": "prod"}, known_t, known_v)
    return Wiki(times, rps, records, known_t, known_v), [*families, known]


def sim_data() -> tuple[Sim, list[om.Family]]:
    scenario = parse_scenario(SIM_SCENARIO, "sim-6h.yaml")
    policy = backtest.load_policy(REPO / "scenarios/policies/tiered.yaml")
    result = backtest.run(policy, scenario)
    families = om.render(result.records, om.Workload("sim", "shop"), service=scenario.service,
                         scrape_seconds=SIM_SCRAPE)
    return Sim(result.records), families


def faults_families() -> list[om.Family]:
    t = FAULTS_START + np.arange(FAULTS_SAMPLES, dtype=np.float64) * FAULTS_SCRAPE
    j = np.arange(FAULTS_SAMPLES, dtype=np.float64)
    value = om.Family("scalelab_test_value", "gauge", "fault cases")
    nan = j.copy()
    nan[list(NAN_AT)] = np.nan
    value.add("scalelab_test_value", {"namespace": "faults", "case": "nan"}, t, nan)
    hole = np.ones(FAULTS_SAMPLES, dtype=bool)
    hole[list(HOLE)] = False
    value.add("scalelab_test_value", {"namespace": "faults", "case": "hole"}, t[hole], j[hole])
    value.add("scalelab_test_value", {"namespace": "faults", "case": "a"}, t, j)
    value.add("scalelab_test_value", {"namespace": "faults", "case": "b"}, t, 2 * j)
    counter = om.Family("http_requests", "counter", "a service that restarts once")
    count = 10.0 * FAULTS_SCRAPE * np.where(j < RESET_AT, j, j - RESET_AT)
    counter.add("http_requests_total", {"namespace": "faults", "service": "restarts", "code": "200"}, t, count)
    latency = om.Family("scalelab_test_latency_seconds", "gauge", "a p95 in seconds")
    latency.add("scalelab_test_latency_seconds", {"namespace": "faults"}, t, np.full(t.size, LATENCY_SECONDS))
    return [value, counter, latency]


def build(path: Path) -> Datasets:
    wiki, wiki_families = wiki_data()
    sim, sim_families = sim_data()
    samples = om.write([*wiki_families, *sim_families, *faults_families()], path)
    return Datasets(wiki, sim, samples)
