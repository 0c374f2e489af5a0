"""Load and validate a metrics history for calibration: the file ``scalelab fetch`` writes.

A history is a time axis plus any subset of these float64 series (NaN = no sample):

=================  ==================================================================
``qps``            requests/s for the whole service (needed by every fit)
``replicas``       ready pods (needed by every fit; must be > 0 where present)
``cpu``            CPU utilisation: cores per pod / the pod's CPU request
``cpu_cores``      CPU cores per pod (average over pods)
``memory``         memory as a fraction of the pod's limit
``memory_bytes``   working-set bytes per pod (average over pods)
``p95_ms``         p95 latency, milliseconds
=================  ==================================================================

Files: Parquet (``.parquet``/``.pq``) with a ``timestamp`` column (datetime64, UTC) and optional
key-value metadata ``scalelab`` (JSON, shown in the calibrated file's header), or CSV
(``.csv``/``.csv.gz``) with the same columns and ISO-8601 or epoch-second timestamps. Other
columns are ignored. The same validation as for traces applies (``workbench.traces.files``): bad
timestamps, duplicates, timestamps going backwards, non-numeric, infinite or negative values are
one-line errors naming the file and line (CSV) or row (Parquet), except that ``p95_ms`` may be
+inf (``histogram_quantile`` beyond the largest bucket, as ``scalelab fetch`` keeps it): an
overloaded sample, censored by the latency fit. Unlike a trace, missing values are *not*
filled: a calibration uses only real samples, so NaN stays NaN and rows are never inserted for
gaps.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from workbench.core import errors
from workbench.traces import files as _files

TIMESTAMP = "timestamp"
SERIES = ("qps", "replicas", "cpu", "cpu_cores", "memory", "memory_bytes", "p95_ms")
REQUIRED = ("qps", "replicas")
METADATA_KEY = b"scalelab"


@dataclass(frozen=True)
class History:
    """Validated samples: ``times`` (epoch seconds, strictly increasing) and the known series present
    (same length, float64, NaN = missing, never negative; ``replicas`` > 0 where present)."""

    source: str
    times: np.ndarray
    series: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    where: Callable[[int], str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", types.MappingProxyType(dict(self.series)))
        object.__setattr__(self, "metadata", types.MappingProxyType(dict(self.metadata)))

    def has(self, name: str) -> bool:
        return name in self.series

    def locate(self, row: int) -> str:
        """``file:line`` (CSV) or ``file: row N`` (Parquet / frame) of a 0-based row."""
        return self.where(row) if self.where is not None else f"{self.source}: row {row + 1}"

    def __len__(self) -> int:
        return len(self.times)


def load_history(path: str | Path) -> History:
    """Read and validate a history file (Parquet or CSV); ``UserError`` (exit 2) when unusable."""
    source, p = str(path), Path(path)
    name = p.name.lower()
    if name.endswith(_files.PARQUET_SUFFIXES):
        parquet = True
    elif name.endswith(_files.CSV_SUFFIXES):
        parquet = False
    else:
        suffix = "".join(p.suffixes[-2:]) or "(none)"
        raise errors.UserError(f"{source}: unsupported history file type '{suffix}' "
                               f"(expected .parquet, .pq, .csv or .csv.gz)")
    if not p.exists():
        raise errors.UserError(f"{source}: no such file")
    if p.is_dir():
        raise errors.UserError(f"{source}: is a directory, not a history file")
    metadata: dict[str, Any] = {}
    warnings: list[str] = []
    if parquet:
        header, metadata = _parquet_header(p, source, warnings)
    else:
        header, _ = _files._read_header(p, source)
    if TIMESTAMP not in header:
        raise errors.TraceError(f"{source}: no 'timestamp' column (columns: {', '.join(header)})")
    _require(source, [c for c in header if c != TIMESTAMP])
    columns = [c for c in SERIES if c in header]
    reader = _files._read_parquet if parquet else _files._read_csv
    table = reader(p, source, columns)
    return _validated(table, metadata, warnings + list(table.warnings))


def history_from_frame(frame: pd.DataFrame, source: str = "<frame>",
                       metadata: Mapping[str, Any] | None = None) -> History:
    """The same validation for an in-memory frame with a ``timestamp`` column (notebooks, tests)."""
    if TIMESTAMP not in frame.columns:
        raise errors.TraceError(f"{source}: no 'timestamp' column (columns: {', '.join(map(str, frame.columns))})")
    frame = frame.reset_index(drop=True)
    _require(source, [str(c) for c in frame.columns if c != TIMESTAMP])
    if len(frame) < 2:
        raise errors.TraceError(f"{source}: needs at least 2 data rows, found {len(frame)}")
    locator = _files._FrameLocator(frame, source)
    table = _files._Table(source, locator, frame[TIMESTAMP], {c: frame[c] for c in SERIES if c in frame.columns})
    return _validated(table, dict(metadata or {}), [])


def _require(source: str, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        names = " and ".join(f"'{c}'" for c in missing)
        raise errors.UserError(
            f"{source}: no {names} column{'s' if len(missing) > 1 else ''}; every fit needs qps and replicas "
            f"(columns: {', '.join(columns) or 'none'})")


def _parquet_header(path: Path, source: str, warnings: list[str]) -> tuple[list[str], dict[str, Any]]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        raise errors.TraceError(f"{source}: cannot read Parquet file: {_files._one_line(exc)}") from None
    names = list(schema.names)
    pandas_meta = (schema.metadata or {}).get(b"pandas")
    if TIMESTAMP not in names and pandas_meta:  # a timestamp index stored by pandas
        try:
            index = json.loads(pandas_meta).get("index_columns", [])
        except ValueError:
            index = []
        names += [TIMESTAMP] if TIMESTAMP in index else []
    raw = (schema.metadata or {}).get(METADATA_KEY)
    metadata: dict[str, Any] = {}
    if raw is not None:
        try:
            value = json.loads(raw)
            metadata = value if isinstance(value, dict) else {"scalelab": value}
        except ValueError:
            warnings.append(f"{source}: file metadata 'scalelab' is not JSON; ignored")
    return names, metadata


def _without_infinite_latency(table: Any) -> np.ndarray | None:
    """+inf p95 (``histogram_quantile`` beyond the largest bucket: overload) is kept, not an error:
    hide it from the value checks and hand back where it was."""
    series = table.values.get("p95_ms")
    if series is None or not pd.api.types.is_float_dtype(series.dtype):
        return None
    beyond = np.isposinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if not beyond.any():
        return None
    table.values["p95_ms"] = series.where(~beyond)
    return beyond


def _validated(table: Any, metadata: dict[str, Any], warnings: list[str]) -> History:
    times = _files._parse_timestamps(table)
    beyond = _without_infinite_latency(table)
    values = _files._parse_values(table)  # NaN kept: nothing is filled
    if beyond is not None:
        values["p95_ms"] = np.where(beyond, np.inf, values["p95_ms"])
    locator = table.locator
    replicas = values["replicas"]
    bad = np.flatnonzero(replicas <= 0)
    if bad.size:
        row = int(bad[0])
        raise errors.UserError(
            f"{locator.where(row)}: replicas must be positive, got {replicas[row]:g} "
            f"({_files._plural(int(bad.size), 'such sample')}); per-pod load is qps / replicas")
    return History(source=table.source, times=times, series=values, metadata=metadata,
                   warnings=tuple(warnings), where=locator.where)
