"""``scalelab report``: a self-contained HTML report, a Markdown summary for CI, JSON, and the gate.

Input: a results folder from ``scalelab compare`` (``results.parquet`` or ``results.csv``, its
``timeline-*.png`` figures) or from ``scalelab backtest --out`` (``scores.json``, ``timeline.png``).
Baseline: the same kinds of file (a results table or a scores.json), e.g. the results of the
policy currently in production, committed to the repository.

Outputs (each file appears whole or not at all): ``report.html`` (figures embedded as data URIs,
no external assets), ``summary.md`` (fit for ``$GITHUB_STEP_SUMMARY``), ``report.json`` (the
verdict, every comparison, each candidate's policy hash and scores — ``scalelab promote`` reads
it), ``cost_vs_sla.png``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import outputs
from workbench.core import errors
from workbench.reports import gate

SHOWN = ("cost_replica_hours", "oracle_cost_ratio", "sla_violation_seconds", "sla_violation_request_share",
         "dropped_requests", "scale_events", "direction_reversals", "flaps")


def load_results(path: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """A results table (and the figures beside it) from a folder or a file."""
    p = Path(path)
    figures: list[Path] = []
    if p.is_dir():
        figures = sorted(p.glob("timeline*.png"))
        for name in ("results.parquet", "results.csv", "scores.json"):
            if (p / name).exists():
                return _read_table(p / name), figures
        raise errors.UserError(f"{path}: no results.parquet, results.csv or scores.json in this folder")
    if not p.exists():
        raise errors.UserError(f"{path}: no such file or folder")
    return _read_table(p), figures


def _read_table(p: Path) -> pd.DataFrame:
    try:
        if p.suffix == ".parquet":
            table = pd.read_parquet(p)
        elif p.suffix == ".csv":
            table = pd.read_csv(p)
        elif p.suffix == ".json":
            data = json.loads(p.read_text())
            rows = data if isinstance(data, list) else [data]
            table = pd.DataFrame([{k: v for k, v in r.items() if k != "meta"} | _meta(r) for r in rows])
        else:
            raise errors.UserError(f"{p}: unsupported results file (expected .parquet, .csv or .json)")
    except errors.UserError:
        raise
    except Exception as exc:  # unreadable file: one line, naming it
        raise errors.UserError(f"{p}: cannot read results: {exc}") from None
    for col in ("scenario", "policy"):
        if col not in table.columns:
            raise errors.UserError(f"{p}: results have no '{col}' column")
    return table


def _meta(row: dict) -> dict:
    meta = row.get("meta") or {}
    return {"policy_hash": meta["policy_hash"]} if "policy_hash" in meta else {}


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def _delta_rows(verdict: gate.Verdict) -> list[dict[str, Any]]:
    return [dict(c) for c in verdict.compared]


def render_markdown(table: pd.DataFrame, verdict: gate.Verdict, baseline: str | None) -> str:
    lines = ["## scalelab policy report", ""]
    if verdict.passed:
        lines.append(f"**Gate: PASSED** — no regression{' against `' + baseline + '`' if baseline else ''}.")
    else:
        lines.append(f"**Gate: FAILED** — {len(verdict.regressions)} regression(s) against `{baseline}`:")
        lines.append("")
        lines.extend(f"- ❌ {r}" for r in verdict.regressions)
    if verdict.unmatched:
        lines += ["", f"Scenarios without a baseline: {', '.join(verdict.unmatched)}."]
    lines += ["", "| scenario | policy | " + " | ".join(c for c in SHOWN if c in table.columns) + " |",
              "|---|---|" + "---|" * len([c for c in SHOWN if c in table.columns])]
    for _, row in table.iterrows():
        cells = [_fmt(row[c]) for c in SHOWN if c in table.columns]
        lines.append(f"| {row['scenario']} | {row['policy']} | " + " | ".join(cells) + " |")
    if verdict.compared:
        lines += ["", "| scenario | policy | score | baseline | candidate | limit | |", "|---|---|---|---|---|---|---|"]
        for c in verdict.compared:
            lines.append(f"| {c['scenario']} | {c['policy']} | {c['score']} | {_fmt(c['baseline'])} | "
                         f"{_fmt(c['candidate'])} | {_fmt(c['limit'])} | {'✅' if c['ok'] else '❌'} |")
    return "\n".join(lines) + "\n"


def render_html(table: pd.DataFrame, verdict: gate.Verdict, baseline: str | None, figures: list[Path]) -> str:
    esc = html.escape
    status = "PASSED" if verdict.passed else "FAILED"
    color = "#1a7f37" if verdict.passed else "#cf222e"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>scalelab report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child,"
        "td:nth-child(2){text-align:left}.bad{background:#ffebe9}img{max-width:100%;border:1px solid #eee}",
        "</style></head><body>",
        f"<h1>scalelab policy report</h1><p style='font-size:1.3em;color:{color}'><b>Gate: {status}</b>"
        f"{' against <code>' + esc(baseline) + '</code>' if baseline else ' (no baseline)'}</p>",
    ]
    if verdict.regressions:
        parts.append("<ul>" + "".join(f"<li>{esc(str(r))}</li>" for r in verdict.regressions) + "</ul>")
    cols = [c for c in SHOWN if c in table.columns]
    parts.append("<h2>Scores</h2><table><tr><th>scenario</th><th>policy</th>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>")
    for _, row in table.iterrows():
        parts.append(f"<tr><td>{esc(str(row['scenario']))}</td><td>{esc(str(row['policy']))}</td>"
                     + "".join(f"<td>{esc(_fmt(row[c]))}</td>" for c in cols) + "</tr>")
    parts.append("</table>")
    if verdict.compared:
        parts.append("<h2>Against the baseline</h2><table><tr><th>scenario</th><th>policy</th><th>score</th>"
                     "<th>baseline</th><th>candidate</th><th>limit</th></tr>")
        for c in verdict.compared:
            cls = "" if c["ok"] else " class='bad'"
            parts.append(f"<tr{cls}><td>{esc(c['scenario'])}</td><td>{esc(c['policy'])}</td><td>{esc(c['score'])}</td>"
                         f"<td>{_fmt(c['baseline'])}</td><td>{_fmt(c['candidate'])}</td><td>{_fmt(c['limit'])}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        parts.append(f"<h3>{esc(fig.stem)}</h3><img alt='{esc(fig.stem)}' src='{_png(fig)}'>")
    parts.append(f"<p><small>generated by scalelab</small></p></body></html>")
    return "\n".join(parts)


def build(results: str | Path, out_dir: str | Path, *, baseline: str | Path | None = None,
          thresholds: str | Path | None = None, now: _dt.datetime | None = None) -> gate.Verdict:
    from workbench import compare

    table, figures = load_results(results)
    base_table = load_results(baseline)[0] if baseline is not None else None
    rules = None
    if thresholds is not None:
        tp = Path(thresholds)
        try:
            text = tp.read_text()
        except OSError as exc:
            raise errors.UserError(f"{thresholds}: cannot read thresholds: {exc.strerror or exc}") from None
        rules = gate.parse_thresholds(text, str(thresholds))
    verdict = gate.evaluate(table, base_table, rules)
    with outputs.staged_folder(out_dir) as tmp:
        scatter = tmp / "cost_vs_sla.png"
        if "oracle_cost_ratio" in table.columns and "sla_violation_seconds" in table.columns:
            compare.figure(table.assign(scale_events=table.get("scale_events", 0)), scatter, title="cost vs SLA")
            figures = [scatter, *figures]
        (tmp / "report.html").write_text(render_html(table, verdict, None if baseline is None else str(baseline), figures))
        (tmp / "summary.md").write_text(render_markdown(table, verdict, None if baseline is None else str(baseline)))
        stamp = (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="seconds")
        candidates = [{"scenario": r["scenario"], "policy": r["policy"], "policy_hash": r.get("policy_hash"),
                       "scores": {k: (None if pd.isna(r[k]) else r[k]) for k in SHOWN if k in table.columns}}
                      for r in table.to_dict("records")]
        doc = {"passed": verdict.passed, "regressions": [str(r) for r in verdict.regressions],
               "compared": _delta_rows(verdict), "unmatched_scenarios": list(verdict.unmatched),
               "candidates": candidates, "results": str(results),
               "baseline": None if baseline is None else str(baseline),
               "thresholds": rules if rules is not None else gate.DEFAULT_THRESHOLDS, "generated_at": stamp}
        (tmp / "report.json").write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    return verdict


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)
