"""Run a sweep: variants x scenarios, locally or on a Dask cluster, resumable; then score and pick.

    from workbench.sweep import run_sweep
    result = run_sweep("scenarios/policies/tiered.yaml", "scenarios/spaces/tiered-thresholds.yaml",
                       ["scenarios/wikipedia-2016-01.yaml"], "out/sweep", executor="local", workers=2)
    result.table        # one row per variant (the base first): parameters, aggregated scores, ...
    result.best         # the best feasible variant (a dict), or None

**Runs.** Every valid variant (and the base policy) is backtested on every scenario; each
(variant, scenario) pair is one independent run that depends only on the variant's text and the
scenario (with its seed), so results are identical whatever runs them and in whatever order.

**Executors.** ``local`` (default): a ``concurrent.futures.ProcessPoolExecutor`` with ``workers``
processes (default: the CPU count; 1 = in this process). ``dask://HOST:PORT``: the runs are
submitted to the Dask scheduler at ``tcp://HOST:PORT`` (``distributed.Client``) and collected as
they complete. Workers must have scalelab installed (the same version; checked) and see the
scenario and trace files at the same absolute paths (a shared checkout or file system). Use one
thread per worker process (``dask worker --nthreads 1 --nworkers N``): a run is pure Python and
holds the GIL. Each worker process loads a scenario's trace once and reuses it.

Dask worker settings matter for this workload (measured on a 30-day run: 0.27 s per run in a
default worker vs 0.14 s in a plain process): the workers' statistical profiler (every 10 ms)
costs ~20 %, and the ``MALLOC_TRIM_THRESHOLD_`` the nanny sets turns off glibc's adaptive mmap
threshold, so every large numpy array is mmapped and zeroed afresh (~+40 %). ``DASK_WORKER_CONFIG``
holds the remedy (profiler off, ``MALLOC_MMAP_THRESHOLD_`` = 64 MiB); put it in the workers' Dask
configuration (or ``dask.config.set`` it before starting a ``LocalCluster``). Results do not
depend on it.

**Resume.** Each finished run is stored at once, atomically, as ``DIR/runs/<key>.json`` where
``key`` = sha256 of (cache format, the variant's policy text, the scenario file's bytes), 32 hex
digits. A rerun (same or changed space, same DIR) reuses every stored run and runs only the
missing ones, so an interrupted sweep continues where it stopped. The key does not cover the
trace file's contents or the scalelab version: after changing either, delete ``DIR/runs``.

**Outputs** (each written to a temporary file and renamed into place): ``results.csv`` and
``results.parquet``, ``pareto.png`` (``workbench.sweep.pareto``), ``best.yaml``, ``sweep.json``.
Table columns: ``variant`` (``base``, ``v0001``...), ``is_base``, one column per parameter,
``objective``, ``feasible``, ``on_front``, ``best``, ``violations`` (the constraints a valid
variant misses, ``; ``-separated), ``error`` (why an invalid variant was not run), every score
aggregated over the scenarios (``space.AGGREGATION``), any explicitly aggregated score the
objective or constraints use (``mean(oracle_cost_ratio)``), and ``policy_hash``.

**Best**: the feasible variant with the best objective; ties go to fewer SLA-miss seconds, then
lower cost, then the earlier variant (the base first). **Closest** (when none is feasible): the
valid variant with the smallest total relative constraint violation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

import workbench
from workbench import backtest, outputs
from workbench.core import errors, loading
from workbench.scoring.scores import SCORE_KEYS
from workbench.sweep import pareto
from workbench.sweep.space import AGGREGATION, ScoreExpr, Space, Variant, base_variant, dump_policy, \
    generate_variants, load_space

__all__ = ["run_sweep", "SweepResult", "parse_executor", "run_key", "run_one", "CACHE_FORMAT", "DASK_WORKER_CONFIG"]

CACHE_FORMAT = "scalelab-sweep-run/1"
DASK_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 64 * 1024 * 1024,
}
"""Dask configuration for workers that run sweeps (module doc): ``dask.config.set(DASK_WORKER_CONFIG)``."""
OUTPUTS = ("results.csv", "results.parquet", "pareto.png", "best.yaml", "sweep.json")


# ------------------------------------------------------------------------------- executors

def parse_executor(text: str) -> tuple[str, str | None]:
    """``local`` -> ('local', None); ``dask://HOST:PORT`` -> ('dask', 'tcp://HOST:PORT')."""
    if text == "local":
        return "local", None
    prefix = "dask://"
    if isinstance(text, str) and text.startswith(prefix):
        hostport = text[len(prefix):]
        host, sep, port = hostport.rpartition(":")
        if sep and host and port.isdigit() and 0 < int(port) < 65536 and "/" not in hostport:
            return "dask", f"tcp://{hostport}"
    raise errors.UserError(f"--executor: expected 'local' or 'dask://HOST:PORT', got {text!r}")


