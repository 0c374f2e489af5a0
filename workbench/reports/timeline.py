"""The timeline figure of one backtest: load, replicas, CPU and p95 against the SLO, decisions marked.

Reads records only. Long runs are binned to at most ``max_points`` points per series so the
figure stays readable: load and CPU show the bin mean with a min–max band, replicas the bin
maximum (a one-tick spike stays visible), p95 the bin maximum (an SLO miss stays visible).
Scale-ups are marked ▲ and scale-downs ▼ on the replica panel.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _binned(frame: pd.DataFrame, max_points: int) -> tuple[pd.DataFrame, pd.Series]:
    n = len(frame)
    size = max(1, -(-n // max_points))
    groups = np.arange(n) // size
    g = frame.groupby(groups)
    return g, frame["time"].iloc[::size].reset_index(drop=True)


def plot(records: pd.DataFrame, path: str | Path, *, title: str = "", slo_ms: float | None = None,
         max_points: int = 3000) -> Path:
    g, x = _binned(records, max_points)
    fig, axes = plt.subplots(4, 1, figsize=(13, 10), sharex=True,
                             gridspec_kw={"height_ratios": [1.1, 1.3, 0.9, 1.0]})
    ax_load, ax_rep, ax_cpu, ax_lat = axes

    demand = g["demand_rps"]
    ax_load.fill_between(x, demand.min(), demand.max(), color="tab:blue", alpha=0.2, linewidth=0)
    ax_load.plot(x, demand.mean(), color="tab:blue", lw=0.8, label="demand (req/s)")
    dropped = g["dropped_rps"].max()
    if (dropped > 0).any():
        ax_load.plot(x, dropped, color="tab:red", lw=0.8, label="dropped (req/s)")
    ax_load.set_ylabel("requests/s")
    ax_load.legend(loc="upper left", fontsize=8)

    ax_rep.step(x, g["demand_replicas"].max(), where="post", color="0.55", lw=0.8, label="needed for SLO")
    ax_rep.step(x, g["desired_replicas"].max(), where="post", color="tab:orange", lw=0.9, label="desired")
    ax_rep.step(x, g["ready_replicas"].max(), where="post", color="tab:green", lw=1.0, label="ready")
    changes = records[records["change"] != 0]
    ups, downs = changes[changes["change"] > 0], changes[changes["change"] < 0]
    ax_rep.scatter(ups["time"], ups["desired_replicas"], marker="^", s=10, color="tab:red", label="scale up", zorder=3)
    ax_rep.scatter(downs["time"], downs["desired_replicas"], marker="v", s=10, color="tab:purple",
                   label="scale down", zorder=3)
    ax_rep.set_ylabel("replicas")
    ax_rep.legend(loc="upper left", fontsize=8, ncol=5)

    cpu = g["cpu"]
    ax_cpu.fill_between(x, cpu.min(), cpu.max(), color="tab:brown", alpha=0.2, linewidth=0)
    ax_cpu.plot(x, cpu.mean(), color="tab:brown", lw=0.8, label="CPU (true)")
    ax_cpu.plot(x, g["cpu_seen"].mean(), color="k", lw=0.6, alpha=0.7, label="CPU (seen by policy)")
    ax_cpu.set_ylabel("CPU / request")
    ax_cpu.legend(loc="upper left", fontsize=8)

    ax_lat.plot(x, g["p95_ms"].max(), color="tab:purple", lw=0.8, label="p95 (true, bin max)")
    if slo_ms is not None:
        ax_lat.axhline(slo_ms, color="tab:red", ls="--", lw=1.0, label=f"SLO {slo_ms:g} ms")
    viol = g["sla_violation"].max().astype(bool).to_numpy()
    if viol.any():
        top = ax_lat.get_ylim()[1]
        ax_lat.scatter(x[viol], np.full(viol.sum(), top), marker="v", color="tab:red", s=12, clip_on=False,
                       label=f"SLO missed ({int(records['sla_violation'].sum() * (records['t'].iloc[1] - records['t'].iloc[0]) if len(records) > 1 else 0):,} s)", zorder=3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("p95 latency (ms)")
    ax_lat.legend(loc="upper left", fontsize=8)
    ax_lat.set_xlabel("time (UTC)")

    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
