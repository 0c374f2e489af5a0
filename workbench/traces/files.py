"""Load a trace file (CSV or Parquet) into a validated ``Trace``.

Formats (picked by suffix, case-insensitive):

* ``.csv`` / ``.csv.gz``: one header line ``timestamp,<columns>``; ``timestamp`` is ISO-8601
  (``2016-01-01T00:00:00Z``; an offset such as ``+02:00`` is converted to UTC; no zone = UTC) or
  plain epoch seconds (integers or floats). The whole column uses one of the two forms.
* ``.parquet`` / ``.pq``: a ``timestamp`` column (or index) holding datetime64 of any unit and
  zone (naive = UTC), epoch-second numbers, or ISO-8601 strings, plus numeric columns.

``columns=None`` loads every numeric column: one pandas reads as numbers, or text with at least one
number in it (so a stray bad cell is an error, not a silently dropped column); pure-text and empty
columns are skipped with a warning. Otherwise exactly the named columns. Values are float64.

Validation policy. The first problem found stops the load with a one-line ``TraceError`` that
names the file and, for CSV, the 1-based physical line (``x.csv:57: ...``; Parquet says
``x.parquet: row 57: ...``). Checks run in this order:

1. the file: missing, a directory, unreadable, not UTF-8, malformed CSV (a row with more fields
   than the header), no ``timestamp`` column, a duplicate header name, fewer than 2 data rows,
   an unknown requested column;
2. timestamps: empty or unparseable (``timestamp '1995-07-0' is not ISO-8601 or epoch
   seconds``), epoch numbers above 1e11 (``looks like milliseconds``), a timestamp equal to the
   previous one (``duplicate timestamp``) or earlier (``timestamp goes backwards``);
3. values, reporting the earliest line over all selected columns: not a number, infinite,
   negative (a load cannot be negative).

Not errors, but one warning line each (``Trace.warnings``, already naming the file):

* missing values (an empty cell or NaN in a selected column): counted per column with the first
  line; they are filled by the gap policy (``interpolate``: linear in time between the valid
  neighbours, constant beyond the first/last valid value; ``hold``: previous valid value, the
  first valid one before it; ``zero``). With ``gaps="error"`` a missing value is an error.
* gaps: the typical spacing is the median of the timestamp differences; a step longer than
  1.5 x that is a gap. Its *length* is the time without data, ``step - spacing`` (the sample
  before the gap covers one spacing). Gaps are filled by inserting samples on the typical spacing
  after the sample before the gap (``interpolate``: linear between the two neighbours; ``hold``:
  the value before the gap; ``zero``: 0), so resampling sees the fill. One warning summarises
  the count and the longest gap. ``gaps="error"`` rejects the first gap; ``max_gap_seconds``
  rejects any gap longer than that even when filling.

Performance: the happy path is pandas' C CSV reader plus vectorised numpy; the file is re-read
with the ``csv`` module only to find line numbers and raw cell text for a message.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from workbench.core import errors
from workbench.traces import model

GAP_POLICIES = ("interpolate", "hold", "zero", "error")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
TIMESTAMP = "timestamp"
GAP_FACTOR = 1.5  # a step longer than this times the median spacing is a gap
MILLISECONDS_ABOVE = 1e11  # epoch seconds beyond this (year 5138) are surely milliseconds
MAX_ROWS_AFTER_FILL = 20_000_000  # refuse to fill gaps into an absurdly large trace


# -- small formatting helpers (shared with resample) ---------------------------------------------
def iso(seconds: float) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (milliseconds shown only when non-zero)."""
    try:
        moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=round(float(seconds), 3))
    except (OverflowError, ValueError):  # outside years 1..9999
        return f"{seconds:g}s after the epoch"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def human_duration(seconds: float) -> str:
    """``3d 10h 29m``, ``1m 30s``, ``0.5s``: the non-zero units, largest first."""
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    rest = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    rest = round(rest, 3)
    if rest:
        parts.append(f"{rest:g}s")
    return " ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- where a row lives in the file -----------------------------------------------------------------
class _Locator:
    """Maps a 0-based data row to a location prefix and gives back a cell's raw text."""

    source: str

    def where(self, row: int) -> str:  # "x.csv:57" / "x.parquet: row 57"
        raise NotImplementedError

    def label(self, row: int) -> str:  # "line 57" / "row 57"
        raise NotImplementedError

    def raw(self, row: int, column: str) -> str:
        raise NotImplementedError


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


_BLANK_LINE = re.compile(rb"\n[ \t]*\r?\n")  # an empty or whitespace-only line (after the first)


