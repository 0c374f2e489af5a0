"""Progress for long work: a tqdm bar on stderr when it is a terminal, silence otherwise."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from tqdm import tqdm


@contextlib.contextmanager
def progress_bar(label: str, *, enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``; shows a bar only on an interactive stderr (or when enabled)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if not show:
            return
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="tick", unit_scale=True, leave=False, file=sys.stderr)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
