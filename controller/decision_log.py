"""The decision log: one JSON object per line, flushed per line (optionally fsync'd).

Every ``decide`` call the controller makes (live and shadow) and every tick it skips before
deciding is one line. Lines are written whole by one ``write`` call under a lock, so concurrent
workers and a SIGTERM never leave a partial line behind (the process exits between lines).

Numbers: metric values are JSON numbers; the non-finite values Prometheus can return
(``+Inf``, ``-Inf``) are written as the strings ``"+Inf"``/``"-Inf"`` (strict JSON has no
infinities) and ``decode_metric`` turns them back. Missing values are ``null``.
The fields are documented in ``docs/controller.md`` (Decision log).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import sys
import threading
from typing import Any, Callable, Iterable, Mapping

SCHEMA_VERSION = 1


def encode_metric(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return None
    return value


def decode_metric(value: Any) -> float | None:
    if value is None:
        return None
    if value == "+Inf":
        return math.inf
    if value == "-Inf":
        return -math.inf
    return float(value)


def encode_metrics(metrics: Mapping[str, float | None]) -> dict[str, Any]:
    return {name: encode_metric(v) for name, v in metrics.items()}


def decode_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    return {name: decode_metric(v) for name, v in metrics.items()}


def iso(seconds: float) -> str:
    moment = _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class DecisionLog:
    """Append JSON lines to ``path`` (``-`` = stdout). Thread-safe; ``close`` flushes (and syncs)."""

    def __init__(self, path: str, *, fsync: bool = False):
        self.path, self.fsync = path, fsync
        self._lock = threading.Lock()
        self._closed = False
        if path == "-":
            self._stream: io.TextIOBase = sys.stdout
            self._owned = False
        else:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            self._stream = open(path, "a", encoding="utf-8", buffering=1)
            self._owned = True
        self.lines = 0

    def write(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), allow_nan=False, default=str) + "\n"
        with self._lock:
            if self._closed:
                return
            self._stream.write(line)
            self._stream.flush()
            if self.fsync and self._owned:
                os.fsync(self._stream.fileno())
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._stream.flush()
                if self._owned:
                    if self.fsync:
                        os.fsync(self._stream.fileno())
                    self._stream.close()
            except (OSError, ValueError):
                pass


class MemoryLog:
    """A decision log kept in memory (tests, the bench): ``entries`` holds the dicts."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def write(self, entry: Mapping[str, Any]) -> None:
        with self._lock:
            self.entries.append(dict(entry))

    def close(self) -> None:
        pass


def read(path: str) -> list[dict[str, Any]]:
    """Every line of a decision log file, parsed (raises ValueError on a broken line)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                raise ValueError(f"{path}:{n}: truncated line")
            out.append(json.loads(line))
    return out


Sink = Callable[[Mapping[str, Any]], None]


def entries_for(entries: Iterable[Mapping[str, Any]], target: str) -> list[Mapping[str, Any]]:
    return [e for e in entries if e.get("target") == target]