def _blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


class _CsvLocator(_Locator):
    """Re-reads the file lazily (only when a message needs a line number or raw text)."""

    def __init__(self, path: Path, source: str, header: list[str], header_line: int):
        self.path, self.source, self.header_line = path, source, header_line
        self._simple: bool | None = None
        self.index = {name: i for i, name in enumerate(header)}
        self._rows: list[tuple[int, list[str]]] | None = None

    def rows(self) -> list[tuple[int, list[str]]]:
        if self._rows is None:
            rows: list[tuple[int, list[str]]] = []
            with _open_text(self.path) as fh:
                reader = csv.reader(fh)
                begins, header_seen = 1, False
                for fields in reader:
                    line, begins = begins, reader.line_num + 1
                    if _blank(fields):
                        continue
                    if header_seen:
                        rows.append((line, fields))
                    header_seen = True
            self._rows = rows
        return self._rows

    def line(self, row: int) -> int:
        if self._simple is None:
            self._simple = self._is_simple()
        if self._simple:  # one data row per physical line, right after the header
            return self.header_line + 1 + row
        return self.rows()[row][0]

    def _is_simple(self) -> bool:
        """No quotes, blank lines or lone CRs: then row ``i`` is on line ``header_line + 1 + i``."""
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        with opener(self.path, "rb") as fh:
            data = fh.read()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
            return False
        return _BLANK_LINE.search(data.rstrip()) is None  # blank lines at the very end are harmless

    def where(self, row: int) -> str:
        return f"{self.source}:{self.line(row)}"

    def label(self, row: int) -> str:
        return f"line {self.line(row)}"

    def raw(self, row: int, column: str) -> str:
        fields = self.rows()[row][1]
        i = self.index[column]
        return fields[i].strip() if i < len(fields) else ""


class _FrameLocator(_Locator):
    """Rows of an in-memory frame (Parquet): 1-based row numbers."""

    def __init__(self, frame: pd.DataFrame, source: str):
        self.frame, self.source = frame, source

    def where(self, row: int) -> str:
        return f"{self.source}: row {row + 1}"

    def label(self, row: int) -> str:
        return f"row {row + 1}"

    def raw(self, row: int, column: str) -> str:
        value = self.frame[column].iloc[row]
        return "" if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


@dataclass
class _Table:
    """What a reader hands to the validator: raw pandas columns plus a locator."""

    source: str
    locator: _Locator
    timestamps: pd.Series
    values: dict[str, pd.Series]
    warnings: list[str] = field(default_factory=list)


# -- public entry point ----------------------------------------------------------------------------
def load_trace(path: str | Path, columns: Sequence[str] | None = None, *, gaps: str = "interpolate",
               max_gap_seconds: float | None = None, window: tuple[float | None, float | None] | None = None
               ) -> model.Trace:
    """Read, validate and gap-fill one trace file (see the module docstring for the policy).

    ``window`` (epoch seconds, either end None = open): the whole file is still validated, but
    only gaps and missing values that touch the window are filled and reported — a hole outside
    the replayed range is not the user's problem today."""
    if gaps not in GAP_POLICIES:
        raise ValueError(f"gaps must be one of {', '.join(GAP_POLICIES)}, got {gaps!r}")
    if max_gap_seconds is not None and not max_gap_seconds >= 0:
        raise ValueError(f"max_gap_seconds must be >= 0 or None, got {max_gap_seconds!r}")
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        if not columns:
            raise ValueError("columns must name at least one column, or be None for all numeric columns")
    source, p = str(path), Path(path)
    name = p.name.lower()
    if name.endswith(CSV_SUFFIXES):
        reader: Callable[[Path, str, list[str] | None], _Table] = _read_csv
    elif name.endswith(PARQUET_SUFFIXES):
        reader = _read_parquet
    else:
        suffix = "".join(p.suffixes[-2:]) or "(none)"
        raise errors.TraceError(
            f"{source}: unsupported trace file type '{suffix}' (expected .csv, .csv.gz, .parquet or .pq)")
    if not p.exists():
        raise errors.TraceError(f"{source}: no such file")
    if p.is_dir():
        raise errors.TraceError(f"{source}: is a directory, not a trace file")
    return _build(reader(p, source, columns), gaps, max_gap_seconds, window)


