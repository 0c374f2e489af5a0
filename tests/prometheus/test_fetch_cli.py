"""``scalelab fetch`` end to end against a real Prometheus: the Parquet trace, its metadata, replay
through ``backtest --trace``, one-line errors with exit codes, and atomic output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.core import errors
from workbench.sources import bindings, fetch, prometheus
from workbench.sources.cli_fetch import fetch_command
from workbench.traces import load_trace

from tests.prometheus import data

if "fetch" not in main.commands:  # until workbench.cli registers it
    main.add_command(fetch_command)

REPO = Path(__file__).resolve().parents[2]
WIKI_BINDINGS = """apiVersion: scalelab/v1
kind: MetricBindings
metadata: {name: wiki}
spec: {namespace: prod, workload: wiki}
"""
RANGE = ["--start", "2016-01-04T00:00:00Z", "--end", "2016-01-07T00:00:00Z"]
NAMES = ["qps", "cpu", "cpu_cores", "memory", "memory_bytes", "p95_ms", "replicas"]


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def wiki_bindings(tmp_path):
    path = tmp_path / "wiki.yaml"
    path.write_text(WIKI_BINDINGS)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_fetch_writes_a_replayable_trace(prom, datasets, wiki_bindings, tmp_path):
    out = tmp_path / "out" / "wiki.parquet"
    code, stdout, stderr = cli("fetch", "--prometheus", prom.url, "--bindings", wiki_bindings, *RANGE,
                               "--step", "1m", "--out", out, "--max-points", 1000)
    assert code == 0, stderr
    assert stdout == (f"wrote {out}: 4321 rows x 7 metrics ({', '.join(NAMES)}) from 2016-01-04T00:00:00Z to "
                      "2016-01-07T00:00:00Z every 60s\n")
    # every rate() at the very first point has a single sample (Prometheus' start-of-series effect)
    assert stderr.splitlines() == [
        f"warning: {name}: 1 of 4321 samples missing (0 NaN, 1 absent or stale), first at 2016-01-04T00:00:00Z; "
        "kept as missing (NaN)" for name in ("qps", "cpu", "cpu_cores", "p95_ms")]
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["timestamp", *NAMES]
    assert str(frame["timestamp"].dtype).startswith("datetime64") and str(frame["timestamp"].dt.tz) == "UTC"
    assert all(frame[n].dtype == np.float64 for n in NAMES)
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2016-01-04T00:00:00Z")
    assert (frame["timestamp"].diff().iloc[1:] == pd.Timedelta(seconds=60)).all()
    meta = fetch.read_metadata(out)
    assert meta.pop("fetched_at").endswith("Z")
    assert meta == {
        "format": "scalelab.fetch/v1", "server": prom.url, "queries": bindings.parse_bindings(WIKI_BINDINGS).render(),
        "start": "2016-01-04T00:00:00Z", "end": "2016-01-07T00:00:00Z", "step_seconds": 60, "points": 4321,
        "bindings_file": str(wiki_bindings), "warnings": [line[len("warning: "):] for line in stderr.splitlines()],
    }
    trace = load_trace(out, ["qps", "replicas"])  # the shared trace loader reads it as is
    np.testing.assert_array_equal(trace.column("qps")[1:], frame["qps"].to_numpy()[1:])
    assert trace.column("qps")[0] == trace.column("qps")[1]  # the missing first sample is filled
    assert trace.warnings == (f"{out}: column 'qps': 1 missing value (first on row 1) filled by gap policy 'interpolate'",)
    code, stdout, stderr = cli("backtest", "--policy", REPO / "scenarios/policies/tiered.yaml", "--scenario",
                               REPO / "scenarios/wikipedia-2016-01.yaml", "--trace", out, "--column", "qps", "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["ticks"] == 4321 * 4 and summary["meta"]["trace"] == str(out)


def test_fetch_only_some_metrics_and_never_stores_credentials(prom, wiki_bindings, tmp_path):
    token = tmp_path / "token"
    token.write_text("sekrit-token-123\n")
    out = tmp_path / "two.parquet"
    url = prom.url.replace("http://", "http://someone:pa55word@") + "/"
    code, stdout, stderr = cli("fetch", "--prometheus", url, "--bindings", wiki_bindings, *RANGE, "--step", "300",
                               "--metric", "replicas", "--metric", "memory", "--out", out, "--token-file", token,
                               "--header", "X-Scope-OrgID: tenant-1")
    assert code == 0, stderr
    assert list(pd.read_parquet(out).columns) == ["timestamp", "replicas", "memory"]
    assert fetch.read_metadata(out)["server"] == prom.url
    raw = out.read_bytes()
    assert b"sekrit" not in raw and b"pa55word" not in raw and b"someone" not in raw


@pytest.mark.parametrize("args, code, message", [
    (["--start", "1451865600000"], 2,
     "error: --start '1451865600000' looks like epoch milliseconds; give seconds or ISO-8601"),
    (["--end", "yesterday"], 2,
     "error: --end 'yesterday' is not ISO-8601 (2024-03-01T00:00:00Z) or epoch seconds"),
    (["--step", "0.5s"], 2, "error: step must be a whole number of seconds >= 1, got 0.5"),
    (["--step", "fast"], 2, "error: --step: expected a duration like 15s, 1m or a number of seconds, got 'fast'"),
    (["--metric", "qpz"], 2, "error: --metric qpz: not bound in {bindings} (bound: " + ", ".join(NAMES) + ")"),
    (["--out", "{tmp}/x.csv"], 2, "error: --out {tmp}/x.csv: the output must be a .parquet file"),
    (["--prometheus", "localhost:9090"], 2,
     "error: prometheus URL 'localhost:9090': expected http://HOST:PORT or https://HOST:PORT"),
    (["--prometheus", "http://127.0.0.1:{dead}", "--retries", "0"], 3,
     "error: prometheus http://127.0.0.1:{dead}: qps: " + bindings.parse_bindings(WIKI_BINDINGS).render()["qps"]
     + " from 2016-01-04T00:00:00Z to 2016-01-07T00:00:00Z step 60s: cannot connect (Connection refused); no retries"),
    (["--bindings", "{tmp}/bad.yaml"], 2,
     "error: {tmp}/bad.yaml:3: spec.queries.qps: unknown template variable '{svc}' (known: namespace, workload, "
     "service, pod_regex, window)"),
    (["--bindings", "{tmp}/badq.yaml"], 2,
     "error: prometheus {url}: qps: sum(rate(http_requests_total[2m]) from 2016-01-04T00:00:00Z to "
     "2016-01-07T00:00:00Z step 60s: rejected the query (HTTP 400 bad_data): 1:34: parse error: unclosed left "
     "parenthesis"),
    (["--bindings", "{tmp}/none.yaml"], 2,
     "error: prometheus {url}: qps: sum(rate(http_requests_total{namespace=\"nowhere\",service=\"wiki\"}[2m])) from "
     "2016-01-04T00:00:00Z to 2016-01-07T00:00:00Z step 60s: returned no data (no series matched; check the labels "
     "in the query and that the range holds data)"),
], ids=["ms-start", "bad-end", "step-fraction", "step-text", "unknown-metric", "not-parquet", "url", "unreachable",
        "bad-bindings", "bad-promql", "no-data"])
def test_errors_are_one_line_with_exit_codes(prom, wiki_bindings, tmp_path, dead_port, args, code, message):
    (tmp_path / "bad.yaml").write_text("kind: MetricBindings\nspec: {namespace: a, workload: b,\n"
                                       "  queries: {qps: 'x{s=\"{svc}\"}'}}\n")
    (tmp_path / "badq.yaml").write_text(WIKI_BINDINGS.replace("workload: wiki}", "workload: wiki, queries: "
                                                              "{qps: 'sum(rate(http_requests_total[2m])'}}"))
    (tmp_path / "none.yaml").write_text(WIKI_BINDINGS.replace("namespace: prod", "namespace: nowhere"))
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"previous contents")
    values = {"tmp": tmp_path, "dead": dead_port, "url": prom.url, "bindings": wiki_bindings}

    def fill(text):
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        return text

    base = {"--prometheus": prom.url, "--bindings": str(wiki_bindings), "--start": RANGE[1], "--end": RANGE[3],
            "--out": str(out), "--metric": None}
    args = [fill(a) for a in args]
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["fetch", *[x for k, v in base.items() if v is not None for x in (k, v)], *args[len(base) * 2:]]
    got, stdout, stderr = cli(*argv)
    assert (got, stdout, stderr) == (code, "", fill(message) + "\n")
    assert out.read_bytes() == b"previous contents" and leftovers(tmp_path) == []


def test_token_and_token_file_are_exclusive(prom, wiki_bindings, tmp_path):
    code, _, stderr = cli("fetch", "--prometheus", prom.url, "--bindings", wiki_bindings, *RANGE, "--out",
                          tmp_path / "x.parquet", "--token", "a", "--token-file", wiki_bindings)
    assert code == 2 and "give --token or --token-file, not both" in stderr


def test_write_is_atomic(tmp_path):
    out = tmp_path / "t.parquet"
    out.write_bytes(b"old")
    frame = pd.DataFrame({"timestamp": pd.to_datetime([0, 60], unit="s", utc=True), "qps": [1.0, "x"]})
    with pytest.raises(Exception) as info:  # pyarrow cannot write a column mixing numbers and text
        fetch.write_parquet(fetch.Fetched(frame, {}, ()), out)
    assert "pyarrow" in type(info.value).__module__
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_interrupted_fetch_writes_nothing(prom, wiki_bindings, tmp_path):
    """Ctrl-C in the middle of a long fetch (SIGINT to a real process): exit 130, no file, no temp file."""
    out = tmp_path / "slow.parquet"
    before = _range_queries(prom)
    script = ("import sys; from workbench.cli import main; from workbench.sources.cli_fetch import fetch_command;"
              "main.add_command(fetch_command); sys.argv[0] = 'scalelab'; main()")
    proc = subprocess.Popen([sys.executable, "-c", script, "fetch", "--prometheus", prom.url, "--bindings",
                             str(wiki_bindings), *RANGE, "--step", "15s", "--max-points", "5", "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _range_queries(prom) < before + 5:  # it is fetching now
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, stdout, stderr) == (130, "", "\naborted\n")  # click turns Ctrl-C into Abort
    assert sorted(os.listdir(tmp_path)) == ["wiki.yaml"]


def _range_queries(prom) -> float:
    """How many range queries the server has answered (its own /metrics)."""
    import requests

    for line in requests.get(f"{prom.url}/metrics", timeout=5).text.splitlines():
        if line.startswith('prometheus_http_requests_total{code="200",handler="/api/v1/query_range"}'):
            return float(line.split()[-1])
    return 0.0


def test_fetch_api_progress_and_interrupt(prom, tmp_path):
    grid = prometheus.Grid.spanning(data.WIKI_START, data.WIKI_END, 60)
    queries = {"a": 'scalelab_known_value{namespace="prod"}', "b": 'scalelab_known_value{namespace="prod"} * 2'}
    seen = []
    with prometheus.PrometheusSource(prometheus.Options(prom.url)) as src:
        got = fetch.fetch(src, queries, grid, max_points=1000, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(i, 10) for i in range(1, 11)] and fetch.request_count(queries, grid, 1000) == 10
        np.testing.assert_array_equal(got.frame["b"].to_numpy(), 2 * got.frame["a"].to_numpy())

        def stop(done, total):
            if done == 3:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            fetch.fetch(src, queries, grid, max_points=1000, progress=stop)
    with pytest.raises(errors.UserError, match="nothing to fetch"):
        fetch.fetch(None, {}, grid)
