"""`scalelab compare`: every policy on every scenario, parallel or not, same numbers; outputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from workbench import backtest, compare
from workbench.cli import main

REPO = Path(__file__).resolve().parents[2]
POLICIES = [str(REPO / "scenarios/policies/tiered.yaml"), str(REPO / "scenarios/policies/hpa-default.yaml")]
SCENARIOS = [str(REPO / "scenarios/azure-llm-conv.yaml"), str(REPO / "scenarios/synthetic-flash-crowd.yaml")]


def test_compare_writes_table_figures_and_records(tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", "--policies", *POLICIES, "--scenarios", *SCENARIOS,
                                       "--out", str(out), "--workers", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "cost_vs_sla.png", "records", "results.csv", "results.parquet",
        "timeline-azure-llm-conv.png", "timeline-synthetic-flash-crowd.png"]
    table = pd.read_parquet(out / "results.parquet")
    assert list(zip(table["scenario"], table["policy"])) == [
        ("azure-llm-conv", "seed-tiered"), ("azure-llm-conv", "hpa-cpu60"),
        ("synthetic-flash-crowd", "seed-tiered"), ("synthetic-flash-crowd", "hpa-cpu60")]
    # each row equals a single backtest of that pair
    single = backtest.run(backtest.load_policy(POLICIES[1]), backtest.load_scenario(SCENARIOS[1])).scores
    row = table.iloc[3]
    for key in backtest.JSON_KEYS:
        assert row[key] == single[key], key
    assert len(list((out / "records").glob("*.parquet"))) == 4


def test_parallel_and_serial_give_identical_tables():
    a = compare.run_matrix(POLICIES, SCENARIOS[:1], workers=1)
    b = compare.run_matrix(POLICIES, SCENARIOS[:1], workers=2)
    pd.testing.assert_frame_equal(a.drop(columns="wall_seconds"), b.drop(columns="wall_seconds"))


def test_a_bad_file_fails_before_any_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: TieredPolicy\nspec: {}\n")
    result = CliRunner().invoke(main, ["compare", "--policies", POLICIES[0], str(bad), "--scenarios", SCENARIOS[0],
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {bad}:2: spec: missing required key 'replicas' (and 1 more problem)"
    assert not (tmp_path / "o").exists()
