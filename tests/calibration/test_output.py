"""The calibrated ``service:`` YAML parses as a scenario's service (full and partial fits), the
numbers survive the round trip, the header carries the fit quality, files are written whole."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml

from tests.calibration import synth
from workbench.calibration import (
    calibrate,
    history_from_frame,
    report,
    service_yaml,
    summary_table,
    write_outputs,
)
from workbench.calibration.calibrate import Skipped
from workbench.sim.scenario import parse_scenario

WRAP = """name: calibrated
trace:
  synthetic: {shape: constant, base: 100}
%s
sla: {p95_ms: 500}
"""


def _scenario(text: str):
    return parse_scenario(WRAP % text, "calibrated.yaml")


@pytest.fixture(scope="module")
def full():
    frame = synth.history(synth.Truth(), rho=(0.1, 1.2))
    return calibrate(history_from_frame(frame, "synthetic.parquet", metadata={"source": "prometheus", "step": 60}),
                     cpu_request=0.5, memory_limit_mb=768.0)


def test_full_calibration_round_trips_through_the_scenario_parser(full):
    text = service_yaml(full)
    svc = _scenario(text).service
    lat, cpu, mem = full.latency, full.cpu, full.memory
    assert svc.workers_per_pod == lat.workers
    assert svc.service_time_ms == pytest.approx(lat.service_time_ms, rel=1e-4)
    assert svc.network_ms == pytest.approx(lat.network_ms, abs=0.01)
    assert svc.timeout_ms == 30000.0
    assert svc.capacity_rps == pytest.approx(lat.capacity_rps, rel=1e-4)
    assert (svc.cpu_idle_cores, svc.cpu_per_rps) == pytest.approx((cpu.intercept, cpu.slope), rel=1e-4)
    assert (svc.memory_base_mb, svc.memory_per_rps_mb) == pytest.approx((mem.intercept, mem.slope), rel=1e-4)
    assert (svc.cpu_request_cores, svc.memory_limit_mb) == (0.5, 768.0)
    assert yaml.safe_load(text) == {"service": {
        "latency": {"model": "mmc", "workers_per_pod": lat.workers, "service_time_ms": pytest.approx(lat.service_time_ms, rel=1e-4),
                    "network_ms": pytest.approx(lat.network_ms, abs=0.01), "timeout_ms": 30000},
        "cpu": {"per_rps": pytest.approx(cpu.slope, rel=1e-4), "idle": pytest.approx(cpu.intercept, rel=1e-4), "request": 0.5},
        "memory": {"base_mb": pytest.approx(mem.intercept, rel=1e-4), "per_rps_mb": pytest.approx(mem.slope, rel=1e-4),
                   "limit_mb": 768}}}


def test_header_carries_source_range_and_fit_quality(full):
    text = service_yaml(full)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == "# scalelab calibrate: a service model fitted from metrics history"
    assert "# source: synthetic.parquet" in header
    assert "# range: 2024-03-01T00:00:00Z .. 2024-03-03T23:59:00Z (4,320 samples, every 1m)" in header
    assert "# fetched: source=prometheus, step=60" in header
    for name in ("cpu", "memory", "latency"):
        line = next(h for h in header if h.startswith(f"#   {name} "))
        assert re.search(r"n=[\d,]+ +R2(\(log\))?=0\.\d{4} +MAPE=\d+\.\d\d%", line), line
    assert any(h.startswith("# capacity: 100 req/s per pod = 4 workers x 1000 / 40") for h in header)
    assert any("overloaded samples at the 30000 ms ceiling fitted as lower bounds" in h for h in header)
    assert all(not line.startswith("#") or len(line) < 250 for line in text.splitlines())


PARTIAL = [
    pytest.param({"p95_ms": None}, None, None, "  # latency and capacity not fitted: no p95_ms column", id="no-latency"),
    pytest.param({"cpu_cores": None, "memory_bytes": None}, None, None,
                 "  # cpu not fitted: no cpu_cores or cpu column", id="latency-only"),
    pytest.param({}, None, None, "    # request not known: pass --cpu-request CORES (the scenario default 1.0 applies)",
                 id="request-unknown"),
    pytest.param({}, 2.0, None, "    request: 2   # --cpu-request", id="request-given"),
]


@pytest.mark.parametrize("drop, cpu_request, limit, expected_line", PARTIAL)
def test_partial_fits_leave_fields_out_with_a_comment_and_still_parse(drop, cpu_request, limit, expected_line):
    frame = synth.history(synth.Truth(), days=1.0)
    frame = frame.drop(columns=[c for c in drop])
    cal = calibrate(history_from_frame(frame), cpu_request=cpu_request, memory_limit_mb=limit)
    text = service_yaml(cal)
    assert expected_line in text.splitlines()
    svc = _scenario(text).service
    if isinstance(cal.latency, Skipped):
        assert (svc.workers_per_pod, svc.service_time_ms) == (4, 25.0)  # the parser's defaults
    if isinstance(cal.cpu, Skipped):
        assert (svc.cpu_idle_cores, svc.cpu_per_rps) == (0.05, 0.006)
    else:
        assert svc.cpu_per_rps == pytest.approx(cal.cpu.slope, rel=1e-4)
        assert svc.cpu_request_cores == (cpu_request or 1.0)


NUMBERS = [
    pytest.param(1e-05, "0.00001", id="tiny-no-exponent"),
    pytest.param(0.0075, "0.0075", id="small"),
    pytest.param(25.0, "25", id="integer-valued"),
    pytest.param(123456.789, "123460", id="five-significant"),
    pytest.param(1.23456789e-07, "0.00000012346", id="very-small"),
]


@pytest.mark.parametrize("value, text", NUMBERS)
def test_numbers_are_plain_yaml_floats(value, text):
    assert report.number(value) == text
    assert isinstance(yaml.safe_load(f"v: {text}")["v"], (int, float))


def test_outputs_are_written_whole_and_the_summary_is_readable(full, tmp_path):
    out = tmp_path / "deep" / "service.yaml"
    written = write_outputs(full, out, tmp_path / "deep" / "fit.png")
    assert written == [out, tmp_path / "deep" / "fit.png"]
    assert out.read_text() == service_yaml(full)
    assert (tmp_path / "deep" / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["fit.png", "service.yaml"]  # no temp files
    table = summary_table(full)
    for needle in ("history   synthetic.parquet", "fit      parameters", "cpu      idle 0.08", "memory   base 250",
                   "latency  workers 4  service 40 ms", "plausible workers 4-4"):
        assert needle in table, needle


def test_a_failed_write_leaves_nothing_behind(full, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "plot", boom)
    with pytest.raises(RuntimeError):
        write_outputs(full, tmp_path / "service.yaml", tmp_path / "service.png")
    assert list(tmp_path.iterdir()) == []


def test_figure_has_the_three_fits_and_replicas(full, tmp_path):
    import matplotlib.image as mpimg

    path = report.plot(full, tmp_path / "f.png")
    image = mpimg.imread(path)
    assert image.shape[0] > 800 and image.shape[1] > 1200
    assert np.isfinite(image).all()


def test_metadata_that_is_not_a_mapping_is_kept_under_its_key():
    frame = synth.history(synth.Truth(), days=1.0)
    cal = calibrate(history_from_frame(frame, metadata=json.loads('{"scalelab": "v1"}')))
    assert "# fetched: scalelab=v1" in service_yaml(cal)


def test_an_unidentified_capacity_is_flagged_where_it_is_pasted():
    frame = synth.history(synth.Truth(8, 50.0, 3.0), days=1.0, rho=(0.02, 0.3))
    text = service_yaml(calibrate(history_from_frame(frame)))
    cautions = [line for line in text.splitlines() if line.startswith("  # CAUTION: ")]
    assert len(cautions) == 1 and cautions[0].startswith("  # CAUTION: capacity not identified: p95 hardly rises")
    assert "(plausible workers " in text and "capacity not identified)" in text
    assert _scenario(text).service.workers_per_pod >= 1


def test_fetch_provenance_comes_first_in_the_header():
    meta = {"format": "scalelab.fetch/v1", "queries": {"qps": "sum(rate(http_requests_total[2m]))"},
            "server": "http://prometheus:9090", "start": "2024-03-01T00:00:00Z", "end": "2024-03-02T00:00:00Z",
            "step_seconds": 60, "points": 1440, "warnings": []}
    cal = calibrate(history_from_frame(synth.history(synth.Truth(), days=1.0), "fetched.parquet", metadata=meta))
    assert ("# fetched: server=http://prometheus:9090, start=2024-03-01T00:00:00Z, end=2024-03-02T00:00:00Z, "
            "step_seconds=60, format=scalelab.fetch/v1, points=1440") in service_yaml(cal).splitlines()
