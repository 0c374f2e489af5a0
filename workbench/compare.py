"""Many policies on many scenarios: one table of scores, and the standard comparison figures.

    from workbench import compare
    table = compare.run_matrix(["scenarios/policies/tiered.yaml", "scenarios/policies/hpa-default.yaml"],
                               ["scenarios/nasa-1995-07.yaml"], workers=2)
    compare.figure(table, "comparison.png")

Each (policy, scenario) pair is an independent backtest, run in a process pool (``workers``;
1 = in this process). Results are deterministic whatever the worker count: every run depends
only on its policy, scenario and the scenario's seed. The table has one row per pair with every
score (``workbench.scoring``) plus ``policy``, ``kind``, ``scenario`` and ``wall_seconds``.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from workbench import backtest, outputs


RECORD_COLUMNS = ("t", "time", "demand_rps", "ready_replicas", "desired_replicas", "demand_replicas", "p95_ms",
                  "sla_violation", "change")


def _one(policy_path: str, scenario_path: str, records_dir: str | None = None) -> dict:
    policy = backtest.load_policy(policy_path)
    scenario = backtest.load_scenario(scenario_path)
    result = backtest.run(policy, scenario)
    row = {"policy": policy.name, "kind": policy.spec.kind, "scenario": scenario.name,
           "policy_file": policy_path, "scenario_file": scenario_path, "policy_hash": policy.hash,
           "wall_seconds": result.meta["wall_seconds"], **result.scores}
    if records_dir is not None:
        path = Path(records_dir) / f"{scenario.name}__{policy.name}.parquet"
        result.records[list(RECORD_COLUMNS)].to_parquet(path, index=False)
        row["records"] = path.name
    return row


def run_matrix(policies: Sequence[str | Path], scenarios: Sequence[str | Path], *, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None, records_dir: str | Path | None = None
               ) -> pd.DataFrame:
    """Backtest every policy on every scenario; one row per pair, in (scenario, policy) order.
    With ``records_dir``, each run's per-tick records (a compact subset) are saved there too."""
    rd = None if records_dir is None else str(records_dir)
    pairs = [(str(p), str(s), rd) for s in scenarios for p in policies]
    # validate every file up front, so a typo fails fast with its own message
    for p in dict.fromkeys(str(p) for p in policies):
        backtest.load_policy(p)
    for s in dict.fromkeys(str(s) for s in scenarios):
        backtest.load_scenario(s)
    workers = workers or min(len(pairs), os.cpu_count() or 1)
    rows: list[dict | None] = [None] * len(pairs)
    if workers <= 1:
        for i, pair in enumerate(pairs):
            rows[i] = _one(*pair)
            if progress:
                progress(i + 1, len(pairs))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_one, *pair): i for i, pair in enumerate(pairs)}
            done = 0
            for future in as_completed(futures):
                rows[futures[future]] = future.result()
                done += 1
                if progress:
                    progress(done, len(pairs))
    return pd.DataFrame(rows)


