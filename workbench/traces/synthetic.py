"""Synthetic load shapes: a base shape, weekly seasonality, flash crowds and noise.

A scenario's ``trace: {synthetic: {...}}`` mapping is read by ``parse`` (problems go to the
``schema.Reader`` with their paths; it never raises) into a frozen ``SyntheticSpec``;
``generate`` turns a spec into a ``Trace`` on a regular grid. YAML form::

    shape: diurnal            # constant | ramp | diurnal | step | spikes-only
    base: 300                 # req/s (optional for spikes-only, default 0)
    amplitude: 250            # diurnal only: value = base + amplitude*cos(2pi (hour - peakHour)/24)
    peakHour: 17              # diurnal only, UTC hour of the peak, default 14
    weekly: {weekendFactor: 0.6}                  # any shape: Sat/Sun (UTC) scaled by this
    ramp: {to: 900}                               # ramp only: base -> to, linearly over the duration
    steps: [{at: 2h, to: 800}, {at: 5h, to: 200}] # step only: level from `at` (after start) onwards
    spikes: [{at: 3h, peak: 2000, rise: 2m, decay: 20m, every: 1d}]   # any shape, added on top
    noise: 0.05               # multiplicative Gaussian noise, sd as a fraction; default 0
    duration: 7d              # optional; the caller passes the duration it wants to generate
    column: requests_per_s    # name of the generated column

Composition, evaluated at each sample time ``t`` (the start of the sample's interval):
``(base_shape(t) * weekly(t) + spikes(t)) * (1 + noise * N(0, 1))``, clipped at 0.

* A spike adds ``peak * tau / rise`` while rising (``0 <= tau < rise``), then
  ``peak * exp(-(tau - rise) / decay)``, with ``tau`` the time since ``at``. Defaults: rise 60 s,
  decay 600 s. With ``every`` the spike repeats at ``at + k * every`` (k = 0, 1, ...); ``every``
  must exceed ``rise``, and the tails of earlier repeats are summed exactly (geometric series).
* ``spikes-only`` is a constant ``base`` (default 0) that needs at least one spike.

Invariants: the output is finite and >= 0; no global RNG (``rng`` is only drawn from when
``noise > 0``), so a fixed seed gives identical traces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.core import errors, schema
from workbench.traces import model

SHAPES = ("constant", "ramp", "diurnal", "step", "spikes-only")
KEYS = ("shape", "base", "amplitude", "peakHour", "weekly", "ramp", "steps", "spikes", "noise",
        "duration", "column")
DEFAULT_COLUMN = "requests_per_s"
DEFAULT_PEAK_HOUR = 14.0
DEFAULT_RISE = 60.0
DEFAULT_DECAY = 600.0
_DAY = 86400.0
_WEEKEND = (5, 6)  # Monday = 0; 1970-01-01 (epoch day 0) was a Thursday (3)


@dataclass(frozen=True)
class Step:
    at: float  # seconds after start
    to: float  # level (req/s) from then on


@dataclass(frozen=True)
class Spike:
    at: float  # seconds after start
    peak: float  # req/s added at the top
    rise: float = DEFAULT_RISE
    decay: float = DEFAULT_DECAY  # exponential time constant
    every: float | None = None  # repeat period, None = once


@dataclass(frozen=True)
class SyntheticSpec:
    shape: str = "constant"
    base: float = 0.0
    amplitude: float = 0.0
    peak_hour: float = DEFAULT_PEAK_HOUR
    weekend_factor: float | None = None
    ramp_to: float | None = None
    steps: tuple[Step, ...] = ()
    spikes: tuple[Spike, ...] = ()
    noise: float = 0.0
    duration: float | None = None
    column: str = DEFAULT_COLUMN


# -- parsing ---------------------------------------------------------------------------------------
def _only_for(reader: schema.Reader, value: dict, path: str, key: str, shape: str, allowed: str) -> None:
    if key in value and shape != allowed:
        reader.error(schema.join(path, key), f"only used with shape '{allowed}' (shape is '{shape}')")


def _sub_mapping(reader: schema.Reader, value: Any, path: str, allowed: tuple[str, ...]) -> dict | None:
    """The mapping (unknown keys recorded), or None (problem recorded) when it is not one."""
    reader.mapping(value, path, allowed)
    return value if isinstance(value, dict) else None


def _parse_step(reader: schema.Reader, item: Any, path: str) -> Step:
    data = _sub_mapping(reader, item, path, ("at", "to"))
    if data is None:
        return Step(0.0, 0.0)
    at = schema.duration(reader, data, "at", path)
    to = reader.number(data, "to", path, minimum=0)
    return Step(float(at), float(to))


def _parse_spike(reader: schema.Reader, item: Any, path: str) -> Spike:
    data = _sub_mapping(reader, item, path, ("at", "peak", "rise", "decay", "every"))
    if data is None:
        return Spike(0.0, 0.0)
    at = schema.duration(reader, data, "at", path)
    peak = reader.number(data, "peak", path, minimum=0)
    rise = schema.duration(reader, data, "rise", path, DEFAULT_RISE)
    decay = schema.duration(reader, data, "decay", path, DEFAULT_DECAY, positive=True)
    every = schema.duration(reader, data, "every", path, None, positive=True)
    if every is not None and every > 0 and every <= rise:
        reader.error(schema.join(path, "every"), f"must be longer than rise ({rise:g}s), got {data['every']!r}")
        every = None
    return Spike(float(at), float(peak), float(rise), float(decay) if decay > 0 else DEFAULT_DECAY,
                 float(every) if every else None)


def parse(reader: schema.Reader, value: dict, path: str) -> SyntheticSpec:
    """Read a ``synthetic:`` mapping; every problem is recorded on ``reader`` with its path."""
    if not isinstance(value, dict):
        reader.mapping(value, path, KEYS)
        return SyntheticSpec()
    reader.mapping(value, path, KEYS)
    shape = reader.string(value, "shape", path, choices=SHAPES)
    if shape not in SHAPES:
        shape = "constant"  # placeholder so the remaining checks still run
    base_default = {"default": 0.0} if shape == "spikes-only" else {}
    base = reader.number(value, "base", path, minimum=0, **base_default)

    _only_for(reader, value, path, "amplitude", shape, "diurnal")
    _only_for(reader, value, path, "peakHour", shape, "diurnal")
    amplitude, peak_hour = 0.0, DEFAULT_PEAK_HOUR
    if shape == "diurnal":
        amplitude = reader.number(value, "amplitude", path, minimum=0)
        peak_hour = reader.number(value, "peakHour", path, DEFAULT_PEAK_HOUR, minimum=0, maximum=24)

    weekend_factor = None
    if "weekly" in value:
        sub = schema.join(path, "weekly")
        weekly = _sub_mapping(reader, value["weekly"], sub, ("weekendFactor",))
        if weekly is not None:
            weekend_factor = float(reader.number(weekly, "weekendFactor", sub, minimum=0))

    _only_for(reader, value, path, "ramp", shape, "ramp")
    ramp_to = None
    if shape == "ramp":
        if "ramp" not in value:
            reader.error(path, "missing required key 'ramp' (shape 'ramp' needs ramp: {to: <req/s>})")
        else:
            sub = schema.join(path, "ramp")
            ramp = _sub_mapping(reader, value["ramp"], sub, ("to",))
            if ramp is not None:
                ramp_to = float(reader.number(ramp, "to", sub, minimum=0))
        ramp_to = float(base) if ramp_to is None else ramp_to

    _only_for(reader, value, path, "steps", shape, "step")
    steps: tuple[Step, ...] = ()
    if shape == "step":
        if "steps" not in value:
            reader.error(path, "missing required key 'steps' "
                               "(shape 'step' needs steps: [{at: <duration>, to: <req/s>}])")
        else:
            sub = schema.join(path, "steps")
            steps = reader.each(reader.seq(value["steps"], sub, min_items=1), sub,
                                lambda item, p: _parse_step(reader, item, p))
            for i in range(1, len(steps)):
                if steps[i].at <= steps[i - 1].at:
                    reader.error(schema.join(schema.join(sub, i), "at"),
                                 f"must be later than steps[{i - 1}].at ({steps[i - 1].at:g}s), got {steps[i].at:g}s")

    spikes: tuple[Spike, ...] = ()
    if "spikes" in value:
        sub = schema.join(path, "spikes")
        minimum = 1 if shape == "spikes-only" else 0
        spikes = reader.each(reader.seq(value["spikes"], sub, min_items=minimum), sub,
                             lambda item, p: _parse_spike(reader, item, p))
    elif shape == "spikes-only":
        reader.error(path, "missing required key 'spikes' (shape 'spikes-only' needs at least one spike)")

    noise = reader.number(value, "noise", path, 0.0, minimum=0, maximum=1)
    duration = schema.duration(reader, value, "duration", path, None, positive=True)
    column = reader.string(value, "column", path, DEFAULT_COLUMN) or DEFAULT_COLUMN
    return SyntheticSpec(shape=shape, base=float(base), amplitude=float(amplitude), peak_hour=float(peak_hour),
                         weekend_factor=weekend_factor, ramp_to=ramp_to, steps=tuple(steps), spikes=tuple(spikes),
                         noise=float(noise), duration=float(duration) if duration else None, column=column)


# -- generation ------------------------------------------------------------------------------------
def _base_shape(spec: SyntheticSpec, times: np.ndarray, offset: np.ndarray, duration: float) -> np.ndarray:
    if spec.shape in ("constant", "spikes-only"):
        return np.full(times.shape, spec.base)
    if spec.shape == "ramp":
        if spec.ramp_to is None:
            raise ValueError("shape 'ramp' needs ramp_to")
        return spec.base + (spec.ramp_to - spec.base) * (offset / duration)
    if spec.shape == "diurnal":
        hour = np.mod(times, _DAY) / 3600.0
        return spec.base + spec.amplitude * np.cos(2.0 * np.pi * (hour - spec.peak_hour) / 24.0)
    if spec.shape == "step":
        if not spec.steps:
            raise ValueError("shape 'step' needs at least one step")
        ats = np.array([s.at for s in spec.steps])
        levels = np.array([spec.base] + [s.to for s in spec.steps])
        return levels[np.searchsorted(ats, offset, side="right")]
    raise ValueError(f"unknown shape {spec.shape!r} (known: {', '.join(SHAPES)})")


def spike_load(spike: Spike, offset: np.ndarray) -> np.ndarray:
    """Load added by one (possibly repeating) spike at ``offset`` seconds after start."""
    tau = offset - spike.at
    out = np.zeros(offset.shape)
    if spike.every is None:
        phase, earlier = tau, np.zeros(offset.shape)
    else:
        earlier = np.maximum(np.floor(tau / spike.every), 0.0)  # repeats already started before this one
        phase = tau - earlier * spike.every
    rising = (phase >= 0) & (phase < spike.rise)
    decaying = phase >= spike.rise
    if spike.rise > 0:
        out[rising] = spike.peak * phase[rising] / spike.rise
    out[decaying] = spike.peak * np.exp(-(phase[decaying] - spike.rise) / spike.decay)
    if spike.every is not None:
        # tails of repeats m = 1..earlier back: peak * exp(-(phase + m*every - rise)/decay), summed exactly
        have = earlier > 0
        q = -spike.every / spike.decay
        head = spike.peak * np.exp(-(phase[have] + spike.every - spike.rise) / spike.decay)
        out[have] += head * np.expm1(earlier[have] * q) / np.expm1(q)
    return out


def generate(spec: SyntheticSpec, *, start: float, duration: float, step: float,
             rng: np.random.Generator) -> model.Trace:
    """Samples at ``start + k*step`` for ``k*step < duration`` (at least 2), one column ``spec.column``."""
    source = f"synthetic:{spec.shape}"
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"step must be a positive number of seconds, got {step!r}")
    if not (duration > 0 and math.isfinite(duration)):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    count = int(math.ceil(duration / step - 1e-9))
    if count < 2:
        raise errors.TraceError(f"{source}: a duration of {duration:g}s at a {step:g}s step gives "
                                f"{count} sample{'' if count == 1 else 's'}; need at least 2")
    offset = np.arange(count, dtype=np.float64) * step
    times = start + offset
    load = _base_shape(spec, times, offset, duration)
    if spec.weekend_factor is not None:
        weekday = np.mod(np.floor(times / _DAY) + 3, 7)
        load = np.where(np.isin(weekday, _WEEKEND), load * spec.weekend_factor, load)
    for spike in spec.spikes:
        load = load + spike_load(spike, offset)
    if spec.noise > 0:
        load = load * (1.0 + spec.noise * rng.standard_normal(count))
    load = np.maximum(load, 0.0)
    return model.Trace(times=times, columns={spec.column: load}, source=source)
