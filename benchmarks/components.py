"""Component timings (``make bench``): trace loading, scoring, the oracle at its worst.

These used to be timed assertions in unit tests; timing belongs here, printed, never asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workbench.scoring import oracle, scores  # noqa: E402
from workbench.traces import files, grid_for, resample  # noqa: E402


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    rows = []
    n = 90 * 288
    rng = np.random.default_rng(0)
    stamps = np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + np.arange(n) * np.timedelta64(300, "s"))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.csv"
        path.write_text("timestamp,requests_per_s\n" + "".join(
            f"{s}Z,{v!r}\n" for s, v in zip(stamps, np.round(rng.uniform(0, 1000, n), 3).tolist())))

        def load():
            trace = files.load_trace(path)
            start, ticks = grid_for(trace, 15.0)
            resample(trace, "requests_per_s", start=start, interval=15.0, ticks=ticks)
        rows.append(("load + resample 90 d of 5-min CSV to 15 s", best(load), "target < 1 s"))
    m = 172_800
    d = np.clip(200 + 150 * np.sin(np.arange(m) / 3000) + rng.normal(0, 20, m), 0, None).astype(np.int64)
    s = np.clip(d + rng.integers(-2, 5, m), 0, None)
    rec = {"t": np.arange(m, dtype=float), "demand_rps": d * 10.0, "served_rps": d * 10.0, "dropped_rps": np.zeros(m),
           "ready_replicas": s, "desired_replicas": s, "billed_replicas": s + 0.5, "p95_ms": np.full(m, 100.0),
           "over_slo_share": rng.random(m), "sla_violation": s < d, "demand_replicas": d}
    params = scores.ScoreParams(dt=1.0, cost_per_replica_hour=0.04, startup_min_seconds=45.0, initial_replicas=3)
    rows.append(("all scores, 172,800 ticks", best(lambda: scores.compute_scores(rec, params)), "target < 0.2 s"))
    k = 500_000
    noisy = np.clip(300 + 250 * np.sin(np.arange(k) / 3000) + rng.normal(0, 30, k), 0, None).astype(np.int64)
    worst = rng.integers(0, 1000, k)
    rows.append(("oracle, 500k noisy ticks", best(lambda: oracle.oracle_replica_seconds(noisy, 15.0, 60.0, 3)), "target < 1 s"))
    rows.append(("oracle, 500k random ticks, L=1e9", best(lambda: oracle.oracle_replica_seconds(worst, 1.0, 1e9, 3)), "target < 1 s"))
    w = max(len(r[0]) for r in rows)
    print(f"| {'component':<{w}} | {'wall s':>7} | target |")
    print(f"|{'-' * (w + 2)}|{'-' * 9}|--------|")
    for name, t, target in rows:
        print(f"| {name:<{w}} | {t:>7.3f} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
