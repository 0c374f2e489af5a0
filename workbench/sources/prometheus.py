"""Prometheus as a metric source: chunked range queries and instant queries, with one-line errors.

``PrometheusSource(Options(url, ...))`` talks to the HTTP API through
``prometheus_api_client.PrometheusConnect`` (always with explicit start/end: the client's
``get_metric_range_data`` defaults are evaluated at import time).

Range queries run on a ``Grid`` (``start``, ``step``, ``count``: whole epoch seconds; points at
``start + k*step``). A request may return at most ``max_points`` points per series (Prometheus
refuses more than 11,000), so the grid is cut into consecutive sub-grids of at most
``max_points`` points each; sub-grid ``i+1`` starts one step after sub-grid ``i`` ends, so every
grid point is evaluated exactly once. Each returned sample is placed by its index on the grid
(an off-grid timestamp is an error), NaN marks grid points without a sample.

Retries: connection errors, timeouts, HTTP 408/429/5xx and the server's own evaluation timeouts
(422 ``context deadline exceeded``) are retried ``retries`` times with
exponential backoff (``backoff_seconds``, doubling), never waiting more than
``max_retry_seconds`` in total. Nothing else is retried.

Errors (one line, ``prometheus URL: <name: promql> from A to B step S: <problem>``; the URL is
shown without credentials):

* ``UpstreamError`` (exit 3) — the server could not be used: ``cannot connect (Connection
  refused)``, ``no answer within 5s (timeout)``, ``TLS certificate verification failed (...)``,
  ``authentication failed: HTTP 401 Unauthorized``, ``HTTP 503 ...`` after the retries, an
  answer that is not a Prometheus API response.
* ``UserError`` (exit 2) — the server answered, but the question was wrong: ``rejected the
  query (HTTP 400 bad_data): <Prometheus' text>``, ``returned no data``, ``returned 3 series where
  one was expected: {pod="a"}, ...``, a bad range or step.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.retry import Retry

from workbench.core import errors

MAX_POINTS = 11_000  # Prometheus' limit of points per series in one range query
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MILLISECONDS_ABOVE = 1e11  # epoch seconds beyond this (year 5138) are surely milliseconds
MAX_GRID_POINTS = 50_000_000


def iso(seconds: float) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    try:
        moment = _dt.datetime.fromtimestamp(float(seconds), tz=_dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return f"{seconds:g}s after the epoch"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if moment.microsecond >= 1000 else f"{text}Z"


def public_url(url: str) -> str:
    """The URL without user:password, query string or fragment (safe for messages and metadata)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def format_labels(labels: Mapping[str, str]) -> str:
    """``name{a="1",b="2"}`` (``{}`` for an aggregate without labels)."""
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


# -- options ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """How to reach one Prometheus server. ``retries`` counts extra attempts after the first."""

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0                  # seconds per HTTP request
    retries: int = 3
    backoff_seconds: float = 0.5
    max_retry_seconds: float = 30.0
    query_timeout: float | None = None     # the server's evaluation limit (default: ``timeout``)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.UserError(f"prometheus URL {self.url!r}: expected http://HOST:PORT or https://HOST:PORT")
        try:
            parts.port
        except ValueError:
            raise errors.UserError(f"prometheus URL {public_url(self.url)!r}: invalid port") from None
        if self.token is not None and (self.username is not None or self.password is not None):
            raise errors.UserError("prometheus: give a bearer token or a user and password, not both")
        if self.password is not None and self.username is None:
            raise errors.UserError("prometheus: a password needs a user")
        if self.token is not None and not self.token.strip():
            raise errors.UserError("prometheus: the bearer token is empty")
        for what, value in (("timeout", self.timeout), ("query timeout", self.query_timeout)):
            if value is not None and not value > 0:
                raise errors.UserError(f"prometheus: {what} must be > 0 seconds, got {value!r}")
        if not (isinstance(self.retries, int) and 0 <= self.retries <= 20):
            raise errors.UserError(f"prometheus: retries must be an integer from 0 to 20, got {self.retries!r}")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise errors.UserError(f"prometheus: CA file {self.ca_file}: no such file")

    @property
    def display_url(self) -> str:
        return public_url(self.url)


