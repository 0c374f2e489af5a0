"""Sweep execution with real components: the local process pool, a real Dask LocalCluster giving
the identical table, the resume cache (interrupted and deleted runs), aggregation over several
scenarios, invalid variants, best/closest choice and the outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from workbench import backtest
from workbench.core import errors, loading
from workbench.scoring.scores import SCORE_KEYS
from workbench.sweep import pareto_front, run_sweep
from workbench.sweep.run import parse_executor, run_key

REPO = Path(__file__).resolve().parents[2]
BASE = str(REPO / "scenarios/policies/tiered.yaml")
AZURE = str(REPO / "scenarios/azure-llm-conv.yaml")

SPACE = """parameters:
  - name: gentle_cpu
    path: spec.rules[1].when.any[0]
    template: "cpu > {value}"
    values: [0.55, 0.7, 0.8]
  - name: max_step_up
    path: spec.limits.maxStepUp
    range: {min: 1, max: 2, step: 1}
minimize: cost_replica_hours
constraints: ["sla_violation_request_share <= 0.1"]
"""


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(SPACE)
    return str(path)


@pytest.fixture(scope="module")
def local(space_file, tmp_path_factory):
    """The reference: 6 variants + the base on the short Azure scenario, 2 local processes."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    return run_sweep(BASE, space_file, [AZURE], out, workers=2)


def test_outputs_and_counts(local):
    out = local.out
    assert sorted(p.name for p in out.iterdir()) == ["best.yaml", "pareto.png", "results.csv", "results.parquet",
                                                     "runs", "sweep.json"]
    assert len(list((out / "runs").glob("*.json"))) == 7
    assert local.counts == {"variants": 6, "valid": 6, "invalid": 0, "feasible": 2, "on_front": 7, "runs": 7,
                            "distinct_runs": 7, "executed": 7, "reused": 0}
    table = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(table, local.table)
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(table.columns)
    assert list(table.columns[:10]) == ["variant", "is_base", "gentle_cpu", "max_step_up", "objective", "feasible",
                                        "on_front", "best", "violations", "error"]
    assert set(SCORE_KEYS) <= set(table.columns)
    assert list(table["variant"]) == ["base", "v0001", "v0002", "v0003", "v0004", "v0005", "v0006"]
    assert list(zip(table["gentle_cpu"], table["max_step_up"])) == [(0.7, 2), (0.55, 1), (0.55, 2), (0.7, 1),
                                                                     (0.7, 2), (0.8, 1), (0.8, 2)]


def test_each_row_equals_a_direct_backtest_of_its_variant(local):
    scenario = backtest.load_scenario(AZURE)
    texts = {v.id: v.text for v in local.variants}
    for _, row in local.table.iterrows():
        policy = backtest.LoadedPolicy(loading.load_policy_text(texts[row["variant"]]), "x", texts[row["variant"]])
        scores = backtest.run(policy, scenario).scores
        for key in SCORE_KEYS:
            if scores[key] is None:
                assert pd.isna(row[key]), key
            else:
                assert row[key] == scores[key], (row["variant"], key)


def test_feasibility_front_and_best(local):
    t = local.table
    assert list(t["feasible"]) == list(t["sla_violation_request_share"] <= 0.1)
    assert list(t["objective"]) == list(t["cost_replica_hours"])
    assert list(t["on_front"]) == pareto_front(list(zip(t["cost_replica_hours"], t["sla_violation_seconds"])))
    feasible = t[t["feasible"]]
    best = feasible.sort_values(["objective", "sla_violation_seconds", "cost_replica_hours"], kind="stable").iloc[0]
    assert list(t.loc[t["best"], "variant"]) == [best["variant"]] == [local.best["variant"]]
    assert t.loc[~t["feasible"], "violations"].eq("sla_violation_request_share <= 0.1").all()
    assert t.loc[t["feasible"], "violations"].eq("").all()
    summary = json.loads((local.out / "sweep.json").read_text())
    assert summary["best"]["variant"] == best["variant"] and summary["best"]["file"] == "best.yaml"
    assert summary["counts"] == local.counts and summary["closest"] is None and summary["message"] is None
    assert summary["objective"] == {"minimize": "cost_replica_hours", "aggregation": "sum"}
    assert summary["constraints"] == ["sla_violation_request_share <= 0.1"]
    assert [p["name"] for p in summary["space"]["parameters"]] == ["gentle_cpu", "max_step_up"]
    assert summary["front"] == list(t.loc[t["on_front"], "variant"])


