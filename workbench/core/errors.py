"""One exception tree for the whole project.

``ScalelabError`` is the root. The CLI maps each branch to an exit code and prints one line:

* ``UserError`` (exit 2): bad input the user can fix: a policy, scenario, trace or flag.
* ``UpstreamError`` (exit 3): something outside us failed: Prometheus, the Kubernetes API.
* anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class ScalelabError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = 1


class UserError(ScalelabError):
    """Bad input: the message names the file and the field or line."""

    exit_code = 2


class UpstreamError(ScalelabError):
    """A service we depend on failed or answered something unusable."""

    exit_code = 3


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (file, line, YAML path) and what."""

    source: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return one_line(text)


def one_line(text: str) -> str:
    """Error messages are one line: control characters from user input are escaped."""
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


class SpecError(UserError):
    """A policy or scenario document is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = tuple(problems)
        first = str(problems[0]) if problems else "invalid document"
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(first + more)

    def full_report(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class TraceError(UserError):
    """A trace file (CSV/Parquet) cannot be used; the message names the file and line."""
