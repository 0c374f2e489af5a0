"""load_trace: formats, column selection and every validation rule, with exact one-line messages."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.core import errors
from workbench.traces import files


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def load_error(path: Path, **kwargs) -> str:
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, **kwargs)
    return str(info.value)


# -- the file itself -----------------------------------------------------------------------------------
FILE_ERRORS = [
    pytest.param("", "{p}: file is empty", id="empty-file"),
    pytest.param("\n  \n", "{p}: file is empty", id="only-blank-lines"),
    pytest.param("timestamp,a\n", "{p}: needs at least 2 data rows, found 0", id="header-only"),
    pytest.param("timestamp,a\n0,1\n", "{p}: needs at least 2 data rows, found 1", id="one-row"),
    pytest.param("time,a\n0,1\n60,2\n", "{p}: no 'timestamp' column (columns: time, a)", id="no-timestamp-column"),
    pytest.param("timestamp,a,a\n0,1,2\n60,2,3\n", "{p}:1: duplicate column 'a' in the header", id="duplicate-header"),
    pytest.param("timestamp,a\n0,1\n60,2,3\n", "{p}:3: expected 2 fields, found 3", id="too-many-fields"),
    pytest.param("timestamp,a\n0,1\n\n60,2,3\n", "{p}:4: expected 2 fields, found 3", id="too-many-fields-after-blank"),
    pytest.param("timestamp,host\n0,a\n60,b\n", "{p}: no numeric columns besides 'timestamp' (columns: host)",
                 id="no-numeric-column"),
]


@pytest.mark.parametrize(("text", "message"), FILE_ERRORS)
def test_file_level_problems_are_one_line_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    assert load_error(path) == message.format(p=path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    assert load_error(path) == f"{path}: no such file"


def test_directory_is_not_a_trace(tmp_path):
    path = tmp_path / "dir.csv"
    path.mkdir()
    assert load_error(path) == f"{path}: is a directory, not a trace file"


@pytest.mark.parametrize("name", ["t.txt", "t.json", "t.csv.bz2", "t"])
def test_unsupported_suffix(tmp_path, name):
    path = write(tmp_path, "timestamp,a\n0,1\n60,2\n", name)
    suffix = "".join(Path(name).suffixes[-2:]) or "(none)"
    assert load_error(path) == (f"{path}: unsupported trace file type '{suffix}' "
                                "(expected .csv, .csv.gz, .parquet or .pq)")


def test_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"timestamp,a\n0,\xff\n60,2\n")
    assert load_error(path) == f"{path}: not a UTF-8 text file (invalid start byte at byte 14)"


def test_corrupt_gzip(tmp_path):
    path = write(tmp_path, "timestamp,a\n0,1\n60,2\n", "t.csv.gz")
    assert load_error(path) == f"{path}: cannot read: Not a gzipped file (b'ti')"


def test_unknown_requested_column(tmp_path):
    path = write(tmp_path, "timestamp,a,b\n0,1,2\n60,2,3\n")
    assert load_error(path, columns=["c"]) == f"{path}: no column 'c' (columns: a, b)"


def test_selected_boolean_column_is_not_numeric(tmp_path):
    path = write(tmp_path, "timestamp,flag\n0,True\n60,False\n")
    assert load_error(path, columns=["flag"]) == f"{path}: column 'flag' is not numeric (bool)"


# -- timestamps ----------------------------------------------------------------------------------------
TIMESTAMP_ERRORS = [
    pytest.param("timestamp,a\n2016-01-01T00:00:00Z,1\n1995-07-0,2\n2016-01-01T00:02:00Z,3\n",
                 "{p}:3: timestamp '1995-07-0' is not ISO-8601 or epoch seconds", id="bad-iso"),
    pytest.param("timestamp,a\n2016-01-01T00:00:00Z,1\n2016-13-01T00:00:00Z,2\n",
                 "{p}:3: timestamp '2016-13-01T00:00:00Z' is not ISO-8601 or epoch seconds", id="month-13"),
    pytest.param("timestamp,a\n0,1\n60,2\nsoon,3\n120,4\n",
                 "{p}:4: timestamp 'soon' is not ISO-8601 or epoch seconds", id="garbage-among-epochs"),
    pytest.param("timestamp,a\n2016-01-01T00:00:00Z,1\n,2\n2016-01-01T00:02:00Z,3\n",
                 "{p}:3: empty timestamp", id="empty-iso"),
    pytest.param("timestamp,a\n0,1\n,2\n120,3\n", "{p}:3: empty timestamp", id="empty-epoch"),
    pytest.param("timestamp,a\n0,1\ninf,2\n", "{p}:3: timestamp 'inf' is not ISO-8601 or epoch seconds",
                 id="infinite-epoch"),
    pytest.param("timestamp,a\n1451606400000,1\n1451606460000,2\n",
                 "{p}:2: timestamp '1451606400000' looks like milliseconds since the epoch (expected seconds)",
                 id="milliseconds"),
    pytest.param("timestamp,a\n1451606400,1\n1451606460000.5,2\n",
                 "{p}:3: timestamp '1451606460000.5' looks like milliseconds since the epoch (expected seconds)",
                 id="milliseconds-float"),
    pytest.param("timestamp,a\n2016-01-01T00:00:00Z,1\n2016-01-01T01:00:00Z,2\n2016-01-01T00:30:00Z,3\n",
                 "{p}:4: timestamp goes backwards: '2016-01-01T00:30:00Z' after '2016-01-01T01:00:00Z'",
                 id="backwards-iso"),
    pytest.param("timestamp,a\n0,1\n60,2\n30,3\n", "{p}:4: timestamp goes backwards: '30' after '60'",
                 id="backwards-epoch"),
    pytest.param("timestamp,a\n0,1\n60,2\n60,3\n", "{p}:4: duplicate timestamp '60' (same instant as line 3)",
                 id="duplicate-epoch"),
    pytest.param("timestamp,a\n2016-01-01T00:00:00Z,1\n2016-01-01T02:00:00+02:00,2\n",
                 "{p}:3: duplicate timestamp '2016-01-01T02:00:00+02:00' (same instant as line 2)",
                 id="duplicate-via-offset"),
    pytest.param("timestamp,a\n0,1\n\n60,2\n  \n60,3\n",
                 "{p}:6: duplicate timestamp '60' (same instant as line 4)", id="blank-lines-count"),
    pytest.param('timestamp,a\n"0","1"\n"60","2"\n"30","3"\n',
                 "{p}:4: timestamp goes backwards: '30' after '60'", id="quoted-cells"),
    pytest.param("timestamp,a\r\n0,1\r\n60,2\r\n60,3\r\n",
                 "{p}:4: duplicate timestamp '60' (same instant as line 3)", id="crlf"),
]


@pytest.mark.parametrize(("text", "message"), TIMESTAMP_ERRORS)
def test_timestamp_problems_name_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    assert load_error(path) == message.format(p=path)


# -- values --------------------------------------------------------------------------------------------
VALUE_ERRORS = [
    pytest.param("timestamp,a\n0,1\n60,abc\n120,3\n", "{p}:3: column 'a': 'abc' is not a number",
                 id="garbage"),
    pytest.param("timestamp,a\n0,1\n60,1;5\n", "{p}:3: column 'a': '1;5' is not a number", id="bad-decimal"),
    pytest.param("timestamp,a\n0,1\n60,-1.5\n", "{p}:3: column 'a': negative value '-1.5' (load cannot be negative)",
                 id="negative"),
    pytest.param("timestamp,a\n0,1\n60,inf\n", "{p}:3: column 'a': infinite value 'inf'", id="inf"),
    pytest.param("timestamp,a\n0,1\n60,-inf\n", "{p}:3: column 'a': infinite value '-inf'", id="minus-inf"),
    pytest.param("timestamp,a,b\n0,1,1\n60,1,-2\n120,x,3\n",
                 "{p}:3: column 'b': negative value '-2' (load cannot be negative)", id="earliest-line-wins"),
    pytest.param("timestamp,a,b\n0,1,1\n60,-1,x\n",
                 "{p}:3: column 'a': negative value '-1' (load cannot be negative)", id="same-line-first-column"),
    pytest.param("timestamp,a\n0,1\n\n# note\n60,2\n", "{p}:4: timestamp '# note' is not ISO-8601 or epoch seconds",
                 id="comment-line-is-a-row"),
]


@pytest.mark.parametrize(("text", "message"), VALUE_ERRORS)
def test_value_problems_name_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    assert load_error(path, gaps="error") == message.format(p=path)


def test_only_selected_columns_are_validated(tmp_path):
    path = write(tmp_path, "timestamp,a,b\n0,1,-5\n60,2,x\n")
    trace = files.load_trace(path, columns=["a"])
    assert list(trace.columns) == ["a"]
    assert trace.column("a").tolist() == [1.0, 2.0]


# -- formats -------------------------------------------------------------------------------------------
TIMESTAMP_FORMATS = [
    pytest.param(["2016-01-01T00:00:00Z", "2016-01-01T00:01:00Z"], [1451606400.0, 1451606460.0], id="iso-z"),
    pytest.param(["2016-01-01T02:00:00+02:00", "2016-01-01T02:01:00+02:00"], [1451606400.0, 1451606460.0],
                 id="iso-offset"),
    pytest.param(["2015-12-31T19:00:00-05:00", "2016-01-01T00:01:00Z"], [1451606400.0, 1451606460.0],
                 id="iso-mixed-offsets"),
    pytest.param(["2016-01-01T00:00:00", "2016-01-01 00:01:00"], [1451606400.0, 1451606460.0], id="iso-naive-is-utc"),
    pytest.param(["2016-01-01T00:00:00.250Z", "2016-01-01T00:00:01.750Z"], [1451606400.25, 1451606401.75],
                 id="iso-fractional"),
    pytest.param(["1451606400", "1451606460"], [1451606400.0, 1451606460.0], id="epoch-int"),
    pytest.param(["1451606400.5", "1451606401.25"], [1451606400.5, 1451606401.25], id="epoch-float"),
    pytest.param(["0", "1e3"], [0.0, 1000.0], id="epoch-exponent"),
]


@pytest.mark.parametrize(("stamps", "expected"), TIMESTAMP_FORMATS)
def test_timestamp_forms(tmp_path, stamps, expected):
    path = write(tmp_path, "timestamp,a\n" + "".join(f"{s},{i}\n" for i, s in enumerate(stamps)))
    trace = files.load_trace(path)
    assert trace.times.tolist() == expected
    assert trace.times.dtype == np.float64


def test_all_numeric_columns_become_float64_and_text_is_skipped(tmp_path):
    path = write(tmp_path, "timestamp,count,host,rate,note\n0,1,a,0.5,\n60,2,b,1.5,\n")
    trace = files.load_trace(path)
    assert list(trace.columns) == ["count", "rate"]
    assert trace.column("count").dtype == np.float64
    assert trace.column("rate").tolist() == [0.5, 1.5]
    assert trace.warnings == (f"{path}: skipped non-numeric column host", f"{path}: skipped empty column 'note'")


def test_trailing_commas_are_ignored(tmp_path):
    path = write(tmp_path, "timestamp,a,\n0,1,\n60,2,\n")
    trace = files.load_trace(path)
    assert list(trace.columns) == ["a"] and trace.warnings == ()


def test_header_whitespace_and_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufefftimestamp, a \n0,1\n60,2\n".encode())
    assert files.load_trace(path).column("a").tolist() == [1.0, 2.0]


def test_mostly_numeric_text_column_reports_its_bad_cell(tmp_path):
    path = write(tmp_path, "timestamp,a\n0,1\n60,2\n120,n/a?\n")
    assert load_error(path) == f"{path}:4: column 'a': 'n/a?' is not a number"


def test_gzip_csv(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("timestamp,a\n0,1\n60,2\n\n60,3\n")
    assert load_error(path) == f"{path}:5: duplicate timestamp '60' (same instant as line 3)"


def test_gzip_csv_happy(tmp_path):
    path = tmp_path / "T.CSV.GZ"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("timestamp,a\n0,1\n60,2\n")
    assert files.load_trace(path).column("a").tolist() == [1.0, 2.0]


def test_columns_as_a_single_name(tmp_path):
    path = write(tmp_path, "timestamp,a,b\n0,1,2\n60,2,3\n")
    assert list(files.load_trace(path, columns="b").columns) == ["b"]


def test_bad_arguments_are_programming_errors(tmp_path):
    path = write(tmp_path, "timestamp,a\n0,1\n60,2\n")
    with pytest.raises(ValueError, match="gaps must be one of interpolate, hold, zero, error, got 'fill'"):
        files.load_trace(path, gaps="fill")
    with pytest.raises(ValueError, match="max_gap_seconds must be >= 0 or None"):
        files.load_trace(path, max_gap_seconds=-1)


# -- parquet -------------------------------------------------------------------------------------------
def write_parquet(tmp_path: Path, frame: pd.DataFrame, name: str = "t.parquet", index: bool = False) -> Path:
    path = tmp_path / name
    frame.to_parquet(path, index=index)
    return path


EPOCHS = [1451606400.0, 1451606460.0, 1451606520.0]


@pytest.mark.parametrize("stamps", [
    pytest.param(pd.to_datetime(EPOCHS, unit="s", utc=True), id="datetime-ns-utc"),
    pytest.param(pd.to_datetime(EPOCHS, unit="s").as_unit("s"), id="datetime-s-naive"),
    pytest.param(pd.to_datetime(EPOCHS, unit="s").as_unit("ms"), id="datetime-ms-naive"),
    pytest.param(pd.to_datetime(EPOCHS, unit="s", utc=True).tz_convert("Europe/Berlin"), id="datetime-berlin"),
    pytest.param(np.array(EPOCHS, dtype=np.int64), id="epoch-int"),
    pytest.param(np.array(EPOCHS), id="epoch-float"),
    pytest.param(["2016-01-01T01:00:00+01:00", "2016-01-01T00:01:00Z", "2016-01-01T00:02:00"], id="iso-strings"),
], )
def test_parquet_timestamp_forms(tmp_path, stamps):
    frame = pd.DataFrame({"timestamp": stamps, "a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "host": ["x", "y", "z"]})
    trace = files.load_trace(write_parquet(tmp_path, frame))
    assert trace.times.tolist() == EPOCHS
    assert list(trace.columns) == ["a", "b"]
    assert trace.column("a").tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_round_trip_of_a_csv(tmp_path, suffix):
    csv_path = write(tmp_path, "timestamp,a,b\n2016-01-01T00:00:00Z,1.25,7\n2016-01-01T00:01:00Z,0,8\n"
                               "2016-01-01T00:02:00Z,3.5,9\n")
    trace = files.load_trace(csv_path)
    frame = pd.DataFrame({"timestamp": pd.to_datetime(trace.times, unit="s", utc=True), **trace.columns})
    back = files.load_trace(write_parquet(tmp_path, frame, "t" + suffix))
    assert back.times.tolist() == trace.times.tolist()
    assert {k: v.tolist() for k, v in back.columns.items()} == {k: v.tolist() for k, v in trace.columns.items()}


def test_parquet_datetime_index_named_timestamp(tmp_path):
    index = pd.DatetimeIndex(pd.to_datetime(EPOCHS, unit="s", utc=True), name="timestamp")
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=index)
    trace = files.load_trace(write_parquet(tmp_path, frame, index=True))
    assert trace.times.tolist() == EPOCHS and trace.column("a").tolist() == [1.0, 2.0, 3.0]


def test_parquet_nullable_integers_with_missing_values(tmp_path):
    frame = pd.DataFrame({"timestamp": np.array(EPOCHS), "a": pd.array([1, None, 3], dtype="Int64")})
    path = write_parquet(tmp_path, frame)
    trace = files.load_trace(path)
    assert trace.column("a").tolist() == [1.0, 2.0, 3.0]
    assert trace.warnings == (f"{path}: column 'a': 1 missing value (first on row 2) filled by gap policy "
                              "'interpolate'",)


PARQUET_ERRORS = [
    pytest.param({"time": EPOCHS, "a": [1.0, 2.0, 3.0]}, {}, "{p}: no 'timestamp' column (columns: time, a)",
                 id="no-timestamp"),
    pytest.param({"timestamp": [1451606400000, 1451606460000, 1451606520000], "a": [1.0, 2.0, 3.0]}, {},
                 "{p}: row 1: timestamp '1451606400000' looks like milliseconds since the epoch (expected seconds)",
                 id="milliseconds"),
    pytest.param({"timestamp": [EPOCHS[0], EPOCHS[2], EPOCHS[1]], "a": [1.0, 2.0, 3.0]}, {},
                 "{p}: row 3: timestamp goes backwards: '1451606460.0' after '1451606520.0'", id="backwards"),
    pytest.param({"timestamp": [EPOCHS[0], EPOCHS[0], EPOCHS[1]], "a": [1.0, 2.0, 3.0]}, {},
                 "{p}: row 2: duplicate timestamp '1451606400.0' (same instant as row 1)", id="duplicate"),
    pytest.param({"timestamp": pd.to_datetime([EPOCHS[0], None, EPOCHS[2]], unit="s"), "a": [1.0, 2.0, 3.0]}, {},
                 "{p}: row 2: empty timestamp", id="nat"),
    pytest.param({"timestamp": EPOCHS, "a": [1.0, -2.0, 3.0]}, {},
                 "{p}: row 2: column 'a': negative value '-2.0' (load cannot be negative)", id="negative"),
    pytest.param({"timestamp": EPOCHS, "a": [1.0, 2.0, np.inf]}, {},
                 "{p}: row 3: column 'a': infinite value 'inf'", id="inf"),
    pytest.param({"timestamp": EPOCHS, "a": ["1", "2", "x"]}, {"columns": ["a"]},
                 "{p}: row 3: column 'a': 'x' is not a number", id="text-value"),
    pytest.param({"timestamp": EPOCHS[:1], "a": [1.0]}, {}, "{p}: needs at least 2 data rows, found 1", id="one-row"),
    pytest.param({"timestamp": [True, False, True], "a": [1.0, 2.0, 3.0]}, {},
                 "{p}: column 'timestamp' has unsupported type bool", id="bool-timestamp"),
]


@pytest.mark.parametrize(("data", "kwargs", "message"), PARQUET_ERRORS)
def test_parquet_problems_name_the_row(tmp_path, data, kwargs, message):
    path = write_parquet(tmp_path, pd.DataFrame(data))
    assert load_error(path, **kwargs) == message.format(p=path)


def test_corrupt_parquet(tmp_path):
    path = write(tmp_path, "timestamp,a\n0,1\n60,2\n", "t.parquet")
    assert load_error(path).startswith(f"{path}: cannot read Parquet file: ")
    assert "\n" not in load_error(path)
