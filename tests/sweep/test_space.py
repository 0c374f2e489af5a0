"""SPACE.yaml: variant generation (grid, random, deterministic by seed), every schema error with
its exact one-line message, paths into the base policy, invalid variants, objective/constraints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from workbench.core import errors, loading
from workbench.sweep import space

REPO = Path(__file__).resolve().parents[2]
TIERED = (REPO / "scenarios/policies/tiered.yaml").read_text()
HPA = (REPO / "scenarios/policies/hpa-default.yaml").read_text()


def parse(text: str, base: str = TIERED, **kw) -> space.Space:
    return space.parse_space(text, "s.yaml", base, "base.yaml", **kw)


def error_of(text: str, base: str = TIERED, **kw) -> str:
    with pytest.raises(errors.SpecError) as info:
        parse(text, base, **kw)
    return str(info.value)


GRID = """parameters:
  - {name: up, path: spec.limits.maxStepUp, range: {min: 1, max: 3, step: 1}}
  - name: gentle
    path: spec.rules[1].when.any[0]
    template: "cpu > {value}"
    values: [0.6, 0.75]
"""


# ------------------------------------------------------------------------------ generation

def test_grid_is_the_product_in_file_order_last_fastest():
    sp = parse(GRID)
    assert space.generate_values(sp) == [(1, 0.6), (1, 0.75), (2, 0.6), (2, 0.75), (3, 0.6), (3, 0.75)]
    variants = space.generate_variants(sp)
    assert [v.id for v in variants] == ["v0001", "v0002", "v0003", "v0004", "v0005", "v0006"]
    assert sp.grid_size == 6 and sp.mode == "grid"


def test_a_variant_is_the_base_with_the_values_put_in():
    v = space.generate_variants(parse(GRID))[3]
    assert v.valid and v.values == (2, 0.75)
    doc = yaml.safe_load(v.text)
    assert doc["spec"]["limits"]["maxStepUp"] == 2
    assert doc["spec"]["rules"][1]["when"]["any"] == ["cpu > 0.75", "memory > 0.85"]
    assert doc["metadata"]["name"] == "seed-tiered"
    base = yaml.safe_load(TIERED)
    doc["spec"]["limits"]["maxStepUp"] = base["spec"]["limits"]["maxStepUp"]
    doc["spec"]["rules"][1]["when"]["any"][0] = base["spec"]["rules"][1]["when"]["any"][0]
    assert doc == base  # nothing else changed
    spec = loading.load_policy_text(v.text)
    assert spec.limits.max_step_up == 2


def test_the_base_variant_reads_its_values_through_the_template():
    sp = parse(GRID)
    base = space.base_variant(sp)
    assert base.id == "base" and base.is_base and base.text == TIERED
    assert base.values == (2, 0.7)  # "cpu > 0.70" -> 0.7


def test_range_gives_clean_floats_and_ints():
    sp = parse("parameters: [{path: spec.limits.scaleDownStabilizationSeconds, "
               "range: {min: 0.1, max: 0.5, step: 0.1}}]")
    assert space.generate_values(sp) == [(0.1,), (0.2,), (0.3,), (0.4,), (0.5,)]
    sp = parse("parameters: [{path: spec.limits.maxStepUp, range: {min: 1, max: 7, step: 3}}]")
    assert space.generate_values(sp) == [(1,), (4,), (7,)]
    assert all(isinstance(v[0], int) for v in space.generate_values(sp))
    sp = parse("parameters: [{path: spec.limits.maxStepUp, range: {min: 1, max: 6, step: 2}}]")
    assert space.generate_values(sp) == [(1,), (3,), (5,)]  # max need not be on the grid


def test_grid_with_samples_is_a_seeded_subset_in_grid_order():
    a = space.generate_values(parse(GRID + "samples: 3\nseed: 2\n"))
    assert a == [(1, 0.6), (3, 0.6), (3, 0.75)]
    assert space.generate_values(parse(GRID, samples=3, seed=2)) == a  # flags override the file
    assert space.generate_values(parse(GRID + "samples: 99\n")) == space.generate_values(parse(GRID))


RANDOM = """mode: random
samples: 5
seed: 3
parameters:
  - {name: up, path: spec.limits.maxStepUp, int: {low: 1, high: 4}}
  - {name: cool, path: spec.limits.minSecondsBetweenChanges, choice: [30, 60, "2m"]}
  - name: gentle
    path: spec.rules[1].when.any[0]
    template: "cpu > {value}"
    uniform: {low: 0.5, high: 0.8}
    round: 2
  - {name: down, path: spec.limits.maxStepDown, range: {min: 1, max: 3, step: 1}}
