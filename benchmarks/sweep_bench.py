"""`make bench` (sweep part): how fast `scalelab sweep` runs, locally and on Dask.

Workload: the bundled tiered space (``scenarios/spaces/tiered-thresholds.yaml``: 1,000 grid
variants of the seed's tiered policy) on the Wikipedia January 2016 scenario cut to exactly 30
days (172,800 control ticks per run). Each measurement starts from an empty output folder (no
resume cache), so every run is executed; the base policy is run too (variants + 1 runs).

* local: ``--executor local`` with 2 processes, all 1,000 variants;
* Dask: a ``LocalCluster`` (loopback, processes, 1 thread each) with 1 worker, then with 2
  workers, on the same seeded 100-variant subset of the grid. Cluster start-up is not timed and
  each worker has imported scalelab and loaded the trace before the clock starts (a warm-up
  call), so the speed-up measures the runs themselves. The workers use
  ``workbench.sweep.run.DASK_WORKER_CONFIG`` (profiler off, no per-array mmap; see its doc);
  ``--default-dask-config`` measures Dask's defaults instead.

Targets (issue "compare, sweep, report, promote"): 1,000 variants x 30 days <= 10 min on this
machine; speed-up from 1 to 2 Dask workers >= 1.8x. Other processes on the machine share its
cores: the load average is printed before and after so noisy numbers can be recognised.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workbench.sweep import run_sweep  # noqa: E402
from workbench.sweep.run import DASK_WORKER_CONFIG, run_one  # noqa: E402

BASE = REPO / "scenarios/policies/tiered.yaml"
SPACE = REPO / "scenarios/spaces/tiered-thresholds.yaml"
WIKI = REPO / "scenarios/wikipedia-2016-01.yaml"


def thirty_day_scenario(folder: Path) -> Path:
    """The Wikipedia scenario with its trace path made absolute and cut to 30 days."""
    text = WIKI.read_text().replace("csv: ../data/traces/", f"csv: {REPO}/data/traces/")
    text = text.replace("  column: requests_per_s\n", "  column: requests_per_s\n  duration: 30d\n", 1)
    path = folder / "wikipedia-30d.yaml"
    path.write_text(text)
    return path


def timed_sweep(scenario: Path, out: Path, **kw) -> tuple[float, object]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = run_sweep(BASE, SPACE, [scenario], out, plot=False, progress=False, **kw)
    return time.perf_counter() - started, result


def dask_sweep(n_workers: int, scenario: Path, out: Path, samples: int, seed: int,
               tuned: bool = True) -> tuple[float, object]:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(DASK_WORKER_CONFIG if tuned else {}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None) as cluster:
        resolved = str(scenario.resolve())
        digest = hashlib.sha256(scenario.read_bytes()).hexdigest()[:16]
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=60)
            client.run(run_one, BASE.read_text(), resolved, digest)  # warm: import + trace per worker
        address = "dask://" + cluster.scheduler_address.removeprefix("tcp://")
        return timed_sweep(scenario, out, executor=address, samples=samples, seed=seed)


def mean_run_seconds(result) -> float:
    """Mean wall time of one run inside its worker (from the stored run files): it grows when the
    workers do not get a core each (other processes on the machine)."""
    import json

    walls = [json.loads(p.read_text())["wall_seconds"] for p in (result.out / "runs").glob("*.json")]
    return sum(walls) / len(walls)


def status(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=1000, help="local sweep size (default: the full 1,000 grid)")
    ap.add_argument("--dask-variants", type=int, default=100, help="Dask 1-vs-2-worker sweep size")
    ap.add_argument("--local-workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--default-dask-config", action="store_true", help="Dask workers with Dask's default settings")
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        folder = Path(tmp)
        scenario = thirty_day_scenario(folder)
        samples = None if args.variants >= 1000 else args.variants
        local_s, local = timed_sweep(scenario, folder / "local", workers=args.local_workers, samples=samples,
                                     seed=args.seed)
        tuned = not args.default_dask_config
        d1_s, d1 = dask_sweep(1, scenario, folder / "dask1", args.dask_variants, args.seed, tuned)
        d2_s, d2 = dask_sweep(2, scenario, folder / "dask2", args.dask_variants, args.seed, tuned)
        same = d1.table.equals(d2.table)
        ticks = int(local.table["ticks"].iloc[0])
        per_run = {id(r): mean_run_seconds(r) for r in (local, d1, d2)}

    n_local = local.counts["variants"]
    n_dask = d1.counts["variants"]
    speedup = d1_s / d2_s
    rows = [
        ("local pool, %d processes: %s variants x 30 days" % (args.local_workers, f"{n_local:,}"),
         local.counts["executed"], local_s, n_local / local_s, per_run[id(local)],
         "<= 600 s" if n_local >= 1000 else "-", status(local_s <= 600) if n_local >= 1000 else "-"),
        (f"Dask LocalCluster, 1 worker: {n_dask} variants", d1.counts["executed"], d1_s, n_dask / d1_s,
         per_run[id(d1)], "", ""),
        (f"Dask LocalCluster, 2 workers: {n_dask} variants", d2.counts["executed"], d2_s, n_dask / d2_s,
         per_run[id(d2)], "", ""),
    ]
    print()
    print(f"sweep: tiered space, Wikipedia 30 days ({ticks:,} ticks per run), base policy included; Dask workers: "
          f"{'DASK_WORKER_CONFIG' if tuned else 'default configuration'}")
    print()
    print("| measurement | runs | wall s | variants/s | s per run in worker | target | status |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name, runs, wall, rate, one, target, st in rows:
        print(f"| {name} | {runs:,} | {wall:.1f} | {rate:.2f} | {one:.3f} | {target} | {st} |")
    print(f"| speed-up 1 -> 2 Dask workers | | {speedup:.2f}x | | | >= 1.8x | {status(speedup >= 1.8)} |")
    print()
    print(f"1- and 2-worker Dask tables identical: {same}. 's per run in worker' grows when workers share a core "
          f"with other processes: compare it between the 1- and 2-worker rows before trusting the speed-up.")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
