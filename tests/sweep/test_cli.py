"""`scalelab sweep`: exit codes 0 / 1 / 2 with one-line errors, the printed summary, the outputs,
and best.yaml running through `scalelab backtest`."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from workbench import cli
from workbench.sweep.cli import sweep_command

REPO = Path(__file__).resolve().parents[2]
BASE = str(REPO / "scenarios/policies/tiered.yaml")
AZURE = str(REPO / "scenarios/azure-llm-conv.yaml")
SPACE = """parameters:
  - name: gentle_cpu
    path: spec.rules[1].when.any[0]
    template: "cpu > {value}"
    values: [0.55, 0.8]
constraints: ["sla_violation_request_share <= %s"]
"""

if cli.main.get_command(click.Context(cli.main), "sweep") is None:  # until it is registered (entry point)
    cli.main.add_command(sweep_command)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, ["sweep", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def space(tmp_path):
    def make(bound: str = "0.1") -> str:
        path = tmp_path / f"space-{bound}.yaml"
        path.write_text(SPACE % bound)
        return str(path)
    return make


def test_success_prints_the_best_and_writes_everything(space, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run("--policy", BASE, "--space", space(), "--scenarios", AZURE, "--out", str(out),
                               "--workers", "2")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("sweep: 2 variants (grid) + the base on 1 scenario: 3 runs, 3 executed, 0 reused "
                               "(local, ")
    assert lines[1] == "valid 2, invalid 0; feasible 1; on the Pareto front 3"
    assert lines[2].startswith("best: v0001 (minimize cost_replica_hours = ")
    assert lines[2].endswith("): gentle_cpu=0.55")
    assert lines[3].split()[0] == "cost_replica_hours" and "base" in lines[3]
    assert lines[-1] == f"wrote {out}/results.csv, results.parquet, pareto.png, best.yaml, sweep.json, runs/"
    assert sorted(p.name for p in out.iterdir()) == ["best.yaml", "pareto.png", "results.csv", "results.parquet",
                                                     "runs", "sweep.json"]
    # the best policy is ready to use
    result = CliRunner().invoke(cli.main, ["backtest", "--policy", str(out / "best.yaml"), "--scenario", AZURE,
                                           "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["policy"] == "seed-tiered-best"
    assert data["cost_replica_hours"] == json.loads((out / "sweep.json").read_text())["best"]["scores"][
        "cost_replica_hours"]
    # a rerun reuses every run
    code, stdout, _ = run("--policy", BASE, "--space", space(), "--scenarios", AZURE, "--out", str(out), "--no-plot")
    assert code == 0 and ": 3 runs, 0 executed, 3 reused (local, " in stdout.splitlines()[0]


def test_no_feasible_variant_exits_1_naming_the_closest(space, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run("--policy", BASE, "--space", space("0.001"), "--scenarios", AZURE, "--out", str(out),
                               "--workers", "1", "--no-plot")
    assert code == 1
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith("error: no feasible variant: none of the 2 variants nor the base policy meets every "
                             "constraint; closest: v0001 (gentle_cpu=0.55): sla_violation_request_share = ")
    assert stderr.rstrip().endswith("(needs <= 0.001)")
    assert stdout.splitlines()[-1] == f"wrote {out}/results.csv, results.parquet, sweep.json, runs/"
    assert (out / "results.csv").exists() and not (out / "best.yaml").exists()


@pytest.mark.parametrize("args,message", [
    (["--samples", "0"], "error: Invalid value for '--samples': 0 is not in the range 1<=x<=10000000."),
    (["--workers", "x"], "error: Invalid value for '--workers': 'x' is not a valid integer range."),
    (["--executor", "spark://h:1"], "error: --executor: expected 'local' or 'dask://HOST:PORT', got 'spark://h:1'"),
    (["--bogus"], "error: No such option '--bogus'. Did you mean '--out'?"),
])
def test_bad_flags_exit_2_in_one_line(space, tmp_path, args, message):
    code, stdout, stderr = run("--policy", BASE, "--space", space(), "--scenarios", AZURE, "--out",
                               str(tmp_path / "o"), *args)
    assert (code, stderr.strip(), stdout) == (2, message, "")
    assert not (tmp_path / "o").exists()


def test_missing_option_exits_2(tmp_path):
    code, _, stderr = run("--policy", BASE, "--scenarios", AZURE, "--out", str(tmp_path / "o"))
    assert (code, stderr.strip()) == (2, "error: Missing option '--space'.")


def test_bad_space_file_exits_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters:\n  - path: spec.limits.maxStepUpp\n    values: [1, 2]\n")
    code, stdout, stderr = run("--policy", BASE, "--space", str(bad), "--scenarios", AZURE, "--out",
                               str(tmp_path / "o"))
    assert code == 2 and stdout == ""
    assert stderr.strip() == (f"error: {bad}:2: parameters[0].path: 'spec.limits.maxStepUpp' is not in the base "
                              f"policy: spec.limits has no key 'maxStepUpp'; did you mean 'maxStepUp'?")


def test_bad_policy_and_scenario_exit_2(space, tmp_path):
    code, _, stderr = run("--policy", str(tmp_path / "none.yaml"), "--space", space(), "--scenarios", AZURE,
                          "--out", str(tmp_path / "o"))
    assert (code, stderr.strip()) == (2, f"error: {tmp_path / 'none.yaml'}: cannot read policy: No such file or "
                                         f"directory")
    code, _, stderr = run("--policy", BASE, "--space", space(), "--scenarios", AZURE, str(tmp_path / "nope.yaml"),
                          "--out", str(tmp_path / "o"))
    assert (code, stderr.strip()) == (2, f"error: {tmp_path / 'nope.yaml'}: cannot read scenario: No such file or "
                                         f"directory")
    assert not (tmp_path / "o").exists()


def test_out_must_be_a_folder(space, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, stderr = run("--policy", BASE, "--space", space(), "--scenarios", AZURE, "--out", str(tmp_path / "file"))
    assert (code, stderr.strip()) == (2, f"error: Invalid value for '--out': Directory '{tmp_path / 'file'}' is a "
                                         f"file.")


def test_bundled_spaces_load_through_the_cli_with_samples(tmp_path):
    out = tmp_path / "hpa"
    code, stdout, stderr = run("--policy", str(REPO / "scenarios/policies/hpa-default.yaml"), "--space",
                               str(REPO / "scenarios/spaces/hpa-target.yaml"), "--scenarios", AZURE, "--out", str(out),
                               "--samples", "2", "--seed", "1", "--no-plot")
    assert code in (0, 1), stderr
    assert stdout.startswith("sweep: 2 variants (grid) + the base on 1 scenario: 3 runs, 3 executed")
