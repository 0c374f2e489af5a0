"""Regenerate docs/baselines.md and docs/img/baselines.png: the baseline policy families on the
bundled real traces (``make baselines``). Numbers come from the simulator; the prose in the doc
is written by hand around the generated table (between the BEGIN/END markers)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workbench import compare  # noqa: E402

POLICIES = ["scenarios/policies/tiered.yaml", "scenarios/policies/hpa-default.yaml",
            "scenarios/policies/predictive.yaml", "scenarios/policies/panic-window.yaml"]
SCENARIOS = ["scenarios/nasa-1995-07.yaml", "scenarios/wikipedia-2016-01.yaml", "scenarios/aws-elb-2014-04.yaml"]
DOC = REPO / "docs" / "baselines.md"
BEGIN, END = "<!-- BEGIN GENERATED TABLE -->", "<!-- END GENERATED TABLE -->"


def main() -> int:
    policies = [p for p in POLICIES if (REPO / p).exists()]
    table = compare.run_matrix([REPO / p for p in policies], [REPO / s for s in SCENARIOS], workers=2)
    (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
    compare.figure(table, REPO / "docs" / "img" / "baselines.png", title="baseline policies on real traces")
    table.to_csv(REPO / "docs" / "baselines.csv", index=False)
    generated = f"{BEGIN}\n{compare.markdown_table(table)}\n{END}"
    text = DOC.read_text() if DOC.exists() else f"# Baselines\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + generated + tail)
    print(compare.markdown_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
