"""The pure fits behind ``scalelab calibrate``: numpy arrays in, frozen results out (no I/O).

* ``fit_linear(x, y)``: ordinary least squares ``y = intercept + slope·x`` (CPU cores and memory MB
  against per-pod load). The scenario format needs both coefficients >= 0: a negative slope is
  replaced by the constant fit (slope 0, intercept = mean), a negative intercept by the fit
  through the origin; either is said in ``note``.
* ``fit_latency(x, p95)``: the simulator's latency model, an M/M/c queue per pod plus a fixed
  network delay, fitted to observed p95 against per-pod load by minimising the squared log error.

The latency fit uses one fact about M/M/c: at a fixed utilisation ρ = x·s / (1000·c), the whole
response-time distribution scales with the mean service time s. So p95(x) = network + s·g_c(ρ),
where g_c is the p95 in units of s — one table per worker count c, taken from
``ServiceModel.per_tick`` (the very tables the simulator interpolates) and cached. At zero load
g_c(0) = ln 20 for every c, so ``b = network + s·ln 20`` is the latency of an idle pod, which the
data pins down well; the search therefore runs over (b, s) with network = b − s·ln 20 >= 0:

1. samples are averaged into at most 150 (coarse) / 1,000 (fine) narrow bins of x (quantile and
   equal-width edges combined), weighted by their counts, so the cost does not grow with the
   history's length;
2. a 32 × 32 grid over (b, s) on the coarse bins for c in 1..8, 10, 12, 14, 16, 20, ..., 32, 40,
   ..., 64, then for every c between the neighbours of the two best (the loss varies smoothly
   with c, and the tables of large c are the expensive part);
3. the three best c and their neighbours: a pattern search of 9 × 9 grids in (log b, log s) on the
   fine bins (shrinking around an interior best point, moving along an edge one). The range of c
   whose profile likelihood stays plausible (N·ln(RSS_c / RSS_best) < 3.84 on every sample, a 95%
   interval) is found by doubling steps outward from the best c, then bisection:
   ``plausible_workers``.

Overload: the simulator reports a tick's p95 as the timeout when the load exceeds capacity, and
real histograms report their top bucket. When the largest p95 repeats (>= 3 samples, at least
twice the median) it is taken as that *ceiling* (+inf p95, a quantile beyond the histogram's
largest bucket, also counts as overloaded; the ceiling is then at least the largest finite p95):
those samples are censored — they only say
"at least the ceiling", so they add a one-sided penalty when the model predicts less, and are
left out of R² and MAPE. A model that calls an uncensored sample overloaded is charged as if it
predicted the ceiling (or the largest p95 seen when there is no ceiling: a lone timeout sample
is then not an outlier that drags the fit).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from workbench.sim.service import ServiceModel

MAX_WORKERS = 64
G0 = -math.log(0.05)  # p95 of an exponential, in units of its mean: g_c(0) for every c
CEILING_MIN_TIES = 3
CHI2_95_1DF = 3.841
MIN_IDENTIFYING_RHO = 0.5  # below this peak utilisation the knee of the curve was never seen
DEFAULT_TIMEOUT_MS = 30000.0

_RHO = np.unique(np.concatenate([np.linspace(0.0, 0.9, 901), 1.0 - np.logspace(-1.0, -5.0, 801)]))
_COARSE_BINS, _FINE_BINS = 150, 1000
_REFINE_ROUNDS = 40
# the worker counts scanned first; every c between the best ones' neighbours is scanned next
_SPARSE_WORKERS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56)


# --------------------------------------------------------------------------------------- linear
@dataclass(frozen=True)
class LinearFit:
    """``y = intercept + slope·x`` with its quality on the ``n`` samples used."""

    intercept: float
    slope: float
    n: int
    r2: float
    mape: float          # mean absolute percentage error, % (over samples with y > 0)
    slope_se: float      # standard error of the slope (OLS), NaN when undefined
    note: str = ""

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(x, dtype=float)


def _quality(pred: np.ndarray, obs: np.ndarray) -> tuple[float, float]:
    resid = obs - pred
    ss_tot = float(np.sum((obs - obs.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else (1.0 if not resid.any() else float("nan"))
    pos = obs > 0
    mape = float(np.mean(np.abs(resid[pos]) / obs[pos]) * 100.0) if pos.any() else float("nan")
    return r2, mape


def fit_linear(x: np.ndarray, y: np.ndarray) -> LinearFit:
    """Least squares line through (x, y); x needs some spread (checked by the caller)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    xm, ym = float(x.mean()), float(y.mean())
    dx = x - xm
    sxx = float(dx @ dx)
    slope = float(dx @ (y - ym)) / sxx
    intercept = ym - slope * xm
    note = ""
    if slope < 0:
        slope, intercept, note = 0.0, max(ym, 0.0), "falls with load: slope set to 0 (the mean is used)"
    elif intercept < 0:
        slope, intercept = float(x @ y) / float(x @ x), 0.0
        note = "intercept was below 0: fitted through the origin"
    pred = intercept + slope * x
    r2, mape = _quality(pred, y)
    resid = y - pred
    se = math.sqrt(float(resid @ resid) / (n - 2) / sxx) if n > 2 and sxx > 0 else float("nan")
    return LinearFit(intercept=intercept, slope=slope, n=n, r2=r2, mape=mape, slope_se=se, note=note)


