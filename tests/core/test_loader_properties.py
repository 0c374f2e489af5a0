"""Property tests for the YAML loaders: any document, however mangled, either loads or fails with
a ``SpecError`` whose every problem names the file — never another exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core import errors, loading
from workbench.sim import scenario

SEED_POLICY = yaml.safe_load(open("scenarios/policies/tiered.yaml").read())
SEED_SCENARIO = yaml.safe_load(open("scenarios/synthetic-flash-crowd.yaml").read())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["cpu > 0.8", "+2", "-1", "50%", "3m", "qps", "Max"]))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), c, max_size=3)), max_leaves=8)


def mutate(doc, data):
    """Replace or delete one randomly chosen node of ``doc``."""
    if isinstance(doc, dict) and doc and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(doc, key=str)))
        choice = data.draw(st.integers(0, 2))
        out = dict(doc)
        if choice == 0:
            del out[key]
        elif choice == 1:
            out[key] = data.draw(values)
        else:
            out[key] = mutate(doc[key], data)
        return out
    if isinstance(doc, list) and doc and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(doc) - 1))
        out = list(doc)
        out[i] = mutate(doc[i], data) if data.draw(st.booleans()) else data.draw(values)
        return out
    return data.draw(values)


def _check(load, text):
    try:
        load(text)
    except errors.SpecError as exc:
        assert exc.problems
        assert all(str(p).startswith("f.yaml") for p in exc.problems)
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_policies_load_or_fail_cleanly(data):
    doc = SEED_POLICY
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(doc, data)
    _check(lambda t: loading.load_policy_text(t, "f.yaml"), yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_scenarios_load_or_fail_cleanly(data):
    doc = SEED_SCENARIO
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(doc, data)
    _check(lambda t: scenario.parse_scenario(t, "f.yaml"), yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_loader(text):
    _check(lambda t: loading.load_policy_text(t, "f.yaml"), text)
