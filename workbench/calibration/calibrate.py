"""From a validated ``History`` to a ``Calibration``: pick the samples each fit may use, refuse
what cannot support a fit, and run the pure fits (``fit``).

Per-pod load ``x = qps / replicas`` is the regressor of every fit. Order of the checks (the first
failing one is the one-line ``UserError``, exit 2):

1. ``qps`` and ``replicas`` are both present in at least half of the rows (``too many missing``);
2. at least ``MIN_SAMPLES`` such samples spanning ``MIN_SPAN_SECONDS`` (``too short``);
3. ``x`` varies: its 5–95% range is at least ``MIN_LOAD_SPREAD`` of its median (``constant``).

Each fit then needs its own series (``cpu_cores``, or ``cpu`` × request; ``memory_bytes``, or
``memory`` × limit; ``p95_ms``) and passes the same three checks on its own samples; a fit that
fails is *skipped* with the reason (written into the output as a comment). If no fit is left,
that is the error, listing every reason.

The latency fit runs first. When it succeeds, samples where the service was overloaded (p95 at
its ceiling, or x at or beyond the fitted capacity) are left out of the CPU and memory fits: the
load they report was not all served, so it did not all cost CPU and memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from workbench.calibration import fit as _fit
from workbench.calibration.history import History
from workbench.core import errors
from workbench.traces.files import human_duration

MIN_SAMPLES = 30
MIN_SPAN_SECONDS = 3600.0
MAX_MISSING_SHARE = 0.5
MIN_LOAD_SPREAD = 0.05
MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Skipped:
    """A fit that was not made, and why (one line)."""

    reason: str


@dataclass(frozen=True)
class FitData:
    """What a fit saw, for the figure: per-pod load, the observed value, which samples were used."""

    x: np.ndarray
    y: np.ndarray
    used: np.ndarray        # bool: in the fit's error
    label: str              # the y quantity, e.g. "CPU cores per pod (cpu_cores)"


@dataclass(frozen=True)
class ReplicaSummary:
    n: int
    minimum: float
    median: float
    maximum: float
    scale_events: int       # changes of the (rounded) replica count between consecutive samples
    ups: int
    downs: int


@dataclass(frozen=True)
class Calibration:
    history: History
    x: np.ndarray                                   # per-pod load per row (NaN: qps or replicas missing)
    cpu: _fit.LinearFit | Skipped
    memory: _fit.LinearFit | Skipped
    latency: _fit.LatencyFit | Skipped
    replicas: ReplicaSummary
    cpu_request: float | None = None                # cores; None = unknown
    cpu_request_source: str = ""                    # "--cpu-request" | "inferred from cpu_cores / cpu"
    memory_limit_mb: float | None = None
    memory_limit_source: str = ""
    slo_p95_ms: float = 500.0
    cpu_series: str = ""                            # the column the CPU fit used
    memory_series: str = ""
    overloaded: int = 0                             # samples left out of CPU/memory as overloaded
    data: Mapping[str, FitData] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def fits(self) -> dict[str, _fit.LinearFit | _fit.LatencyFit | Skipped]:
        return {"cpu": self.cpu, "memory": self.memory, "latency": self.latency}

    @property
    def start(self) -> float:
        return float(self.history.times[0])

    @property
    def end(self) -> float:
        return float(self.history.times[-1])

    @property
    def spacing(self) -> float:
        return float(np.median(np.diff(self.history.times)))

    def load_range(self) -> tuple[float, float, float]:
        v = self.x[np.isfinite(self.x)]
        return float(v.min()), float(np.median(v)), float(v.max())


# ----------------------------------------------------------------------------------------- checks
def _span(times: np.ndarray, mask: np.ndarray, spacing: float) -> float:
    idx = np.flatnonzero(mask)
    return float(times[idx[-1]] - times[idx[0]]) + spacing if idx.size else 0.0


def _too_short(times: np.ndarray, mask: np.ndarray, spacing: float, what: str) -> str | None:
    n, span = int(mask.sum()), _span(times, mask, spacing)
    if n >= MIN_SAMPLES and span >= MIN_SPAN_SECONDS:
        return None
    return (f"too short: {n} sample{'' if n == 1 else 's'} with {what} over {human_duration(span)}; "
            f"need at least {MIN_SAMPLES} samples spanning {human_duration(MIN_SPAN_SECONDS)}")


def _constant(x: np.ndarray) -> str | None:
    lo, med, hi = (float(v) for v in np.quantile(x, [0.05, 0.5, 0.95]))
    if hi - lo > MIN_LOAD_SPREAD * abs(med):
        return None
    return (f"per-pod load is constant (qps / replicas: 5-95% range {lo:.4g}-{hi:.4g} req/s, median {med:.4g}); "
            f"need varying load to fit")


def _too_many_missing(name: str, present: np.ndarray, base: np.ndarray) -> str | None:
    share = 1.0 - float(present[base].mean())
    if share <= MAX_MISSING_SHARE:
        return None
    return (f"{name} is missing in {share:.0%} of the samples with qps and replicas "
            f"(at most {MAX_MISSING_SHARE:.0%} may be missing)")


# ------------------------------------------------------------------------------------- the whole
def calibrate(history: History, *, cpu_request: float | None = None, memory_limit_mb: float | None = None,
              slo_p95_ms: float = 500.0) -> Calibration:
    """Fit CPU, memory and latency laws to ``history`` (see the module docstring for the rules)."""
    started = time.perf_counter()
    src, times, s = history.source, history.times, history.series
    spacing = float(np.median(np.diff(times)))
    qps, rep = s["qps"], s["replicas"]
    base = np.isfinite(qps) & np.isfinite(rep)
    rows, k = len(times), int(base.sum())
    if k < (1.0 - MAX_MISSING_SHARE) * rows:
        raise errors.UserError(
            f"{src}: too many missing samples: qps and replicas are both present in {k:,} of {rows:,} rows "
            f"({k / rows:.0%}); need at least {1 - MAX_MISSING_SHARE:.0%}")
    for reason in (_too_short(times, base, spacing, "qps and replicas"),):
        if reason:
            raise errors.UserError(f"{src}: history {reason}")
    x = np.where(base, qps / np.where(base, rep, 1.0), np.nan)
    reason = _constant(x[base])
    if reason:
        raise errors.UserError(f"{src}: {reason}")

    data: dict[str, FitData] = {}

    def gate(present: np.ndarray, name: str, what: str) -> str | None:
        return (_too_many_missing(name, present, base) or _too_short(times, base & present, spacing, what)
                or _constant(x[base & present]))

    # ---- latency (first: its capacity tells which samples were overloaded)
    latency: _fit.LatencyFit | Skipped
    overloaded = np.zeros(rows, dtype=bool)
    if not history.has("p95_ms"):
        latency = Skipped("no p95_ms column")
    else:
        p95 = s["p95_ms"]
        present = ~np.isnan(p95) & (p95 > 0)  # +inf: overloaded beyond the histogram, a sample too
        why = gate(present, "p95_ms", "qps, replicas and p95_ms")
        use = base & present
        if why is None and not np.isfinite(p95[use]).any():
            why = "every p95_ms sample is +inf (beyond the histogram's largest bucket)"
        ceiling, cens = _fit.censoring(p95[use]) if why is None else (None, None)
        if ceiling is not None:
            below = use.copy()
            below[use] = ~cens
            why = _too_short(times, below, spacing, f"p95_ms below its {ceiling:g} ms ceiling") or _constant(x[below])
        if why is not None:
            latency = Skipped(why)
        else:
            latency = _fit.fit_latency(x[use], p95[use])
            used = ~cens if cens is not None else np.ones(int(use.sum()), dtype=bool)
            data["latency"] = FitData(x[use], p95[use], used, "p95 latency, ms (p95_ms)")
            overloaded[use] = ~used
            overloaded |= base & (x >= latency.capacity_rps)

    # ---- CPU
    request, request_source = _ratio(s.get("cpu_cores"), s.get("cpu"), cpu_request, "--cpu-request",
                                     "inferred from cpu_cores / cpu")
    cpu, cpu_series = _linear("cpu", history, base, overloaded, x, gate, data, times, spacing, request,
                              absolute="cpu_cores", fraction="cpu", flag="--cpu-request CORES",
                              unit=1.0, label="CPU cores per pod")
    # ---- memory
    limit, limit_source = _ratio(None if "memory_bytes" not in s else s["memory_bytes"] / MIB, s.get("memory"),
                                 memory_limit_mb, "--memory-limit-mb", "inferred from memory_bytes / memory")
    memory, memory_series = _linear("memory", history, base, overloaded, x, gate, data, times, spacing, limit,
                                    absolute="memory_bytes", fraction="memory", flag="--memory-limit-mb MB",
                                    unit=1.0 / MIB, label="memory MiB per pod")

    if all(isinstance(f, Skipped) for f in (cpu, memory, latency)):
        raise errors.UserError(f"{src}: nothing to fit: cpu: {cpu.reason}; memory: {memory.reason}; "
                               f"latency: {latency.reason}")
    return Calibration(
        history=history, x=x, cpu=cpu, memory=memory, latency=latency, replicas=_replicas(rep),
        cpu_request=request, cpu_request_source=request_source, memory_limit_mb=limit,
        memory_limit_source=limit_source, slo_p95_ms=slo_p95_ms, cpu_series=cpu_series,
        memory_series=memory_series, overloaded=int((overloaded & base).sum()) if not isinstance(latency, Skipped) else 0,
        data=data, wall_seconds=time.perf_counter() - started)


def _ratio(absolute: np.ndarray | None, fraction: np.ndarray | None, given: float | None, flag: str,
           inferred: str) -> tuple[float | None, str]:
    """The request/limit: the flag, else absolute / fraction when both series agree on one value."""
    if given is not None:
        return float(given), flag
    if absolute is None or fraction is None:
        return None, ""
    ok = np.isfinite(absolute) & np.isfinite(fraction) & (fraction > 1e-9)
    if ok.sum() < MIN_SAMPLES:
        return None, ""
    r = absolute[ok] / fraction[ok]
    q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
    if med <= 0 or (q3 - q1) > 0.02 * med:
        return None, ""
    return float(f"{med:.4g}"), inferred


def _linear(name: str, history: History, base: np.ndarray, overloaded: np.ndarray, x: np.ndarray, gate,
            data: dict[str, FitData], times: np.ndarray, spacing: float, scale: float | None, *,
            absolute: str, fraction: str, flag: str, unit: float, label: str
            ) -> tuple[_fit.LinearFit | Skipped, str]:
    s = history.series
    if absolute in s:
        y, series = s[absolute] * unit, absolute
    elif fraction in s and scale is not None:
        y, series = s[fraction] * scale, f"{fraction} x {scale:g}"
    elif fraction in s:
        return Skipped(f"{fraction} is a fraction of the pod's {'request' if name == 'cpu' else 'limit'}: "
                       f"pass {flag} to fit it (or fetch {absolute})"), ""
    else:
        return Skipped(f"no {absolute} or {fraction} column"), ""
    present = np.isfinite(y)
    col = absolute if absolute in s else fraction
    why = gate(present, col, f"qps, replicas and {col}")
    use = base & present & ~overloaded
    if why is None and overloaded.any():
        why = (_too_short(times, use, spacing, f"qps, replicas and {col} outside overload") or _constant(x[use]))
    if why is not None:
        return Skipped(why), series
    result = _fit.fit_linear(x[use], y[use])
    keep = base & present
    data[name] = FitData(x[keep], y[keep], use[keep], f"{label} ({series})")
    return result, series


def _replicas(rep: np.ndarray) -> ReplicaSummary:
    r = rep[np.isfinite(rep)]
    steps = np.diff(np.round(r))
    return ReplicaSummary(n=len(r), minimum=float(r.min()), median=float(np.median(r)), maximum=float(r.max()),
                          scale_events=int(np.count_nonzero(steps)), ups=int(np.count_nonzero(steps > 0)),
                          downs=int(np.count_nonzero(steps < 0)))


_METADATA_FIRST = ("server", "start", "end", "step_seconds", "fetched_at", "format")  # scalelab fetch's keys


def describe_metadata(metadata: Mapping[str, object], limit: int = 6) -> str:
    """``key=value, ...`` for the scalar entries of the file's ``scalelab`` metadata (short;
    ``scalelab fetch``'s provenance keys first)."""
    parts = []
    keys = [k for k in _METADATA_FIRST if k in metadata] + [k for k in metadata if k not in _METADATA_FIRST]
    for key in keys:
        value = metadata[key]
        if isinstance(value, (str, int, float, bool)) and not (isinstance(value, float) and math.isnan(value)):
            text = str(value)
            parts.append(f"{key}={text if len(text) <= 60 else text[:57] + '...'}")
        if len(parts) >= limit:
            break
    return ", ".join(parts)