def run_key(policy_text: str, scenario_bytes: bytes) -> str:
    """The name of a run's result file: sha256 of the policy text and the scenario file's bytes."""
    h = hashlib.sha256()
    h.update(CACHE_FORMAT.encode() + b"\0")
    h.update(policy_text.encode() + b"\0")
    h.update(scenario_bytes)
    return h.hexdigest()[:32]


_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


def run_one(policy_text: str, scenario_path: str, scenario_digest: str) -> dict[str, Any]:
    """One backtest, in whichever process runs it: the scores and the wall time. The scenario and
    its load are built once per process (keyed by path and content digest)."""
    from workbench.sim.load import build_load

    cached = _LOADED.get((scenario_path, scenario_digest))
    if cached is None:
        scenario = backtest.load_scenario(scenario_path)
        cached = (scenario, build_load(scenario))
        if len(_LOADED) >= 16:
            _LOADED.clear()
        _LOADED[(scenario_path, scenario_digest)] = cached
    scenario, load = cached
    started = time.perf_counter()
    policy = backtest.LoadedPolicy(loading.load_policy_text(policy_text, "<sweep variant>"), "<sweep variant>",
                                   policy_text)
    result = backtest.run(policy, scenario, load=load)
    return {"scores": result.scores, "wall_seconds": round(time.perf_counter() - started, 4)}


def worker_info() -> dict[str, Any]:
    """What a Dask worker reports before a sweep uses it."""
    return {"version": workbench.__version__, "python": sys.version.split()[0]}


@dataclass(frozen=True)
class _Task:
    key: str
    text: str
    scenario_path: str
    digest: str


