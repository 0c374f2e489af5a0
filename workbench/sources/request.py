"""What to fetch from Prometheus for a scenario: the ``trace: {prometheus: {...}}`` block.

Scenario form (relative paths are resolved against the scenario file's folder)::

    trace:
      prometheus:
        url: http://prometheus.monitoring:9090
        bindings: bindings/checkout.yaml     # a MetricBindings file
        start: 2024-03-01T00:00:00Z          # ISO-8601 or epoch seconds (absolute: the cache key)
        end: 2024-03-08T00:00:00Z
        step: 60s                            # default 60s; whole seconds
        column: qps                          # the binding replayed as load (default qps)
        cache: .scalelab-cache               # default; false = always fetch
        refresh: false                       # true = fetch again even when cached
        tokenFile: secrets/token             # or user + passwordFile; caFile; insecure: true
        timeout: 30s
        retries: 3
      peak_rps: 2400                         # rescaling, gaps, start/end windows work as for files

Pure: ``parse`` records problems on a ``schema.Reader`` with their paths and never raises.
``parse_time`` is shared with ``scalelab fetch --start/--end``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core import errors, schema

KEYS = ("url", "bindings", "start", "end", "step", "column", "cache", "refresh", "tokenFile", "user",
        "passwordFile", "caFile", "insecure", "timeout", "retries")
DEFAULT_STEP = 60.0
DEFAULT_CACHE = ".scalelab-cache"
MILLISECONDS_ABOVE = 1e11
_RELATIVE = re.compile(r"^now\s*(?:([-+])\s*(.+))?$")


@dataclass(frozen=True)
class FetchRequest:
    url: str
    bindings: str
    start: float
    end: float
    step: float = DEFAULT_STEP
    column: str | None = None           # None: the scenario's column, else "qps"
    cache: str | None = DEFAULT_CACHE    # folder; None = no cache
    refresh: bool = False
    token_file: str | None = None
    user: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    retries: int = 3


def parse_time(value: Any, now: float | None = None) -> float:
    """Epoch seconds from ISO-8601 (``Z``/offset; no zone = UTC), epoch seconds, a YAML datetime,
    or (with ``now`` given) ``now`` / ``now-7d`` / ``now-1h30m``. ``ValueError`` with the reason."""
    if isinstance(value, bool):
        raise ValueError(f"expected a time, got {value!r}")
    if isinstance(value, _dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)).timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        rel = _RELATIVE.match(text)
        if rel and now is not None:
            offset = schema.parse_duration(rel.group(2)) if rel.group(2) else 0.0
            if offset is None:
                raise ValueError(f"{value!r}: expected now, now-7d, now-1h30m")
            return float(math.floor(now - offset if rel.group(1) == "-" else now + offset))
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not ISO-8601 (2024-03-01T00:00:00Z) or epoch seconds") from None
            return (moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)).timestamp()
    else:
        raise ValueError(f"expected a time, got {schema.type_name(value)}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite time, got {value!r}")
    if abs(seconds) >= MILLISECONDS_ABOVE:
        raise ValueError(f"{value!r} looks like epoch milliseconds; give seconds or ISO-8601")
    return seconds


def parse(r: schema.Reader, value: Any, path: str, base_dir: Path | None) -> FetchRequest:
    """Validate a ``prometheus:`` mapping; problems go to ``r`` with their paths."""
    p = r.mapping(value, path, KEYS, required=("url", "bindings", "start", "end"))

    def file(key: str) -> str | None:
        if key not in p:
            return None
        text = r.string(p, key, path)
        if text and base_dir is not None and not Path(text).is_absolute():
            return str(base_dir / text)
        return text or None

    url = r.string(p, "url", path, "")
    if url and not re.match(r"^https?://[^/\s]+", url):
        r.error(schema.join(path, "url"), f"expected http://HOST:PORT or https://HOST:PORT, got {url!r}")
    times = {}
    for key in ("start", "end"):
        if key in p:
            try:
                times[key] = parse_time(p[key])
                if times[key] != int(times[key]):
                    r.error(schema.join(path, key), "must be a whole second")
            except ValueError as exc:
                r.error(schema.join(path, key), str(exc))
    step = schema.duration(r, p, "step", path, DEFAULT_STEP, positive=True)
    if step and (step != int(step) or step < 1):
        r.error(schema.join(path, "step"), f"must be whole seconds >= 1, got {p['step']!r}")
    start, end = times.get("start"), times.get("end")
    if start is not None and end is not None:
        if end <= start:
            r.error(schema.join(path, "end"), "must be after start")
        elif step and step > end - start:
            r.error(schema.join(path, "step"), "is longer than the range from start to end")
    column = r.string(p, "column", path, None)
    cache: str | None = DEFAULT_CACHE
    if "cache" in p:
        if p["cache"] is False:
            cache = None
        elif not isinstance(p["cache"], str) or not p["cache"]:
            r.error(schema.join(path, "cache"), f"expected a folder or false, got {p['cache']!r}")
        else:
            cache = p["cache"]
    if cache is not None and base_dir is not None and not Path(cache).is_absolute():
        cache = str(base_dir / cache)
    user = r.string(p, "user", path, None)
    password_file = file("passwordFile")
    token_file = file("tokenFile")
    if token_file and (user or password_file):
        r.error(path, "give tokenFile or user + passwordFile, not both")
    if password_file and not user:
        r.error(schema.join(path, "passwordFile"), "needs user")
    timeout = schema.duration(r, p, "timeout", path, 30.0, positive=True)
    retries = r.number(p, "retries", path, 3, minimum=0, maximum=20, integer=True)
    return FetchRequest(url=url or "", bindings=file("bindings") or "", start=start or 0.0, end=end or 0.0,
                        step=float(step or DEFAULT_STEP), column=column, cache=cache,
                        refresh=r.boolean(p, "refresh", path, False), token_file=token_file, user=user,
                        password_file=password_file, ca_file=file("caFile"),
                        insecure=r.boolean(p, "insecure", path, False), timeout=float(timeout or 30.0),
                        retries=int(retries))


def read_secret(path: str, what: str) -> str:
    """The first line of a token or password file (surrounding whitespace removed)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.UserError(f"{what} {path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise errors.UserError(f"{what} {path}: is empty")
    return lines[0].strip()