def test_best_yaml_is_a_ready_policy_with_a_header(local):
    text = (local.out / "best.yaml").read_text()
    best = local.table[local.table["best"]].iloc[0]
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == f"# scalelab sweep: best feasible variant {best['variant']} of 6 (+ the base policy)"
    assert f"#   gentle_cpu = {best['gentle_cpu']:g}  (spec.rules[1].when.any[0])" in header
    assert f"#   max_step_up = {best['max_step_up']}  (spec.limits.maxStepUp)" in header
    assert "# minimize cost_replica_hours subject to sla_violation_request_share <= 0.1" in header
    policy = backtest.load_policy(local.out / "best.yaml")
    assert policy.name == "seed-tiered-best"
    assert policy.spec.limits.max_step_up == best["max_step_up"]
    scores = backtest.run(policy, backtest.load_scenario(AZURE)).scores
    assert scores["cost_replica_hours"] == best["cost_replica_hours"]


def test_dask_local_cluster_gives_the_identical_table(local, space_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = "dask://" + cluster.scheduler_address.removeprefix("tcp://")
        result = run_sweep(BASE, space_file, [AZURE], tmp_path / "dask", executor=address, plot=False)
    assert result.executed == 7 and result.reused == 0
    pd.testing.assert_frame_equal(result.table, local.table)
    assert result.best == local.best
    assert json.loads((tmp_path / "dask" / "sweep.json").read_text())["workers"] == 2
    # the stored runs are the same files (names and scores)
    ours = {p.name: json.loads(p.read_text())["scores"] for p in (tmp_path / "dask" / "runs").glob("*.json")}
    ref = {p.name: json.loads(p.read_text())["scores"] for p in (local.out / "runs").glob("*.json")}
    assert ours == ref


class Stop(Exception):
    pass


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_sweep_resumes_from_its_finished_runs(local, space_file, tmp_path, workers):
    out = tmp_path / "sweep"

    def stop_after_3(done, total):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(BASE, space_file, [AZURE], out, workers=workers, plot=False, on_result=stop_after_3)
    assert len(list((out / "runs").glob("*.json"))) == 3
    assert not (out / "results.csv").exists()
    again = run_sweep(BASE, space_file, [AZURE], out, workers=workers, plot=False)
    assert (again.executed, again.reused) == (4, 3)
    pd.testing.assert_frame_equal(again.table, local.table)
    # delete two stored runs: exactly those two run again
    for path in sorted((out / "runs").glob("*.json"))[:2]:
        path.unlink()
    again = run_sweep(BASE, space_file, [AZURE], out, workers=workers, plot=False)
    assert (again.executed, again.reused) == (2, 5)
    # nothing missing: nothing runs
    again = run_sweep(BASE, space_file, [AZURE], out, workers=workers, plot=False)
    assert (again.executed, again.reused) == (0, 7)
    pd.testing.assert_frame_equal(again.table, local.table)


def test_a_corrupt_or_foreign_run_file_is_run_again(local, space_file, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(local.out / "runs", out / "runs")
    files = sorted((out / "runs").glob("*.json"))
    files[0].write_text("{not json")
    record = json.loads(files[1].read_text())
    record["key"] = "something else"
    files[1].write_text(json.dumps(record))
    (out / "runs" / f".{files[2].name}.abc.tmp").write_text("half")  # an interrupted write
    again = run_sweep(BASE, space_file, [AZURE], out, workers=1, plot=False)
    assert (again.executed, again.reused) == (2, 5)
    assert not list((out / "runs").glob(".*"))
    pd.testing.assert_frame_equal(again.table, local.table)


def test_run_files_are_named_by_variant_text_and_scenario_content(local):
    scen = Path(AZURE).read_bytes()
    names = sorted(p.stem for p in (local.out / "runs").glob("*.json"))
    assert names == sorted(run_key(v.text, scen) for v in local.variants)
    assert run_key("a", b"b") != run_key("a", b"c") != run_key("b", b"b")
    record = json.loads((local.out / "runs" / f"{run_key(local.variants[0].text, scen)}.json").read_text())
    assert record["scenario"] == "azure-llm-conv" and record["policy_hash"] == loading.policy_hash(
        local.variants[0].text)


def test_a_changed_space_reuses_the_runs_it_shares(local, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(local.out / "runs", out / "runs")
    grown = tmp_path / "grown.yaml"
    grown.write_text(SPACE.replace("values: [0.55, 0.7, 0.8]", "values: [0.55, 0.7, 0.8, 0.9]"))
    result = run_sweep(BASE, grown, [AZURE], out, workers=1, plot=False)
    assert (result.executed, result.reused) == (2, 7)  # 0.9 x {1, 2} are new


def test_scores_are_aggregated_over_scenarios(local, space_file, tmp_path):
    other = tmp_path / "azure-seed5.yaml"
    text = Path(AZURE).read_text().replace("csv: ../data/traces/", f"csv: {REPO}/data/traces/")
    other.write_text(text.replace("name: azure-llm-conv", "name: azure-seed5").replace("seed: 3", "seed: 5"))
    result = run_sweep(BASE, space_file, [AZURE, str(other)], tmp_path / "two", workers=1, plot=False)
    assert result.scenarios == ["azure-llm-conv", "azure-seed5"]
    assert (result.executed, result.reused) == (14, 0)
    runs = {json.loads(p.read_text())["key"]: json.loads(p.read_text())["scores"]
            for p in (tmp_path / "two" / "runs").glob("*.json")}
    texts = {v.id: v.text for v in result.variants}
    assert len(runs) == 14
    for _, row in result.table.iterrows():
        a = runs[run_key(texts[row["variant"]], Path(AZURE).read_bytes())]
        b = runs[run_key(texts[row["variant"]], other.read_bytes())]
        assert row["cost_replica_hours"] == a["cost_replica_hours"] + b["cost_replica_hours"]
        assert row["sla_violation_seconds"] == a["sla_violation_seconds"] + b["sla_violation_seconds"]
        assert row["scale_events"] == a["scale_events"] + b["scale_events"]
        assert row["sla_violation_request_share"] == max(a["sla_violation_request_share"],
                                                         b["sla_violation_request_share"])


def test_invalid_variants_are_reported_and_not_run(tmp_path):
    space = tmp_path / "s.yaml"
    space.write_text("parameters:\n  - {name: up, path: spec.limits.maxStepUp, values: [0, 2]}\n"
                     "maximize: mean(theta_u)\nconstraints: ['max(flaps) <= 1000']\n")
    result = run_sweep(BASE, space, [AZURE], tmp_path / "out", workers=1, plot=False)
    t = result.table
    assert result.counts["invalid"] == 1 and result.executed == 2  # base + the valid variant
    bad = t[t["variant"] == "v0001"].iloc[0]
    assert bad["error"] == "spec.limits.maxStepUp: must be >= 1, got 0"
    assert not bad["feasible"] and not bad["on_front"] and pd.isna(bad["cost_replica_hours"])
    assert {"mean(theta_u)", "max(flaps)"} <= set(t.columns)
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert summary["invalid"] == [{"variant": "v0001", "params": {"up": 0},
                                   "error": "spec.limits.maxStepUp: must be >= 1, got 0"}]
    assert summary["objective"] == {"maximize": "mean(theta_u)", "aggregation": "mean"}


def test_no_feasible_variant_names_the_closest_and_writes_no_best(local, space_file, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local.out, out)  # a stale best.yaml from an earlier sweep must go
    space = tmp_path / "tight.yaml"
    space.write_text(SPACE.replace("<= 0.1", "<= 0.01"))
    result = run_sweep(BASE, space, [AZURE], out, workers=1, plot=False)
    assert result.best is None and result.executed == 0
    closest = result.table.loc[result.table["variant"] == result.closest["variant"]].iloc[0]
    assert result.closest["variant"] == "v0001"  # lowest share: 0.55 / step 1 (first of equals)
    assert result.message == (
        "no feasible variant: none of the 6 variants nor the base policy meets every constraint; closest: v0001 "
        f"(gentle_cpu=0.55, max_step_up=1): sla_violation_request_share = "
        f"{closest['sla_violation_request_share']:.4g} (needs <= 0.01)")
    assert not (out / "best.yaml").exists()
    assert json.loads((out / "sweep.json").read_text())["best"] is None


def test_flag_errors():
    assert parse_executor("local") == ("local", None)
    assert parse_executor("dask://10.0.0.5:8786") == ("dask", "tcp://10.0.0.5:8786")
    for bad in ("dask://host", "dask://:8786", "tcp://h:1", "dask://h:99999", "threads"):
        with pytest.raises(errors.UserError) as info:
            parse_executor(bad)
        assert str(info.value) == f"--executor: expected 'local' or 'dask://HOST:PORT', got '{bad}'"
    with pytest.raises(errors.UserError, match=r"^--workers: only for --executor local"):
        run_sweep(BASE, "x", [AZURE], "o", executor="dask://h:1", workers=2)
    with pytest.raises(errors.UserError, match=r"^--scenarios: give at least one scenario file$"):
        run_sweep(BASE, "x", [], "o")