def _execute_local(tasks: list[_Task], workers: int, done: Callable[[_Task, dict], None]) -> None:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            done(task, run_one(task.text, task.scenario_path, task.digest))
        return
    import multiprocessing

    # fork (as `compare` does): workers start in milliseconds with everything imported, and scripts,
    # notebooks and stdin need no `if __name__ == "__main__"` guard
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx)
    try:
        futures = {pool.submit(run_one, t.text, t.scenario_path, t.digest): t for t in tasks}
        for future in as_completed(futures):
            done(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _execute_dask(tasks: list[_Task], address: str, done: Callable[[_Task, dict], None]) -> int:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:  # pragma: no cover - a dependency
        raise errors.UserError("--executor dask://...: the 'distributed' package is not installed") from None
    try:
        client = Client(address, timeout=15, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise errors.UpstreamError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    futures: dict[Any, _Task] = {}
    try:
        try:
            client.wait_for_workers(1, timeout=60)
        except (TimeoutError, OSError) as exc:
            raise errors.UpstreamError(f"the Dask scheduler at {address} has no workers: {exc}") from None
        try:
            infos = client.run(worker_info)
        except Exception as exc:  # noqa: BLE001 - the workers cannot import us
            raise errors.UpstreamError(f"Dask workers at {address} cannot run scalelab: "
                                       f"{type(exc).__name__}: {exc}") from None
        wrong = sorted(w for w, info in infos.items() if info.get("version") != workbench.__version__)
        if wrong:
            raise errors.UpstreamError(f"Dask worker {wrong[0]} runs scalelab {infos[wrong[0]].get('version')}, "
                                       f"this is {workbench.__version__}")
        for t in tasks:
            futures[client.submit(run_one, t.text, t.scenario_path, t.digest, pure=False)] = t
        for future in dask_completed(list(futures), loop=client.loop):
            try:
                payload = future.result()
            except errors.ScalelabError as exc:  # e.g. a worker that cannot see the scenario's files
                raise errors.UpstreamError(f"a run failed on a Dask worker of {address}: {exc}") from None
            done(futures[future], payload)
        return len(infos)
    except BaseException:
        if futures:
            try:
                client.cancel(list(futures))
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        raise
    finally:
        client.close()


# --------------------------------------------------------------------------------- results

def _atomic_write(path: Path, data: bytes | str) -> None:
    outputs.write_atomic(path, data)


def _atomic_via(path: Path, write: Callable[[Path], Any]) -> None:
    outputs.atomic_file(path, write)


def _read_run(path: Path, key: str) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("scores"), dict):
        return None
    return record


@dataclass
class SweepResult:
    out: Path
    space: Space
    variants: list[Variant]
    scenarios: list[str]
    table: pd.DataFrame
    best: dict[str, Any] | None
    closest: dict[str, Any] | None
    counts: dict[str, int]
    executed: int
    reused: int
    executor: str
    wall_seconds: float
    message: str | None = None          # why there is no best (no feasible variant)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def invalid(self) -> list[Variant]:
        return [v for v in self.variants if not v.valid]


def _plain(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return _plain(v.item())
    return v


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def _params_text(space: Space, row: dict[str, Any]) -> str:
    return ", ".join(f"{p.name}={_fmt(row.get(p.name))}" for p in space.parameters)


def _column_values(values: list[Any]) -> list[Any]:
    """A parameter column parquet can store: numbers stay numbers; anything else becomes text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, bool) for v in present):
        return values
    return [None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)) for v in values]


def _objective_key(space: Space, value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf
    return float(value) if space.sense == "minimize" else -float(value)


def _num(v: Any) -> float:
    return math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _build_table(space: Space, variants: list[Variant], runs: dict[str, dict], keys: dict[str, list[str]]
                 ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    extra = [e for e in space.score_exprs() if e.explicit]
    rows: list[dict[str, Any]] = []
    values_by_variant: dict[str, dict[str, Any]] = {}
    for v in variants:
        row: dict[str, Any] = {"variant": v.id, "is_base": v.is_base}
        row.update({p.name: val for p, val in zip(space.parameters, v.values)})
        row.update(objective=None, feasible=False, on_front=False, best=False, violations=None, error=v.error)
        expr_values: dict[str, Any] = {}
        if v.valid:
            per_scenario = [runs[k]["scores"] for k in keys[v.id]]
            for key in SCORE_KEYS:
                row[key] = ScoreExpr(key, AGGREGATION[key], key).evaluate(per_scenario)
            for e in extra:
                row[e.label] = e.evaluate(per_scenario)
            expr_values = {e.label: e.evaluate(per_scenario) for e in space.score_exprs()}
            row["objective"] = expr_values[space.objective.label]
            missed = [c.text for c in space.constraints if not c.holds(expr_values[c.expr.label])]
            row["feasible"] = not missed
            row["violations"] = "; ".join(missed)
        else:
            for key in SCORE_KEYS:
                row[key] = None
            for e in extra:
                row[e.label] = None
        row["policy_hash"] = v.hash
        rows.append(row)
        values_by_variant[v.id] = expr_values
    points = [(r[pareto.COST], r[pareto.SLA]) if r["error"] is None else (None, None) for r in rows]
    for r, on in zip(rows, pareto.pareto_front(points)):
        r["on_front"] = on
    return rows, values_by_variant


def _choose(space: Space, rows: list[dict[str, Any]], exprs: dict[str, dict[str, Any]]
            ) -> tuple[int | None, int | None]:
    feasible = [i for i, r in enumerate(rows) if r["feasible"]]
    if feasible:
        best = min(feasible, key=lambda i: (_objective_key(space, rows[i]["objective"]), _num(rows[i][pareto.SLA]),
                                            _num(rows[i][pareto.COST]), i))
        return best, None
    valid = [i for i, r in enumerate(rows) if r["error"] is None]
    if not valid:
        return None, None

    def total_violation(i: int) -> float:
        return math.fsum(c.violation(exprs[rows[i]["variant"]][c.expr.label]) for c in space.constraints)
    closest = min(valid, key=lambda i: (total_violation(i), _objective_key(space, rows[i]["objective"]), i))
    return None, closest


def _no_feasible_message(space: Space, rows: list[dict[str, Any]], closest: int | None,
                         exprs: dict[str, dict[str, Any]], n_variants: int) -> str:
    head = f"no feasible variant: none of the {n_variants} variants nor the base policy meets every constraint"
    if closest is None:
        return head
    row = rows[closest]
    values = exprs[row["variant"]]
    misses = [f"{c.expr.label} = {_fmt(values[c.expr.label])} (needs {c.op} {c.threshold:g})"
              for c in space.constraints if not c.holds(values[c.expr.label])]
    params = _params_text(space, row)
    return f"{head}; closest: {row['variant']}" + (f" ({params})" if params else "") + ": " + "; ".join(misses)


def _best_yaml(space: Space, variant: Variant, row: dict[str, Any], scenarios: list[str], n_variants: int) -> str:
    doc, _ = _parse(variant.text)
    meta = doc.setdefault("metadata", {})
    meta["name"] = f"{space.base_name}-best"
    body = dump_policy(doc)
    loading.load_policy_text(body, "best.yaml")  # it must load as it is written
    cons = " and ".join(c.text for c in space.constraints) or "no constraints"
    lines = [f"scalelab sweep: best feasible variant {variant.id} of {n_variants} (+ the base policy)",
             f"base policy: {space.base_source} ({space.base_name}); space: {space.source}",
             f"{space.sense} {space.objective.label} subject to {cons}",
             f"scenarios: {', '.join(scenarios)}",
             "parameters:"]
    for p in space.parameters:
        lines.append(f"  {p.name} = {_fmt(row.get(p.name))}" + (f"  ({p.path})" if p.name != p.path else ""))
    lines.append("scores (summed over scenarios; shares, ratios and percentages: the worst scenario):")
    shown = [space.objective.label] + [c.expr.label for c in space.constraints] + \
        ["cost_replica_hours", "cost", "sla_violation_seconds", "sla_violation_request_share", "scale_events",
         "flaps", "oracle_cost_ratio"]
    values = {**{k: row.get(k) for k in SCORE_KEYS}, **{k: row.get(k) for k in shown if k in row}}
    for key in dict.fromkeys(shown):
        if key in values:
            lines.append(f"  {key} = {_fmt(values[key])}")
    header = "\n".join("# " + errors.one_line(line) for line in lines)
    return header + "\n" + body


def _parse(text: str) -> tuple[Any, Any]:
    from workbench.core import schema

    return schema.parse_yaml(text, "<variant>")


def _write_table(rows: list[dict[str, Any]], space: Space, out: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for p in space.parameters:
        table[p.name] = pd.Series(_column_values(list(table[p.name])), dtype=object)
        present = [v for v in table[p.name] if v is not None]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            table[p.name] = pd.to_numeric(table[p.name])
        elif present and all(isinstance(v, str) for v in present):
            table[p.name] = table[p.name].astype("str").where(table[p.name].notna(), None)
    for col in ("violations", "error"):
        table[col] = table[col].astype(object)
    _atomic_via(out / "results.csv", lambda t: table.to_csv(t, index=False))
    _atomic_via(out / "results.parquet", lambda t: table.to_parquet(t, index=False))
    return pd.read_parquet(out / "results.parquet")  # the table as anyone reading the file sees it


def run_sweep(policy: str | Path, space: str | Path, scenarios: Sequence[str | Path], out: str | Path, *,
              executor: str = "local", workers: int | None = None, samples: int | None = None,
              seed: int | None = None, progress: bool | None = None, plot: bool = True,
              on_result: Callable[[int, int], None] | None = None) -> SweepResult:
    """Sweep ``space`` over ``policy`` on ``scenarios``; write the outputs into ``out`` (module doc).

    ``samples``/``seed`` override the space file's. ``on_result(done, total)`` is called after
    each executed run has been stored (an exception from it stops the sweep; the stored runs are
    reused next time). ``progress``: a bar on stderr (default: when stderr is a terminal)."""
    started = time.perf_counter()
    kind, address = parse_executor(executor)
    if workers is not None and workers < 1:
        raise errors.UserError(f"--workers: must be >= 1, got {workers}")
    if workers is not None and kind != "local":
        raise errors.UserError("--workers: only for --executor local (a Dask cluster has its own workers)")
    if samples is not None and samples < 1:
        raise errors.UserError(f"--samples: must be >= 1, got {samples}")
    if not scenarios:
        raise errors.UserError("--scenarios: give at least one scenario file")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise errors.UserError(f"--out {out}: exists and is not a folder")
    base = backtest.load_policy(policy)
    sp = load_space(space, base.text, str(policy), samples=samples, seed=seed)
    scenario_files: list[str] = []
    for s in dict.fromkeys(str(Path(s).resolve()) for s in scenarios):
        scenario_files.append(s)
    originals = {str(Path(s).resolve()): str(s) for s in scenarios}
    scen_names, scen_bytes = [], {}
    for s in scenario_files:
        scen_names.append(backtest.load_scenario(originals[s]).name)  # fails fast on a bad file
        scen_bytes[s] = Path(s).read_bytes()
    digests = {s: hashlib.sha256(b).hexdigest()[:16] for s, b in scen_bytes.items()}

    variants = [base_variant(sp)] + generate_variants(sp)
    n_variants = len(variants) - 1

    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    stale = list(runs_dir.glob(".*.tmp")) + [t for name in OUTPUTS for t in out_dir.glob(f".{name}.*.tmp*")]
    for path in stale:  # left by an interrupted write
        with contextlib.suppress(OSError):
            path.unlink()
    keys: dict[str, list[str]] = {}
    pending: dict[str, _Task] = {}
    runs: dict[str, dict] = {}
    for v in variants:
        if not v.valid:
            continue
        keys[v.id] = []
        for s in scenario_files:
            key = run_key(v.text, scen_bytes[s])
            keys[v.id].append(key)
            if key in runs or key in pending:
                continue
            record = _read_run(runs_dir / f"{key}.json", key)
            if record is not None:
                runs[key] = record
            else:
                pending[key] = _Task(key, v.text, s, digests[s])
    reused = len(runs)
    total = len(pending)
    names = dict(zip(scenario_files, scen_names))
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="sweep", unit="run", leave=False, file=sys.stderr)
    executed = 0

    def done(task: _Task, payload: dict) -> None:
        nonlocal executed
        record = {"key": task.key, "scenario": names[task.scenario_path], "scenario_file": task.scenario_path,
                  "policy_hash": loading.policy_hash(task.text), "scores": payload["scores"],
                  "wall_seconds": payload.get("wall_seconds")}
        text = json.dumps(record, indent=1) + "\n"
        _atomic_write(runs_dir / f"{task.key}.json", text)
        runs[task.key] = json.loads(text)  # exactly what a rerun will read back
        executed += 1
        if bar is not None:
            bar.update(1)
        if on_result is not None:
            on_result(executed, total)

    n_workers: int | None = (workers or os.cpu_count() or 1) if kind == "local" else None  # dask: as found
    try:
        if pending:
            if kind == "local":
                _execute_local(list(pending.values()), n_workers, done)
            else:
                n_workers = _execute_dask(list(pending.values()), address, done)
    finally:
        if bar is not None:
            bar.close()

    rows, exprs = _build_table(sp, variants, runs, keys)
    best_i, closest_i = _choose(sp, rows, exprs)
    if best_i is not None:
        rows[best_i]["best"] = True
    message = None if best_i is not None else _no_feasible_message(sp, rows, closest_i, exprs, n_variants)

    table = _write_table(rows, sp, out_dir)
    if plot:
        title = (f"{sp.base_name}: {n_variants} variants on {', '.join(scen_names)}")
        _atomic_via(out_dir / "pareto.png",
                    lambda t: pareto.figure(table, t, title=title, objective=f"{sp.sense[:3]} {sp.objective.label}",
                                            closest=rows[closest_i]["variant"] if closest_i is not None else None))
    by_id = {v.id: v for v in variants}
    if best_i is not None:
        row = rows[best_i]
        _atomic_write(out_dir / "best.yaml", _best_yaml(sp, by_id[row["variant"]], row,
                                                          [str(s) for s in dict.fromkeys(map(str, scenarios))],
                                                          n_variants))
    else:
        with contextlib.suppress(OSError):
            (out_dir / "best.yaml").unlink()

    def describe(i: int | None) -> dict[str, Any] | None:
        if i is None:
            return None
        r = rows[i]
        return {"variant": r["variant"], "params": {p.name: _plain(r[p.name]) for p in sp.parameters},
                "objective": _plain(r["objective"]), "violations": r["violations"] or None,
                "scores": {k: _plain(r[k]) for k in SCORE_KEYS}, "policy_hash": r["policy_hash"]}

    counts = {"variants": n_variants, "valid": sum(1 for v in variants[1:] if v.valid),
              "invalid": sum(1 for v in variants[1:] if not v.valid),
              "feasible": sum(1 for r in rows if r["feasible"]), "on_front": sum(1 for r in rows if r["on_front"]),
              "runs": sum(len(k) for k in keys.values()), "distinct_runs": reused + total,
              "executed": executed, "reused": reused}
    wall = round(time.perf_counter() - started, 3)
    summary = {
        "space": sp.describe(),
        "objective": {sp.sense: sp.objective.label, "aggregation": sp.objective.how},
        "constraints": [c.text for c in sp.constraints],
        "aggregation": "scores are summed over scenarios for amounts and counts, the worst scenario (max) for "
                       "shares, ratios, percentages and means; pareto axes: sum of cost_replica_hours, sum of "
                       "sla_violation_seconds",
        "scenarios": [{"file": originals[s], "name": n} for s, n in zip(scenario_files, scen_names)],
        "executor": executor, "workers": n_workers,
        "counts": counts,
        "base": describe(0),
        "best": ({**describe(best_i), "file": "best.yaml"} if best_i is not None else None),
        "closest": describe(closest_i),
        "message": message,
        "front": [r["variant"] for r in rows if r["on_front"]],
        "invalid": [{"variant": v.id, "params": {p.name: _plain(x) for p, x in zip(sp.parameters, v.values)},
                     "error": v.error} for v in variants if not v.valid],
        "wall_seconds": wall,
    }
    _atomic_write(out_dir / "sweep.json", json.dumps(summary, indent=2, default=str) + "\n")
    return SweepResult(out=out_dir, space=sp, variants=variants, scenarios=scen_names, table=table,
                       best=summary["best"], closest=summary["closest"], counts=counts, executed=executed,
                       reused=reused, executor=executor, wall_seconds=wall, message=message, summary=summary)
