"""Rewrite the golden score files: ``make golden`` (review the diff before committing).

Each bundled scenario is backtested with the seed's tiered policy; the scores (not the run's
metadata) are stored in ``tests/golden/<scenario>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench import backtest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
POLICY = REPO / "scenarios" / "policies" / "tiered.yaml"


def scenarios() -> list[Path]:
    return sorted((REPO / "scenarios").glob("*.yaml"))


def scores_for(scenario: Path) -> dict:
    result = backtest.run(backtest.load_policy(POLICY), backtest.load_scenario(scenario))
    return {"policy": result.policy.name, "scenario": result.scenario.name, **result.scores}


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for path in scenarios():
        out = GOLDEN / f"{path.stem}.json"
        out.write_text(json.dumps(scores_for(path), indent=2) + "\n")
        print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
