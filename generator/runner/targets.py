"""The target: where the workspace is and what differs there, a value the runner asks and never branches on.

Terraform's backends and SkyPilot's cloud classes are the models: the plan and apply code asks its target what bills,
where a job's or a deployment's log is read, the link shown for a job, where the metrics are, which extras a manifest
needs there, whether points queue for nodes, what plan says about the model, how quota is scoped, how a job's named
output is read. Two implement it: `AzureTarget` (generator/runner/azure_target.py) and `LocalTarget`
(generator/local/local_target.py, this machine's workspace); generator/cli/target.py picks one by `--target`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from generator.extras import Extra
    from generator.runner.connection import WorkspaceRef
    from generator.runner.experiment import Experiment
    from generator.runner.output import Printer


@dataclass(frozen=True)
class WorkspaceIds:
    """The workspace a command was pointed at: a config.json, or explicit ids (flags; the environment fills gaps)."""

    config: Path | None = None
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class Connection:
    """What connecting to a target gives: the workspace's address and settings, and a credential for it."""

    workspace: WorkspaceRef
    credential: Any  # an azure-core TokenCredential (azure-identity's or the local workspace's)


class Target(Protocol):
    """What the runner asks of the place it runs an experiment."""

    name: str  # the --target value, a saved plan's workspace kind, the key of the extras a manifest needs there
    where: str  # how a message names it: "Azure", "the local workspace"
    bills: bool  # whether what apply starts bills (the budget check, the confirmation before billed resources)
    regional: bool  # whether the workspace's region decides which models fine-tune serverless there (pre-flight)
    no_price: str  # why a cost estimate carries no price there, when the target has no region or bills nothing
    billing_head: str  # how apply's closing lines introduce what still runs (and bills) after it
    max_request_bytes: int | None  # the largest scoring request it takes (None: none documented)
    request_limit: str  # whose limit max_request_bytes is: "… takes at most {limit} (…)", for the refusal

    def connect(self, ids: WorkspaceIds, credential: Any = None) -> Connection:
        """The workspace (started first, where the target runs it) and a credential for it (`credential` when given:
        a test's)."""
        ...

    def plan_lines(self, experiment: Experiment) -> list[str]:
        """What plan and apply say about the model beyond its pin (a stand-in and what it trains with)."""
        ...

    def queueing_note(self, spec_data: dict[str, Any]) -> str | None:
        """A plan note when a sweep's points would queue for the compute's nodes there, or None."""
        ...

    def job_link(self, job: Any) -> str:
        """Where a person reads about a job: `studio: <url>` or `log: <file>`."""
        ...

    def follow_job_log(self, ml: Any, job_name: str, out: Printer, tag: str, poll_interval: float) -> None:
        """Print the job's log as it grows, until the job ends (never raises for a failed job)."""
        ...

    def deployment_log(self, endpoint: str, deployment: str) -> str:
        """Where a deployment's log is read: a command or a file."""
        ...

    def tracking_uri(self, ml: Any) -> str:
        """The MLflow tracking URI of the metrics its jobs log."""
        ...

    def missing_extras(self, kinds: Iterable[str]) -> list[tuple[Extra, str, str]]:
        """The extras the steps of a manifest with these resource kinds need there and lack: (extra, module, why)."""
        ...

    def quota_scope(self, ml: Any) -> str:
        """How pre-flight names the quota it checks: `in region westeurope`, `in the local workspace (…)`."""
        ...
