"""`scalelab backtest`: the table, --json, --out, --trace/--column, and every bad input as a
one-line error with exit code 2 and no output left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from workbench import backtest
from workbench.cli import main

REPO = Path(__file__).resolve().parents[2]
POLICY = str(REPO / "scenarios/policies/tiered.yaml")
SYNTH = str(REPO / "scenarios/synthetic-flash-crowd.yaml")
WIKI = str(REPO / "scenarios/wikipedia-2016-01.yaml")
SHORT = """name: short
trace: {csv: %(csv)s, column: requests_per_s}
service: {capacity_rps_per_pod: 100, startup_seconds: 30}
sla: {p95_ms: 300}
"""


def cli(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def short_trace(tmp_path):
    csv = tmp_path / "load.csv"
    rows = ["timestamp,requests_per_s,other"] + [f"2024-03-01T00:{m:02d}:00Z,{200 + 30 * (m % 7)},{m}" for m in range(60)]
    csv.write_text("\n".join(rows) + "\n")
    scen = tmp_path / "short.yaml"
    scen.write_text(SHORT % {"csv": csv})
    return csv, scen


def test_table_output(short_trace):
    _, scen = short_trace
    code, out, err = cli("backtest", "--policy", POLICY, "--scenario", str(scen))
    assert code == 0, err
    assert out.splitlines()[0] == "seed-tiered  on  short"
    for label in ("replica-hours", "cost / oracle", "seconds over SLO", "direction reversals", "θ_U", "jitter"):
        assert label in out


def test_json_has_every_required_key(short_trace):
    _, scen = short_trace
    code, out, _ = cli("backtest", "--policy", POLICY, "--scenario", str(scen), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(backtest.JSON_KEYS) <= data.keys()
    assert data["ticks"] == 240 and data["simulated_seconds"] == 3600  # 60 one-minute rows
    assert data["meta"]["policy_hash"] and data["meta"]["column"] == "requests_per_s"


def test_out_writes_records_scores_and_plot(short_trace, tmp_path):
    _, scen = short_trace
    out = tmp_path / "run"
    code, stdout, _ = cli("backtest", "--policy", POLICY, "--scenario", str(scen), "--out", str(out))
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["records.parquet", "scores.json", "timeline.png"]
    rec = pd.read_parquet(out / "records.parquet")
    assert len(rec) == 240 and "reason" in rec.columns
    assert json.loads((out / "scores.json").read_text())["ticks"] == 240
    assert (out / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_trace_and_column_replace_the_scenario_trace(short_trace):
    csv, _ = short_trace
    code, out, err = cli("backtest", "--policy", POLICY, "--scenario", WIKI, "--trace", str(csv),
                         "--column", "other", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["scenario"] == "wikipedia-2016-01" and data["ticks"] == 240
    assert data["meta"]["trace"] == str(csv) and data["meta"]["column"] == "other"


@pytest.mark.parametrize("make_args, message", [
    (lambda d: ["--policy", str(d / "nope.yaml"), "--scenario", SYNTH],
     "error: {d}/nope.yaml: cannot read policy: No such file or directory"),
    (lambda d: ["--policy", _write(d / "p.yaml", "kind: TieredPolicy\nspec:\n  replicas: {min: 1, max: 2}\n  rules:\n    - {name: a, when: cpuu > 1, action: {change: 1}}\n"), "--scenario", SYNTH],
     "error: {d}/p.yaml:5: spec.rules[0].when: unknown metric 'cpuu' (known: cpu, memory, qps, p95_ms)"),
    (lambda d: ["--policy", _write(d / "p.yaml", "kind: TieredPolicy\nspec: [\n"), "--scenario", SYNTH],
     "error: {d}/p.yaml:3: invalid YAML: expected the node content, but found '<stream end>'"),
    (lambda d: ["--policy", POLICY, "--scenario", _write(d / "s.yaml", "trace: {synthetic: {shape: flat}}\nservice: {capacity_rps_per_pod: -1}\n")],
     "error: {d}/s.yaml:1: trace.synthetic.shape: must be one of constant, ramp, diurnal, step, spikes-only, got 'flat' (and 2 more problems)"),
    (lambda d: ["--policy", POLICY, "--scenario", _write(d / "s.yaml", "service: {}\n")],
     "error: {d}/s.yaml:1: missing required key 'trace'"),
    (lambda d: ["--policy", POLICY, "--scenario", WIKI, "--trace", _write(d / "t.csv", "timestamp,requests_per_s\n2024-01-01T00:00:00Z,5\n2024-01-01T00:01:00Z,-3\n")],
     "error: {d}/t.csv:3: column 'requests_per_s': negative value '-3' (load cannot be negative)"),
    (lambda d: ["--policy", POLICY, "--scenario", WIKI, "--trace", _write(d / "t.csv", "timestamp,requests_per_s\n2024-01-01T00:00:00Z,5\n2024-01-01T00:01:00Z,7\n"), "--column", "rps"],
     "error: {d}/t.csv: no column 'rps' (columns: requests_per_s)"),
    (lambda d: ["--policy", POLICY, "--scenario", WIKI, "--column", "rps"],
     "Error: --column needs --trace"),
], ids=["missing-policy", "bad-metric", "bad-yaml", "bad-scenario", "scenario-no-trace", "negative-load",
        "missing-column", "column-without-trace"])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, make_args, message):
    out = tmp_path / "out"
    code, stdout, stderr = cli("backtest", *make_args(tmp_path), "--out", str(out))
    assert code == 2
    assert stderr.strip().splitlines()[-1] == message.format(d=tmp_path)
    assert "Traceback" not in stderr
    assert not out.exists()


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_real_process_exit_code_and_no_traceback(tmp_path):
    bad = _write(tmp_path / "p.yaml", "kind: TieredPolicy\nspec: {replicas: {min: 3, max: 1}, rules: [{name: a, when: cpu > 1, action: {change: 1}}]}\n")
    proc = subprocess.run([str(Path(sys.executable).with_name("scalelab")), "backtest", "--policy", bad,
                           "--scenario", SYNTH], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {bad}:2: spec.replicas.min: min (3) must be <= max (1)\n"
    assert proc.stdout == ""
