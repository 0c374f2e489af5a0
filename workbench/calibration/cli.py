"""``scalelab calibrate``: a click command object the main group registers
(``main.add_command(calibrate_command)``).

It maps errors itself, the way the group does, so it behaves the same standalone (tests,
``CliRunner``) and inside ``scalelab``: a ``ScalelabError`` is one line on stderr and its exit
code (2 for bad input); nothing is written then.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from workbench.core import errors

_POSITIVE = click.FloatRange(min=0, min_open=True)


@click.command("calibrate")
@click.option("--history", "history_path", required=True, type=click.Path(dir_okay=False),
              help="metrics history: Parquet from `scalelab fetch` (or CSV with the same columns)")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="write the fitted `service:` mapping here (YAML)")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False),
              help="observed-vs-fitted figure (default: --out with .png)")
@click.option("--no-figure", is_flag=True, help="skip the figure")
@click.option("--cpu-request", type=_POSITIVE, help="the pod's CPU request in cores (turns `cpu` into cores)")
@click.option("--memory-limit-mb", type=_POSITIVE, help="the pod's memory limit in MB (turns `memory` into MB)")
@click.option("--slo-p95-ms", type=_POSITIVE, default=500.0, show_default=True,
              help="SLO used for the per-pod load that still meets it (summary only)")
def calibrate_command(history_path: str, out_path: str, figure_path: str | None, no_figure: bool,
                      cpu_request: float | None, memory_limit_mb: float | None, slo_p95_ms: float) -> None:
    """Fit the service model (CPU, memory, M/M/c latency and capacity) from a metrics history and
    write it as a scenario's `service:` mapping, with fit quality, a figure and a summary table."""
    if no_figure and figure_path:
        raise click.UsageError("--figure and --no-figure exclude each other")
    try:
        from workbench import calibration as cal_api

        history = cal_api.load_history(history_path)
        for warning in history.warnings:
            click.echo(f"warning: {warning}", err=True)
        cal = cal_api.calibrate(history, cpu_request=cpu_request, memory_limit_mb=memory_limit_mb,
                                slo_p95_ms=slo_p95_ms)
        figure = None if no_figure else (figure_path or str(Path(out_path).with_suffix(".png")))
        written = cal_api.write_outputs(cal, out_path, figure)
    except errors.ScalelabError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)  # SystemExit: the same code standalone and under the scalelab group
    click.echo(cal_api.summary_table(cal))
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
