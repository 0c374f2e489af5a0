"""Scoring: turn a run's flat per-tick records into comparable numbers.

One concept per module, each stating its definition and invariants:

* ``cost``         billed replica-seconds -> replica-hours and currency;
* ``sla``          seconds in violation, share of requests late or dropped, dropped requests;
* ``oscillation``  scale events, direction reversals, flaps;
* ``elasticity``   SPEC elasticity metrics (accuracy, timeshare, instability, jitter);
* ``oracle``       the cheapest perfect-foresight schedule that never misses the SLO (lower bound);
* ``scores``       ``compute_scores(records, ScoreParams(...)) -> Scores``, the aggregate.

Pure functions on numpy arrays; frozen dataclasses at the boundaries. Reads records only (never
the simulator's objects).
"""
