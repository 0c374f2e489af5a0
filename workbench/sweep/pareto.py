"""The cost-vs-SLA trade-off of a sweep: the Pareto front and its figure.

Both axes are minimised and **aggregated over the sweep's scenarios by summing**:

* cost = the sum of ``cost_replica_hours`` over the scenarios (billed replica-hours; a sum, so a
  long scenario weighs more than a short one, as it would on the bill);
* SLA misses = the sum of ``sla_violation_seconds`` (seconds with p95 over the SLO or requests
  dropped).

A variant is on the front when no other variant is at least as good on both axes and strictly
better on one. Equal points are all on the front (neither dominates the other). Variants without
scores (invalid policies) are never on it. The front ignores the constraints: it shows what the
policy family can trade, the constraints then pick a point.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

__all__ = ["COST", "SLA", "pareto_front", "figure"]

COST = "cost_replica_hours"
SLA = "sla_violation_seconds"


def _usable(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and not math.isnan(v)


def pareto_front(points: Sequence[tuple[Any, Any]]) -> list[bool]:
    """For each (cost, misses) point, whether it is on the Pareto front (both minimised).
    Points with a missing or NaN coordinate are not. O(n log n)."""
    on = [False] * len(points)
    order = sorted((i for i, (c, s) in enumerate(points) if _usable(c) and _usable(s)),
                   key=lambda i: (points[i][0], points[i][1]))
    best_sla = math.inf
    k = 0
    while k < len(order):
        cost = points[order[k]][0]
        group = []
        while k < len(order) and points[order[k]][0] == cost:
            group.append(order[k])
            k += 1
        lowest = points[group[0]][1]  # sorted by misses within equal cost
        if lowest < best_sla:
            for i in group:
                if points[i][1] == lowest:
                    on[i] = True
            best_sla = lowest
    return on


def figure(table: Any, path: str | Path, *, title: str = "sweep: cost vs SLA misses",
           objective: str | None = None, closest: str | None = None) -> Path:
    """Every valid variant as a point (SLA-miss hours vs replica-hours, summed over scenarios):
    feasible ones filled, infeasible hollow, the Pareto front joined and highlighted, the base
    policy and the chosen best marked (or, when nothing is feasible, the ``closest`` variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["error"].isna()] if "error" in table.columns else table
    x = rows[SLA].astype(float) / 3600.0
    y = rows[COST].astype(float)
    feasible = rows["feasible"].astype(bool)
    fig, ax = plt.subplots(figsize=(8.5, 6))
    ax.scatter(x[feasible], y[feasible], s=16, color="#4c72b0", alpha=0.55, label=f"feasible ({int(feasible.sum())})")
    ax.scatter(x[~feasible], y[~feasible], s=16, facecolors="none", edgecolors="0.55", alpha=0.7,
               label=f"infeasible ({int((~feasible).sum())})")
    front = rows[rows["on_front"].astype(bool)].sort_values([COST, SLA])
    if len(front):
        ax.plot(front[SLA] / 3600.0, front[COST], "-o", color="#dd8452", lw=1.5, ms=6, zorder=3,
                label=f"Pareto front ({len(front)})")
    base = rows[rows["is_base"].astype(bool)]
    if len(base):
        ax.scatter(base[SLA] / 3600.0, base[COST], marker="*", s=260, color="#55a868", edgecolors="black",
                   zorder=4, label="base policy")
    best = rows[rows["best"].astype(bool)] if "best" in rows.columns else rows.iloc[:0]
    if len(best):
        b = best.iloc[0]
        ax.scatter([b[SLA] / 3600.0], [b[COST]], marker="D", s=130, color="#c44e52", edgecolors="black", zorder=5,
                   label=f"best: {b['variant']}" + (f" ({objective})" if objective else ""))
    near = rows[rows["variant"] == closest] if closest is not None and not len(best) else rows.iloc[:0]
    if len(near):
        c = near.iloc[0]
        ax.scatter([c[SLA] / 3600.0], [c[COST]], marker="D", s=130, facecolors="none", edgecolors="#c44e52",
                   linewidths=2, zorder=5, label=f"closest (none feasible): {c['variant']}")
    ax.set_xlabel("SLA missed (hours, summed over scenarios)")
    ax.set_ylabel("cost (replica-hours, summed over scenarios)")
    ax.set_xlim(left=min(0.0, float(x.min()) if len(x) else 0.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)
    return out