# -------------------------------------------------------------------------------------- latency
@dataclass(frozen=True)
class LatencyFit:
    """An M/M/c pod (``workers`` × mean ``service_time_ms``) plus ``network_ms``, fitted to p95."""

    workers: int
    service_time_ms: float
    network_ms: float
    n: int                       # uncensored samples (R², MAPE are over these)
    r2_log: float                # R² of log p95
    mape: float                  # %
    censored: int = 0            # samples at the ceiling (overloaded)
    ceiling_ms: float | None = None
    ceiling_repeats: bool = False    # the ceiling is a repeated top value (a timeout), not just +inf samples
    rho_max: float = float("nan")   # highest per-pod utilisation among the uncensored samples
    plausible_workers: tuple[int, int] = (0, 0)
    plausible_capacity: tuple[float, float] = (float("nan"), float("nan"))
    notes: tuple[str, ...] = field(default=())

    @property
    def capacity_rps(self) -> float:
        """Requests/s one pod serves at ρ → 1: workers · 1000 / service_time_ms."""
        return self.workers * 1000.0 / self.service_time_ms

    @property
    def timeout_ms(self) -> float:
        """What the simulator reports when overloaded: the repeated ceiling, else its default."""
        return self.ceiling_ms if self.ceiling_repeats and self.ceiling_ms is not None else DEFAULT_TIMEOUT_MS

    def model(self, slo_p95_ms: float = 500.0) -> ServiceModel:
        return ServiceModel(workers_per_pod=self.workers, service_time_ms=self.service_time_ms,
                            network_ms=self.network_ms, timeout_ms=self.timeout_ms, slo_p95_ms=slo_p95_ms)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """p95 (ms) at per-pod load ``x`` exactly as the simulator computes it (timeout when overloaded)."""
        x = np.asarray(x, dtype=float)
        return self.model().per_tick(x, np.ones(x.shape, dtype=np.int64))["p95_ms"]


@functools.lru_cache(maxsize=None)
def shape(workers: int) -> np.ndarray:
    """g_c on ``_RHO``: the p95 (no network) of an M/M/c pod in units of its mean service time."""
    model = ServiceModel(workers_per_pod=workers, service_time_ms=1000.0, network_ms=0.0,
                         timeout_ms=1e15, slo_p95_ms=1e15)
    demand = _RHO * model.capacity_rps
    g = model.per_tick(demand, np.ones(len(_RHO), dtype=np.int64))["p95_ms"] / 1000.0
    g.flags.writeable = False
    return g


def detect_ceiling(p95: np.ndarray) -> float | None:
    """The top value when it repeats (a timeout or a histogram's top bucket), else None."""
    if len(p95) == 0:
        return None
    top = float(p95.max())
    ties = int(np.count_nonzero(p95 >= top * (1.0 - 1e-9)))
    return top if ties >= CEILING_MIN_TIES and top >= 2.0 * float(np.median(p95)) else None


def censoring(p95: np.ndarray) -> tuple[float | None, np.ndarray]:
    """(ceiling, which samples are overloaded): the repeated top value (``detect_ceiling``) and
    +inf samples; with +inf but no plateau the ceiling is the largest finite p95."""
    p95 = np.asarray(p95, dtype=float)
    finite = np.isfinite(p95)
    ceiling = detect_ceiling(p95[finite])
    if ceiling is None and not finite.all() and finite.any():
        ceiling = float(p95[finite].max())
    if ceiling is None:
        return None, np.zeros(len(p95), dtype=bool)
    return ceiling, p95 >= ceiling * (1.0 - 1e-9)


