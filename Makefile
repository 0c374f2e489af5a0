# scalelab: every target sets itself up (virtualenv + pinned dependencies) on first use.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench golden lint lock clean venv regression regression-baseline baselines

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

venv: $(STAMP)

## demo: backtest the seed's tiered policy on a month of real NASA traffic -> out/
demo: $(STAMP)
	$(BIN)/scalelab backtest --policy scenarios/policies/tiered.yaml \
	  --scenario scenarios/nasa-1995-07.yaml --out out/nasa-1995-07

## test: the whole suite (unit, golden scores, CLI, property tests, import contracts, real
## Prometheus / Redis / Kubernetes-emulator integration); installs prometheus and redis-server
## from Debian when missing
test: $(STAMP)
	@scripts/ensure-services.sh
	$(BIN)/python -m pytest -n 2 -q

## bench: performance tables (backtest month vs bare loop, components, sweep + Dask speed-up, controller)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	@echo
	$(BIN)/python benchmarks/components.py
	@echo
	$(BIN)/python benchmarks/sweep_bench.py
	@if [ -f benchmarks/controller_bench.py ]; then echo; $(BIN)/python benchmarks/controller_bench.py; fi

## golden: rewrite tests/golden/*.json after an intended change in numbers (review the diff!)
golden: $(STAMP)
	$(BIN)/python -m tests.golden_update

lint: $(STAMP)
	$(BIN)/lint-imports

## lock: re-pin requirements.lock from requirements.in
lock:
	rm -rf /tmp/scalelab-lock && python3 -m venv /tmp/scalelab-lock
	/tmp/scalelab-lock/bin/pip install -q -r requirements.in
	( echo "# Full pinned dependency set (pip freeze of requirements.in on Python 3.11). Regenerate: make lock"; \
	  /tmp/scalelab-lock/bin/pip freeze ) > requirements.lock

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis

## regression: gate a candidate policy against regression/baseline.csv (exit 1 on regression)
POLICY ?= scenarios/policies/tiered.yaml
REGRESSION_SCENARIOS := scenarios/synthetic-flash-crowd.yaml scenarios/azure-llm-conv.yaml scenarios/aws-elb-2014-04.yaml
regression: $(STAMP)
	$(BIN)/scalelab compare --policies $(POLICY) --scenarios $(REGRESSION_SCENARIOS) --out out/regression
	$(BIN)/scalelab report --results out/regression --baseline regression/baseline.csv \
	  --thresholds regression/thresholds.yaml --out out/regression

## regression-baseline: record the production policy's results as the new baseline
regression-baseline: $(STAMP)
	$(BIN)/scalelab compare --policies scenarios/policies/tiered.yaml --scenarios $(REGRESSION_SCENARIOS) --out out/regression-baseline
	cp out/regression-baseline/results.csv regression/baseline.csv

## baselines: regenerate docs/baselines.md's table and figure (tiered vs HPA vs predictive vs KPA)
baselines: $(STAMP)
	$(BIN)/python scripts/compare_baselines.py
