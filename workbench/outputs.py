"""Writing results so that a reader never sees half of them: the one place that does it.

* ``atomic_file(path, write)``: ``write`` fills a temporary sibling file, which is renamed over
  ``path`` only when complete; on any error (or Ctrl-C) the temporary file is removed and ``path``
  is untouched. The file gets the permissions a plain ``open()`` would give (umask), not the
  0600 of ``mkstemp`` — a controller running as another user must be able to read a promoted policy.
* ``write_atomic(path, data, fsync=False)``: the same for text or bytes.
* ``staged_folder(out_dir)``: a context manager yielding a temporary sibling folder; when the
  block succeeds every file in it is moved into ``out_dir`` (each appears whole), otherwise
  nothing is; the temporary folder is always removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench.core import errors


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_file(path: str | Path, write: Callable[[Path], Any]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def write_atomic(path: str | Path, data: str | bytes, *, fsync: bool = False) -> Path:
    raw = data.encode() if isinstance(data, str) else data

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    return atomic_file(path, write)


@contextlib.contextmanager
def staged_folder(out_dir: str | Path) -> Iterator[Path]:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise errors.UserError(f"--out {out_dir}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        out.mkdir(exist_ok=True)
        for item in sorted(tmp.iterdir()):
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