def _bins(x: np.ndarray, v: np.ndarray | None, max_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean x, mean v, count) per narrow bin; the samples themselves when there are few."""
    n = len(x)
    if n <= max_bins:
        return x.copy(), (v.copy() if v is not None else np.zeros(n)), np.ones(n)
    xs = np.sort(x)
    half = max_bins // 2
    edges = np.unique(np.concatenate([xs[np.linspace(0, n - 1, half + 1).astype(np.int64)],
                                      np.linspace(xs[0], xs[-1], half + 1)]))
    if len(edges) < 2:
        edges = np.array([xs[0], xs[0] + 1.0])
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    m = len(edges) - 1
    count = np.bincount(idx, minlength=m).astype(float)
    keep = count > 0
    sx = np.bincount(idx, weights=x, minlength=m)[keep] / count[keep]
    sv = (np.bincount(idx, weights=v, minlength=m)[keep] / count[keep]) if v is not None else np.zeros(int(keep.sum()))
    return sx, sv, count[keep]


@dataclass(frozen=True)
class _Data:
    x: np.ndarray       # uncensored (binned) load
    ly: np.ndarray      # mean log p95
    w: np.ndarray       # counts
    xc: np.ndarray      # censored (binned) load
    wc: np.ndarray
    log_over: float     # log of what an "overloaded" prediction counts as for uncensored samples
    log_ceiling: float | None


def _loss(c: int, b: np.ndarray, s: np.ndarray, d: _Data) -> np.ndarray:
    """Weighted squared log error (+ censored hinge) for parameter vectors b, s (network = b − s·G0)."""
    g = shape(c)
    n = np.maximum(b - s * G0, 0.0)[:, None]
    s2 = s[:, None]
    rho = s2 * d.x[None, :] / (1000.0 * c)
    lp = np.log(n + s2 * np.interp(rho, _RHO, g))
    lp = np.where(rho >= _RHO[-1], d.log_over, lp)
    r = lp - d.ly[None, :]
    loss = (r * r) @ d.w
    if d.log_ceiling is not None and len(d.xc):
        rho_c = s2 * d.xc[None, :] / (1000.0 * c)
        lpc = np.where(rho_c >= _RHO[-1], d.log_ceiling, np.log(n + s2 * np.interp(rho_c, _RHO, g)))
        h = np.maximum(d.log_ceiling - lpc, 0.0)
        loss = loss + (h * h) @ d.wc
    return loss


def _refine(c: int, b: float, s: float, d: _Data) -> tuple[float, float, float]:
    """Pattern search on 9×9 grids in (log b, log s), with s <= b / G0 (network >= 0): a span shrinks
    when the best point is inside it and stays while the best point sits on its edge."""
    span_b, span_s = 0.25, 0.6
    steps = np.linspace(-1.0, 1.0, 9)
    best = float(_loss(c, np.array([b]), np.array([s]), d)[0])
    for _ in range(_REFINE_ROUNDS):
        bb, ss = np.meshgrid(b * np.exp(span_b * steps), s * np.exp(span_s * steps), indexing="ij")
        bb, ss = bb.ravel(), np.minimum(ss.ravel(), bb.ravel() / G0)
        loss = _loss(c, bb, ss, d)
        i = int(np.argmin(loss))
        ib, js = divmod(i, len(steps))
        if loss[i] < best:
            best, b, s = float(loss[i]), float(bb[i]), float(ss[i])
        else:
            ib = js = len(steps) // 2
        span_b *= 0.55 if 0 < ib < len(steps) - 1 else 1.0
        span_s *= 0.55 if 0 < js < len(steps) - 1 else 1.0
        if span_b < 1e-5 and span_s < 1e-5:
            break
    return best, b, s


def fit_latency(x: np.ndarray, p95: np.ndarray, *, max_workers: int = MAX_WORKERS) -> LatencyFit:
    """Fit workers, service time and network delay to (per-pod load, p95 ms) samples (p95 > 0).

    Needs at least a few uncensored samples with spread in x (the caller checks and explains)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(p95, dtype=float)
    ceiling, cens = censoring(y)
    xu, yu, xc = x[~cens], y[~cens], x[cens]
    lyu = np.log(yu)
    log_over = math.log(ceiling) if ceiling is not None else math.log(float(yu.max()))
    log_ceiling = math.log(ceiling) if ceiling is not None else None

    def data(max_bins: int) -> _Data:
        bx, bly, bw = _bins(xu, lyu, max_bins)
        cx, _, cw = _bins(xc, None, max_bins) if len(xc) else (np.zeros(0), None, np.zeros(0))
        return _Data(bx, bly, bw, cx, cw, log_over, log_ceiling)

    coarse, fine = data(_COARSE_BINS), data(_FINE_BINS)

    # the idle-pod latency b: p95 at the lowest loads seen (an upper bound when load never got low)
    low = xu <= np.quantile(xu, 0.05)
    b0 = float(np.median(yu[low])) if low.sum() >= 5 else float(np.min(yu))
    bg = b0 * np.logspace(math.log10(0.02), math.log10(1.3), 32)
    frac = np.unique(np.concatenate([np.logspace(-3.0, 0.0, 20), 1.0 - np.logspace(-3.0, -0.3, 12)]))
    B, F = np.meshgrid(bg, frac, indexing="ij")
    b_grid, s_grid = B.ravel(), (B * F).ravel() / G0

    coarse_best: dict[int, tuple[float, float, float]] = {}

    def scan(c: int) -> None:
        if c not in coarse_best and 1 <= c <= max_workers:
            loss = _loss(c, b_grid, s_grid, coarse)
            i = int(np.argmin(loss))
            coarse_best[c] = (float(loss[i]), float(b_grid[i]), float(s_grid[i]))

    def ranked() -> list[int]:
        return sorted(coarse_best, key=lambda k: coarse_best[k][0])

    sparse = list(dict.fromkeys([c for c in _SPARSE_WORKERS if c <= max_workers] + [max_workers]))
    for c in sparse:
        scan(c)
    for c in ranked()[:2]:  # fill in every c between the best sparse ones' neighbours
        i = sparse.index(c)
        for k in range(sparse[max(i - 1, 0)], sparse[min(i + 1, len(sparse) - 1)] + 1):
            scan(k)

    refined: dict[int, tuple[float, float, float]] = {}

    def refine(c: int) -> None:
        if c not in refined and 1 <= c <= max_workers:
            scan(c)
            _, b, s = coarse_best[c]
            refined[c] = _refine(c, b, s, fine)

    for c in ranked()[:3]:
        for k in (c - 1, c, c + 1):
            refine(k)

    # exact RSS on every sample for the refined candidates; extend c outward while plausible
    n_u = len(yu)
    every = data(n_u + len(xc) + 1)  # no binning: the samples themselves

    def rss(c: int) -> float:
        _, b, s = refined[c]
        return float(_loss(c, np.array([b]), np.array([s]), every)[0])

    exact: dict[int, float] = {}

    def evaluate(c: int) -> float:
        refine(c)
        if c not in exact:
            exact[c] = rss(c)
        return exact[c]

    def plausible(c: int, best: float) -> bool:
        return n_u * math.log((evaluate(c) + 1e-12 * n_u) / (best + 1e-12 * n_u)) < CHI2_95_1DF

    for c in list(refined):
        evaluate(c)
    while True:  # the plausible range around the best c: doubling steps outward, then bisection
        best_c = min(exact, key=lambda k: (exact[k], k))
        best = exact[best_c]
        bounds = []
        for direction in (-1, 1):
            ok, step, bad = best_c, 1, None
            while True:
                k = min(max(ok + direction * step, 1), max_workers)
                if k == ok:
                    break
                if plausible(k, best):
                    ok, step = k, step * 2
                else:
                    bad = k
                    break
            while bad is not None and abs(bad - ok) > 1:
                mid = (ok + bad) // 2
                if plausible(mid, best):
                    ok = mid
                else:
                    bad = mid
            bounds.append(ok)
        if min(exact.values()) >= best:  # no better c turned up on the way: done
            break
    lo, hi = bounds

    _, b, s = refined[best_c]
    network = max(b - s * G0, 0.0)
    repeats = detect_ceiling(y[np.isfinite(y)]) is not None
    fit = LatencyFit(workers=best_c, service_time_ms=s, network_ms=network, n=n_u, r2_log=float("nan"),
                     mape=float("nan"), censored=int(cens.sum()), ceiling_ms=ceiling, ceiling_repeats=repeats)
    pred = fit.predict(xu)
    r2, _ = _quality(np.log(pred), lyu)
    _, mape = _quality(pred, yu)
    caps = [c * 1000.0 / refined[c][2] for c in range(lo, hi + 1) if c in refined]
    rho_max = float(xu.max()) / fit.capacity_rps
    notes = []
    if rho_max < MIN_IDENTIFYING_RHO:
        caps = [float("nan")]
        notes.append(f"capacity not identified: p95 hardly rises over the loads seen (highest utilisation "
                     f"{rho_max:.2f} under this fit; plausible workers {lo}-{hi}), so the capacity written is a "
                     f"guess; fetch a history with busier pods or set capacity from a load test")
    elif hi - lo >= 2 or hi == max_workers:
        notes.append(f"workers not well identified (plausible {lo}-{hi}{'+' if hi == max_workers else ''}, "
                     f"capacity {min(caps):.4g}-{max(caps):.4g} req/s): the p95 curve fits about equally well "
                     f"with any of them")
    return LatencyFit(workers=best_c, service_time_ms=s, network_ms=network, n=n_u, r2_log=r2, mape=mape,
                      censored=int(cens.sum()), ceiling_ms=ceiling, ceiling_repeats=repeats, rho_max=rho_max,
                      plausible_workers=(lo, hi), plausible_capacity=(min(caps), max(caps)), notes=tuple(notes))
