"""``calibrate``: recovering known service parameters from synthetic histories and from a simulated
backtest's records, partial fits with their reasons, and every refusal with its exact message."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.calibration import synth
from workbench import backtest
from workbench.calibration import Skipped, calibrate, fit, history_from_frame, load_history
from workbench.core import errors

REPO = Path(__file__).resolve().parents[2]

RECOVERY = [
    # truth, history options
    pytest.param(synth.Truth(), {}, id="c4-40ms-net8"),
    pytest.param(synth.Truth(1, 10.0, 2.0), {}, id="mm1-10ms-net2"),
    pytest.param(synth.Truth(2, 5.0, 1.0), {}, id="c2-5ms-net1"),
    pytest.param(synth.Truth(8, 25.0, 20.0), {}, id="c8-25ms-net20"),
    pytest.param(synth.Truth(16, 200.0, 0.0), {}, id="c16-200ms-net0"),
    pytest.param(synth.Truth(32, 400.0, 3.0), {}, id="c32-400ms-net3"),
    pytest.param(synth.Truth(), {"rho": (0.2, 1.3)}, id="c4-with-overload"),
    pytest.param(synth.Truth(16, 200.0, 0.0), {"rho": (0.2, 1.3)}, id="c16-with-overload"),
    pytest.param(synth.Truth(), {"nan_share": 0.05, "seed": 3}, id="c4-5pct-nan"),
    pytest.param(synth.Truth(8, 25.0, 20.0), {"p95_noise": 0.15, "seed": 5}, id="c8-15pct-p95-noise"),
    pytest.param(synth.Truth(), {"step": 15.0, "days": 1.0}, id="c4-15s-one-day"),
]


@pytest.mark.parametrize("truth, options", RECOVERY)
def test_recovers_known_parameters(truth, options):
    cal = calibrate(history_from_frame(synth.history(truth, **options)))
    lat, cpu, mem = cal.latency, cal.cpu, cal.memory
    # latency: c within ±1 (and inside the plausible range), capacity within 2%
    assert abs(lat.workers - truth.workers) <= 1
    assert lat.plausible_workers[0] <= truth.workers <= lat.plausible_workers[1]
    assert lat.capacity_rps == pytest.approx(truth.capacity, rel=0.02)
    if lat.plausible_workers[0] == lat.plausible_workers[1]:  # well identified: the parts too
        assert lat.service_time_ms == pytest.approx(truth.service_time_ms, rel=0.02)
        assert lat.network_ms == pytest.approx(truth.network_ms, abs=max(1.0, 0.1 * truth.network_ms))
    # CPU and memory: slopes within 2%, intercepts within 3%
    assert cpu.slope == pytest.approx(truth.cpu_per_rps, rel=0.02)
    assert cpu.intercept == pytest.approx(truth.cpu_idle, rel=0.03)
    assert mem.slope == pytest.approx(truth.mem_per_rps_mb, rel=0.02)
    assert mem.intercept == pytest.approx(truth.mem_base_mb, rel=0.03)
    assert cpu.r2 > 0.95 and mem.r2 > 0.95 and cpu.mape < 5 and mem.mape < 2
    # p95: the error is the noise put in (MAPE ≈ 0.8 σ); R² of log p95 is low where the curve is flat
    noise = options.get("p95_noise", 0.05)
    assert lat.mape < 100 * noise and lat.r2_log > (0.5 if noise <= 0.05 else 0.2)
    if options.get("rho", (0, 1))[1] > 1:  # overloaded samples: censored, and out of CPU/memory
        assert lat.ceiling_ms == truth.timeout_ms and lat.censored > 100
        assert cal.overloaded >= lat.censored and cpu.n == mem.n
        assert cpu.n + cal.overloaded == int(np.isfinite(cal.x).sum())


# ------------------------------------------------------------------------ a simulated backtest
@pytest.fixture(scope="module")
def flash_crowd():
    scenario = backtest.load_scenario(REPO / "scenarios/synthetic-flash-crowd.yaml")
    result = backtest.run(backtest.load_policy(REPO / "scenarios/policies/tiered.yaml"), scenario)
    svc = scenario.service
    frame = synth.from_records(result.records, svc.cpu_request_cores, svc.memory_limit_mb)
    return scenario, frame


def test_recovers_the_scenario_service_from_a_backtests_records(flash_crowd):
    scenario, frame = flash_crowd
    svc = scenario.service  # capacity 120 = 3 workers x 25 ms, network 5 ms; CPU 0.05 + 0.0075 x; memory 300 + 1.5 x
    cal = calibrate(history_from_frame(frame, "flash-crowd-records"), cpu_request=svc.cpu_request_cores,
                    memory_limit_mb=svc.memory_limit_mb)
    lat = cal.latency
    assert (lat.workers, lat.plausible_workers) == (svc.workers_per_pod, (3, 3))
    assert lat.service_time_ms == pytest.approx(svc.service_time_ms, rel=1e-3)
    assert lat.network_ms == pytest.approx(svc.network_ms, abs=0.05)
    assert lat.capacity_rps == pytest.approx(svc.capacity_rps, rel=1e-3)
    assert lat.ceiling_ms == svc.timeout_ms and lat.censored > 0  # the two flash crowds overloaded it
    assert cal.cpu.intercept == pytest.approx(svc.cpu_idle_cores, rel=1e-3)
    assert cal.cpu.slope == pytest.approx(svc.cpu_per_rps, rel=1e-3)
    assert cal.memory.intercept == pytest.approx(svc.memory_base_mb, rel=1e-3)
    assert cal.memory.slope == pytest.approx(svc.memory_per_rps_mb, rel=1e-3)
    assert cal.cpu.r2 > 0.9999 and cal.memory.r2 > 0.9999 and lat.r2_log > 0.9999
    assert (cal.cpu_request, cal.memory_limit_mb) == (1.0, 1024.0)
    assert cal.replicas.minimum >= 1 and cal.replicas.scale_events == int(
        np.count_nonzero(np.diff(frame["replicas"].to_numpy())))


def test_request_and_limit_are_inferred_when_both_forms_are_recorded(flash_crowd):
    _, frame = flash_crowd
    frame = frame.assign(cpu=frame["cpu_cores"] / 0.5, memory=frame["memory_bytes"] / (2048 * synth.MIB))
    cal = calibrate(history_from_frame(frame))
    assert (cal.cpu_request, cal.cpu_request_source) == (0.5, "inferred from cpu_cores / cpu")
    assert (cal.memory_limit_mb, cal.memory_limit_source) == (2048.0, "inferred from memory_bytes / memory")


def test_fractions_with_flags_fit_the_same_laws(flash_crowd):
    _, frame = flash_crowd
    frame = pd.DataFrame({"timestamp": frame["timestamp"], "qps": frame["qps"], "replicas": frame["replicas"],
                          "cpu": frame["cpu_cores"] / 2.0, "memory": frame["memory_bytes"] / (512 * synth.MIB),
                          "p95_ms": frame["p95_ms"]})
    cal = calibrate(history_from_frame(frame), cpu_request=2.0, memory_limit_mb=512.0)
    assert cal.cpu.slope == pytest.approx(0.0075, rel=1e-3) and cal.cpu_series == "cpu x 2"
    assert cal.memory.intercept == pytest.approx(300.0, rel=1e-3) and cal.memory_series == "memory x 512"
    assert (cal.cpu_request_source, cal.memory_limit_source) == ("--cpu-request", "--memory-limit-mb")


def test_thirty_days_at_one_minute_take_a_few_seconds():
    frame = synth.history(synth.Truth(), days=30.0, rho=(0.1, 1.1))
    history = history_from_frame(frame)
    fit.shape.cache_clear()  # cold: the M/M/c tables are built too
    started = time.perf_counter()
    cal = calibrate(history)
    wall = time.perf_counter() - started
    assert len(history) == 43200 and cal.latency.workers == 4
    assert wall < 10.0, f"calibrating 30 days at 1 min took {wall:.1f}s"


# --------------------------------------------------------------------------- partial fits
def _frame(n: int = 100, step: float = 60.0, **columns) -> pd.DataFrame:
    """A small varying history: per-pod load 20..80 req/s on 4 pods, every ``step`` seconds."""
    x = 50.0 + 30.0 * np.sin(np.arange(n) / 7.0)
    data = {"timestamp": pd.Timestamp("2024-03-01T00:00:00Z") + pd.to_timedelta(np.arange(n) * step, unit="s"),
            "qps": 4.0 * x, "replicas": np.full(n, 4.0), "cpu_cores": 0.05 + 0.01 * x,
            "memory_bytes": (300.0 + 2.0 * x) * synth.MIB, "p95_ms": 10.0 + 3.0 * x}
    data.update(columns)
    return pd.DataFrame({k: v for k, v in data.items() if v is not None})


def _first_nan(n: int, count: int, values: np.ndarray) -> np.ndarray:
    out = values.astype(float).copy()
    out[:count] = np.nan
    return out


X = 50.0 + 30.0 * np.sin(np.arange(100) / 7.0)
PARTIAL = [
    pytest.param({"p95_ms": None}, "latency", "no p95_ms column", id="latency-no-column"),
    pytest.param({"cpu_cores": None}, "cpu", "no cpu_cores or cpu column", id="cpu-no-column"),
    pytest.param({"memory_bytes": None}, "memory", "no memory_bytes or memory column", id="memory-no-column"),
    pytest.param({"cpu_cores": None, "cpu": 0.05 + 0.01 * X}, "cpu",
                 "cpu is a fraction of the pod's request: pass --cpu-request CORES to fit it (or fetch cpu_cores)",
                 id="cpu-fraction-needs-request"),
    pytest.param({"memory_bytes": None, "memory": 0.3 + 0.002 * X}, "memory",
                 "memory is a fraction of the pod's limit: pass --memory-limit-mb MB to fit it (or fetch memory_bytes)",
                 id="memory-fraction-needs-limit"),
    pytest.param({"p95_ms": _first_nan(100, 60, 10.0 + 3.0 * X)}, "latency",
                 "p95_ms is missing in 60% of the samples with qps and replicas (at most 50% may be missing)",
                 id="latency-too-many-missing"),
    pytest.param({"p95_ms": _first_nan(100, 45, 10.0 + 3.0 * X)}, "latency",
                 "too short: 55 samples with qps, replicas and p95_ms over 55m; need at least 30 samples spanning 1h",
                 id="latency-too-short"),
    pytest.param({"p95_ms": np.where(np.arange(100) < 25, 10.0 + 3.0 * X, np.nan)}, "latency",
                 "p95_ms is missing in 75% of the samples with qps and replicas (at most 50% may be missing)",
                 id="latency-mostly-missing"),
    pytest.param({"qps": np.where(np.arange(100) < 60, 200.0, 4.0 * X),
                  "cpu_cores": np.where(np.arange(100) < 60, 0.55, np.nan)}, "cpu",
                 "per-pod load is constant (qps / replicas: 5-95% range 50-50 req/s, median 50); need varying load to fit",
                 id="cpu-only-at-constant-load"),
]


@pytest.mark.parametrize("columns, name, reason", PARTIAL)
def test_a_fit_that_cannot_be_made_is_skipped_with_its_reason(columns, name, reason):
    cal = calibrate(history_from_frame(_frame(**columns)))
    skipped = {k: f.reason for k, f in cal.fits.items() if isinstance(f, Skipped)}
    assert skipped == {name: reason}


# ------------------------------------------------------------------------------- refusals
def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "h.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return path


def _zero_replicas() -> pd.DataFrame:
    f = _frame()
    f.loc[[3, 9], "replicas"] = 0.0
    return f


def _negative() -> pd.DataFrame:
    f = _frame()
    f.loc[2, "cpu_cores"] = -0.5
    return f


def _bad_timestamp(tmp_path: Path) -> Path:
    path = _csv(tmp_path, _frame())
    lines = path.read_text().splitlines()
    lines[2] = "yesterday," + lines[2].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    return path


REFUSALS = [
    pytest.param(lambda: _frame(qps=None, memory_bytes=None, p95_ms=None),
                 "{p}: no 'qps' column; every fit needs qps and replicas (columns: replicas, cpu_cores)", id="no-qps"),
    pytest.param(lambda: _frame(qps=None, replicas=None, cpu_cores=None, memory_bytes=None),
                 "{p}: no 'qps' and 'replicas' columns; every fit needs qps and replicas (columns: p95_ms)",
                 id="no-qps-no-replicas"),
    pytest.param(_zero_replicas,
                 "{p}:5: replicas must be positive, got 0 (2 such samples); per-pod load is qps / replicas",
                 id="zero-replicas"),
    pytest.param(lambda: _frame(qps=_first_nan(100, 60, 4.0 * X)),
                 "{p}: too many missing samples: qps and replicas are both present in 40 of 100 rows (40%); "
                 "need at least 50%", id="too-many-missing"),
    pytest.param(lambda: _frame(n=20, step=300.0),
                 "{p}: history too short: 20 samples with qps and replicas over 1h 40m; "
                 "need at least 30 samples spanning 1h", id="too-few-samples"),
    pytest.param(lambda: _frame(n=50),
                 "{p}: history too short: 50 samples with qps and replicas over 50m; "
                 "need at least 30 samples spanning 1h", id="too-short-span"),
    pytest.param(lambda: _frame(qps=np.full(100, 400.0)),
                 "{p}: per-pod load is constant (qps / replicas: 5-95% range 100-100 req/s, median 100); "
                 "need varying load to fit", id="constant-load"),
    pytest.param(lambda: _frame(qps=np.zeros(100)),
                 "{p}: per-pod load is constant (qps / replicas: 5-95% range 0-0 req/s, median 0); "
                 "need varying load to fit", id="no-load"),
    pytest.param(lambda: _frame(qps=400.0 + np.arange(100) % 2, replicas=4.0 + np.zeros(100)),
                 "{p}: per-pod load is constant (qps / replicas: 5-95% range 100-100.2 req/s, median 100.1); "
                 "need varying load to fit", id="almost-constant-load"),
    pytest.param(lambda: _frame(cpu_cores=None, memory_bytes=None, p95_ms=None),
                 "{p}: nothing to fit: cpu: no cpu_cores or cpu column; memory: no memory_bytes or memory column; "
                 "latency: no p95_ms column", id="nothing-to-fit"),
    pytest.param(lambda: _frame(cpu_cores=None, memory_bytes=None, p95_ms=None, cpu=0.5 + 0.001 * X,
                                memory=0.3 + 0.001 * X),
                 "{p}: nothing to fit: cpu: cpu is a fraction of the pod's request: pass --cpu-request CORES to fit it "
                 "(or fetch cpu_cores); memory: memory is a fraction of the pod's limit: pass --memory-limit-mb MB "
                 "to fit it (or fetch memory_bytes); latency: no p95_ms column", id="fractions-without-flags"),
    pytest.param(lambda: _frame(cpu_cores=_first_nan(100, 70, 0.05 + 0.01 * X), memory_bytes=None,
                                p95_ms=_first_nan(100, 45, 10.0 + 3.0 * X)),
                 "{p}: nothing to fit: cpu: cpu_cores is missing in 70% of the samples with qps and replicas "
                 "(at most 50% may be missing); memory: no memory_bytes or memory column; latency: too short: "
                 "55 samples with qps, replicas and p95_ms over 55m; need at least 30 samples spanning 1h",
                 id="every-fit-fails"),
    pytest.param(_negative, "{p}:4: column 'cpu_cores': negative value '-0.5' (load cannot be negative)",
                 id="negative-value"),
    pytest.param(lambda: _frame().rename(columns={"timestamp": "time"}),
                 "{p}: no 'timestamp' column (columns: time, qps, replicas, cpu_cores, memory_bytes, p95_ms)",
                 id="no-timestamp"),
]


@pytest.mark.parametrize("make, message", REFUSALS)
def test_refusals_name_what_is_wrong(tmp_path, make, message):
    path = _csv(tmp_path, make())
    with pytest.raises(errors.UserError) as info:
        calibrate(load_history(path))
    assert str(info.value) == message.format(p=path)
    assert info.value.exit_code == 2


FILE_REFUSALS = [
    pytest.param(lambda d: d / "h.txt", "{p}: unsupported history file type '.txt' (expected .parquet, .pq, .csv or .csv.gz)",
                 id="unsupported-type"),
    pytest.param(lambda d: d / "missing.parquet", "{p}: no such file", id="no-such-file"),
    pytest.param(lambda d: (d / "dir.csv").mkdir() or d / "dir.csv", "{p}: is a directory, not a history file",
                 id="a-directory"),
    pytest.param(_bad_timestamp, "{p}:3: timestamp 'yesterday' is not ISO-8601 or epoch seconds", id="bad-timestamp"),
    pytest.param(lambda d: (d / "x.parquet").write_text("not parquet") and d / "x.parquet",
                 "{p}: cannot read Parquet file: ", id="not-parquet"),
]


@pytest.mark.parametrize("make, message", FILE_REFUSALS)
def test_unusable_files_are_one_line_errors(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(errors.UserError) as info:
        load_history(path)
    text = str(info.value)
    assert text.startswith(message.format(p=path)) if message.endswith(": ") else text == message.format(p=path)
    assert "\n" not in text and info.value.exit_code == 2


def test_parquet_with_metadata_and_a_timestamp_index(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _frame().set_index("timestamp")
    table = pa.Table.from_pandas(frame)
    meta = {**(table.schema.metadata or {}), b"scalelab": json.dumps({"source": "prometheus", "step": "1m"}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "h.parquet")
    history = load_history(tmp_path / "h.parquet")
    assert dict(history.metadata) == {"source": "prometheus", "step": "1m"}
    assert len(history) == 100 and set(history.series) == {"qps", "replicas", "cpu_cores", "memory_bytes", "p95_ms"}
    assert calibrate(history).cpu.slope == pytest.approx(0.01 / 4 * 4, rel=1e-6)


def test_missing_values_stay_missing_and_unknown_columns_are_ignored(tmp_path):
    frame = _frame(extra=np.arange(100.0))
    frame.loc[5, "cpu_cores"] = np.nan
    history = load_history(_csv(tmp_path, frame))
    assert "extra" not in history.series and np.isnan(history.series["cpu_cores"][5])
    assert calibrate(history).cpu.n == 99


INFINITE = [
    pytest.param("h.csv", id="csv"),
    pytest.param("h.parquet", id="parquet"),
]


@pytest.mark.parametrize("name", INFINITE)
def test_infinite_p95_is_an_overloaded_sample_not_an_error(tmp_path, name):
    truth = synth.Truth()
    frame = synth.history(truth, days=1.0, rho=(0.2, 1.2))
    over = frame["p95_ms"] >= truth.timeout_ms
    frame.loc[over, "p95_ms"] = np.inf  # histogram_quantile beyond the largest bucket
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    else:
        frame.to_parquet(path, index=False)
    history = load_history(path)
    assert np.isposinf(history.series["p95_ms"]).sum() == int(over.sum()) > 0
    cal = calibrate(history)
    assert cal.latency.censored == int(over.sum()) + 1  # the largest finite p95 sits at the ceiling too
    assert cal.latency.ceiling_ms == pytest.approx(float(frame.loc[~over, "p95_ms"].max()))
    assert not cal.latency.ceiling_repeats and cal.latency.timeout_ms == 30000.0  # the true ceiling is unknown
    assert cal.latency.workers == truth.workers
    assert cal.latency.capacity_rps == pytest.approx(truth.capacity, rel=0.02)


def test_infinite_values_elsewhere_are_still_errors(tmp_path):
    frame = _frame()
    frame.loc[6, "cpu_cores"] = np.inf
    path = _csv(tmp_path, frame)
    with pytest.raises(errors.UserError) as info:
        load_history(path)
    assert str(info.value) == f"{path}:8: column 'cpu_cores': infinite value 'inf'"


def test_only_infinite_p95_skips_the_latency_fit():
    cal = calibrate(history_from_frame(_frame(p95_ms=np.full(100, np.inf))))
    assert cal.latency == Skipped("every p95_ms sample is +inf (beyond the histogram's largest bucket)")
