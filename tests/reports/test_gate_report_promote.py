"""The regression gate, the report, and promote: a worse candidate fails with named regressions,
a better one passes, and promote refuses anything the gate did not pass."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from workbench import compare, promote
from workbench.cli import main
from workbench.core import errors, loading
from workbench.reports import gate

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [str(REPO / "scenarios/azure-llm-conv.yaml"), str(REPO / "scenarios/synthetic-flash-crowd.yaml")]
SEED = (REPO / "scenarios/policies/tiered.yaml").read_text()
# a deliberately worse variant of the seed: slow to react (one pod at a time, 5 minutes apart)
SLOW = SEED.replace("name: seed-tiered", "name: slow-tiered").replace("maxStepUp: 2", "maxStepUp: 1") \
    .replace("minSecondsBetweenChanges: 60", "minSecondsBetweenChanges: 300")
THRESHOLDS = "thresholds:\n  sla_violation_seconds: {max_increase: 0}\n  direction_reversals: {max_increase: 2}\n" \
             "  cost_replica_hours: {max_increase_pct: 25}\n"


def cli(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    (d / "seed.yaml").write_text(SEED)
    (d / "slow.yaml").write_text(SLOW)
    (d / "thresholds.yaml").write_text(THRESHOLDS)
    for name in ("seed", "slow"):
        out = d / f"cmp-{name}"
        code, _, err = cli("compare", "--policies", str(d / f"{name}.yaml"), "--scenarios", *SCENARIOS,
                           "--out", str(out), "--workers", "2")
        assert code == 0, err
    return d


def test_worse_candidate_fails_naming_each_regression(runs):
    code, out, err = cli("report", "--results", str(runs / "cmp-slow"), "--baseline", str(runs / "cmp-seed"),
                         "--thresholds", str(runs / "thresholds.yaml"), "--out", str(runs / "rep-slow"))
    assert code == 1
    assert out.strip().splitlines()[-1].startswith("gate: FAILED")
    seed = pd.read_csv(runs / "cmp-seed" / "results.csv").set_index("scenario")
    slow = pd.read_csv(runs / "cmp-slow" / "results.csv").set_index("scenario")
    expected = []
    for scen in slow.index:
        b, c = seed.loc[scen, "sla_violation_seconds"], slow.loc[scen, "sla_violation_seconds"]
        if c > b:
            expected.append(f"regression: {scen} / slow-tiered: sla_violation_seconds {b:g} -> {c:g} ({c - b:+g}; allowed +0)")
    assert expected, "the slow policy must miss the SLO more somewhere"
    assert [l for l in err.splitlines() if "sla_violation_seconds" in l] == expected
    report = json.loads((runs / "rep-slow" / "report.json").read_text())
    assert report["passed"] is False and len(report["regressions"]) == len(err.strip().splitlines())
    md = (runs / "rep-slow" / "summary.md").read_text()
    assert "**Gate: FAILED**" in md and "❌" in md
    html = (runs / "rep-slow" / "report.html").read_text()
    assert "Gate: FAILED" in html and "data:image/png;base64," in html and "src='http" not in html


def test_better_candidate_passes(runs):
    code, out, err = cli("report", "--results", str(runs / "cmp-seed"), "--baseline", str(runs / "cmp-slow"),
                         "--thresholds", str(runs / "thresholds.yaml"), "--out", str(runs / "rep-seed"))
    assert (code, out.strip().splitlines()[-1]) == (0, "gate: PASSED"), err
    assert json.loads((runs / "rep-seed" / "report.json").read_text())["passed"] is True


def test_promote_refuses_ungated_and_failed_and_accepts_passed(runs, tmp_path):
    target = tmp_path / "live" / "policy.yaml"
    # no report at all
    code, _, err = cli("promote", "--policy", str(runs / "seed.yaml"), "--results", str(runs / "cmp-seed"),
                       "--to", f"file:{target}")
    assert code == 2 and "no report.json" in err and not target.exists()
    # gated, but the gate failed
    code, _, err = cli("promote", "--policy", str(runs / "slow.yaml"), "--results", str(runs / "rep-slow"),
                       "--to", f"file:{target}")
    assert code == 2 and err.startswith(f"error: refusing to promote {runs / 'slow.yaml'}: the gate failed") \
        and not target.exists()
    # passed gate, but a different policy text
    other = tmp_path / "other.yaml"
    other.write_text(SEED.replace("maxStepDown: 1", "maxStepDown: 2"))
    code, _, err = cli("promote", "--policy", str(other), "--results", str(runs / "rep-seed"), "--to", f"file:{target}")
    assert code == 2 and "it is not among the candidates gated" in err and not target.exists()
    # the gated policy itself
    code, out, err = cli("promote", "--policy", str(runs / "seed.yaml"), "--results", str(runs / "rep-seed"),
                         "--to", f"file:{target}")
    assert code == 0, err
    assert target.read_text() == SEED
    audit = [json.loads(l) for l in (Path(str(target) + ".audit.jsonl")).read_text().splitlines()]
    assert audit[0]["policy_hash"] == loading.policy_hash(SEED) and audit[0]["gate"] == "passed"
    assert audit[0]["baseline"] == str(runs / "cmp-slow") and audit[0]["scores"]
    assert (runs / "rep-seed" / "promotions.jsonl").exists()


def test_promote_target_must_be_file_or_configmap(runs):
    with pytest.raises(errors.UserError, match="expected file:PATH or configmap:NAMESPACE/NAME"):
        promote.promote(runs / "seed.yaml", runs / "rep-seed", "s3:bucket", now=_dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("text, message", [
    ("thresholds: {cost_replica_hours: {max_up: 5}}\n", "t.yaml:1: thresholds.cost_replica_hours.max_up: unknown key 'max_up'; did you mean 'max'?"),
    ("thresholds: {cost_replica_hours: {max_increase_pct: -5}}\n", "t.yaml:1: thresholds.cost_replica_hours.max_increase_pct: must be >= 0, got -5"),
    ("thresholds: [1]\n", "t.yaml:1: thresholds: expected a mapping of score names, got list"),
    ("limits: {}\n", "t.yaml:1: limits: unknown key 'limits' (allowed: thresholds)"),
])
def test_threshold_file_errors(text, message):
    with pytest.raises(errors.SpecError) as info:
        gate.parse_thresholds(text, "t.yaml")
    assert str(info.value.problems[0]) == message


def test_gate_rules_on_hand_made_tables():
    base = pd.DataFrame([{"scenario": "s", "policy": "p", "cost_replica_hours": 100.0, "sla_violation_seconds": 10.0,
                          "direction_reversals": 3}])
    cand = base.assign(cost_replica_hours=106.0, sla_violation_seconds=10.0, direction_reversals=4)
    v = gate.evaluate(cand, base)
    assert [str(r) for r in v.regressions] == [
        "s / p: direction_reversals 3 -> 4 (+1; allowed +0)",
        "s / p: cost_replica_hours 100 -> 106 (+6; allowed +5%)"]
    v = gate.evaluate(cand, base, {"cost_replica_hours": {"max_increase_pct": 10, "max": 105}})
    assert [str(r) for r in v.regressions] == ["s / p: cost_replica_hours 100 -> 106 (+6; allowed <= 105)"]
    assert gate.evaluate(base, base).passed
    other = cand.assign(scenario="t")
    assert gate.evaluate(other, base).unmatched == ("t",)


def test_promote_to_a_configmap_through_the_kubernetes_api(runs):
    """configmap:NS/NAME: created when missing, updated in place later, with hash/audit annotations
    (against the stateful API emulator, through the official client)."""
    from controller.testing import KubeEmulator

    with KubeEmulator() as kube:
        record = promote.promote(runs / "seed.yaml", runs / "rep-seed", "configmap:shop/scalelab-policy",
                                 now=_dt.datetime(2026, 11, 27, tzinfo=_dt.timezone.utc), kube_client=kube.client())
        cm = kube.get("configmaps", "shop", "scalelab-policy")
        assert cm["data"]["policy.yaml"] == SEED
        assert cm["metadata"]["annotations"]["scalelab.io/policy-hash"] == record["policy_hash"]
        assert json.loads(cm["metadata"]["annotations"]["scalelab.io/audit"])["gate"] == "passed"
        version = cm["metadata"]["resourceVersion"]
        kube.conflict_next(1, method="PUT")  # a concurrent writer: promote re-reads and retries
        promote.promote(runs / "seed.yaml", runs / "rep-seed", "configmap:shop/scalelab-policy",
                        now=_dt.datetime(2026, 11, 28, tzinfo=_dt.timezone.utc), kube_client=kube.client())
        cm = kube.get("configmaps", "shop", "scalelab-policy")
        assert cm["metadata"]["resourceVersion"] != version
        assert cm["metadata"]["annotations"]["scalelab.io/promoted-at"] == "2026-11-28T00:00:00+00:00"