"""


def test_random_draws_are_exact_for_a_seed():
    assert space.generate_values(parse(RANDOM)) == [
        (2, "2m", 0.66, 2), (4, "2m", 0.67, 3), (1, 60, 0.58, 1), (2, "2m", 0.64, 3), (4, 60, 0.69, 1)]
    assert space.generate_values(parse(RANDOM)) == space.generate_values(parse(RANDOM))
    assert space.generate_values(parse(RANDOM, seed=4)) != space.generate_values(parse(RANDOM))
    assert all(v.valid for v in space.generate_variants(parse(RANDOM)))


def test_random_variants_are_distinct_and_a_small_space_stops():
    sp = parse("mode: random\nsamples: 50\nparameters: [{path: spec.limits.maxStepUp, choice: [1, 2, 3]}]")
    values = space.generate_values(sp)
    assert sorted(values) == [(1,), (2,), (3,)]  # 3 distinct exist; no endless loop
    sp = parse(RANDOM, samples=40)
    values = space.generate_values(sp)
    assert len(values) == 40 and len(set(values)) == 40


def test_an_invalid_variant_is_reported_not_raised():
    sp = parse("parameters:\n  - {path: spec.limits.maxStepUp, values: [0, 2, 1.5]}\n"
               "  - {path: spec.replicas.min, values: [2, 60]}\n")
    got = [(v.values, v.error) for v in space.generate_variants(sp)]
    assert got == [
        ((0, 2), "spec.limits.maxStepUp: must be >= 1, got 0"),
        ((0, 60), "spec.replicas.min: min (60) must be <= max (50); spec.limits.maxStepUp: must be >= 1, got 0"),
        ((2, 2), None),
        ((2, 60), "spec.replicas.min: min (60) must be <= max (50)"),
        ((1.5, 2), "spec.limits.maxStepUp: expected an integer, got 1.5"),
        ((1.5, 60), "spec.replicas.min: min (60) must be <= max (50); spec.limits.maxStepUp: expected an integer, "
                    "got 1.5"),
    ]


def test_a_template_producing_a_bad_condition_is_an_invalid_variant():
    sp = parse("parameters:\n  - path: spec.rules[1].when.any[0]\n    template: 'cpuu > {value}'\n    values: [0.5]\n")
    (v,) = space.generate_variants(sp)
    assert v.error.startswith("spec.rules[1].when.any[0]: unknown metric 'cpuu'")


def test_hpa_target_path():
    sp = parse("parameters: [{path: 'spec.metrics[0].resource.target.averageUtilization', "
               "range: {min: 40, max: 90, step: 25}}]", HPA)
    variants = space.generate_variants(sp)
    assert [v.values for v in variants] == [(40,), (65,), (90,)]
    assert [loading.load_policy_text(v.text).metrics[0].target.average_utilization for v in variants] == [40, 65, 90]


def test_bundled_example_spaces():
    tiered = space.load_space(REPO / "scenarios/spaces/tiered-thresholds.yaml", TIERED, "tiered.yaml")
    variants = space.generate_variants(tiered)
    assert len(variants) == 1000 and all(v.valid for v in variants)
    assert [p.path for p in tiered.parameters] == ["spec.rules[1].when.any[0]", "spec.rules[2].when.all[0]",
                                                    "spec.limits.maxStepUp", "spec.limits.minSecondsBetweenChanges"]
    assert space.base_variant(tiered).values == (0.7, 0.3, 2, 60)
    hpa = space.load_space(REPO / "scenarios/spaces/hpa-target.yaml", HPA, "hpa.yaml")
    assert [v.values[0] for v in space.generate_variants(hpa)] == list(range(40, 95, 5))
    # the scale-down window is not in the base (behavior: {}), as the space file explains
    with pytest.raises(errors.SpecError) as info:
        parse("parameters: [{path: spec.behavior.scaleDown.stabilizationWindowSeconds, values: [0]}]", HPA)
    assert str(info.value) == ("s.yaml:1: parameters[0].path: 'spec.behavior.scaleDown.stabilizationWindowSeconds' "
                               "is not in the base policy: spec.behavior has no key 'scaleDown'")


# ---------------------------------------------------------------------------------- errors

P = "parameters: [{path: spec.limits.maxStepUp, values: [1]}]\n"

ERRORS = [
    ("[1, 2]\n", "s.yaml:1: expected a mapping, got list"),
    ("", "s.yaml:1: empty document"),
    ("parameters: [\n", "s.yaml:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ("mode: grid\n", "s.yaml:1: missing required key 'parameters'"),
    ("parameter: []\n",
     "s.yaml:1: parameter: unknown key 'parameter'; did you mean 'parameters'? (and 1 more problem)"),
    ("parameters: []\n", "s.yaml:1: parameters: needs at least 1 item"),
    ("parameters: 3\n", "s.yaml:1: parameters: expected a list, got number"),
    ("mode: grids\n" + P, "s.yaml:1: mode: must be one of grid, random, got 'grids'"),
    ("seed: -1\n" + P, "s.yaml:1: seed: must be >= 0, got -1"),
    ("samples: 0\n" + P, "s.yaml:1: samples: must be >= 1, got 0"),
    ("mode: random\nparameters: [{path: spec.limits.maxStepUp, int: {low: 1, high: 3}}]\n",
     "s.yaml:1: mode: random mode needs samples: N (or --samples N)"),
    ("parameters:\n  - path: spec.limits.maxStepUp\n    uniform: {low: 1, high: 3}\n",
     "s.yaml:3: parameters[0].uniform: 'uniform' needs mode: random (a grid takes values or range)"),
    ("parameters:\n  - path: spec.limits.maxStepUp\n    choice: [1]\n",
     "s.yaml:3: parameters[0].choice: 'choice' needs mode: random (a grid takes values or range)"),
    ("parameters:\n  - path: spec.limits.maxStepUp\n    values: [1]\n    range: {min: 1, max: 2, step: 1}\n",
     "s.yaml:2: parameters[0]: needs exactly one of values, range, choice, uniform, int (found values, range)"),
    ("parameters:\n  - path: spec.limits.maxStepUp\n",
     "s.yaml:2: parameters[0]: needs exactly one of values, range, choice, uniform, int (found none)"),
    ("parameters:\n  - values: [1, 2]\n", "s.yaml:2: parameters[0]: missing required key 'path'"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, value: [1]}\n",
     "s.yaml:2: parameters[0].value: unknown key 'value'; did you mean 'values'? (and 1 more problem)"),
    ("parameters:\n  - {name: cost, path: spec.limits.maxStepUp, values: [1]}\n",
     "s.yaml:2: parameters[0].name: 'cost' is a results column; choose another name"),
    ("parameters:\n  - {name: a, path: spec.limits.maxStepUp, values: [1]}\n"
     "  - {name: a, path: spec.limits.maxStepDown, values: [2]}\n",
     "s.yaml:3: parameters[1].name: duplicate name 'a' (also parameters[0])"),
    ("parameters:\n  - path: spec.rules[1].when.any[0]\n    template: 'cpu > 0.5'\n    values: [1]\n",
     "s.yaml:3: parameters[0].template: must contain {value}, got 'cpu > 0.5'"),
    ("parameters:\n  - path: spec.rules[1].when.any[0]\n    template: 'cpu > {value}'\n    values: [0.5, {a: 1}]\n",
     "s.yaml:4: parameters[0].values[1]: a template takes numbers, strings or booleans, got mapping"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, values: [1, 2, 1]}\n",
     "s.yaml:2: parameters[0].values[2]: duplicate value 1"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, values: []}\n",
     "s.yaml:2: parameters[0].values: needs at least 1 item"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, range: {min: 3, max: 1, step: 1}}\n",
     "s.yaml:2: parameters[0].range.max: max (1) must be >= min (3)"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, range: {min: 1, max: 3, step: 0}}\n",
     "s.yaml:2: parameters[0].range.step: must be > 0, got 0"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, range: {min: 1, max: 3}}\n",
     "s.yaml:2: parameters[0].range: missing required key 'step'"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, range: {min: 1, max: 100000, step: 1}}\n",
     "s.yaml:2: parameters[0].range: 100000 points (more than 10000); use a larger step"),
    ("mode: random\nsamples: 3\nparameters:\n  - {path: spec.limits.maxStepUp, uniform: {low: 2, high: 2}}\n",
     "s.yaml:4: parameters[0].uniform.high: high (2) must be > low (2)"),
    ("mode: random\nsamples: 3\nparameters:\n  - {path: spec.limits.maxStepUp, int: {low: 1.5, high: 2}}\n",
     "s.yaml:4: parameters[0].int.low: expected an integer, got 1.5"),
    ("mode: random\nsamples: 3\nparameters:\n  - {path: spec.limits.maxStepUp, int: {low: 3, high: 2}}\n",
     "s.yaml:4: parameters[0].int.high: high (2) must be >= low (3)"),
    ("parameters:\n  - {path: spec.limits.maxStepUp, values: [1], round: 2}\n",
     "s.yaml:2: parameters[0].round: round applies to uniform only"),
    ("parameters:\n" + "".join(f"  - {{path: spec.limits.{k}, range: {{min: 1, max: 100, step: 1}}}}\n"
                               for k in ("maxStepUp", "maxStepDown", "minSecondsBetweenChanges")),
     "s.yaml:2: parameters: the grid has 1,000,000 points (more than 100,000); add samples: N to try a random "
     "subset, or use mode: random"),
    (P + "minimize: cost_hours\n",
     "s.yaml:2: minimize: unknown score 'cost_hours'; did you mean 'cost_replica_hours'?"),
    (P + "minimize: median(cost)\n", "s.yaml:2: minimize: expected a score like cost_replica_hours or "
                                     "max(sla_violation_request_share), got 'median(cost)'"),
    (P + "minimize: cost\nmaximize: theta_u\n", "s.yaml:3: maximize: give one of minimize, maximize, not both"),
    (P + "constraints: ['sla_violation_request_share = 0.1']\n",
     "s.yaml:2: constraints[0]: expected 'SCORE OP NUMBER' with OP one of <=, <, >=, >, got "
     "'sla_violation_request_share = 0.1'"),
    (P + "constraints: [3]\n",
     "s.yaml:2: constraints[0]: expected a string like 'sla_violation_request_share <= 0.001', got number 3"),
    (P + "constraints: ['flapz <= 3']\n", "s.yaml:2: constraints[0]: unknown score 'flapz'; did you mean 'flaps'?"),
    (P + "constraints: ['mean(nothing_like_it) <= 3']\n",
     "s.yaml:2: constraints[0]: unknown score 'nothing_like_it' (known: " + ", ".join(space.SCORE_KEYS) + ")"),
]


@pytest.mark.parametrize("text,message", ERRORS, ids=[m.split(": ", 1)[1][:40] for _, m in ERRORS])
def test_space_errors_are_exact(text, message):
    assert error_of(text) == message


PATH_ERRORS = [
    ("spec..limits", "invalid path 'spec..limits': expected keys separated by '.' with optional [index], like "
                     "spec.rules[1].when.any[0]"),
    ("spec.rules[x]", "invalid path 'spec.rules[x]': expected keys separated by '.' with optional [index], like "
                      "spec.rules[1].when.any[0]"),
    ("spec.limits.maxStepUpp", "'spec.limits.maxStepUpp' is not in the base policy: spec.limits has no key "
                               "'maxStepUpp'; did you mean 'maxStepUp'?"),
    ("spec.limits.zzz", "'spec.limits.zzz' is not in the base policy: spec.limits has no key 'zzz' (keys: maxStepUp, "
                        "maxStepDown, minSecondsBetweenChanges, scaleDownStabilizationSeconds)"),
    ("specs.limits", "'specs.limits' is not in the base policy: the document has no key 'specs'; did you mean 'spec'?"),
    ("spec.rules[3].when", "'spec.rules[3].when' is not in the base policy: spec.rules has 3 items, no [3]"),
    ("spec.limits[0]", "'spec.limits[0]' is not in the base policy: spec.limits is a mapping, not a list"),
    ("spec.limits.maxStepUp.x", "'spec.limits.maxStepUp.x' is not in the base policy: spec.limits.maxStepUp is a "
                                "number, not a mapping"),
    ("spec.rules[1].when.any[0].x", "'spec.rules[1].when.any[0].x' is not in the base policy: "
                                    "spec.rules[1].when.any[0] is a string, not a mapping"),
]


@pytest.mark.parametrize("path,message", PATH_ERRORS, ids=[p for p, _ in PATH_ERRORS])
def test_path_errors(path, message):
    text = f"parameters:\n  - path: '{path}'\n    values: [1]\n"
    assert error_of(text) == f"s.yaml:2: parameters[0].path: {message}"


def test_overlapping_and_repeated_paths():
    same = ("parameters:\n  - {path: spec.limits.maxStepUp, values: [1]}\n"
            "  - {path: spec.limits.maxStepUp, values: [2]}\n")
    assert error_of(same) == ("s.yaml:3: parameters[1].path: 'spec.limits.maxStepUp' is the same path as parameters[0] "
                              "('spec.limits.maxStepUp')")
    over = "parameters:\n  - {path: spec.limits, values: [{}]}\n  - {path: spec.limits.maxStepUp, values: [2]}\n"
    assert error_of(over) == ("s.yaml:3: parameters[1].path: 'spec.limits.maxStepUp' overlaps parameters[0] "
                              "('spec.limits')")


def test_every_problem_is_reported_at_once():
    text = ("mode: grid\nparameters:\n  - {path: spec.limits.nope, values: [1]}\n"
            "  - {path: spec.limits.maxStepUp, range: {min: 2, max: 1, step: 1}}\nminimize: costs\n")
    with pytest.raises(errors.SpecError) as info:
        parse(text)
    assert info.value.full_report().splitlines() == [
        "s.yaml:3: parameters[0].path: 'spec.limits.nope' is not in the base policy: spec.limits has no key 'nope' "
        "(keys: maxStepUp, maxStepDown, minSecondsBetweenChanges, scaleDownStabilizationSeconds)",
        "s.yaml:4: parameters[1].range.max: max (1) must be >= min (2)",
        "s.yaml:5: minimize: unknown score 'costs'; did you mean 'cost'?",
    ]


def test_an_invalid_base_policy_is_its_own_error():
    with pytest.raises(errors.SpecError) as info:
        parse(P, "kind: TieredPolicy\nspec: {}\n")
    assert str(info.value).startswith("base.yaml:2: spec: missing required key 'replicas'")


def test_space_file_unreadable(tmp_path):
    with pytest.raises(errors.UserError) as info:
        space.load_space(tmp_path / "nope.yaml", TIERED)
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read space: No such file or directory"


# ------------------------------------------------------------------- objective, constraints

def test_objective_defaults_and_forms():
    sp = parse(P)
    assert (sp.sense, sp.objective) == ("minimize", space.ScoreExpr("cost_replica_hours", "sum", "cost_replica_hours"))
    sp = parse(P + "maximize: mean(theta_u)\n")
    assert (sp.sense, sp.objective.key, sp.objective.how, sp.objective.label) == ("maximize", "theta_u", "mean",
                                                                                 "mean(theta_u)")
    sp = parse(P + "minimize: oracle_cost_ratio\n")
    assert sp.objective.how == "max"  # a ratio: the worst scenario


def test_constraints_parse():
    sp = parse(P + "constraints:\n  - sla_violation_request_share <= 0.1%\n  - max( flaps )<3\n"
                   "  - sum(scale_events) >= 1e1\n  - theta_o > -2.5\n")
    got = [(c.expr.label, c.expr.how, c.op, c.threshold, c.text) for c in sp.constraints]
    assert got == [("sla_violation_request_share", "max", "<=", 0.001, "sla_violation_request_share <= 0.1%"),
                   ("max(flaps)", "max", "<", 3.0, "max(flaps) < 3"),
                   ("sum(scale_events)", "sum", ">=", 10.0, "sum(scale_events) >= 1e1"),
                   ("theta_o", "max", ">", -2.5, "theta_o > -2.5")]
    assert [e.label for e in sp.score_exprs()] == ["cost_replica_hours", "sla_violation_request_share", "max(flaps)",
                                                   "sum(scale_events)", "theta_o"]


def test_aggregation_over_scenarios():
    runs = [{"cost_replica_hours": 10.0, "sla_violation_request_share": 0.002, "oracle_cost_ratio": None, "flaps": 1},
            {"cost_replica_hours": 5.5, "sla_violation_request_share": 0.0005, "oracle_cost_ratio": 1.5, "flaps": 4}]
    assert space.AGGREGATION["cost_replica_hours"] == "sum" and space.AGGREGATION["sla_violation_seconds"] == "sum"
    assert space.AGGREGATION["sla_violation_request_share"] == "max" and space.AGGREGATION["theta_u"] == "max"
    ex = space.ScoreExpr
    assert ex("cost_replica_hours", "sum", "cost_replica_hours").evaluate(runs) == 15.5
    assert ex("sla_violation_request_share", "max", "x").evaluate(runs) == 0.002
    assert ex("oracle_cost_ratio", "max", "x").evaluate(runs) == 1.5  # None is skipped
    assert ex("flaps", "mean", "x").evaluate(runs) == 2.5
    assert ex("flaps", "min", "x").evaluate(runs) == 1
    assert ex("oracle_cost_ratio", "max", "x").evaluate([{"oracle_cost_ratio": None}]) is None


def test_constraint_evaluation_and_violation():
    sp = parse(P + "constraints: ['flaps <= 4', 'theta_u > 2', 'cost < 10']\n")
    le, gt, lt = sp.constraints
    assert le.holds(4) and not le.holds(4.5) and not le.holds(None) and not le.holds(math.nan)
    assert gt.holds(2.1) and not gt.holds(2)
    assert lt.holds(9.99) and not lt.holds(10)
    assert le.violation(4) == 0 and le.violation(6) == 0.5 and gt.violation(1) == 0.5
    assert le.violation(None) == math.inf
    assert lt.violation(10) > 0  # on the bound of a strict constraint: violated, by a hair
