"""The error types every layer raises, and the one table of exit codes they turn into.

Core code raises; only `generator.cli` catches and exits (`generator/cli/handle.py`). Each type carries its code
(`exit_code`, a class attribute: no raise chooses a number), so plan and apply give the same code for the same
situation. The codes follow Terraform's contract, so scripts and CI can tell a failure from invalid input:

| code | meaning                                                                                            |
|------|----------------------------------------------------------------------------------------------------|
| 0    | done (plan: nothing to change)                                                                     |
| 1    | an error or a refusal: Azure refused or failed, a stale `generated/`, a refused plan step, a plan  |
|      | over budget, an evaluation gate not met, serving parity failed, a saved plan that moved            |
| 2    | invalid input (a spec, a flag, a file, a missing extra, no workspace or login, a spec the          |
|      | workspace cannot run, nothing to read yet); with `plan --detailed-exitcode`, only "there are       |
|      | changes" (every error is then 1)                                                                   |
| 130  | interrupted (Ctrl-C): what was started goes on, and a re-run resumes                               |
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from generator.diagnostics import Problem


class ExitCode(IntEnum):
    """Every exit code a command can return."""

    OK = 0
    ERROR = 1
    INVALID = 2
    INTERRUPTED = 130

    CHANGES = 2  # plan --detailed-exitcode: there are changes (an alias of INVALID's number, as in Terraform)


class GeneratorError(Exception):
    """A failure meant for the user: one paragraph of message; its type gives the exit code (exit 1)."""

    exit_code: ClassVar[ExitCode] = ExitCode.ERROR
    prefix: ClassVar[str] = "error: "  # how the message starts on stderr


class InvalidInput(GeneratorError):
    """Every problem found in user input, so a user sees them all at once (exit 2)."""

    exit_code = ExitCode.INVALID

    def __init__(self, problems: Iterable[Problem], summary: str | None = None):
        self.problems = sorted(problems)
        self.summary = summary  # a closing line such as "2 error(s) in 1 spec file(s); nothing was written"
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(GeneratorError):
    """A command given something it cannot use: a missing file, a bad option value, a bad request file (exit 2)."""

    exit_code = ExitCode.INVALID


class MissingExtra(UsageError):
    """A step the command would run needs an optional extra that is not installed (exit 2, before anything starts)."""

    def __init__(self, message: str, extras: list[str]):
        super().__init__(message)
        self.extras = extras


class NotLoggedIn(GeneratorError):
    """No Azure token could be had (exit 2: the user must log in first)."""

    exit_code = ExitCode.INVALID


class ProblemsFound(GeneratorError):
    """Problems were printed above as they were found; this closes them with their count (exit 1: `check`)."""

    prefix = ""


class InvalidFiles(ProblemsFound):
    """The generated files a user asked to validate do not load; the problems were printed above (exit 2)."""

    exit_code = ExitCode.INVALID


class StaleOutput(GeneratorError):
    """generated/ does not match a fresh render of its spec, or is missing; `changes` names the files (exit 1)."""

    prefix = ""

    def __init__(self, message: str, changes: list[str]):
        super().__init__(message)
        self.changes = changes


class Refused(GeneratorError):
    """Apply refuses before it touches anything, or stops before traffic: a plan step it cannot apply, a plan over
    budget, a gate the model did not pass (exit 1, from plan and apply alike)."""


class PlanMoved(GeneratorError):
    """A saved plan no longer matches the workspace or the generated files; `moved` says what changed (exit 1)."""

    def __init__(self, moved: list[str]):
        self.moved = moved
        super().__init__("the saved plan no longer matches what it was made from:\n  " + "\n  ".join(moved)
                         + "\n  nothing was applied: run `plan --out FILE` again, review it, then apply it")


class CloudError(GeneratorError):
    """Azure answered an error: its HTTP status, error code, message and what to do about it (exit 1)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.status, self.code, self.hint = status, code, hint


class EndpointNameTaken(CloudError):
    """The endpoint's name is used by another workspace in the region (exit 2: the spec must change)."""

    exit_code = ExitCode.INVALID

    def __init__(self, name: str, detail: str, region: str | None = None):
        where = f" ({region})" if region else ""
        super().__init__(
            f"create endpoint {name}: {detail}\n  why: online endpoint names are unique per Azure region{where}, "
            "not per workspace, so another workspace already uses this one.\n  what to do: choose another "
            "endpoint.name in the spec, or set endpoint.name_suffix: workspace to append a short suffix derived "
            "from your workspace.", code="EndpointNameTaken")
        self.name, self.region = name, region


class RequestTooLarge(CloudError):
    """The endpoint refused a scoring request as too large (HTTP 413; exit 2: send a smaller one)."""

    exit_code = ExitCode.INVALID
