"""The exception hierarchy. Library code raises these; only the CLI and the doit actions
turn them into messages and exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class AsicflowError(Exception):
    """Base class: the message is meant for the user, as is."""


# What one configuration error shows at most: a bad file can hold any number of problems,
# each echoing any amount of text.
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 500


class ConfigError(AsicflowError):
    """One or more problems in a flow or PDK configuration, all reported at once (the first
    ``MAX_PROBLEMS``, each cut to ``MAX_PROBLEM_CHARS``)."""

    def __init__(self, source: str, problems: Iterable[str]):
        self.source = source
        self.problems = list(problems)
        shown = [
            p if len(p) <= MAX_PROBLEM_CHARS else p[: MAX_PROBLEM_CHARS - 3] + "..."
            for p in self.problems[:MAX_PROBLEMS]
        ]
        if len(self.problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(self.problems) - MAX_PROBLEMS} more problems")
        lines = "\n".join(f"  - {p}" for p in shown)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class UnsupportedModel(AsicflowError):
    """The model holds a layer or quantizer asicflow cannot map to exact hardware."""


class ToolMissing(AsicflowError):
    """An external executable is not installed or not on PATH."""

    def __init__(self, tool: str, hint: str):
        self.tool = tool
        super().__init__(f"tool missing: '{tool}' was not found. {hint}")


class ToolFailed(AsicflowError):
    """An external tool ran and failed (exit code, or an error in its log)."""

    def __init__(self, tool: str, why: str, log: Path | None = None, tail: str = ""):
        self.tool = tool
        self.log = log
        msg = f"{tool} failed: {why}"
        if log is not None:
            msg += f"\n  log: {log}"
        if tail:
            msg += "\n  last lines:\n" + "\n".join("    " + ln for ln in tail.splitlines())
        super().__init__(msg)


class CheckFailed(AsicflowError):
    """A verification or quality check did not pass (mismatches, coverage, ...)."""
