"""What every step shares: the Context it runs in, reading what exists, diffing fields, waiting on Azure."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from generator.runner.azure_target import AzureTarget
from generator.runner.experiment import Experiment, Resource
from generator.runner.explain import NothingToRead
from generator.runner.output import Printer, elapsed
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.targets import Target


def _no_metrics() -> Any:
    """The metrics store of a context made without one (a plan's: planners read no metrics)."""
    raise NothingToRead("no MLflow store here: this step's context was made without one")


RUNNING = {"NotStarted", "Queued", "Preparing", "Provisioning", "Starting", "Running", "Finalizing",
           "CancelRequested"}


@dataclass
class Context:
    """Everything a step needs: the clients, the experiment, the target, names decided at run time, output."""

    ml: Any
    experiment: Experiment
    out: Printer
    endpoint_name: str
    target: Target = field(default_factory=AzureTarget)  # where the workspace is: logs, links, what bills
    poll_interval: float = 10.0
    heartbeat: float = 60.0
    stream_logs: bool = False
    metrics_client: Callable[[], Any] = _no_metrics  # an MlflowClient on the workspace's runs, made when needed
    slots: Any = None  # generator.runner.sweep.Slots of a sweep's points
    selected: dict[str, str] = field(default_factory=dict)  # select resource id -> the point resource it chose
    skip_evaluation_gate: bool = False  # apply --skip-evaluation-gate: traffic even when the gate is not met
    keep_failed_deployment: bool = False  # apply --keep-failed-deployment: a deployment whose model failed stays

    def load(self, resource: Resource, loader: Callable[..., Any], overrides: dict[str, Any] | None = None) -> Any:
        """Load the resource's generated file with the SDK, after setting `overrides` (dotted keys)."""
        assert resource.file is not None
        data = yaml.safe_load(resource.file.read_text(encoding="utf-8"))
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                node = node[part]
            node[last] = value
        return loader(io.StringIO(yaml.safe_dump(data, sort_keys=False)), relative_origin=str(resource.file))


def job_status(job: Any) -> str:
    """The job's status as plain text (the SDK returns an enum member)."""
    status = getattr(job, "status", None)
    return str(getattr(status, "value", status) or "Unknown")


def not_found(call: Callable[[], Any]) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call()
    except ResourceNotFoundError:
        return None


REPAIR = "provisioning state Failed: apply recreates it"


def failed(current: Any) -> bool:
    """Whether an endpoint or deployment's last provisioning failed (it stays Failed until it is PUT again)."""
    return state_of(current).lower() == "failed"


def field_changes(pairs: list[tuple[str, Any, Any]]) -> list[FieldChange]:
    """The fields whose workspace value (old) differs from the files' value (new)."""
    return [FieldChange(name, old, new) for name, old, new in pairs if old != new]


FIXED = "cannot change in place: the workspace keeps the old value; bump experiment.run and render to use the new one"


def fixed_changes(pairs: list[tuple[str, Any, Any]]) -> list[FieldChange]:
    """The fields that differ on something Azure keeps as it was created (a job, a model version)."""
    return [FieldChange(name, old, new, updatable=False) for name, old, new in pairs if old != new]


def with_fixed(action: Action, changes: list[FieldChange]) -> Action:
    """`action` with the fields it cannot change shown as drift (its verb stays: apply would not touch them)."""
    if changes:
        action.changes = [*action.changes, *changes]
        action.details = [*action.details, *(f"{c.text()}: {FIXED}" for c in changes)]
    return action


def drift(changes: list[FieldChange], current: Any, observed: dict[str, Any]) -> Action:
    """`update` with the changed fields, or `unchanged` when there are none."""
    if changes:
        return Action(Verb.UPDATE, [c.text() for c in changes], current, Reason.DRIFT, changes, observed)
    return Action(Verb.UNCHANGED, [], current, Reason.EQUAL, [], observed)


def state_of(current: Any) -> str:
    """A resource's provisioning state as plain text ("" when it has none)."""
    state = getattr(current, "provisioning_state", None)
    return str(getattr(state, "value", state) or "")


def wait_poller(ctx: Context, tag: str, poller: Any, what: str) -> Any:
    """Wait for a long-running operation, printing its state and the elapsed time."""
    start = last = time.monotonic()
    while not poller.done():
        poller.wait(ctx.poll_interval)
        if time.monotonic() - last >= ctx.heartbeat:
            last = time.monotonic()
            ctx.out.line(tag, f"{what}: {poller.status()} ({elapsed(last - start)})")
    result = poller.result()
    ctx.out.line(tag, f"{what}: done ({elapsed(time.monotonic() - start)})")
    return result
