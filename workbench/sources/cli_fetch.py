"""``scalelab fetch``: every bound query over a date range into one Parquet trace.

Registered by ``workbench.cli`` (``main.add_command(fetch_command)``), whose group maps
``ScalelabError`` to one line and its exit code (2 bad input, 3 Prometheus failed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from workbench.core import errors, schema

EPILOG = """\b
Times: ISO-8601 (2024-03-01T00:00:00Z; no zone = UTC), epoch seconds, now, now-7d.
The output has a `timestamp` column (UTC) and one float64 column per binding
(NaN = no sample); replay it with
  scalelab backtest ... --trace FILE.parquet --column qps
"""


@click.command("fetch", epilog=EPILOG)
@click.option("--prometheus", "url", required=True, metavar="URL", help="Prometheus base URL (http[s]://host:port)")
@click.option("--bindings", "bindings_path", required=True, type=click.Path(dir_okay=False),
              help="MetricBindings YAML file")
@click.option("--start", required=True, metavar="TIME", help="first evaluation time")
@click.option("--end", required=True, metavar="TIME", help="last evaluation time (included when on the step grid)")
@click.option("--step", default="60s", show_default=True, metavar="DURATION", help="resolution: 15s, 1m, 60 ...")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="output .parquet file")
@click.option("--metric", "metrics", multiple=True, metavar="NAME", help="fetch only these bindings (repeatable)")
@click.option("--token", help="bearer token (prefer --token-file: a flag shows in the process list)")
@click.option("--token-file", type=click.Path(dir_okay=False), help="file holding a bearer token")
@click.option("--user", help="basic-auth user")
@click.option("--password-file", type=click.Path(dir_okay=False), help="file holding the basic-auth password")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA bundle to verify the server's certificate")
@click.option("--insecure", is_flag=True, help="do not verify the server's TLS certificate")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="extra HTTP header (repeatable)")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.001),
              help="seconds per request")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0, 20),
              help="retries after connection errors, timeouts and HTTP 5xx (exponential backoff)")
@click.option("--max-points", default=11_000, show_default=True, type=click.IntRange(1, 11_000),
              help="points per series and request (Prometheus allows 11,000)")
def fetch_command(url: str, bindings_path: str, start: str, end: str, step: str, out_path: str,
                  metrics: tuple[str, ...], token: str | None, token_file: str | None, user: str | None,
                  password_file: str | None, ca_file: str | None, insecure: bool, headers: tuple[str, ...],
                  timeout: float, retries: int, max_points: int) -> None:
    """Fetch every bound query from Prometheus over a range into one Parquet trace."""
    from tqdm import tqdm

    from workbench.sources import bindings, fetch, prometheus, request

    if token is not None and token_file is not None:
        raise click.UsageError("give --token or --token-file, not both")
    if token_file is not None:
        token = request.read_secret(token_file, "--token-file")
    password = request.read_secret(password_file, "--password-file") if password_file else None
    now = time.time()
    try:
        t0 = request.parse_time(start, now)
    except ValueError as exc:
        raise errors.UserError(f"--start {exc}") from None
    try:
        t1 = request.parse_time(end, now)
    except ValueError as exc:
        raise errors.UserError(f"--end {exc}") from None
    seconds = schema.parse_duration(step)
    if seconds is None:
        raise errors.UserError(f"--step: expected a duration like 15s, 1m or a number of seconds, got {step!r}")
    grid = prometheus.Grid.spanning(t0, t1, seconds)
    bound = bindings.load_bindings(bindings_path).render()
    for name in metrics:
        if name not in bound:
            raise errors.UserError(f"--metric {name}: not bound in {bindings_path} (bound: {', '.join(bound)})")
    queries = {name: bound[name] for name in (dict.fromkeys(metrics) or bound)}
    extra = {}
    for header in headers:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise errors.UserError(f"--header {header!r}: expected 'Name: value'")
        extra[key.strip()] = value.strip()
    options = prometheus.Options(url=url, token=token, username=user, password=password, ca_file=ca_file,
                                 insecure=insecure, headers=extra, timeout=timeout, retries=retries)
    out = Path(out_path)
    if not out.name.lower().endswith(fetch.PARQUET_SUFFIXES):
        raise errors.UserError(f"--out {out_path}: the output must be a .parquet file")
    total = fetch.request_count(queries, grid, max_points)
    bar = tqdm(total=total, desc="fetching", unit="chunk", leave=False, file=sys.stderr,
               disable=not sys.stderr.isatty())
    try:
        with prometheus.PrometheusSource(options) as source:
            result = fetch.fetch(source, queries, grid, max_points=max_points, bindings_file=bindings_path,
                                 progress=lambda done, _total: bar.update(done - bar.n))
    finally:
        bar.close()
    fetch.write_parquet(result, out)
    for note in result.warnings:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"wrote {out_path}: {grid.count} rows x {len(queries)} metrics ({', '.join(queries)}) "
               f"from {prometheus.iso(grid.start)} to {prometheus.iso(grid.end)} every {grid.step}s")
