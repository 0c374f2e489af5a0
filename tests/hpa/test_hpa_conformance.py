"""The conformance runner: the shared vectors pass, and the runner itself reports honestly."""

from __future__ import annotations

import copy
import json
import re

import pytest

from workbench.conformance import hpa as conf

from pathlib import Path

SHARED = str(Path(__file__).resolve().parents[2] / "data" / "conformance" / "hpa")
FILES = [f"{SHARED}/replica.json", f"{SHARED}/behavior.json"]


@pytest.fixture(scope="module")
def cases():
    return {f: json.load(open(f))["cases"] for f in FILES}


def write(tmp_path, cases, name="cases.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"cases": cases}))
    return str(path)


def find(cases, case_id):
    for file_cases in cases.values():
        for c in file_cases:
            if c["id"] == case_id:
                return copy.deepcopy(c)
    raise KeyError(case_id)


def test_shared_vectors_all_pass(cases):
    report = conf.run_files(FILES)
    assert report.failed == 0, conf.render(report)
    assert report.count(conf.SKIPPED) == 0
    assert report.count(conf.PASSED) == sum(len(c) for c in cases.values())
    kinds = {r.kind for r in report.results}
    assert kinds == {"resource_utilization", "pods_average_value", "object_value", "object_average_value",
                     "external_value", "external_average_value", "group_pods", "rate_limit", "scale_up_limit",
                     "scale_down_limit", "stabilize_behavior", "stabilize_legacy", "store_scale_events",
                     "legacy_rules", "defaults", "reconcile"}


def test_main_prints_table_and_exact_final_line(capsys):
    assert conf.main(FILES) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["kind", "passed", "failed", "skipped"]
    assert re.fullmatch(r"\d+ passed, 0 failed, 0 skipped", out.rstrip().splitlines()[-1])


def test_a_wrong_expectation_fails_with_expected_and_got(tmp_path, cases, capsys):
    case = find(cases, "rc-res-01")
    case["expected"]["replicas"] = 6
    assert conf.main([write(tmp_path, [case])]) == 1
    out = capsys.readouterr().out
    assert "rc-res-01" in out and "replicas: expected 6, got 5" in out
    assert out.rstrip().splitlines()[-1] == "0 passed, 1 failed, 0 skipped"


def test_every_expected_field_is_compared(tmp_path, cases):
    case = find(cases, "bh-store-07")
    case["expected"]["events_after_store"][2]["outdated"] = False
    case["expected"]["surprise"] = 1
    [result] = conf.run_files([write(tmp_path, [case])]).results
    fields = {m.field for m in result.mismatches}
    assert fields == {"events_after_store (scale_up)", "events_after_store (scale_down)",
                      "surprise (scale_up)", "surprise (scale_down)"}


def test_an_unexpected_error_and_an_expected_error_message(tmp_path, cases):
    ok = find(cases, "rc-miss-15")                       # "missing request for" expected
    wrong = find(cases, "rc-miss-15")
    wrong["expected"]["error_contains"] = "something else"
    broken = find(cases, "rc-res-01")
    broken["input"]["pods"] = []                         # now the calculation fails
    results = conf.run_files([write(tmp_path, [ok, wrong, broken])]).results
    assert [r.status for r in results] == ["passed", "failed", "failed"]
    assert results[2].mismatches[0].got == "no pods returned by selector while calculating replica count"


def test_stated_parameters_are_respected(tmp_path, cases):
    legacy = find(cases, "bh-legacy-04")                 # factor 8 stated; with factor 1, minimum 4 ...
    legacy["input"].update(current_replicas=20, max_replicas=100, scale_up_limit_factor=1, scale_up_limit_minimum=4)
    legacy["expected"] = {"replicas": 20, "reason": "ScaleUpLimit"}
    tol = find(cases, "rc-res-01")                       # ratio 50/30: within a 0.7 scale-up tolerance
    tol["input"]["tolerance"] = {"scale_down": 0.1, "scale_up": 0.7}
    tol["expected"]["replicas"] = 3
    window = find(cases, "bh-lstab-05")                  # widen the legacy window: 10 @ -600 now counts
    window["input"]["downscale_stabilization_window_s"] = 600
    window["expected"].update(replicas=10, stored_recommendation_count=5)   # nothing is old enough to overwrite
    report = conf.run_files([write(tmp_path, [legacy, tol, window])])
    assert report.failed == 0, conf.render(report)


def test_hot_cpu_pods_follow_the_stated_initialization_period(tmp_path, cases):
    case = find(cases, "rc-res-03")
    case["input"]["cpu_initialization_period_s"] = 600
    case["input"]["delay_of_initial_readiness_status_s"] = 60
    report = conf.run_files([write(tmp_path, [case])])
    assert report.failed == 0, conf.render(report)


def test_reconcile_respects_history_seeding(tmp_path, cases):
    seeded = find(cases, "bh-rec-05")                    # recommendations null: the seed blocks the scale-down
    unseeded = find(cases, "bh-rec-05")
    unseeded["input"]["recommendations"] = []
    unseeded["expected"]["desired_replicas"] = 3
    report = conf.run_files([write(tmp_path, [seeded, unseeded])])
    assert report.failed == 0, conf.render(report)


def test_unknown_kind_and_legacy_asymmetric_tolerance_are_named_skips(tmp_path, cases, capsys):
    unknown = {"id": "x-1", "kind": "telepathy", "input": {}, "expected": {}}
    asym = find(cases, "bh-rec-40")
    asym["input"]["metrics"][0]["input"]["tolerance"] = {"scale_down": 0.1, "scale_up": 0.2}
    assert conf.main([write(tmp_path, [unknown, asym])]) == 0
    out = capsys.readouterr().out
    assert "x-1 [telepathy] unsupported-kind" in out
    assert "bh-rec-40 [reconcile] legacy-asymmetric-tolerance" in out
    assert out.rstrip().splitlines()[-1] == "0 passed, 0 failed, 2 skipped"


def test_asymmetric_tolerance_with_a_behavior_runs(tmp_path, cases):
    case = find(cases, "bh-rec-07")
    case["input"]["metrics"][0]["input"]["tolerance"] = {"scale_down": 0.5, "scale_up": 0.1}
    case["expected"]["desired_replicas"] = 5             # ratio 0.56 is now within the down tolerance
    report = conf.run_files([write(tmp_path, [case])])
    assert report.failed == 0, conf.render(report)


@pytest.mark.parametrize("content,message", [
    (None, "cannot read"),
    ("{not json", "not valid JSON"),
    ('{"cases": 3}', "expected an object with a 'cases' list"),
    ('{"cases": [{"id": "a", "kind": "rate_limit", "input": {}}]}', "cases[0] (a): missing or invalid 'expected'"),
    ('{"cases": [{"id": "a", "kind": "rate_limit", "input": {"current_replicas": 1}, "expected": {}}]}',
     "case a: missing field 'desired_replicas'"),
])
def test_unreadable_or_malformed_files_exit_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert conf.main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and message in err and "Traceback" not in err
