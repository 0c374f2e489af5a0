"""Conditions: parsing (string and mapping forms, errors with paths), three-valued evaluation,
sustained-for timers, and the generated fast path agreeing with the closures."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core import errors, rules, schema
from workbench.core.observations import STANDARD_METRICS

KNOWN = STANDARD_METRICS + ("queue_depth",)


def parse(value):
    r = schema.Reader("p.yaml", {})
    cond = rules.parse(r, value, "when", KNOWN)
    r.finish()
    return cond


def evaluate(cond, metrics, timers=None, now=0.0):
    f, n = rules.compile_condition(cond)
    timers = timers if timers is not None else [None] * n
    return f(metrics, timers, now), timers


@pytest.mark.parametrize("text, expected", [
    ("cpu > 0.8", rules.Compare("cpu", ">", 0.8)),
    ("cpu>=80%", rules.Compare("cpu", ">=", 0.8)),
    ("p95_ms <= 800", rules.Compare("p95_ms", "<=", 800.0)),
    ("qps == 1e3", rules.Compare("qps", "==", 1000.0)),
    ("queue_depth != -2", rules.Compare("queue_depth", "!=", -2.0)),
    ("memory < .5 for 2m", rules.Sustained(rules.Compare("memory", "<", 0.5), 120.0)),
    ("cpu > 0.3 for 1h30m", rules.Sustained(rules.Compare("cpu", ">", 0.3), 5400.0)),
], ids=lambda v: str(v))
def test_string_conditions_parse(text, expected):
    assert parse(text) == expected


def test_mapping_conditions_parse_nested():
    cond = parse({"all": ["cpu > 0.8", {"any": ["qps > 1000", {"not": "p95_ms < 100"}]}], "forSeconds": "90s"})
    assert cond == rules.Sustained(rules.AllOf((
        rules.Compare("cpu", ">", 0.8),
        rules.AnyOf((rules.Compare("qps", ">", 1000.0), rules.Not(rules.Compare("p95_ms", "<", 100.0)))),
    )), 90.0)
    assert parse({"metric": "cpu", "op": "<", "value": 0.3}) == rules.Compare("cpu", "<", 0.3)


@pytest.mark.parametrize("value, message", [
    ("cpuu > 0.7", "p.yaml: when: unknown metric 'cpuu' (known: cpu, memory, qps, p95_ms, queue_depth)"),
    ("cpu >> 0.7", "p.yaml: when: cannot parse condition 'cpu >> 0.7' (expected like 'cpu > 0.8', 'p95_ms >= 800 for 2m')"),
    ("cpu > 0.7 for ever", "p.yaml: when: invalid duration 'ever' after 'for' (like '90s', '3m')"),
    (42, "p.yaml: when: expected a condition (string like 'cpu > 0.8' or a mapping), got number"),
    ({"all": []}, "p.yaml: when.all: needs at least 1 item"),
    ({"all": ["cpu > 1"], "any": ["cpu > 1"]}, "p.yaml: when: a condition needs exactly one of all, any, not, metric (found all, any)"),
    ({"every": ["cpu > 1"]}, "p.yaml: when.every: unknown key 'every' (allowed: all, any, not, metric, op, value, forSeconds)"),
    ({"metric": "cpu", "op": "=>", "value": 1}, "p.yaml: when.op: must be one of >, >=, <, <=, ==, !=, got '=>'"),
    ({"all": ["cpu > 1"], "forSeconds": -5}, "p.yaml: when.forSeconds: must be > 0, got -5"),
], ids=["unknown-metric", "bad-operator", "bad-for", "not-a-condition", "empty-all", "two-forms",
        "unknown-key", "bad-op-key", "negative-for"])
def test_condition_errors_name_the_path(value, message):
    with pytest.raises(errors.SpecError) as info:
        parse(value)
    assert str(info.value.problems[0]) == message


def test_every_problem_is_reported_at_once():
    with pytest.raises(errors.SpecError) as info:
        parse({"any": ["cpuu > 1", "mem > 2", "qps >> 3"]})
    assert [p.path for p in info.value.problems] == ["when.any[0]", "when.any[1]", "when.any[2]"]


NAN = math.nan


@pytest.mark.parametrize("cond, metrics, expected", [
    ("cpu > 0.8", {"cpu": 0.9}, True),
    ("cpu > 0.8", {"cpu": 0.8}, False),
    ("cpu >= 0.8", {"cpu": 0.8}, True),
    ("cpu > 0.8", {}, None),
    ("cpu > 0.8", {"cpu": None}, None),
    ("cpu > 0.8", {"cpu": NAN}, None),
    ({"all": ["cpu > 0.8", "qps > 10"]}, {"cpu": 0.9, "qps": 20}, True),
    ({"all": ["cpu > 0.8", "qps > 10"]}, {"cpu": 0.1}, False),       # False beats unknown
    ({"all": ["cpu > 0.8", "qps > 10"]}, {"cpu": 0.9}, None),
    ({"any": ["cpu > 0.8", "qps > 10"]}, {"qps": 20}, True),         # True beats unknown
    ({"any": ["cpu > 0.8", "qps > 10"]}, {"cpu": 0.1}, None),
    ({"any": ["cpu > 0.8", "qps > 10"]}, {"cpu": 0.1, "qps": 1}, False),
    ({"not": "cpu > 0.8"}, {"cpu": 0.1}, True),
    ({"not": "cpu > 0.8"}, {}, None),
], ids=lambda v: str(v))
def test_three_valued_evaluation(cond, metrics, expected):
    assert evaluate(parse(cond), metrics)[0] is expected


def test_sustained_needs_the_whole_duration_and_resets():
    cond = parse("cpu > 0.5 for 60s")
    f, n = rules.compile_condition(cond)
    timers = [None] * n
    seen = []
    for now, cpu in [(0, 0.9), (15, 0.9), (45, 0.9), (60, 0.9), (75, 0.1), (90, 0.9), (150, 0.9), (165, None), (180, 0.9)]:
        seen.append(f({"cpu": cpu}, timers, now))
    assert seen == [False, False, False, True, False, False, True, None, False]


def test_nested_sustained_timers_see_every_tick_despite_short_circuit():
    cond = parse({"any": ["qps > 100", "cpu > 0.5 for 30s"]})
    f, n = rules.compile_condition(cond)
    timers = [None] * n
    assert f({"qps": 200, "cpu": 0.9}, timers, 0) is True     # any() already True...
    assert timers == [0]                                       # ...but the timer still started
    assert f({"qps": 0, "cpu": 0.9}, timers, 30) is True


metric_values = st.one_of(st.none(), st.just(NAN), st.floats(-1e3, 1e3, allow_nan=False))
conditions = st.recursive(
    st.builds(lambda m, op, v: f"{m} {op} {v}", st.sampled_from(["cpu", "qps", "memory"]),
              st.sampled_from(list(rules.OPS)), st.sampled_from(["0.5", "10", "-1", "100"])),
    lambda children: st.one_of(
        st.builds(lambda cs: {"all": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, children),
        st.builds(lambda c, s: {"all": [c], "forSeconds": s}, children, st.sampled_from([15, 30, 60])),
    ), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(conds=st.lists(conditions, min_size=1, max_size=3),
       ticks=st.lists(st.fixed_dictionaries({"cpu": metric_values, "qps": metric_values, "memory": metric_values}),
                      min_size=1, max_size=12))
def test_generated_fast_path_agrees_with_closures(conds, ticks):
    parsed = [parse(c) for c in conds]
    fast = rules.compile_first_match(tuple(parsed))
    evaluators, slot = [], 0
    for c in parsed:
        f, slot = rules.compile_condition(c, slot)
        evaluators.append(f)
    slow_timers = [None] * slot
    fast_timers = tuple(slow_timers)
    for i, m in enumerate(ticks):
        now = 15.0 * i
        before = list(slow_timers)
        results = [f(m, slow_timers, now) for f in evaluators]
        got = fast(m, fast_timers, now)
        if got is None:  # a used metric is missing: the fast path must refuse, leaving timers alone
            assert any(m[k] is None or m[k] != m[k] for k in ("cpu", "qps", "memory"))
            fast_timers = tuple(slow_timers)  # the caller falls back to the closures
            continue
        assert None not in results
        expected = next((j for j, r in enumerate(results) if r), -1)
        assert got[0] == expected
        assert list(got[1]) == slow_timers, (before, got[1], slow_timers)
        fast_timers = got[1]
