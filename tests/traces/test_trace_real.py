"""The real developer traces in ../shared/traces load cleanly, with the row counts and holes PROVENANCE.md states."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from workbench.core import errors
from workbench.traces import files, grid_for, resample

TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
needs_traces = pytest.mark.skipif(not TRACES.is_dir(), reason=f"shared traces folder not found at {TRACES}")
INSERTED = re.compile(r"\((\d+) samples? inserted")

# file, rows (PROVENANCE.md), columns, gaps filled (None = no gap warning)
REAL = [
    pytest.param("nasa_http_1995_1min.csv", 84_330, ["requests_per_s"], 1, id="nasa"),
    pytest.param("wikipedia_en_desktop_2016-01_1h.csv", 744, ["requests_per_s", "bytes_per_s"], None, id="wikipedia"),
    pytest.param("aws_elb_request_count_8c0756_5min.csv", 4_032, ["request_count", "requests_per_s"], 8, id="elb"),
    pytest.param("aws_ec2_cpu_utilization_5f5533_5min.csv", 4_032, ["cpu_utilization_pct"], None, id="ec2"),
    pytest.param("bitbrains_rnd_cluster_5min.csv", 25_205,
                 ["cpu_utilization", "cpu_usage_mhz", "cpu_capacity_mhz", "net_rx_kBps", "net_tx_kBps", "n_vms"], 32,
                 id="bitbrains"),
    pytest.param("azure_llm_conv_2023-11-16_1s.csv", 3_501,
                 ["requests_per_s", "context_tokens_per_s", "generated_tokens_per_s"], None, id="azure-llm"),
    pytest.param("alibaba_genai_serving_2022_57s.csv", 1_410,
                 ["generative_qps", "api_qps", "gpu_duty_cycle_pct_mean", "memory_utilization_mean", "n_gpu_pods",
                  "n_mem_pods"], None, id="alibaba"),
]


@needs_traces
@pytest.mark.parametrize(("name", "rows", "columns", "gaps"), REAL)
def test_real_trace_loads_with_documented_rows(name, rows, columns, gaps):
    trace = files.load_trace(TRACES / name)
    assert list(trace.columns) == columns
    inserted = 0
    if gaps is None:
        assert trace.warnings == ()
    else:
        (warning,) = trace.warnings
        plural = "s" if gaps > 1 else ""
        assert warning.startswith(f"{TRACES / name}: filled {gaps} gap{plural} with policy 'interpolate'")
        inserted = int(INSERTED.search(warning).group(1))
    assert len(trace) - inserted == rows
    start, ticks = grid_for(trace, 15.0)
    grid = resample(trace, columns[0], start=start, interval=15.0, ticks=ticks)
    assert np.isfinite(grid).all() and (grid >= 0).all()


@needs_traces
def test_nasa_hole_is_one_gap_warning():
    path = TRACES / "nasa_http_1995_1min.csv"
    trace = files.load_trace(path)
    assert trace.warnings == (
        f"{path}: filled 1 gap with policy 'interpolate' (4949 samples inserted at the typical 1m spacing); "
        "longest gap of 3d 10h 29m from 1995-07-28T17:32:00Z to 1995-08-01T04:01:00Z (before line 39693)",)
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, gaps="error")
    assert str(info.value) == (f"{path}:39693: gap of 3d 10h 29m from 1995-07-28T17:32:00Z to "
                               "1995-08-01T04:01:00Z (typical spacing 1m; gaps='error')")


@needs_traces
def test_elb_missing_samples_match_provenance():
    path = TRACES / "aws_elb_request_count_8c0756_5min.csv"
    assert files.load_trace(path).warnings == (
        f"{path}: filled 8 gaps with policy 'interpolate' (8 samples inserted at the typical 5m spacing); "
        "longest gap of 5m from 2014-04-10T11:34:00Z to 2014-04-10T11:39:00Z (before line 140)",)


def test_90_days_of_5min_load_and_resample_exactly(tmp_path):
    """(Its speed is measured by benchmarks/components.py, not asserted here.)"""
    n = 90 * 288
    rng = np.random.default_rng(0)
    stamps = np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + np.arange(n) * np.timedelta64(300, "s"))
    values = np.round(rng.uniform(0, 1000, n), 3)
    path = tmp_path / "big.csv"
    path.write_text("timestamp,requests_per_s\n" + "".join(f"{s}Z,{v!r}\n" for s, v in zip(stamps, values.tolist())))
    trace = files.load_trace(path)
    start, ticks = grid_for(trace, 15.0)
    grid = resample(trace, "requests_per_s", start=start, interval=15.0, ticks=ticks)
    assert ticks == n * 20 and np.array_equal(grid, np.repeat(values, 20))
