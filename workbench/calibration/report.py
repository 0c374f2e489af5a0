"""What ``scalelab calibrate`` hands back: ``service.yaml``, a figure and a summary table.

* ``service_yaml(cal)``: a ``service:`` mapping in the scenario format, ready to paste into a
  scenario. Fields that could not be fitted are left out with a comment saying why (the scenario
  defaults then apply); a header comment gives the source, its range and every fit's quality.
* ``plot(cal, path)``: observed vs fitted for each fit (scatter against per-pod load with the
  fitted curve; latency on a log axis; overloaded samples marked) and replicas over time.
* ``summary_table(cal)``: the readable stdout table.
* ``write_outputs(cal, out, figure)``: both files, each written to a temporary file beside it and
  moved into place only when complete, so a reader never sees a partial file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from workbench.calibration.calibrate import Calibration, Skipped, describe_metadata
from workbench.calibration.fit import LatencyFit, LinearFit
from workbench import outputs
from workbench.core import errors
from workbench.traces.files import human_duration, iso


def number(value: float, digits: int = 5) -> str:
    """A plain YAML number: positional (PyYAML reads ``1e-05`` as a string), ``digits`` significant."""
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}%"


def _r2(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.4f}"


def _quality_lines(cal: Calibration) -> list[str]:
    out = []
    cpu, mem, lat = cal.cpu, cal.memory, cal.latency
    if isinstance(cpu, LinearFit):
        out.append(f"  cpu      cores = idle + per_rps * x ({cal.cpu_series}): n={cpu.n:,}  R2={_r2(cpu.r2)}  "
                   f"MAPE={_pct(cpu.mape)}" + (f"  ({cpu.note})" if cpu.note else ""))
    if isinstance(mem, LinearFit):
        out.append(f"  memory   MB = base_mb + per_rps_mb * x ({cal.memory_series}): n={mem.n:,}  R2={_r2(mem.r2)}  "
                   f"MAPE={_pct(mem.mape)}" + (f"  ({mem.note})" if mem.note else ""))
    if isinstance(lat, LatencyFit):
        cens = (f"  ({lat.censored:,} overloaded samples at the {lat.ceiling_ms:g} ms ceiling fitted as lower bounds)"
                if lat.censored else "")
        out.append(f"  latency  p95 = network_ms + M/M/c(workers, service_time_ms): n={lat.n:,}  "
                   f"R2(log)={_r2(lat.r2_log)}  MAPE={_pct(lat.mape)}{cens}")
    return out


def header_lines(cal: Calibration) -> list[str]:
    h = cal.history
    lo, med, hi = cal.load_range()
    lines = [
        "scalelab calibrate: a service model fitted from metrics history",
        f"source: {h.source}",
        f"range: {iso(cal.start)} .. {iso(cal.end)} ({len(h):,} samples, every {human_duration(cal.spacing)})",
    ]
    meta = describe_metadata(h.metadata)
    if meta:
        lines.append(f"fetched: {meta}")
    lines.append(f"per-pod load x = qps / replicas: {lo:.4g} .. {hi:.4g} req/s (median {med:.4g})")
    r = cal.replicas
    lines.append(f"replicas: min {r.minimum:g}, median {r.median:g}, max {r.maximum:g}; "
                 f"{r.scale_events} scale events ({r.ups} up, {r.downs} down)")
    lines.append("fit quality on the samples used (R2 = coefficient of determination, MAPE = mean abs. % error):")
    lines += _quality_lines(cal)
    lat = cal.latency
    if isinstance(lat, LatencyFit):
        pw, pc = lat.plausible_workers, lat.plausible_capacity
        plausible = (f"capacity {pc[0]:.4g}-{pc[1]:.4g} req/s" if np.isfinite(pc[0]) else "capacity not identified")
        lines.append(f"capacity: {lat.capacity_rps:.4g} req/s per pod = {lat.workers} workers x 1000 / "
                     f"{lat.service_time_ms:.4g} ms (plausible workers {pw[0]}-{pw[1]}, {plausible})")
        model = lat.model(cal.slo_p95_ms)
        rho = model.rho_max_for_slo
        lines.append(f"at an SLO of p95 <= {cal.slo_p95_ms:g} ms one pod serves up to "
                     f"{rho * lat.capacity_rps:.4g} req/s (utilisation {rho:.3f})")
        if lat.network_ms >= cal.slo_p95_ms:
            lines.append(f"WARNING: network_ms {lat.network_ms:.4g} is not below the SLO: a scenario with "
                         f"sla.p95_ms <= {lat.network_ms:.4g} rejects this model")
        lines += [f"note: {n}" for n in lat.notes]
    if cal.overloaded:
        lines.append(f"note: {cal.overloaded:,} overloaded samples (p95 at its ceiling or load beyond capacity) "
                     f"were left out of the CPU and memory fits")
    lines.append("not fitted from history: startup_seconds, termination_seconds (add them; defaults apply)")
    return lines


def service_yaml(cal: Calibration) -> str:
    """The ``service:`` mapping with a header comment (see the module docstring)."""
    out = [f"# {line}" for line in header_lines(cal)]
    out.append("service:")
    lat, cpu, mem = cal.latency, cal.cpu, cal.memory
    if isinstance(lat, LatencyFit):
        out += ["  latency:", "    model: mmc",
                f"    workers_per_pod: {lat.workers}",
                f"    service_time_ms: {number(lat.service_time_ms)}",
                f"    network_ms: {number(lat.network_ms, 4) if lat.network_ms >= 0.005 else '0'}"]
        if lat.ceiling_repeats:
            out.append(f"    timeout_ms: {number(lat.ceiling_ms)}   # the p95 ceiling seen when overloaded")
        out.append(f"  # capacity {lat.capacity_rps:.4g} req/s per pod (= workers_per_pod x 1000 / service_time_ms)")
        out += [f"  # CAUTION: {n}" for n in lat.notes]
    else:
        out.append(f"  # latency and capacity not fitted: {lat.reason}")
    if isinstance(cpu, LinearFit):
        out += ["  cpu:", f"    per_rps: {number(cpu.slope)}", f"    idle: {number(cpu.intercept)}"]
        if cal.cpu_request is not None:
            out.append(f"    request: {number(cal.cpu_request)}   # {cal.cpu_request_source}")
        else:
            out.append("    # request not known: pass --cpu-request CORES (the scenario default 1.0 applies)")
    else:
        out.append(f"  # cpu not fitted: {cpu.reason}")
    if isinstance(mem, LinearFit):
        out += ["  memory:", f"    base_mb: {number(mem.intercept)}", f"    per_rps_mb: {number(mem.slope)}"]
        if cal.memory_limit_mb is not None:
            out.append(f"    limit_mb: {number(cal.memory_limit_mb)}   # {cal.memory_limit_source}")
        else:
            out.append("    # limit_mb not known: pass --memory-limit-mb MB (the scenario default 1024 applies)")
    else:
        out.append(f"  # memory not fitted: {mem.reason}")
    return "\n".join(errors.one_line(line) for line in out) + "\n"


# ----------------------------------------------------------------------------------------- table
def summary_table(cal: Calibration) -> str:
    lo, med, hi = cal.load_range()
    r = cal.replicas
    lines = [
        f"history   {cal.history.source}",
        f"          {iso(cal.start)} .. {iso(cal.end)}  {len(cal.history):,} samples every {human_duration(cal.spacing)}",
        f"load      per pod (qps / replicas) min {lo:.4g}  median {med:.4g}  max {hi:.4g} req/s",
        f"replicas  min {r.minimum:g}  median {r.median:g}  max {r.maximum:g}  "
        f"scale events {r.scale_events} ({r.ups} up, {r.downs} down)",
        "",
        f"{'fit':<9}{'parameters':<58}{'n':>9}{'R2':>9}{'MAPE':>9}",
    ]
    for name, f in cal.fits.items():
        if isinstance(f, Skipped):
            lines.append(f"{name:<9}not fitted: {f.reason}")
            continue
        if isinstance(f, LatencyFit):
            params = (f"workers {f.workers}  service {f.service_time_ms:.4g} ms  network {f.network_ms:.3g} ms  "
                      f"cap {f.capacity_rps:.4g}/s")
            r2 = f.r2_log
        elif name == "cpu":
            params = f"idle {f.intercept:.4g} cores + {f.slope:.4g} (±{f.slope_se:.2g}) cores per req/s"
            r2 = f.r2
        else:
            params = f"base {f.intercept:.4g} MB + {f.slope:.4g} (±{f.slope_se:.2g}) MB per req/s"
            r2 = f.r2
        lines.append(f"{name:<9}{params:<58}{f.n:>9,}{_r2(r2):>9}{_pct(f.mape):>9}")
    lat = cal.latency
    if isinstance(lat, LatencyFit):
        pw = lat.plausible_workers
        lines.append(f"{'':<9}R2 of log p95; plausible workers {pw[0]}-{pw[1]}"
                     + (f"; {lat.censored:,} samples at the {lat.ceiling_ms:g} ms ceiling (overload)" if lat.censored else ""))
        lines += [f"{'':<9}note: {n}" for n in lat.notes]
    for f in (cal.cpu, cal.memory):
        if isinstance(f, LinearFit) and f.note:
            lines.append(f"{'':<9}note: {f.note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- figure
def plot(cal: Calibration, path: str | Path, *, max_points: int = 10000) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    rng = np.random.default_rng(0)

    def sample(n: int) -> np.ndarray:
        return np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)

    panels = (("cpu", axes[0, 0], "CPU"), ("memory", axes[0, 1], "memory"), ("latency", axes[1, 0], "latency"))
    for name, ax, title in panels:
        f = cal.fits[name]
        if isinstance(f, Skipped):
            ax.text(0.5, 0.5, f"{title} not fitted:\n" + textwrap.fill(f.reason, 60), ha="center", va="center",
                    fontsize=9, transform=ax.transAxes)
            ax.set_axis_off()
            continue
        d = cal.data[name]
        i = sample(len(d.x))
        x, y, used = d.x[i], d.y[i], d.used[i]
        if isinstance(f, LatencyFit):
            y = np.where(np.isinf(y), f.timeout_ms, y)  # beyond the histogram: drawn at the ceiling
        ax.scatter(x[used], y[used], s=5, alpha=0.35, color="tab:blue", linewidths=0, label="observed")
        if (~used).any():
            ax.scatter(x[~used], y[~used], s=5, alpha=0.5, color="tab:red", linewidths=0,
                       label="overloaded (not in the error)")
        grid = np.linspace(0.0, float(d.x.max()) * 1.02, 400)
        if isinstance(f, LatencyFit):
            hi = min(float(d.x.max()) * 1.02, f.capacity_rps * (1 - 1e-6))
            grid = np.linspace(0.0, hi, 400)
            ax.plot(grid, f.predict(grid), color="k", lw=1.0,
                    label=f"M/M/c: {f.workers} workers x {f.service_time_ms:.3g} ms + {f.network_ms:.3g} ms")
            ax.axvline(f.capacity_rps, color="0.5", ls="--", lw=0.8, label=f"capacity {f.capacity_rps:.4g}/s")
            ax.set_yscale("log")
            ax.set_title(f"p95 latency (R² of log {_r2(f.r2_log)}, MAPE {_pct(f.mape)}, n={f.n:,})", fontsize=10)
        else:
            lat = cal.latency
            served = np.minimum(grid, lat.capacity_rps) if isinstance(lat, LatencyFit) else grid
            ax.plot(grid, f.predict(served), color="k", lw=1.0,
                    label=f"{f.intercept:.4g} + {f.slope:.4g}·x" + (" (x served, up to capacity)"
                                                                    if isinstance(lat, LatencyFit) else ""))
            ax.set_title(f"{title} (R² {_r2(f.r2)}, MAPE {_pct(f.mape)}, n={f.n:,})", fontsize=10)
        ax.set_xlabel("per-pod load x = qps / replicas (req/s)")
        ax.set_ylabel(d.label)
        ax.legend(loc="best", fontsize=8)

    ax = axes[1, 1]
    times = cal.history.times
    rep = cal.history.series["replicas"]
    ok = np.isfinite(rep)
    t_days = (times - times[0]) / 86400.0
    ax.step(t_days[ok], rep[ok], where="post", color="tab:green", lw=0.8, label="replicas")
    ax.set_xlabel(f"days since {iso(times[0])}")
    ax.set_ylabel("ready replicas")
    ax2 = ax.twinx()
    q = cal.history.series["qps"]
    okq = np.isfinite(q)
    ax2.plot(t_days[okq], q[okq], color="tab:blue", lw=0.5, alpha=0.6, label="qps")
    ax2.set_ylabel("requests/s (service)")
    ax.set_zorder(ax2.get_zorder() + 1)  # replicas drawn over the load
    ax.patch.set_visible(False)
    ax.legend(handles=ax.get_lines() + ax2.get_lines(), loc="upper left", fontsize=8)
    r = cal.replicas
    ax.set_title(f"replicas {r.minimum:g}-{r.maximum:g} (median {r.median:g}), {r.scale_events} scale events",
                 fontsize=10)
    fig.suptitle(f"calibration of {Path(cal.history.source).name}: observed vs fitted", fontsize=12)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------- write
def write_outputs(cal: Calibration, out: str | Path, figure: str | Path | None = None) -> list[Path]:
    """Write ``out`` (the service YAML) and, unless ``figure`` is None, the figure. Each file appears
    whole or not at all; the figure is rendered before the YAML is moved into place."""
    target = Path(out)
    for p in (target, Path(figure) if figure is not None else None):
        if p is not None and p.is_dir():
            raise errors.UserError(f"{p}: is a directory")
    written = []
    if figure is not None:
        outputs.atomic_file(Path(figure), lambda tmp: plot(cal, tmp))
        written.append(Path(figure))
    outputs.atomic_file(target, lambda tmp: tmp.write_text(service_yaml(cal)))
    written.insert(0, target)
    return written
