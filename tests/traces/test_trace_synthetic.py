"""Synthetic shapes: exact values without noise, determinism with noise, and parse problems with paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core import errors, schema
from workbench.traces import synthetic
from workbench.traces.synthetic import Spike, Step, SyntheticSpec

H = 3600.0
DAY = 86400.0


def values(spec: SyntheticSpec, *, start=0.0, duration, step, seed=0) -> list[float]:
    trace = synthetic.generate(spec, start=start, duration=duration, step=step, rng=np.random.default_rng(seed))
    return trace.column(spec.column).tolist()


# -- shapes (noise 0: exact) ---------------------------------------------------------------------------
SHAPE_CASES = [
    pytest.param(SyntheticSpec(shape="constant", base=300), dict(duration=4 * H, step=H), [300.0] * 4,
                 id="constant"),
    pytest.param(SyntheticSpec(shape="ramp", base=100, ramp_to=200), dict(duration=400, step=100),
                 [100.0, 125.0, 150.0, 175.0], id="ramp-up"),
    pytest.param(SyntheticSpec(shape="ramp", base=900, ramp_to=0), dict(duration=3 * H, step=H),
                 [900.0, 600.0, 300.0], id="ramp-down"),
    pytest.param(SyntheticSpec(shape="diurnal", base=300, amplitude=250, peak_hour=17), dict(duration=DAY, step=6 * H),
                 [300 + 250 * math.cos(2 * math.pi * (h - 17) / 24) for h in (0, 6, 12, 18)], id="diurnal"),
    pytest.param(SyntheticSpec(shape="diurnal", base=100, amplitude=250, peak_hour=0), dict(duration=DAY, step=6 * H),
                 [350.0, 100.0, 0.0, 100.0], id="diurnal-clipped-at-zero"),
    pytest.param(SyntheticSpec(shape="step", base=100, steps=(Step(2 * H, 800), Step(5 * H, 200))),
                 dict(duration=7 * H, step=H), [100.0, 100.0, 800.0, 800.0, 800.0, 200.0, 200.0], id="step"),
    pytest.param(SyntheticSpec(shape="constant", base=100, weekend_factor=0.5), dict(duration=7 * DAY, step=DAY),
                 [100.0, 100.0, 50.0, 50.0, 100.0, 100.0, 100.0], id="weekly-thu-to-wed"),
    pytest.param(SyntheticSpec(shape="spikes-only", spikes=(Spike(at=60, peak=100, rise=120, decay=60),)),
                 dict(duration=360, step=60), [0.0, 0.0, 50.0, 100.0, 100 * math.exp(-1), 100 * math.exp(-2)],
                 id="spike-rise-and-decay"),
    pytest.param(SyntheticSpec(shape="constant", base=10, spikes=(Spike(at=0, peak=5, rise=0, decay=60),)),
                 dict(duration=180, step=60), [15.0, 10 + 5 * math.exp(-1), 10 + 5 * math.exp(-2)],
                 id="instant-spike-on-constant"),
    pytest.param(SyntheticSpec(shape="constant", base=100, weekend_factor=0.5, spikes=(Spike(2 * DAY, 40, 0, 1e-9),)),
                 dict(duration=3 * DAY, step=DAY), [100.0, 100.0, 90.0], id="weekly-scales-base-not-spikes"),
]


@pytest.mark.parametrize(("spec", "grid", "expected"), SHAPE_CASES)
def test_shapes_without_noise_are_exact(spec, grid, expected):
    assert values(spec, **grid) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_repeating_spike_sums_all_earlier_tails():
    spike = Spike(at=100, peak=10, rise=30, decay=100, every=200)
    offsets = np.arange(0, 2000, 10.0)
    brute = np.zeros_like(offsets)
    for k in range(20):
        tau = offsets - (100 + 200 * k)
        brute += np.where(tau < 0, 0, np.where(tau < 30, 10 * tau / 30, 10 * np.exp(-(tau - 30) / 100)))
    np.testing.assert_allclose(synthetic.spike_load(spike, offsets), brute, rtol=1e-12, atol=1e-12)


def test_generated_trace_shape_and_source():
    trace = synthetic.generate(SyntheticSpec(shape="ramp", base=1, ramp_to=2, column="qps"), start=1000,
                               duration=90, step=60, rng=np.random.default_rng(0))
    assert trace.source == "synthetic:ramp"
    assert trace.times.tolist() == [1000.0, 1060.0]
    assert list(trace.columns) == ["qps"]


def test_too_short_duration():
    with pytest.raises(errors.TraceError) as info:
        synthetic.generate(SyntheticSpec(base=1), start=0, duration=60, step=60, rng=np.random.default_rng(0))
    assert str(info.value) == "synthetic:constant: a duration of 60s at a 60s step gives 1 sample; need at least 2"


# -- noise ---------------------------------------------------------------------------------------------
NOISY = SyntheticSpec(shape="diurnal", base=300, amplitude=250, noise=0.05,
                      spikes=(Spike(at=3 * H, peak=2000, rise=120, decay=1200),))


def test_same_seed_same_trace_other_seed_other_trace():
    a = values(NOISY, duration=DAY, step=15, seed=7)
    assert a == values(NOISY, duration=DAY, step=15, seed=7)
    assert a != values(NOISY, duration=DAY, step=15, seed=8)


def test_noise_is_multiplicative_with_the_given_sd():
    out = np.array(values(SyntheticSpec(base=100, noise=0.1), duration=20000, step=1, seed=1))
    assert out.mean() == pytest.approx(100, rel=0.01)
    assert out.std() == pytest.approx(10, rel=0.05)


def test_no_noise_draws_nothing_from_the_rng():
    rng = np.random.default_rng(5)
    synthetic.generate(SyntheticSpec(base=1), start=0, duration=100, step=1, rng=rng)
    assert rng.random() == np.random.default_rng(5).random()


def test_noise_never_makes_load_negative():
    out = values(SyntheticSpec(base=1, noise=1.0), duration=5000, step=1, seed=2)
    assert min(out) == 0.0


# -- parse ---------------------------------------------------------------------------------------------
def parse(value, lines=None):
    reader = schema.Reader("scenario.yaml", lines)
    spec = synthetic.parse(reader, value, "trace.synthetic")
    return spec, [str(p) for p in reader.problems]


def test_parse_the_documented_example():
    spec, problems = parse({
        "shape": "diurnal", "base": 300, "amplitude": 250, "peakHour": 17, "weekly": {"weekendFactor": 0.6},
        "spikes": [{"at": "3h", "peak": 2000, "rise": "2m", "decay": "20m"}, {"at": "1h", "peak": 5, "every": "1d"}],
        "noise": 0.05, "duration": "7d", "column": "rps"})
    assert problems == []
    assert spec == SyntheticSpec(shape="diurnal", base=300.0, amplitude=250.0, peak_hour=17.0, weekend_factor=0.6,
                                 spikes=(Spike(10800.0, 2000.0, 120.0, 1200.0),
                                         Spike(3600.0, 5.0, 60.0, 600.0, 86400.0)),
                                 noise=0.05, duration=7 * DAY, column="rps")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param({"shape": "constant", "base": 5}, SyntheticSpec(base=5.0), id="constant-defaults"),
    pytest.param({"shape": "ramp", "base": 1, "ramp": {"to": 900}}, SyntheticSpec("ramp", 1.0, ramp_to=900.0),
                 id="ramp"),
    pytest.param({"shape": "step", "base": 1, "steps": [{"at": "2h", "to": 800}, {"at": 18000, "to": 0}]},
                 SyntheticSpec("step", 1.0, steps=(Step(7200.0, 800.0), Step(18000.0, 0.0))), id="step"),
    pytest.param({"shape": "spikes-only", "spikes": [{"at": 0, "peak": 1}]},
                 SyntheticSpec("spikes-only", 0.0, spikes=(Spike(0.0, 1.0),)), id="spikes-only-base-defaults-0"),
    pytest.param({"shape": "diurnal", "base": 1, "amplitude": 1}, SyntheticSpec("diurnal", 1.0, 1.0, 14.0),
                 id="diurnal-peak-hour-default"),
])
def test_parse_valid(value, expected):
    assert parse(value) == (expected, [])


P = "scenario.yaml: trace.synthetic"
PARSE_PROBLEMS = [
    pytest.param("diurnal", [f"{P}: expected a mapping, got string"], id="not-a-mapping"),
    pytest.param({}, [f"{P}: missing required key 'shape'", f"{P}: missing required key 'base'"], id="empty"),
    pytest.param({"shape": "constant", "base": 1, "bse": 2}, [f"{P}.bse: unknown key 'bse'; did you mean 'base'?"],
                 id="unknown-key"),
    pytest.param({"shape": "sine", "base": 1},
                 [f"{P}.shape: must be one of constant, ramp, diurnal, step, spikes-only, got 'sine'"], id="bad-shape"),
    pytest.param({"shape": "constant", "base": -1}, [f"{P}.base: must be >= 0, got -1"], id="negative-base"),
    pytest.param({"shape": "constant", "base": "lots"}, [f"{P}.base: expected a number, got string 'lots'"],
                 id="text-base"),
    pytest.param({"shape": "constant", "base": 1, "amplitude": 3, "peakHour": 2},
                 [f"{P}.amplitude: only used with shape 'diurnal' (shape is 'constant')",
                  f"{P}.peakHour: only used with shape 'diurnal' (shape is 'constant')"], id="diurnal-keys-elsewhere"),
    pytest.param({"shape": "diurnal", "base": 1}, [f"{P}: missing required key 'amplitude'"], id="no-amplitude"),
    pytest.param({"shape": "diurnal", "base": 1, "amplitude": 1, "peakHour": 25},
                 [f"{P}.peakHour: must be <= 24, got 25"], id="peak-hour-25"),
    pytest.param({"shape": "ramp", "base": 1},
                 [f"{P}: missing required key 'ramp' (shape 'ramp' needs ramp: {{to: <req/s>}})"], id="no-ramp"),
    pytest.param({"shape": "ramp", "base": 1, "ramp": 900}, [f"{P}.ramp: expected a mapping, got number"],
                 id="ramp-not-mapping"),
    pytest.param({"shape": "ramp", "base": 1, "ramp": {"too": 3}},
                 [f"{P}.ramp.too: unknown key 'too'; did you mean 'to'?", f"{P}.ramp: missing required key 'to'"],
                 id="ramp-typo"),
    pytest.param({"shape": "constant", "base": 1, "ramp": {"to": 1}},
                 [f"{P}.ramp: only used with shape 'ramp' (shape is 'constant')"], id="ramp-elsewhere"),
    pytest.param({"shape": "step", "base": 1}, [f"{P}: missing required key 'steps' (shape 'step' needs steps: "
                                                "[{at: <duration>, to: <req/s>}])"], id="no-steps"),
    pytest.param({"shape": "step", "base": 1, "steps": []}, [f"{P}.steps: needs at least 1 item"], id="empty-steps"),
    pytest.param({"shape": "step", "base": 1, "steps": [3]}, [f"{P}.steps[0]: expected a mapping, got number"],
                 id="step-not-mapping"),
    pytest.param({"shape": "step", "base": 1, "steps": [{"at": "5h", "to": 1}, {"at": "2h", "to": 3}]},
                 [f"{P}.steps[1].at: must be later than steps[0].at (18000s), got 7200s"], id="steps-out-of-order"),
    pytest.param({"shape": "constant", "base": 1, "steps": [{"at": 0, "to": 1}]},
                 [f"{P}.steps: only used with shape 'step' (shape is 'constant')"], id="steps-elsewhere"),
    pytest.param({"shape": "constant", "base": 1, "spikes": {"at": 0}}, [f"{P}.spikes: expected a list, got mapping"],
                 id="spikes-not-list"),
    pytest.param({"shape": "constant", "base": 1, "spikes": [{"at": 0}]},
                 [f"{P}.spikes[0]: missing required key 'peak'"], id="spike-no-peak"),
    pytest.param({"shape": "constant", "base": 1, "spikes": [{"at": 0, "peak": 1, "rise": "soon"}]},
                 [f"{P}.spikes[0].rise: expected a duration (seconds, or like '90s', '3m', '1h'), got 'soon'"],
                 id="spike-bad-rise"),
    pytest.param({"shape": "constant", "base": 1, "spikes": [{"at": 0, "peak": 1, "decay": 0}]},
                 [f"{P}.spikes[0].decay: must be > 0, got 0"], id="spike-zero-decay"),
    pytest.param({"shape": "constant", "base": 1, "spikes": [{"at": 0, "peak": 1, "rise": "2m", "every": "1m"}]},
                 [f"{P}.spikes[0].every: must be longer than rise (120s), got '1m'"], id="spike-every-too-short"),
    pytest.param({"shape": "constant", "base": 1, "spikes": [{"at": 0, "peak": 1, "height": 3}]},
                 [f"{P}.spikes[0].height: unknown key 'height' (allowed: at, peak, rise, decay, every)"],
                 id="spike-unknown-key"),
    pytest.param({"shape": "spikes-only"},
                 [f"{P}: missing required key 'spikes' (shape 'spikes-only' needs at least one spike)"],
                 id="spikes-only-without-spikes"),
    pytest.param({"shape": "spikes-only", "spikes": []}, [f"{P}.spikes: needs at least 1 item"],
                 id="spikes-only-empty"),
    pytest.param({"shape": "constant", "base": 1, "noise": 2}, [f"{P}.noise: must be <= 1, got 2"], id="noise"),
    pytest.param({"shape": "constant", "base": 1, "duration": -5}, [f"{P}.duration: must be > 0, got -5"],
                 id="negative-duration"),
    pytest.param({"shape": "constant", "base": 1, "weekly": 0.5}, [f"{P}.weekly: expected a mapping, got number"],
                 id="weekly-not-mapping"),
    pytest.param({"shape": "constant", "base": 1, "weekly": {"weekendFactor": "half"}},
                 [f"{P}.weekly.weekendFactor: expected a number, got string 'half'"], id="weekend-factor-text"),
    pytest.param({"shape": "constant", "base": 1, "column": ""},
                 [f"{P}.column: expected a non-empty string, got string ''"], id="empty-column"),
]


@pytest.mark.parametrize(("value", "problems"), PARSE_PROBLEMS)
def test_parse_reports_problems_with_paths(value, problems):
    assert parse(value)[1] == problems


def test_parse_problems_carry_yaml_lines():
    text = "trace:\n  synthetic:\n    shape: step\n    base: 10\n    steps:\n      - {at: 2h, to: -1}\n"
    data, lines = schema.parse_yaml(text, "scenario.yaml")
    _, problems = parse(data["trace"]["synthetic"], lines)
    assert problems == ["scenario.yaml:6: trace.synthetic.steps[0].to: must be >= 0, got -1"]


@pytest.mark.parametrize("shape", synthetic.SHAPES)
def test_every_shape_parses_and_generates(shape):
    value = {"shape": shape, "base": 10, "spikes": [{"at": "10m", "peak": 50}]}
    value.update({"ramp": {"to": 20}} if shape == "ramp" else {})
    value.update({"amplitude": 5} if shape == "diurnal" else {})
    value.update({"steps": [{"at": "30m", "to": 1}]} if shape == "step" else {})
    spec, problems = parse(value)
    assert problems == []
    trace = synthetic.generate(spec, start=0, duration=H, step=15, rng=np.random.default_rng(0))
    assert len(trace) == 240 and trace.source == f"synthetic:{shape}"


_ANY = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
_FIELD = st.sampled_from(synthetic.KEYS + ("at", "peak", "to", "every"))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_FIELD, _ANY | st.sampled_from(synthetic.SHAPES), max_size=8) | _ANY)
def test_parse_never_raises(value):
    spec, _ = parse(value)
    assert isinstance(spec, SyntheticSpec)
