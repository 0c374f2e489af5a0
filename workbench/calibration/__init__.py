"""Calibration: fit the simulator's service model (capacity, CPU, memory, M/M/c latency) from the
metrics history of the real service, so that a backtest's service model is measured, not guessed.

    from workbench import calibration
    cal = calibration.calibrate(calibration.load_history("history.parquet"), cpu_request=0.5)
    print(calibration.summary_table(cal))
    calibration.write_outputs(cal, "service.yaml", figure="service.png")

``history`` loads and validates the input, ``fit`` holds the pure fits, ``calibrate`` chooses the
samples and refuses what cannot support a fit, ``report`` writes the YAML, figure and table, and
``cli.calibrate_command`` is ``scalelab calibrate``.
"""

from workbench.calibration.calibrate import Calibration, Skipped, calibrate
from workbench.calibration.fit import LatencyFit, LinearFit, fit_latency, fit_linear
from workbench.calibration.history import History, history_from_frame, load_history
from workbench.calibration.report import plot, service_yaml, summary_table, write_outputs

__all__ = ["Calibration", "History", "LatencyFit", "LinearFit", "Skipped", "calibrate", "fit_latency",
           "fit_linear", "history_from_frame", "load_history", "plot", "service_yaml", "summary_table",
           "write_outputs"]