# -- the time grid ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """Evaluation times ``start + k*step`` for ``k < count`` (whole epoch seconds)."""

    start: int
    step: int
    count: int

    @classmethod
    def spanning(cls, start: float, end: float, step: float) -> "Grid":
        """The grid from ``start`` every ``step`` up to ``end`` (included when on the grid)."""
        for what, value in (("start", start), ("end", end)):
            if not math.isfinite(value):
                raise errors.UserError(f"{what} must be a finite time, got {value!r}")
            if abs(value) >= MILLISECONDS_ABOVE:
                raise errors.UserError(f"{what} {value:.0f} looks like epoch milliseconds; give seconds or ISO-8601")
            if value != int(value):
                raise errors.UserError(f"{what} {iso(value)} must be a whole second")
        if not (math.isfinite(step) and step >= 1 and step == int(step)):
            raise errors.UserError(f"step must be a whole number of seconds >= 1, got {step!r}")
        if end <= start:
            raise errors.UserError(f"end {iso(end)} is not after start {iso(start)}")
        if step > end - start:
            hint = " (milliseconds?)" if step >= 1000 else ""
            raise errors.UserError(f"step {step:g}s{hint} is longer than the range {iso(start)} .. {iso(end)}")
        count = int((end - start) // step) + 1
        if count > MAX_GRID_POINTS:
            raise errors.UserError(f"{count:,} points of {step:g}s from {iso(start)} to {iso(end)} is too many; "
                                   "use a larger step")
        return cls(int(start), int(step), count)

    @property
    def end(self) -> int:
        """The last evaluation time."""
        return self.start + (self.count - 1) * self.step

    def times(self) -> np.ndarray:
        return self.start + np.arange(self.count, dtype=np.float64) * self.step

    def index_of(self, sub: "Grid") -> int:
        return (sub.start - self.start) // self.step

    def chunks(self, max_points: int = MAX_POINTS) -> list["Grid"]:
        """Consecutive sub-grids of at most ``max_points`` points covering every point once."""
        if max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        return [Grid(self.start + first * self.step, self.step, min(max_points, self.count - first))
                for first in range(0, self.count, max_points)]


@dataclass(frozen=True)
class Series:
    """One series on a grid: ``values[k]`` at ``grid.start + k*step``; NaN = no value there."""

    labels: Mapping[str, str]
    values: np.ndarray
    nan: int = 0        # samples Prometheus returned as NaN
    absent: int = 0     # grid points without a sample (stale, or no data)
    infinite: int = 0   # +Inf/-Inf samples (kept as they are)

    @property
    def missing(self) -> int:
        return self.nan + self.absent


# -- PromQL helpers --------------------------------------------------------------------------------
_SELECTOR = r'[A-Za-z_:][A-Za-z0-9_:]*\s*(?:\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?'
_COUNTER_FN = re.compile(r"\b(?:rate|irate|increase)\s*\(\s*(" + _SELECTOR + r")\s*\[")
_BARE = re.compile(r"^\s*(" + _SELECTOR + r")\s*$")
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


def counter_selectors(promql: str) -> list[str]:
    """The series selectors a query takes ``rate``/``irate``/``increase`` of (counters), in order."""
    return list(dict.fromkeys(re.sub(r"\s+", "", m.group(1)) for m in _COUNTER_FN.finditer(promql)))


def bare_counter(promql: str) -> str | None:
    """The selector when the whole query is a raw counter (``foo_total{...}``), else None."""
    m = _BARE.match(promql)
    if not m:
        return None
    name = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", m.group(1)).group(0)  # type: ignore[union-attr]
    return m.group(1) if name.endswith(_COUNTER_SUFFIXES) else None


# -- the source ------------------------------------------------------------------------------------
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_VERIFY = re.compile(r"certificate verify failed: ([^'\"()]+)")


class PrometheusSource:
    """One Prometheus server. Not thread-safe; ``close()`` (or ``with``) releases the connections."""

    def __init__(self, options: Options, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.options = options
        self.url = options.display_url
        self.warnings: list[str] = []  # warnings Prometheus attached to successful answers
        self._sleep, self._clock = sleep, clock
        self._last: requests.Response | None = None
        session = requests.Session()
        session.verify = options.ca_file if options.ca_file else not options.insecure
        session.hooks["response"].append(self._remember)
        headers = dict(options.headers)
        if options.token is not None:
            headers["Authorization"] = f"Bearer {options.token.strip()}"
        auth = (options.username, options.password or "") if options.username is not None else None
        self._client = PrometheusConnect(url=options.url.rstrip("/"), headers=headers or None,
                                         disable_ssl=options.insecure, retry=Retry(0, read=False), auth=auth,
                                         session=session, timeout=options.timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "PrometheusSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = response

    # -- range queries ---------------------------------------------------------------------------
    def describe(self, query: str, grid: Grid | None = None, *, name: str | None = None, at: float | None = None) -> str:
        what = f"{name}: {query}" if name else query
        if grid is not None:
            return f"{what} from {iso(grid.start)} to {iso(grid.end)} step {grid.step}s"
        return f"{what} at {iso(at) if at is not None else 'now'}"

    def range_series(self, query: str, grid: Grid, *, name: str | None = None, max_points: int = MAX_POINTS,
                     on_chunk: Callable[[], None] | None = None) -> list[Series]:
        """Every series the query returns over ``grid``, placed on the grid, sorted by labels."""
        found: dict[tuple, tuple[dict, np.ndarray, np.ndarray]] = {}
        for sub in grid.chunks(max_points):
            context = self.describe(query, sub, name=name)
            start = _dt.datetime.fromtimestamp(sub.start, tz=_dt.timezone.utc)
            end = _dt.datetime.fromtimestamp(sub.end, tz=_dt.timezone.utc)
            result = self._call(lambda: self._client.custom_query_range(
                query, start_time=start, end_time=end, step=f"{grid.step}s", params=self._params()), context)
            if not isinstance(result, list):
                raise self._upstream(context, "answered a non-matrix result (is this a range query?)")
            first = grid.index_of(sub)
            for item in result:
                labels, stamps, values = self._matrix_item(item, context)
                key = tuple(sorted(labels.items()))
                if key not in found:
                    found[key] = (labels, np.full(grid.count, np.nan), np.zeros(grid.count, dtype=bool))
                _, out, seen = found[key]
                offset = (stamps - grid.start) / grid.step
                index = np.rint(offset).astype(np.int64)
                bad = (np.abs(offset - index) > 1e-6) | (index < first) | (index >= first + sub.count)
                if bad.any():
                    ts = float(stamps[np.argmax(bad)])
                    hint = " (milliseconds?)" if ts >= MILLISECONDS_ABOVE else ""
                    raise self._upstream(context, f"answered a sample at {ts!r}{hint}, which is not on the requested grid")
                out[index] = values
                seen[index] = True
            if on_chunk is not None:
                on_chunk()
        series = []
        for labels, values, seen in found.values():
            nan = int((seen & np.isnan(values)).sum())
            series.append(Series(labels=labels, values=values, nan=nan, absent=int((~seen).sum()),
                                 infinite=int(np.isinf(values).sum())))
        return sorted(series, key=lambda s: format_labels(s.labels))

    def range_one(self, query: str, grid: Grid, *, name: str | None = None, max_points: int = MAX_POINTS,
                  on_chunk: Callable[[], None] | None = None) -> Series:
        """The one series a query must return over ``grid`` (errors for none or several)."""
        series = self.range_series(query, grid, name=name, max_points=max_points, on_chunk=on_chunk)
        self.expect_one(series, self.describe(query, grid, name=name))
        return series[0]

    def expect_one(self, series: Sequence[Any], context: str) -> None:
        if not series:
            raise errors.UserError(f"prometheus {self.url}: {context}: returned no data (no series matched; "
                                   "check the labels in the query and that the range holds data)")
        if len(series) > 1:
            sets = [format_labels(s.labels if isinstance(s, Series) else s[0]) for s in series]
            shown = ", ".join(sets[:5]) + (f", and {len(sets) - 5} more" if len(sets) > 5 else "")
            raise errors.UserError(f"prometheus {self.url}: {context}: returned {len(sets)} series where one was "
                                   f"expected: {shown}; aggregate them, e.g. sum(...) or max(...)")

    # -- instant queries -------------------------------------------------------------------------
    def instant_vector(self, query: str, at: float | None = None, *, name: str | None = None
                       ) -> list[tuple[dict[str, str], float]]:
        """``[(labels, value), ...]`` at ``at`` (epoch seconds; None = the server's now).
        A scalar result comes back as one entry with empty labels."""
        context = self.describe(query, name=name, at=at)
        params = self._params()
        if at is not None:
            params["time"] = f"{float(at):.3f}"
        result = self._call(lambda: self._client.custom_query(query, params=params), context)
        try:
            if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
                return [({}, float(result[1]))]  # scalar: [time, "value"]
            return [(dict(item["metric"]), float(item["value"][1])) for item in result]
        except (KeyError, TypeError, ValueError, IndexError):
            raise self._upstream(context, "answered something that is not an instant vector or scalar") from None

    def instant(self, query: str, at: float | None = None, *, name: str | None = None) -> float | None:
        """The one value a query has at ``at``: None when it returns nothing or NaN (missing),
        ``UserError`` when it returns several series."""
        vector = self.instant_vector(query, at, name=name)
        if not vector:
            return None
        if len(vector) > 1:
            self.expect_one(vector, self.describe(query, name=name, at=at))
        value = vector[0][1]
        return None if math.isnan(value) else value

    # -- plumbing --------------------------------------------------------------------------------
    def _params(self) -> dict[str, str]:
        limit = self.options.query_timeout or self.options.timeout
        return {"timeout": f"{max(1, round(limit * 1000))}ms"}  # the server's evaluation limit

    def _upstream(self, context: str, problem: str) -> errors.UpstreamError:
        return errors.UpstreamError(errors.one_line(f"prometheus {self.url}: {context}: {problem}"))

    def _matrix_item(self, item: Any, context: str) -> tuple[dict, np.ndarray, np.ndarray]:
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            pairs = item["values"]
            stamps = np.fromiter((float(p[0]) for p in pairs), dtype=np.float64, count=len(pairs))
            values = np.fromiter((float(p[1]) for p in pairs), dtype=np.float64, count=len(pairs))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise self._upstream(context, "answered something that is not a range-query matrix") from None
        return labels, stamps, values

    def _call(self, request: Callable[[], Any], context: str) -> Any:
        """Run one API call with bounded retries; translate every failure into one line."""
        attempts, waited, wait = 0, 0.0, self.options.backoff_seconds
        started = self._clock()
        while True:
            attempts += 1
            self._last = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    result = request()
                self._collect_warnings(context)
                return result
            except requests.exceptions.SSLError as exc:
                raise self._upstream(context, _tls_problem(exc)) from None
            except requests.exceptions.Timeout:
                problem = f"no answer within {self.options.timeout:g}s (timeout)"
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                match = _ERRNO.search(str(exc))
                problem = f"cannot connect ({match.group(1).strip() if match else type(exc).__name__})"
            except PrometheusApiClientException:
                problem = self._http_problem(context)  # raises unless the status is worth a retry
            except (ValueError, KeyError, TypeError):
                raise self._upstream(context, "answered something that is not a Prometheus API response") from None
            if attempts > self.options.retries or waited + wait > self.options.max_retry_seconds:
                tries = f"after {attempts} attempts in {self._clock() - started:.1f}s" if attempts > 1 else "no retries"
                raise self._upstream(context, f"{problem}; {tries}")
            self._sleep(wait)
            waited += wait
            wait *= 2

    def _http_problem(self, context: str) -> str:
        response = self._last
        if response is None:  # pragma: no cover - the client raised without an HTTP answer
            raise self._upstream(context, "failed without an HTTP answer")
        status, reason = response.status_code, response.reason or ""
        kind, text = _error_body(response)
        if status in (401, 403):
            raise self._upstream(context, f"authentication failed: HTTP {status} {reason} "
                                          "(check --token/--token-file or --user/--password-file)")
        if status in RETRY_STATUS or (status == 422 and "context deadline exceeded" in text):  # a server timeout
            return f"HTTP {status} {reason}" + (f": {text}" if text else "")
        if status in (400, 422) and kind is not None:
            raise errors.UserError(errors.one_line(
                f"prometheus {self.url}: {context}: rejected the query (HTTP {status} {kind}): {text}"))
        hint = " (is this the Prometheus base URL, without /api/v1?)" if status == 404 else ""
        raise self._upstream(context, f"HTTP {status} {reason}{hint}" + (f": {text}" if text else ""))

    def _collect_warnings(self, context: str) -> None:
        response = self._last
        if response is None or b'"warnings"' not in response.content[:200] + response.content[-2000:]:
            return
        try:
            notes = response.json().get("warnings") or []
        except ValueError:
            return
        for note in notes:
            self.warnings.append(errors.one_line(f"prometheus {self.url}: {context}: {note}"))


def _error_body(response: requests.Response) -> tuple[str | None, str]:
    """(Prometheus errorType or None, error text / first line of the body)."""
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("status") == "error":
            return str(body.get("errorType", "error")), str(body.get("error", "")).strip()
    except ValueError:
        pass
    text = response.text.strip().splitlines()
    return None, (text[0][:300] if text else "")


def _tls_problem(exc: BaseException) -> str:
    text = str(exc)
    match = _VERIFY.search(text)
    if match:
        return (f"TLS certificate verification failed ({match.group(1).strip()}); "
                "give --ca-file FILE or --insecure")
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return "TLS handshake failed (wrong version number); is the server plain http://?"
    return "TLS handshake failed"

