"""A pure, incremental Holt-Winters forecaster over fixed time buckets (used by ``predictive``).

Demand is aggregated into buckets of ``B`` seconds; bucket ``j`` covers ``[j*B, (j+1)*B)`` of the
caller's clock (epoch seconds, so with ``B`` dividing a day, slot ``j mod m`` is a time of day in
UTC). The model is Holt-Winters with an additive trend and one seasonal profile of
``m`` slots (``season / B``), additive or multiplicative, plus an optional *weekly*
correction profile of ``7m`` slots (Taylor's double-seasonal Holt-Winters, 2003)::

    multiplicative:  y^(j) = (L + h*T) * S[j mod m] * W[j mod 7m]
    additive:        y^(j) =  L + h*T  + S[j mod m] + W[j mod 7m]

Life cycle of a ``Model``:

* *raw* (``ready`` False): closed buckets are stored as raw values in their slot until the first
  data bucket and the current one span a whole season (``m`` buckets);
* *initialisation* (classic): ``L`` = mean of the raw season, ``T`` = 0, ``S`` = raw / L (or raw - L);
  slots never observed are interpolated linearly (circularly) between observed neighbours;
  ``W`` starts neutral (1 or 0) and learns from what the daily profile leaves unexplained;
* *ready*: one O(1) update per closed bucket with data. A run of ``g`` missing buckets before a
  data bucket (``Δ = g + 1``) is handled like an irregularly sampled exponential smoother: the level
  weight becomes ``1 - (1 - alpha)^Δ`` (as if the missing buckets had seen this value) and the trend
  uses the slope over ``Δ`` buckets; seasonal slots only change when they are observed.

Cost: an update touches one slot of each profile. Profiles are tuples of 64-slot chunks, so an
immutable update copies one chunk plus the chunk index (~70 references for a daily profile at
5-minute buckets, ~100 for the weekly one) instead of the whole profile. Nothing here runs per
control tick: the policy calls ``update`` when a bucket closes and ``peak`` when a new bucket opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

_CHUNK = 64
_MIN_FACTOR = 0.05   # multiplicative: a slot below 5% of the level carries no information on the level


@dataclass(frozen=True)
class Params:
    m: int                       # buckets per season
    multiplicative: bool = False
    weekly: bool = False         # add a 7-season correction profile
    alpha: float = 0.3           # level
    beta: float = 0.01           # trend
    gamma: float = 0.3           # seasonal profile
    gamma_weekly: float = 0.2    # weekly correction profile
    trend_cap: int = 1           # the trend is extrapolated at most this many buckets past the last data
    error_weight: float = 1 / 12  # EWMA weight of the one-step relative error (12 buckets ~ 1 h at 5 min)

    @property
    def neutral(self) -> float:
        return 1.0 if self.multiplicative else 0.0


class Model(NamedTuple):
    ready: bool = False
    level: float = 0.0
    trend: float = 0.0
    season: tuple = ()           # chunked profile: raw values (or None) while not ready
    week: tuple = ()             # chunked weekly profile (empty unless weekly and ready)
    first: int | None = None     # index of the first bucket with data
    last: int | None = None      # index of the last bucket folded into the model
    buckets: int = 0             # buckets with data seen so far (history)
    error: float = 0.0           # EWMA of |y - forecast| / forecast over one-step forecasts (capped at 1)


# ------------------------------------------------------------------------------ chunked tuples


def chunked(values: Iterable) -> tuple:
    flat = tuple(values)
    return tuple(flat[i:i + _CHUNK] for i in range(0, len(flat), _CHUNK))


def get(profile: tuple, i: int):
    return profile[i // _CHUNK][i % _CHUNK]


def put(profile: tuple, i: int, value) -> tuple:
    c, k = divmod(i, _CHUNK)
    chunk = profile[c]
    return profile[:c] + (chunk[:k] + (value,) + chunk[k + 1:],) + profile[c + 1:]


def flat(profile: tuple) -> tuple:
    return tuple(v for chunk in profile for v in chunk)


# ----------------------------------------------------------------------------------- the model


def empty(params: Params) -> Model:
    return Model(season=chunked([None] * params.m))


def update(params: Params, model: Model, j: int, y: float) -> Model:
    """Fold the closed bucket ``j`` (mean value ``y``, finite, >= 0) into the model."""
    if model.last is not None and j <= model.last:
        return model  # a bucket already folded in (clock went backwards): ignore
    buckets = model.buckets + 1
    if not model.ready:
        first = j if model.first is None else model.first
        season = put(model.season, j % params.m, float(y))
        if j - first + 1 < params.m:
            return model._replace(season=season, first=first, last=j, buckets=buckets)
        return _initialise(params, season, first, j, buckets)

    m, mult = params.m, params.multiplicative
    expected = predict(params, model, j)
    rel = min(abs(y - expected) / expected, 1.0) if expected > 0.0 else (0.0 if y <= 0.0 else 1.0)
    error = model.error + params.error_weight * (rel - model.error)
    i = j % m
    delta = j - model.last
    s = get(model.season, i)
    w = get(model.week, j % (7 * m)) if params.weekly else params.neutral
    a = params.alpha if delta == 1 else 1.0 - (1.0 - params.alpha) ** delta
    b = params.beta if delta == 1 else 1.0 - (1.0 - params.beta) ** delta
    prior = model.level + delta * model.trend
    if mult:
        sw = s * w
        level = a * (y / sw) + (1.0 - a) * prior if sw >= _MIN_FACTOR else prior
        level = max(level, 0.0)
    else:
        level = a * (y - s - w) + (1.0 - a) * prior
    trend = b * (level - model.level) / delta + (1.0 - b) * model.trend
    g, gw = params.gamma, params.gamma_weekly
    season, week = model.season, model.week
    if mult:
        if level > 0.0:
            s_new = g * y / (level * max(w, _MIN_FACTOR)) + (1.0 - g) * s
            season = put(season, i, s_new)
            if params.weekly:
                week = put(week, j % (7 * m), gw * y / (level * max(s_new, _MIN_FACTOR)) + (1.0 - gw) * w)
    else:
        s_new = g * (y - level - w) + (1.0 - g) * s
        season = put(season, i, s_new)
        if params.weekly:
            week = put(week, j % (7 * m), gw * (y - level - s_new) + (1.0 - gw) * w)
    return Model(True, level, trend, season, week, model.first, j, buckets, error)


def _initialise(params: Params, season: tuple, first: int, j: int, buckets: int) -> Model:
    raw = list(flat(season))
    known = [k for k, v in enumerate(raw) if v is not None]
    filled = _interpolate(raw, known)
    level = sum(raw[k] for k in known) / len(known)
    if params.multiplicative:
        profile = [v / level for v in filled] if level > 0.0 else [1.0] * params.m
    else:
        profile = [v - level for v in filled]
    week = chunked([params.neutral] * (7 * params.m)) if params.weekly else ()
    return Model(True, level, 0.0, chunked(profile), week, first, j, buckets)


def _interpolate(raw: list, known: list[int]) -> list[float]:
    """Fill ``None`` slots linearly between the nearest observed slots, circularly."""
    n = len(raw)
    out = list(raw)
    if len(known) == n:
        return out
    for idx, k in enumerate(known):
        nxt = known[(idx + 1) % len(known)]
        gap = (nxt - k) % n or n
        for step in range(1, gap):
            out[(k + step) % n] = raw[k] + (raw[nxt] - raw[k]) * step / gap
    return out


def predict(params: Params, model: Model, j: int) -> float | None:
    """Forecast of bucket ``j``'s mean (>= 0), or None before initialisation."""
    if not model.ready:
        return None
    h = min(j - model.last, params.trend_cap)
    base = model.level + h * model.trend
    s = get(model.season, j % params.m)
    w = get(model.week, j % (7 * params.m)) if params.weekly else params.neutral
    if params.multiplicative:
        return max(base, 0.0) * s * w
    return max(base + s + w, 0.0)


def peak(params: Params, model: Model, j0: int, j1: int) -> float | None:
    """Highest forecast over buckets ``j0..j1`` (inclusive), or None before initialisation."""
    if not model.ready:
        return None
    return max(predict(params, model, j) for j in range(j0, j1 + 1))
