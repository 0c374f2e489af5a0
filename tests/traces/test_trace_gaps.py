"""Missing values and gaps: each policy's exact filled values and the one-line warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core import errors
from workbench.traces import files


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# 60 s spacing with a 180 s step after t=120: two samples (180, 240) are missing.
GAPPY = "timestamp,a,b\n0,1,10\n60,2,10\n120,3,10\n300,9,40\n360,9,40\n"


@pytest.mark.parametrize(("gaps", "a", "b"), [
    pytest.param("interpolate", [1, 2, 3, 5, 7, 9, 9], [10, 10, 10, 20, 30, 40, 40], id="interpolate"),
    pytest.param("hold", [1, 2, 3, 3, 3, 9, 9], [10, 10, 10, 10, 10, 40, 40], id="hold"),
    pytest.param("zero", [1, 2, 3, 0, 0, 9, 9], [10, 10, 10, 0, 0, 40, 40], id="zero"),
])
def test_gap_policies_fill_on_the_typical_spacing(tmp_path, gaps, a, b):
    path = write(tmp_path, GAPPY)
    trace = files.load_trace(path, gaps=gaps)
    assert trace.times.tolist() == [0, 60, 120, 180, 240, 300, 360]
    assert trace.column("a").tolist() == a
    assert trace.column("b").tolist() == b
    assert trace.warnings == (
        f"{path}: filled 1 gap with policy '{gaps}' (2 samples inserted at the typical 1m spacing); "
        "longest gap of 2m from 1970-01-01T00:03:00Z to 1970-01-01T00:05:00Z (before line 5)",)


def test_gap_policy_error_names_the_first_gap(tmp_path):
    path = write(tmp_path, GAPPY)
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, gaps="error")
    assert str(info.value) == (f"{path}:5: gap of 2m from 1970-01-01T00:03:00Z to 1970-01-01T00:05:00Z "
                               "(typical spacing 1m; gaps='error')")


def test_several_gaps_summarised_by_the_longest(tmp_path):
    text = ("timestamp,a\n2016-01-01T00:00:00Z,1\n2016-01-01T00:01:00Z,1\n2016-01-01T00:03:00Z,3\n"
            "2016-01-01T00:04:00Z,3\n2016-01-01T00:05:00Z,3\n2016-01-01T01:05:00Z,3\n2016-01-01T01:06:00Z,3\n")
    path = write(tmp_path, text)
    trace = files.load_trace(path)
    assert len(trace) == 7 + 1 + 59
    assert trace.column("a")[2] == 2.0
    assert trace.warnings == (
        f"{path}: filled 2 gaps with policy 'interpolate' (60 samples inserted at the typical 1m spacing); "
        "longest gap of 59m from 2016-01-01T00:06:00Z to 2016-01-01T01:05:00Z (before line 7)",)


@pytest.mark.parametrize(("step", "inserted", "is_gap"), [
    pytest.param(90, [], False, id="1.5x-is-not-a-gap"),
    pytest.param(91, [60], True, id="just-over-1.5x"),
    pytest.param(150, [60, 120], True, id="2.5x-leaves-a-short-last-step"),
    pytest.param(180, [60, 120], True, id="3x"),
])
def test_gap_threshold_and_fill_grid(tmp_path, step, inserted, is_gap):
    path = write(tmp_path, f"timestamp,a\n-120,1\n-60,1\n0,1\n{step},1\n{step + 60},1\n{step + 120},1\n")
    trace = files.load_trace(path, gaps="hold")
    assert trace.times.tolist() == sorted({-120, -60, 0, *inserted, step, step + 60, step + 120})
    assert bool(trace.warnings) is is_gap


@pytest.mark.parametrize(("limit", "ok"), [(119, False), (120, True), (None, True)])
def test_max_gap_seconds(tmp_path, limit, ok):
    path = write(tmp_path, GAPPY)
    if ok:
        assert len(files.load_trace(path, max_gap_seconds=limit)) == 7
        return
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, max_gap_seconds=limit)
    assert str(info.value) == (f"{path}:5: gap of 2m from 1970-01-01T00:03:00Z to 1970-01-01T00:05:00Z "
                               "is longer than max_gap_seconds=119")


# -- missing values ------------------------------------------------------------------------------------
MISSING = "timestamp,a,b\n0,,4\n60,2,\n120,,\n180,8,7\n240,NaN,7\n"


@pytest.mark.parametrize(("gaps", "a", "b"), [
    pytest.param("interpolate", [2, 2, 5, 8, 8], [4, 5, 6, 7, 7], id="interpolate"),
    pytest.param("hold", [2, 2, 2, 8, 8], [4, 4, 4, 7, 7], id="hold"),
    pytest.param("zero", [0, 2, 0, 8, 0], [4, 0, 0, 7, 7], id="zero"),
])
def test_missing_values_are_filled_by_the_gap_policy(tmp_path, gaps, a, b):
    path = write(tmp_path, MISSING)
    trace = files.load_trace(path, gaps=gaps)
    assert trace.column("a").tolist() == a
    assert trace.column("b").tolist() == b
    assert trace.warnings == (
        f"{path}: column 'a': 3 missing values (first on line 2) filled by gap policy '{gaps}'",
        f"{path}: column 'b': 2 missing values (first on line 3) filled by gap policy '{gaps}'",
    )


def test_missing_value_with_gap_policy_error(tmp_path):
    path = write(tmp_path, MISSING)
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, gaps="error")
    assert str(info.value) == f"{path}:2: column 'a': missing value (gaps='error')"


def test_short_rows_are_missing_values(tmp_path):
    path = write(tmp_path, "timestamp,a,b\n0,1,1\n60,2\n120,3,3\n")
    trace = files.load_trace(path)
    assert trace.column("b").tolist() == [1, 2, 3]
    assert trace.warnings == (f"{path}: column 'b': 1 missing value (first on line 3) filled by gap policy "
                              "'interpolate'",)


def test_selected_column_without_any_value(tmp_path):
    path = write(tmp_path, "timestamp,a,b\n0,1,\n60,2,\n")
    with pytest.raises(errors.TraceError) as info:
        files.load_trace(path, columns=["a", "b"])
    assert str(info.value) == f"{path}: column 'b' has no values"


def test_missing_values_and_gaps_together(tmp_path):
    path = write(tmp_path, "timestamp,a\n0,0\n60,\n120,4\n240,10\n300,10\n")
    trace = files.load_trace(path)
    assert trace.times.tolist() == [0, 60, 120, 180, 240, 300]
    assert trace.column("a").tolist() == [0, 2, 4, 7, 10, 10]
    assert trace.warnings == (
        f"{path}: column 'a': 1 missing value (first on line 3) filled by gap policy 'interpolate'",
        f"{path}: filled 1 gap with policy 'interpolate' (1 sample inserted at the typical 1m spacing); "
        "longest gap of 1m from 1970-01-01T00:03:00Z to 1970-01-01T00:04:00Z (before line 5)",
    )


def test_missing_value_line_numbers_survive_blank_lines_and_quotes(tmp_path):
    path = write(tmp_path, 'timestamp,a\n\n"0","1"\n\n60,\n120,3\n')
    trace = files.load_trace(path)
    assert trace.warnings == (f"{path}: column 'a': 1 missing value (first on line 5) filled by gap policy "
                              "'interpolate'",)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "0.5s"), (45, "45s"), (60, "1m"), (90, "1m 30s"), (3600, "1h"), (86400 + 61, "1d 1m 1s"),
    (3 * 86400 + 10 * 3600 + 29 * 60, "3d 10h 29m"),
])
def test_human_duration(seconds, text):
    assert files.human_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "1970-01-01T00:00:00Z"), (1451606400.25, "2016-01-01T00:00:00.250Z"), (-86400, "1969-12-31T00:00:00Z"),
    (59.9996, "1970-01-01T00:01:00Z"), (1e12, "1e+12s after the epoch"),
])
def test_iso(seconds, text):
    assert files.iso(seconds) == text


def test_window_limits_gap_filling_and_warnings_to_the_replayed_range(tmp_path):
    from workbench.traces import load_trace
    p = tmp_path / "w.csv"
    rows = ["timestamp,requests_per_s"] + [f"{t},{t / 60:g}" for t in list(range(0, 600, 60)) + list(range(1200, 1800, 60))]
    p.write_text("\n".join(rows) + "\n")
    whole = load_trace(p)
    assert len(whole.warnings) == 1 and "filled 1 gap" in whole.warnings[0]
    before = load_trace(p, window=(0, 500))           # the hole (540..1200) is outside
    assert before.warnings == () and len(before) == 20
    after = load_trace(p, window=(1300, None))
    assert after.warnings == ()
    inside = load_trace(p, window=(500, 1300))
    assert inside.warnings == whole.warnings and len(inside) == len(whole)
