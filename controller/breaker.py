"""A circuit breaker per target: stop hammering a Kubernetes API that keeps failing.

States (the ``autoscaler_circuit_state`` gauge values):

* ``CLOSED`` (0): reconcile normally; ``threshold`` consecutive failed ticks open it;
* ``OPEN`` (1): ticks are skipped without any API call until ``cooloff`` seconds have passed;
* ``HALF_OPEN`` (2): the first tick after the cool-off is a probe: success closes the circuit,
  failure opens it again for another cool-off.

What counts as a failure: a tick whose Kubernetes calls (scale read or write) failed after their
retries. Prometheus problems do not count (they are handled by the fail-safe and the fallback)
and neither do lock problems (they only stop the target from acting). Pure bookkeeping: the
caller passes ``now`` and raises the alert (log line, metric, Event) on ``opened``.
"""

from __future__ import annotations

import enum
import threading


class State(enum.IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class Breaker:
    def __init__(self, threshold: int = 3, cooloff: float = 60.0):
        if threshold < 1 or cooloff <= 0:
            raise ValueError("breaker: threshold must be >= 1 and cooloff > 0")
        self.threshold, self.cooloff = threshold, cooloff
        self.state = State.CLOSED
        self.failures = 0              # consecutive failed ticks
        self.opened_at: float | None = None
        self.last_error = ""
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        """May this tick run? Moves OPEN -> HALF_OPEN once the cool-off has passed."""
        with self._lock:
            if self.state is State.OPEN:
                if self.opened_at is not None and now - self.opened_at >= self.cooloff:
                    self.state = State.HALF_OPEN
                    return True
                return False
            return True

    def retry_in(self, now: float) -> float:
        if self.state is not State.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooloff - now)

    def success(self) -> bool:
        """Record a good tick; True when this closed a half-open (or open) circuit."""
        with self._lock:
            recovered = self.state is not State.CLOSED
            self.state, self.failures, self.opened_at, self.last_error = State.CLOSED, 0, None, ""
            return recovered

    def failure(self, now: float, error: str = "") -> bool:
        """Record a failed tick; True when this opened the circuit."""
        with self._lock:
            self.failures += 1
            self.last_error = error
            if self.state is State.HALF_OPEN or (self.state is State.CLOSED and self.failures >= self.threshold):
                self.state, self.opened_at = State.OPEN, now
                return True
            return False