# -- readers ---------------------------------------------------------------------------------------
def _read_header(path: Path, source: str) -> tuple[list[str], int]:
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            for fields in reader:
                if not _blank(fields):
                    return [f.strip() for f in fields], reader.line_num
    except UnicodeDecodeError as exc:
        raise errors.TraceError(f"{source}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError, csv.Error) as exc:
        raise errors.TraceError(f"{source}: cannot read: {_one_line(exc)}") from None
    raise errors.TraceError(f"{source}: file is empty")


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _read_csv(path: Path, source: str, columns: list[str] | None) -> _Table:
    header, header_line = _read_header(path, source)
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise errors.TraceError(f"{source}:{header_line}: duplicate column '{name}' in the header")
        seen.add(name)
    if TIMESTAMP not in header:
        raise errors.TraceError(f"{source}: no 'timestamp' column (columns: {', '.join(header)})")
    locator = _CsvLocator(path, source, header, header_line)
    try:
        frame = pd.read_csv(path, engine="c", encoding="utf-8", index_col=False)
    except pd.errors.ParserError as exc:
        for line, fields in locator.rows():
            if len(fields) > len(header):
                raise errors.TraceError(
                    f"{source}:{line}: expected {len(header)} fields, found {len(fields)}") from None
        raise errors.TraceError(f"{source}: cannot parse CSV: {_one_line(exc)}") from None
    except UnicodeDecodeError as exc:
        raise errors.TraceError(f"{source}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError, pd.errors.EmptyDataError) as exc:
        raise errors.TraceError(f"{source}: cannot read: {_one_line(exc)}") from None
    if len(frame.columns) != len(header):  # pragma: no cover - pandas and csv disagree on the header
        raise errors.TraceError(f"{source}: cannot parse the header line")
    frame.columns = header
    return _table(frame, source, locator, columns, unnamed_ok=True)


def _read_parquet(path: Path, source: str, columns: list[str] | None) -> _Table:
    import pyarrow  # pandas' Parquet engine; imported here for its exception type

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        raise errors.TraceError(f"{source}: cannot read Parquet file: {_one_line(exc)}") from None
    if TIMESTAMP not in frame.columns and frame.index.name == TIMESTAMP:
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    if TIMESTAMP not in frame.columns:
        raise errors.TraceError(f"{source}: no 'timestamp' column (columns: {', '.join(frame.columns)})")
    frame = frame.reset_index(drop=True)
    return _table(frame, source, _FrameLocator(frame, source), columns, unnamed_ok=False)


def _table(frame: pd.DataFrame, source: str, locator: _Locator, columns: list[str] | None,
           *, unnamed_ok: bool) -> _Table:
    if len(frame) < 2:
        raise errors.TraceError(f"{source}: needs at least 2 data rows, found {len(frame)}")
    others = [c for c in frame.columns if c != TIMESTAMP]
    table = _Table(source, locator, frame[TIMESTAMP], {})
    if columns is not None:
        for name in columns:
            if name not in others:
                raise errors.TraceError(f"{source}: no column '{name}' (columns: {', '.join(others)})")
        table.values = {name: frame[name] for name in dict.fromkeys(columns)}
        return table
    skipped_text, skipped_empty = [], []
    for name in others:
        series = frame[name]
        if series.isna().all():
            if name or not unnamed_ok:
                skipped_empty.append(name)
        elif _looks_numeric(series):
            table.values[name] = series
        else:
            skipped_text.append(name)
    if skipped_text:
        table.warnings.append(f"{source}: skipped non-numeric column{'s' if len(skipped_text) > 1 else ''} "
                              f"{', '.join(skipped_text)}")
    if skipped_empty:
        table.warnings.append(f"{source}: skipped empty column{'s' if len(skipped_empty) > 1 else ''} "
                              f"{', '.join(repr(n) for n in skipped_empty)}")
    if not table.values:
        raise errors.TraceError(f"{source}: no numeric columns besides 'timestamp' (columns: {', '.join(others)})")
    return table


def _looks_numeric(series: pd.Series) -> bool:
    """Numeric dtype, or text with at least one number in it (its other cells then become errors)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return False
    if pd.api.types.is_numeric_dtype(series.dtype):
        return True
    if not (pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype)):
        return False
    return bool(pd.to_numeric(series, errors="coerce").notna().any())


# -- validation ------------------------------------------------------------------------------------
def _fail(message: str) -> errors.TraceError:
    return errors.TraceError(message)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _epoch_seconds_of_datetimes(series: pd.Series) -> np.ndarray:
    """Epoch seconds (NaN for NaT) of a datetime64 column of any unit; naive means UTC."""
    array = series.array
    ticks = np.asarray(array.asi8)  # integer units since the epoch, UTC for zoned columns
    per = 10 ** {"s": 0, "ms": 3, "us": 6, "ns": 9}[array.unit]
    whole, part = np.divmod(ticks, per)
    seconds = whole.astype(np.float64) + part / per  # exact for whole seconds
    seconds[series.isna().to_numpy()] = np.nan
    return seconds


def _parse_timestamps(table: _Table) -> np.ndarray:
    ts, loc = table.timestamps, table.locator

    def bad_cell(row: int) -> errors.TraceError:
        raw = loc.raw(row, TIMESTAMP)
        if not raw.strip():
            return _fail(f"{loc.where(row)}: empty timestamp")
        return _fail(f"{loc.where(row)}: timestamp '{raw}' is not ISO-8601 or epoch seconds")

    epoch = True
    if pd.api.types.is_datetime64_any_dtype(ts.dtype):
        seconds, epoch = _epoch_seconds_of_datetimes(ts), False
    elif pd.api.types.is_numeric_dtype(ts.dtype) and not pd.api.types.is_bool_dtype(ts.dtype):
        seconds = ts.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_string_dtype(ts.dtype) or pd.api.types.is_object_dtype(ts.dtype):
        parsed = pd.to_datetime(ts, format="ISO8601", utc=True, errors="coerce")
        iso_ok = parsed.notna().to_numpy()
        if iso_ok.all():
            seconds, epoch = _epoch_seconds_of_datetimes(parsed), False
        else:  # failure path (or epoch seconds stored as text): the majority form decides
            numbers = pd.to_numeric(ts, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isfinite(numbers).sum() > iso_ok.sum():
                seconds = numbers
            else:
                row = _first(~iso_ok)
                raise bad_cell(row)
    else:
        raise _fail(f"{table.source}: column 'timestamp' has unsupported type {ts.dtype}")
    row = _first(~np.isfinite(seconds))
    if row is not None:
        raise bad_cell(row)
    if epoch:
        row = _first(np.abs(seconds) > MILLISECONDS_ABOVE)
        if row is not None:
            raw = loc.raw(row, TIMESTAMP)
            raise _fail(f"{loc.where(row)}: timestamp '{raw}' looks like milliseconds since the epoch "
                        f"(expected seconds)")
    steps = np.diff(seconds)
    row = _first(steps <= 0)
    if row is not None:
        row += 1
        raw, before = loc.raw(row, TIMESTAMP), loc.raw(row - 1, TIMESTAMP)
        if steps[row - 1] == 0:
            raise _fail(f"{loc.where(row)}: duplicate timestamp '{raw}' (same instant as {loc.label(row - 1)})")
        raise _fail(f"{loc.where(row)}: timestamp goes backwards: '{raw}' after '{before}'")
    return seconds


def _parse_values(table: _Table) -> dict[str, np.ndarray]:
    """float64 arrays with NaN for missing cells; raises on the earliest bad cell."""
    loc = table.locator
    out: dict[str, np.ndarray] = {}
    problems: list[tuple[int, int, int, Callable[[], str]]] = []  # (row, column no, kind, message)
    for col_no, (name, series) in enumerate(table.values.items()):
        if pd.api.types.is_bool_dtype(series.dtype) or not (
                pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)
                or pd.api.types.is_object_dtype(series.dtype)):
            raise _fail(f"{table.source}: column '{name}' is not numeric ({series.dtype})")
        if pd.api.types.is_numeric_dtype(series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            numbers = pd.to_numeric(series, errors="coerce")
            values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            blank = series.isna().to_numpy() | (series.astype("str").str.strip() == "").to_numpy()
            row = _first(np.isnan(values) & ~blank)
            if row is not None:
                problems.append((row, col_no, 0, lambda r=row, n=name:
                                 f"{loc.where(r)}: column '{n}': '{loc.raw(r, n)}' is not a number"))
        row = _first(np.isinf(values))
        if row is not None:
            problems.append((row, col_no, 1, lambda r=row, n=name:
                             f"{loc.where(r)}: column '{n}': infinite value '{loc.raw(r, n)}'"))
        row = _first(values < 0)
        if row is not None:
            problems.append((row, col_no, 2, lambda r=row, n=name:
                             f"{loc.where(r)}: column '{n}': negative value '{loc.raw(r, n)}' "
                             f"(load cannot be negative)"))
        out[name] = values
    if problems:
        raise _fail(min(problems, key=lambda p: p[:3])[3]())
    return out


# -- filling ---------------------------------------------------------------------------------------
def _touches(window: tuple[float | None, float | None] | None, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Which intervals [begin, end) overlap the window (all, without a window)."""
    keep = np.ones(len(begin), dtype=bool)
    if window is not None:
        lo, hi = window
        if lo is not None:
            keep &= end > lo
        if hi is not None:
            keep &= begin < hi
    return keep


def _fill_missing(table: _Table, times: np.ndarray, values: dict[str, np.ndarray], gaps: str,
                  window: tuple[float | None, float | None] | None = None) -> None:
    loc = table.locator
    spacing = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    relevant = _touches(window, times, times + spacing)
    for name in values:
        missing = np.isnan(values[name])
        if not missing.any():
            continue
        if not (missing & relevant).any():  # only outside the window: fill quietly
            values[name] = np.where(missing, np.interp(times, times[~missing], values[name][~missing])
                                    if (~missing).any() else 0.0, values[name])
            continue
        v = values[name] = values[name].copy()  # pandas may hand out read-only views
        if missing.all():
            raise _fail(f"{table.source}: column '{name}' has no values")
        first = int(np.flatnonzero(missing)[0])
        if gaps == "error":
            raise _fail(f"{loc.where(first)}: column '{name}': missing value (gaps='error')")
        valid = ~missing
        if gaps == "interpolate":
            v[missing] = np.interp(times[missing], times[valid], v[valid])
        elif gaps == "hold":
            last_valid = np.maximum.accumulate(np.where(valid, np.arange(len(v)), -1))
            last_valid[last_valid < 0] = np.flatnonzero(valid)[0]
            v[:] = v[last_valid]
        else:  # zero
            v[missing] = 0.0
        table.warnings.append(
            f"{table.source}: column '{name}': {_plural(int(missing.sum()), 'missing value')} "
            f"(first on {loc.label(first)}) filled by gap policy '{gaps}'")


def _fill_gaps(table: _Table, times: np.ndarray, values: dict[str, np.ndarray], gaps: str,
               max_gap_seconds: float | None, window: tuple[float | None, float | None] | None = None
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    steps = np.diff(times)
    spacing = float(np.median(steps))
    at = np.flatnonzero(steps > GAP_FACTOR * spacing)  # gap between times[at] and times[at + 1]
    at = at[_touches(window, times[at], times[at + 1])]
    if not at.size:
        return times, values
    loc = table.locator

    def describe(i: int) -> str:
        return (f"gap of {human_duration(steps[i] - spacing)} from {iso(times[i] + spacing)} "
                f"to {iso(times[i + 1])}")

    if gaps == "error":
        i = int(at[0])
        raise _fail(f"{loc.where(i + 1)}: {describe(i)} (typical spacing {human_duration(spacing)}; gaps='error')")
    if max_gap_seconds is not None:
        too_long = at[steps[at] - spacing > max_gap_seconds]
        if too_long.size:
            i = int(too_long[0])
            raise _fail(f"{loc.where(i + 1)}: {describe(i)} is longer than max_gap_seconds={max_gap_seconds:g}")
    counts = np.ceil(steps[at] / spacing - 1e-9).astype(np.int64) - 1  # samples inserted per gap
    total = int(counts.sum())
    if len(times) + total > MAX_ROWS_AFTER_FILL:
        raise _fail(f"{table.source}: filling gaps would need {total} extra samples at {human_duration(spacing)} "
                    f"spacing; set max_gap_seconds or use a coarser trace")
    left = np.repeat(at, counts)  # index of the sample before each inserted one
    k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    new_times = times[left] + k * spacing
    filled: dict[str, np.ndarray] = {}
    for name, v in values.items():
        if gaps == "interpolate":
            extra = np.interp(new_times, times, v)
        elif gaps == "hold":
            extra = v[left]
        else:
            extra = np.zeros(total)
        filled[name] = np.insert(v, left + 1, extra)
    longest = int(at[np.argmax(steps[at])])
    table.warnings.append(
        f"{table.source}: filled {_plural(len(at), 'gap')} with policy '{gaps}' "
        f"({_plural(total, 'sample')} inserted at the typical {human_duration(spacing)} spacing); "
        f"longest {describe(longest)} (before {loc.label(longest + 1)})")
    return np.insert(times, left + 1, new_times), filled


def _build(table: _Table, gaps: str, max_gap_seconds: float | None,
           window: tuple[float | None, float | None] | None = None) -> model.Trace:
    times = _parse_timestamps(table)
    values = _parse_values(table)
    _fill_missing(table, times, values, gaps, window)
    times, values = _fill_gaps(table, times, values, gaps, max_gap_seconds, window)
    return model.Trace(times=times, columns=values, source=table.source, warnings=tuple(table.warnings))
