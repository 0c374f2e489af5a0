"""Golden scores: every bundled scenario with the seed's tiered policy. A change in numbers is a
visible diff in tests/golden/*.json (regenerate with ``make golden`` and review it)."""

from __future__ import annotations

import json

import pytest

from tests import golden_update


@pytest.mark.parametrize("scenario", golden_update.scenarios(), ids=lambda p: p.stem)
def test_golden_scores(scenario):
    expected = json.loads((golden_update.GOLDEN / f"{scenario.stem}.json").read_text())
    got = json.loads(json.dumps(golden_update.scores_for(scenario)))
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        if isinstance(want, float):
            assert got[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
        else:
            assert got[key] == want, key


def test_every_scenario_has_a_golden_file():
    names = {p.stem for p in golden_update.scenarios()}
    files = {p.stem for p in golden_update.GOLDEN.glob("*.json")}
    assert names == files
