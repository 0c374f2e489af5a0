"""Scenarios replaying a Prometheus range: validation with paths, the same scores as the fetched data
as CSV, and the Parquet cache (reused, refreshed, or off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench import backtest
from workbench.core import errors
from workbench.sim.load import build_load
from workbench.sim.scenario import parse_scenario

from tests.prometheus import data

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "scenarios/policies/tiered.yaml"
SERVICE = """service:
  capacity_rps_per_pod: 120
  startup_seconds: {distribution: lognormal, median: 45, p95: 120, min: 20}
  termination_seconds: 30
  cpu: {per_rps: 0.0075, idle: 0.05, request: 1.0}
  latency: {model: mmc, service_time_ms: 25, network_ms: 5}
sla: {p95_ms: 500}
metrics: {scrape_seconds: 15, rate_window_seconds: 120, delay_seconds: 15}
seed: 7
"""
PROM_TRACE = """name: wiki-live
trace:
  prometheus:
    url: %(url)s
    bindings: bindings/wiki.yaml
    start: 2016-01-04T00:00:00Z
    end: 2016-01-06T00:00:00Z
    step: 60s
    cache: cache
%(extra)s  peak_rps: 2400
"""
CSV_TRACE = """name: wiki-csv
trace:
  csv: fetched.csv
  column: qps
  peak_rps: 2400
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "bindings").mkdir()
    (tmp_path / "bindings/wiki.yaml").write_text("kind: MetricBindings\nspec: {namespace: prod, workload: wiki}\n")
    return tmp_path


def scenario(folder: Path, url: str, extra: str = ""):
    text = PROM_TRACE % {"url": url, "extra": extra} + SERVICE
    (folder / "s.yaml").write_text(text)
    return backtest.load_scenario(folder / "s.yaml")


def test_same_scores_as_the_fetched_data_as_csv(prom, folder):
    policy = backtest.load_policy(POLICY)
    live = backtest.run(policy, scenario(folder, prom.url))
    cached = list((folder / "cache").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("prometheus-") and cached[0].suffix == ".parquet"
    frame = pd.read_parquet(cached[0])
    assert list(frame.columns) == ["timestamp", "qps"] and len(frame) == 2 * 1440 + 1  # only the column replayed
    frame.to_csv(folder / "fetched.csv", index=False)
    (folder / "c.yaml").write_text(CSV_TRACE + SERVICE)
    offline = backtest.run(policy, backtest.load_scenario(folder / "c.yaml"))
    assert live.scores == offline.scores  # exactly
    assert live.scores["ticks"] == (2 * 1440 + 1) * 4
    assert live.meta["warnings"][0] == ("qps: 1 of 2881 samples missing (0 NaN, 1 absent or stale), first at "
                                        "2016-01-04T00:00:00Z; kept as missing (NaN)")


def test_the_cache_is_reused_and_refreshed(prom, folder, dead_port):
    def load(extra=""):
        text = (PROM_TRACE % {"url": prom.url, "extra": extra}).replace("  peak_rps: 2400\n", "") + SERVICE
        (folder / "r.yaml").write_text(text)
        return build_load(backtest.load_scenario(folder / "r.yaml"))

    first = load()
    (path,) = (folder / "cache").iterdir()
    table = pq.read_table(path)  # tamper with the cached file (keeping its metadata): a reuse must show it
    frame = table.to_pandas()
    frame["qps"] *= 0.5
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata),
                   path)
    np.testing.assert_allclose(load().demand, 0.5 * first.demand, rtol=1e-12)      # read from the cache
    np.testing.assert_allclose(load("    refresh: true\n").demand, first.demand)  # fetched anew, file rewritten
    np.testing.assert_allclose(load().demand, first.demand)
    assert [p.name for p in (folder / "cache").iterdir()] == [path.name]
    # another server is another cache entry: it is fetched, and here it fails
    with pytest.raises(errors.UpstreamError, match=r"cannot connect \(Connection refused\); no retries$"):
        build_load(scenario(folder, f"http://127.0.0.1:{dead_port}", "    retries: 0\n"))


def test_cache_off_leaves_no_files(prom, folder):
    text = (PROM_TRACE % {"url": prom.url, "extra": ""}).replace("    cache: cache\n", "    cache: false\n") + SERVICE
    (folder / "n.yaml").write_text(text)
    before = sorted(p.name for p in folder.iterdir())
    assert build_load(backtest.load_scenario(folder / "n.yaml")).ticks == (2 * 1440 + 1) * 4
    assert sorted(p.name for p in folder.iterdir()) == before


