"""The OpenMetrics generator: exact text, promtool's rules (seconds, order, # EOF), and raw metrics
consistent with the records they render (counters integrate rates; pods come and go LIFO)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from workbench.core import errors
from workbench.sim.service import ServiceModel
from workbench.sources import openmetrics as om


def text_of(families):
    buf = io.StringIO()
    count = om.write(families, buf)
    return count, buf.getvalue()


def test_exact_text():
    g = om.Family("temp", "gauge", "a gauge")
    g.add("temp", {"room": 'a "b"\\c'}, [100, 115.5], [1.5, np.nan])
    c = om.Family("hits", "counter")
    c.add("hits_total", {}, [100, 160], [0, np.inf])
    c2 = om.Family("hits", "counter")
    c2.add("hits_total", {"x": "1"}, [100], [3])
    assert text_of([g, c, c2]) == (5, (
        "# HELP temp a gauge\n"
        "# TYPE temp gauge\n"
        'temp{room="a \\"b\\"\\\\c"} 1.5 100\n'
        'temp{room="a \\"b\\"\\\\c"} NaN 115.5\n'
        "# TYPE hits counter\n"
        "hits_total 0.0 100\n"
        "hits_total +Inf 160\n"
        'hits_total{x="1"} 3.0 100\n'
        "# EOF\n"))


def test_promtool_rules_are_checked():
    g = om.Family("x", "gauge")
    g.add("x", {}, [1_700_000_000_000], [1.0])
    with pytest.raises(errors.UserError) as info:
        text_of([g])
    assert str(info.value) == "x: timestamp 1700000000000 looks like milliseconds; OpenMetrics backfill needs seconds"
    h = om.Family("y", "gauge")
    h.add("y", {"a": "1"}, [20, 10], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"y\{'a': '1'\}: samples must be in strictly ascending time"):
        text_of([h])
    with pytest.raises(ValueError, match="family y is both gauge and counter"):
        text_of([h, om.Family("y", "counter")])


def records(ready, demand, served=None, start=1_700_000_000, dt=60):
    n = len(ready)
    return pd.DataFrame({"time": pd.to_datetime(start + dt * np.arange(n), unit="s", utc=True),
                         "demand_rps": np.asarray(demand, float),
                         "served_rps": np.asarray(served if served is not None else demand, float),
                         "ready_replicas": np.asarray(ready), "cpu": np.full(n, 0.5), "memory": np.full(n, 0.25)})


def by_name(families):
    return {f.name: f for f in families}


def test_counters_integrate_rates_and_pods_leave_newest_first():
    rec = records(ready=[2, 3, 1, 2], demand=[10, 20, 30, 40], served=[10, 20, 25, 40])
    fams = by_name(om.render(rec, om.Workload("ns", "app", cpu_request_cores=2.0, memory_limit_bytes=1000.0),
                             scrape_seconds=30))
    reqs = fams["http_requests"].series
    assert [dict(s.labels)["code"] for s in reqs] == ["200", "503"]
    np.testing.assert_array_equal(reqs[0].times, 1_700_000_000 + 30 * np.arange(9))  # to the end of the last tick
    np.testing.assert_allclose(reqs[0].values, [0, 300, 600, 1200, 1800, 2550, 3300, 4500, 5700])
    np.testing.assert_allclose(reqs[1].values, [0, 0, 0, 0, 0, 150, 300, 300, 300])
    ready = fams["kube_pod_status_ready"].series
    # tick 0: pods 0,1; tick 1: + pod 2; tick 2: pods 2 and 1 removed (newest first); tick 3: + pod 3 (a new name)
    assert [(s.labels["pod"], s.times.min() - 1_700_000_000, s.times.max() - 1_700_000_000) for s in ready] == [
        ("app-00000", 0, 240), ("app-00001", 0, 90), ("app-00002", 60, 90), ("app-00003", 180, 240)]
    cpu = fams["container_cpu_usage_seconds"].series[0]
    assert cpu.name == "container_cpu_usage_seconds_total" and dict(cpu.labels) == {
        "namespace": "ns", "pod": "app-00000", "container": "app"}
    np.testing.assert_allclose(cpu.values, 30 * np.arange(9) * 0.5 * 2.0)  # 1 core for 30 s per scrape
    late = fams["container_cpu_usage_seconds"].series[3]
    np.testing.assert_allclose(late.values, [0, 30, 60])  # a new pod's counter starts at 0
    assert {s.values[0] for s in fams["container_memory_working_set_bytes"].series} == {250.0}
    assert "http_request_duration_seconds" not in fams  # no service model given


def test_histogram_is_consistent_with_the_latency_model():
    svc = ServiceModel(workers_per_pod=4, service_time_ms=25.0, network_ms=5.0, slo_p95_ms=500.0)
    rec = records(ready=[2, 2, 2], demand=[100, 250, 500], served=[100, 250, 320])  # last tick overloaded
    fam = by_name(om.render(rec, om.Workload("ns", "app"), service=svc, scrape_seconds=60))["http_request_duration_seconds"]
    buckets = [s for s in fam.series if s.name.endswith("_bucket")]
    les = [s.labels["le"] for s in buckets]
    assert les == [repr(b) for b in om.DEFAULT_BUCKETS] + ["+Inf"]
    values = np.array([s.values for s in buckets])  # le x time
    assert (np.diff(values, axis=0) >= -1e-9).all() and (np.diff(values, axis=1) >= 0).all()
    count = next(s for s in fam.series if s.name.endswith("_count"))
    np.testing.assert_allclose(values[-1], count.values)
    np.testing.assert_allclose(count.values, [0, 6000, 21000, 51000])  # demand, dropped included
    # within the first minute: the share under each bound is 1 - P(T > le) of the model at rho = 50/160
    share = values[:-1, 1] / 6000
    rho = 50 / svc.capacity_rps
    expected = [0.0 if le <= 0.005 else 1 - float(svc.tail(np.array([rho]), le - 0.005)[0]) for le in om.DEFAULT_BUCKETS]
    np.testing.assert_allclose(share, expected, atol=1e-12)
    # the overloaded minute: +Inf grows by the demand, the 10 s bucket by at most the served requests
    third = values[:, 3] - values[:, 2]
    assert third[-1] == pytest.approx(500 * 60) and third[-2] <= 320 * 60 + 1e-6


def test_records_from_a_trace_use_an_ideal_autoscaler():
    svc = ServiceModel(workers_per_pod=4, service_time_ms=25.0, slo_p95_ms=300.0)
    rec = om.records_from_trace([0, 3600, 7200], [100.0, 900.0, 0.0], svc)
    assert list(rec["ready_replicas"]) == list(svc.demand_replicas(np.array([100.0, 900.0, 0.0])))
    assert list(rec.columns) == ["time", "demand_rps", "served_rps", "ready_replicas", "cpu", "memory", "p95_ms"]
