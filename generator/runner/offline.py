"""Planning without connecting (`plan --offline`): the same planners, the same plan value, made with an observer that
answers "unknown" for everything the workspace holds.

A pull request from a fork has no workspace credentials; its plan still shows, machine-readably, each resource in
dependency order with its `az ml` command, the estimate from cached prices, the budget's verdict and both routes.
Every read of the workspace raises LiveStateUnknown, which the planner turns into the action `unknown`; such a plan
is never applied (generator/runner/planner.py load_saved says why).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from generator.runner.experiment import Experiment
from generator.runner.output import Printer
from generator.runner.targets import Target

if TYPE_CHECKING:
    from generator.runner.steps.common import Context

OFFLINE = "plan --offline: the workspace was not read"
NO_REGION = "plan --offline does not connect, so the workspace's region is unknown"


class LiveStateUnknown(Exception):
    """The offline observer was asked what the workspace holds."""


class Observer(Protocol):
    """What a plan is made from: a connected Session, or an OfflineSession that reads nothing."""

    experiment: Experiment
    target: Target
    root: Path
    ml: Any  # an MLClient, or the offline workspace
    region: str | None
    endpoint_name: str
    offline: str  # why the workspace's state is unknown ("" when it is read)

    @property
    def no_price(self) -> str:
        """Why an estimate without the workspace's region carries no price."""
        ...

    def identity(self) -> dict[str, Any] | None:
        """Which workspace this is, as a saved plan records it (None offline)."""
        ...

    def context(self, **kwargs: Any) -> Context:
        """A step Context on it."""
        ...

    def metrics_client(self) -> Any:
        """An MLflow client on where its jobs log (mlflow's MlflowClient, not type-checked here)."""
        ...


class _UnknownOperations:
    """One operations group of the offline workspace (jobs, models, …): every call raises LiveStateUnknown."""

    def __init__(self, group: str):
        self.group = group

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def unknown(*args: Any, **kwargs: Any) -> NoReturn:
            raise LiveStateUnknown(f"{self.group}.{name}: {OFFLINE}")
        return unknown


class UnknownWorkspace:
    """The MLClient surface planners read, answering "unknown"."""

    workspace_name = ""

    def __getattr__(self, name: str) -> _UnknownOperations:
        return _UnknownOperations(name)


class OfflineSession:
    """The experiment on its target, planned without connecting: the region is the spec's `region` (prices cached
    for it), the endpoint's suffix (name_suffix: workspace) unknown."""

    offline = OFFLINE
    no_price = NO_REGION

    def __init__(self, experiment: Experiment, target: Target, root: Path, *, out: Printer | None = None):
        self.experiment, self.target, self.root = experiment, target, root
        self.ml = UnknownWorkspace()
        self.out = out or Printer()
        self.region: str | None = experiment.loaded.sections.region
        endpoint = next((r for r in experiment.resources if r.kind == "online_endpoint"), None)
        self.endpoint_name = endpoint.name if endpoint is not None else ""
        if endpoint is not None and experiment.endpoint_suffix == "workspace":
            self.endpoint_name += "-<the workspace's suffix>"

    def identity(self) -> dict[str, Any] | None:
        """None: no workspace was read."""
        return None

    def metrics_client(self) -> Any:
        """No metrics store is read offline."""
        raise LiveStateUnknown(f"the metrics store: {OFFLINE}")

    def context(self, **kwargs: Any) -> Context:
        """A step Context on the unknown workspace."""
        from generator.runner.steps.common import Context

        return Context(ml=self.ml, experiment=self.experiment, out=self.out, endpoint_name=self.endpoint_name,
                       target=self.target, **kwargs)
