"""Fetch bound queries over a range into one table on one step grid, and write it as a trace.

``fetch(source, queries, grid)`` runs each query as a chunked range query (exactly one series
each; see ``prometheus``) and returns a ``Fetched``: a frame with ``timestamp`` (UTC datetimes,
the Prometheus evaluation times ``start + k*step``) and one float64 column per query name
(NaN = no sample), the metadata, and one-line warnings:

* missing samples per column (NaN answers and grid points without a sample, i.e. stale or no
  data), with the first time; they stay NaN in the file (a trace's gap policy fills them later);
* infinite samples (e.g. ``histogram_quantile`` beyond the largest bucket), kept as they are;
* counter resets: for each counter a query takes ``rate``/``irate``/``increase`` of,
  ``resets(sel[range])`` over the whole range (one instant query) and, when non-zero, the first
  ``2*step`` window that holds one; a query that *is* a raw counter is checked for drops;
* unit mistakes: a ``*_ms`` column whose median is below 1 looks like seconds, a ``*_seconds``
  column above 1000 like milliseconds;
* warnings Prometheus attached to its answers.

Semantics: a ``rate(x[w])`` value at ``t`` is the mean rate over the window *ending* at ``t``
(Prometheus 2 selects samples in ``[t - w, t]``), while a trace sample describes the interval
*starting* at its timestamp; replaying a fetched file therefore shifts the load later in time by
about one window relative to the trace it came from (every event moves equally).

``write_parquet`` is atomic: a temporary file next to the target, renamed into place when
complete; on any failure (or Ctrl-C) the temporary file is removed and an existing target is
left untouched. Parquet key-value metadata ``scalelab`` holds JSON: ``format``, ``server`` (URL
without credentials), ``queries``, ``start``, ``end``, ``step_seconds``, ``points``,
``fetched_at``, ``bindings_file``, ``warnings``.

``cached_fetch`` serves the scenario form ``trace: {prometheus: {...}}``: the file lives at
``<cache>/prometheus-<key>.parquet`` with key = hash of server URL, queries, start, end, step,
and is fetched only when absent (or ``refresh: true``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench import outputs
from workbench.core import errors
from workbench.sources import bindings as bindings_mod
from workbench.sources import prometheus, request as request_mod
from workbench.sources.prometheus import Grid, PrometheusSource, iso

METADATA_KEY = b"scalelab"
FORMAT = "scalelab.fetch/v1"
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Fetched:
    frame: pd.DataFrame
    metadata: dict
    warnings: tuple[str, ...]


def request_count(queries: Mapping[str, str], grid: Grid, max_points: int = prometheus.MAX_POINTS) -> int:
    """Range requests ``fetch`` makes (reset checks aside): the progress bar's total."""
    return len(queries) * len(grid.chunks(max_points))


def fetch(source: PrometheusSource, queries: Mapping[str, str], grid: Grid, *,
          max_points: int = prometheus.MAX_POINTS, progress: Callable[[int, int], None] | None = None,
          check_resets: bool = True, bindings_file: str | None = None) -> Fetched:
    """Every query over ``grid`` (see the module docstring)."""
    if not queries:
        raise errors.UserError("nothing to fetch: no queries")
    for name in queries:
        if name in ("timestamp",):
            raise errors.UserError(f"'{name}' cannot be a metric name")
    total, done = request_count(queries, grid, max_points), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    columns: dict[str, np.ndarray] = {}
    notes: list[str] = []
    times = grid.times()
    for name, query in queries.items():
        series = source.range_one(query, grid, name=name, max_points=max_points, on_chunk=tick)
        columns[name] = series.values
        notes.extend(_sample_notes(name, series, times))
        notes.extend(_unit_notes(name, series.values))
        raw = prometheus.bare_counter(query)
        if raw is not None:
            notes.extend(_drop_notes(name, raw, series.values, times))
    if check_resets:
        notes.extend(_reset_notes(source, queries, grid, max_points))
    notes.extend(source.warnings)
    frame = pd.DataFrame({"timestamp": pd.to_datetime(times.astype(np.int64), unit="s", utc=True), **columns})
    metadata = {
        "format": FORMAT, "server": source.url, "queries": dict(queries), "start": iso(grid.start),
        "end": iso(grid.end), "step_seconds": grid.step, "points": grid.count,
        "fetched_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bindings_file": bindings_file, "warnings": notes,
    }
    return Fetched(frame, metadata, tuple(notes))


# -- warnings --------------------------------------------------------------------------------------
def _sample_notes(name: str, series: prometheus.Series, times: np.ndarray) -> list[str]:
    notes = []
    if series.missing:
        first = float(times[np.argmax(np.isnan(series.values))])
        notes.append(f"{name}: {series.missing} of {len(times)} samples missing ({series.nan} NaN, "
                     f"{series.absent} absent or stale), first at {iso(first)}; kept as missing (NaN)")
    if series.infinite:
        first = float(times[np.argmax(np.isinf(series.values))])
        notes.append(f"{name}: {series.infinite} infinite samples, first at {iso(first)} "
                     "(beyond the largest histogram bucket?); kept as they are")
    return notes


def _unit_notes(name: str, values: np.ndarray) -> list[str]:
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size == 0:
        return []
    median = float(np.median(finite))
    if name.endswith("_ms") and median < 1.0:
        return [f"{name}: values look like seconds, not milliseconds (median {median:.3g}); multiply the query by 1000"]
    if name.endswith(("_seconds", "_s")) and median > 1000.0:
        return [f"{name}: values look like milliseconds, not seconds (median {median:.4g}); divide the query by 1000"]
    return []