def test_unbound_column(prom, folder):
    with pytest.raises(errors.UserError) as info:
        build_load(scenario(folder, prom.url, "    column: qpz\n"))
    assert str(info.value) == (f"{folder}/s.yaml: trace.prometheus: column 'qpz' is not bound in "
                               f"{folder}/bindings/wiki.yaml (bound: qps, cpu, cpu_cores, memory, memory_bytes, p95_ms, "
                               "replicas)")


def test_window_and_custom_metrics_from_bindings(prom, folder):
    extra = "  start: 2016-01-05T00:00:00Z\n  duration: 6h\n  metrics: {replicas_seen: replicas}\n"
    text = (PROM_TRACE % {"url": prom.url, "extra": ""}).replace("  peak_rps: 2400\n", extra) + SERVICE
    load = build_load(parse_scenario(text, str(folder / "w.yaml"), base_dir=folder))
    assert load.ticks == 6 * 240 and load.start == data.epoch("2016-01-05T00:00:00Z")
    assert set(load.extra) == {"replicas_seen"} and 3 <= load.extra["replicas_seen"].min()


BAD = """name: bad
trace:
  prometheus:
    url: localhost:9090
    bindings: b.yaml
    start: 2016-01-05T00:00:00Z
    end: 2016-01-04T00:00:00Z
    step: 0.5s
    tokenfile: t
    cache: 5
    passwordFile: p
    retries: -1
  column: qps
service: {capacity_rps_per_pod: 100}
"""


def test_every_problem_in_the_prometheus_block_is_reported():
    with pytest.raises(errors.SpecError) as info:
        parse_scenario(BAD, "bad.yaml")
    assert info.value.full_report().splitlines() == [
        "bad.yaml:9: trace.prometheus.tokenfile: unknown key 'tokenfile'; did you mean 'tokenFile'?",
        "bad.yaml:4: trace.prometheus.url: expected http://HOST:PORT or https://HOST:PORT, got 'localhost:9090'",
        "bad.yaml:8: trace.prometheus.step: must be whole seconds >= 1, got '0.5s'",
        "bad.yaml:7: trace.prometheus.end: must be after start",
        "bad.yaml:10: trace.prometheus.cache: expected a folder or false, got 5",
        "bad.yaml:11: trace.prometheus.passwordFile: needs user",
        "bad.yaml:12: trace.prometheus.retries: must be >= 0, got -1",
    ]


@pytest.mark.parametrize("trace, message", [
    ("{csv: a.csv, prometheus: {url: 'http://h:1', bindings: b, start: 0, end: 60}}",
     "s.yaml:2: trace: needs exactly one of csv, parquet, synthetic, prometheus (found csv, prometheus)"),
    ("{prometheus: {url: 'http://h:1', bindings: b, start: 0, end: 60, column: qps}, column: cpu}",
     "s.yaml:2: trace.column: give the column once: here or in prometheus.column"),
    ("{prometheus: {url: 'http://h:1', bindings: b, start: 1451865600000, end: 1451865600060}}",
     "s.yaml:2: trace.prometheus.start: 1451865600000 looks like epoch milliseconds; give seconds or ISO-8601"),
    ("{prometheus: {url: 'http://h:1', start: 0}}", "s.yaml:2: trace.prometheus: missing required key 'bindings'"),
    ("{prometheus: {url: 'http://h:1', bindings: b, start: 0, end: 60, step: 2m}}",
     "s.yaml:2: trace.prometheus.step: is longer than the range from start to end"),
], ids=["two-sources", "column-twice", "ms", "missing", "step-too-long"])
def test_single_problems(trace, message):
    with pytest.raises(errors.SpecError) as info:
        parse_scenario(f"name: s\ntrace: {trace}\nservice: {{capacity_rps_per_pod: 100}}\n", "s.yaml")
    assert str(info.value).split(" (and ")[0] == message


def test_defaults_and_paths(tmp_path):
    s = parse_scenario("name: s\ntrace: {prometheus: {url: 'https://p:9090', bindings: b.yaml, start: 0, end: 3600, "
                       "tokenFile: tok, caFile: ca.pem}}\nservice: {capacity_rps_per_pod: 100}\n", "s.yaml",
                       base_dir=tmp_path)
    p = s.trace.prometheus
    assert (s.trace.kind, s.trace.column, p.step, p.cache, p.bindings, p.token_file, p.ca_file, p.retries, p.refresh) \
        == ("prometheus", "qps", 60.0, str(tmp_path / ".scalelab-cache"), str(tmp_path / "b.yaml"),
            str(tmp_path / "tok"), str(tmp_path / "ca.pem"), 3, False)
    assert s.with_trace("x.csv", "qps").trace.prometheus is None
