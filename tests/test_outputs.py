"""The one atomic-output helper: whole files or none, readable permissions, staged folders."""

from __future__ import annotations

import os
import stat

import pytest

from workbench import outputs
from workbench.core import errors


def test_atomic_file_replaces_whole_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "policy.yaml"
    outputs.write_atomic(target, "a: 1\n", fsync=True)
    assert target.read_text() == "a: 1\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask   # not mkstemp's 0600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.parquet"
    target.write_text("old")

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        outputs.atomic_file(target, boom)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]


def test_staged_folder_moves_everything_or_nothing(tmp_path):
    out = tmp_path / "out"
    with outputs.staged_folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
        (tmp / "d").mkdir()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "d"]
    with pytest.raises(ValueError):
        with outputs.staged_folder(out) as tmp:
            (tmp / "a.txt").write_text("new")
            raise ValueError("failed half way")
    assert (out / "a.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(errors.UserError, match="exists and is not a folder"):
        with outputs.staged_folder(tmp_path / "file"):
            pass