def _drop_notes(name: str, selector: str, values: np.ndarray, times: np.ndarray) -> list[str]:
    valid = np.flatnonzero(np.isfinite(values))
    drops = valid[1:][np.diff(values[valid]) < 0]
    if drops.size == 0:
        return []
    return [f"{name}: the raw counter {selector} drops {drops.size} time{'s' if drops.size > 1 else ''} "
            f"(counter reset), first at {iso(float(times[drops[0]]))}; use rate() or increase() on counters"]


def _reset_notes(source: PrometheusSource, queries: Mapping[str, str], grid: Grid, max_points: int) -> list[str]:
    users: dict[str, list[str]] = {}
    for name, query in queries.items():
        for selector in prometheus.counter_selectors(query):
            users.setdefault(selector, []).append(name)
    notes = []
    span = grid.end - grid.start + grid.step
    for selector, names in users.items():
        who = ", ".join(names)
        try:
            vector = source.instant_vector(f"resets({selector}[{span}s])", grid.end, name=f"{who} reset check")
            hits = [(labels, value) for labels, value in vector if value > 0]
            if not hits:
                continue
            count = int(sum(value for _, value in hits))
            where = ""
            found = source.range_series(f"sum(resets({selector}[{2 * grid.step}s]))", grid,
                                        name=f"{who} reset check", max_points=max_points)
            if found:
                values = np.nan_to_num(found[0].values, nan=0.0)
                if (values > 0).any():
                    t = grid.start + int(np.argmax(values > 0)) * grid.step
                    where = f", the first between {iso(t - 2 * grid.step)} and {iso(t)}"
            series = ", ".join(prometheus.format_labels(labels) for labels, _ in hits[:3])
            more = f" and {len(hits) - 3} more" if len(hits) > 3 else ""
            notes.append(f"{who}: {count} counter reset{'s' if count != 1 else ''} in {selector} from "
                         f"{iso(grid.start)} to {iso(grid.end)} ({series}{more}){where}; rate() compensates, "
                         "but a restart may distort the values around it")
        except errors.ScalelabError as exc:
            notes.append(f"{who}: counter reset check skipped ({exc})")
    return notes


# -- writing ---------------------------------------------------------------------------------------
def write_parquet(fetched: Fetched, path: str | Path) -> Path:
    """Write the table with its metadata atomically (temporary file + rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    if not out.name.lower().endswith(PARQUET_SUFFIXES):
        raise errors.UserError(f"{path}: the output must be a .parquet file")
    if out.is_dir():
        raise errors.UserError(f"{path}: is a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(fetched.frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(fetched.metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    return outputs.atomic_file(out, lambda tmp: pq.write_table(table, tmp))  # whole, or not at all


def read_metadata(path: str | Path) -> dict | None:
    """The ``scalelab`` metadata of a fetched Parquet file (None if it has none)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else None


# -- connection and the scenario cache -------------------------------------------------------------
def options_for(req: request_mod.FetchRequest) -> prometheus.Options:
    token = request_mod.read_secret(req.token_file, "tokenFile") if req.token_file else None
    password = request_mod.read_secret(req.password_file, "passwordFile") if req.password_file else None
    return prometheus.Options(url=req.url, token=token, username=req.user, password=password, ca_file=req.ca_file,
                              insecure=req.insecure, timeout=req.timeout, retries=req.retries)


def cache_key(url: str, queries: Mapping[str, str], grid: Grid) -> str:
    """Identity of a fetch: server (without credentials), queries, range and step."""
    ident = {"server": prometheus.public_url(url), "queries": dict(sorted(queries.items())),
             "start": grid.start, "end": grid.end, "step": grid.step}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


@contextlib.contextmanager
def cached_fetch(req: request_mod.FetchRequest, columns: Sequence[str], *, source: str = "<scenario>",
                 max_points: int = prometheus.MAX_POINTS) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """Yield (Parquet path, fetch warnings) holding ``columns`` (binding names) of the request:
    the cached file when present, else fetched and cached. With ``cache: false`` the file is a
    temporary one, removed when the ``with`` block ends."""
    bound = bindings_mod.load_bindings(req.bindings).render()
    unknown = [c for c in columns if c not in bound]
    if unknown:
        raise errors.UserError(f"{source}: trace.prometheus: column '{unknown[0]}' is not bound in {req.bindings} "
                               f"(bound: {', '.join(bound)})")
    queries = {c: bound[c] for c in dict.fromkeys(columns)}
    grid = Grid.spanning(req.start, req.end, req.step)
    if req.cache:
        target = Path(req.cache) / f"prometheus-{cache_key(req.url, queries, grid)}.parquet"
        if target.exists() and not req.refresh:
            yield target, tuple((read_metadata(target) or {}).get("warnings", ()))
            return
    with PrometheusSource(options_for(req)) as prom:
        fetched = fetch(prom, queries, grid, max_points=max_points, bindings_file=req.bindings)
    if req.cache:
        yield write_parquet(fetched, target), fetched.warnings
        return
    with tempfile.TemporaryDirectory(prefix="scalelab-fetch-") as tmp:
        yield write_parquet(fetched, Path(tmp) / "fetched.parquet"), fetched.warnings