def overlay_timeline(table: pd.DataFrame, records_dir: str | Path, scenario: str, path: str | Path,
                     max_points: int = 2500) -> Path:
    """One scenario, every policy: ready replicas over time against the replicas the SLO needed,
    and SLO misses per policy as a strip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["scenario"] == scenario]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(13, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    need_drawn = False
    for i, (_, row) in enumerate(rows.iterrows()):
        rec = pd.read_parquet(Path(records_dir) / row["records"])
        size = max(1, -(-len(rec) // max_points))
        g = rec.groupby(np.arange(len(rec)) // size)
        x = rec["time"].iloc[::size].reset_index(drop=True)
        if not need_drawn:
            ax.fill_between(x, 0, g["demand_replicas"].max(), step="post", color="0.85", label="needed for SLO")
            need_drawn = True
        ax.step(x, g["ready_replicas"].max(), where="post", lw=0.9, color=colors[i % len(colors)], label=row["policy"])
        miss = g["sla_violation"].max().to_numpy().astype(bool)
        ax2.scatter(x[miss], np.full(miss.sum(), i), marker="|", s=40, color=colors[i % len(colors)])
    ax.set_ylabel("ready replicas")
    ax.legend(loc="upper left", fontsize=8, ncol=min(5, len(rows) + 1))
    ax.grid(alpha=0.3)
    ax2.set_yticks(range(len(rows)), list(rows["policy"]), fontsize=8)
    ax2.set_ylim(-0.5, len(rows) - 0.5)
    ax2.set_title("SLO missed", fontsize=9, loc="left")
    ax2.grid(alpha=0.3, axis="x")
    fig.suptitle(f"{scenario}: policies overlaid")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def run_to_folder(policies: Sequence[str | Path], scenarios: Sequence[str | Path], out_dir: str | Path, *,
                  workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """``scalelab compare``: run the matrix and write results.csv/.parquet, cost_vs_sla.png,
    timeline-<scenario>.png and records/ into ``out_dir`` (all or nothing, see ``outputs``)."""
    with outputs.staged_folder(out_dir) as tmp:
        (tmp / "records").mkdir()
        table = run_matrix(policies, scenarios, workers=workers, progress=progress, records_dir=tmp / "records")
        table.to_csv(tmp / "results.csv", index=False)
        table.to_parquet(tmp / "results.parquet", index=False)
        figure(table, tmp / "cost_vs_sla.png")
        for scen in dict.fromkeys(table["scenario"]):
            overlay_timeline(table, tmp / "records", scen, tmp / f"timeline-{scen}.png")
    return table


SUMMARY_COLUMNS = ("scenario", "policy", "cost_replica_hours", "oracle_cost_ratio", "sla_violation_seconds",
                   "sla_violation_request_share", "dropped_requests", "scale_events", "direction_reversals",
                   "flaps", "theta_u", "theta_o", "tau_u")


def markdown_table(table: pd.DataFrame, columns: Sequence[str] = SUMMARY_COLUMNS) -> str:
    """A GitHub-flavoured Markdown table of the chosen columns (numbers rounded for reading)."""
    cols = [c for c in columns if c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in table[cols].iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, (float, np.floating)):
                cells.append("-" if pd.isna(v) else (f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: str | Path, *, title: str = "policies compared") -> Path:
    """Per scenario: cost (÷ oracle) against SLA-miss time, one marker per policy, plus the
    oscillation count — the trade-off at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(table["scenario"]))
    policies = list(dict.fromkeys(table["policy"]))
    markers = "os^Dv<>Px*"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.2 * len(scenarios), 7.5), squeeze=False)
    for j, scen in enumerate(scenarios):
        sub = table[table["scenario"] == scen]
        ax = axes[0][j]
        for i, pol in enumerate(policies):
            row = sub[sub["policy"] == pol]
            if row.empty:
                continue
            ax.scatter(row["sla_violation_seconds"] / 3600.0, row["oracle_cost_ratio"], s=70,
                       marker=markers[i % len(markers)], color=colors[i % len(colors)], label=pol)
        ax.set_title(scen, fontsize=10)
        ax.set_xlim(left=0)
        ax.set_xlabel("SLO missed (hours)")
        ax.set_ylabel("cost ÷ oracle")
        ax.grid(alpha=0.3)
        ax2 = axes[1][j]
        vals = [float(sub[sub["policy"] == p]["scale_events"].iloc[0]) if (sub["policy"] == p).any() else 0.0
                for p in policies]
        ax2.bar(range(len(policies)), vals, color=[colors[i % len(colors)] for i in range(len(policies))])
        ax2.set_xticks(range(len(policies)), policies, rotation=30, ha="right", fontsize=8)
        ax2.set_ylabel("scale events")
        ax2.set_ylim(0, max(vals + [1.0]) * 1.15)
        for x_, v in enumerate(vals):
            ax2.text(x_, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8)
        ax2.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
