"""A connected runner session: one experiment, its workspace client, and where its runs log.

`open_session` loads the experiment (refusing a stale or invalid generated/), connects with the
credential it is given, and checks that the workspace exists. Nothing here parses arguments or
exits: the commands in `generator.cli` build a session and call plan, apply, status or destroy on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from generator.diagnostics import Problem
from generator.errors import InvalidInput, StaleOutput, UsageError
from generator.runner.connection import Target, probe, registry_client, workspace_client
from generator.runner.errors import explain
from generator.runner.manifest import Experiment, load_experiment, workspace_suffix
from generator.runner.output import Printer


def load_ready_experiment(spec: str, root: Path, *, validate: bool = True,
                          warn: Callable[[Problem], None] | None = None) -> Experiment:
    """The experiment of `spec`, refusing a stale or invalid generated/ folder (warnings go to `warn`)."""
    from generator.render import render_spec
    from generator.spec import load_specs
    from generator.writer import diff

    specs, warnings = load_specs(root, [Path(spec)])
    for problem in warnings:
        if warn is not None:
            warn(problem)
    loaded = specs[0]
    folder = root / "generated" / loaded.experiment
    stale = [c for c in diff(folder, render_spec(loaded)) if c.status != "unchanged"]
    if stale:
        names = [c.path.name for c in stale]
        raise StaleOutput(f"generated/{loaded.experiment}/ does not match {loaded.file} ({', '.join(names)}): run "
                          "`make render` first", names, InvalidInput.default_exit_code)
    if validate:
        from generator.validate import validate_experiment

        problems = [p for p in validate_experiment(folder, root, data_must_exist=True) if p.severity == "error"]
        if problems:
            raise UsageError("generated files are not ready:\n  " + "\n  ".join(map(str, problems)))
    experiment = load_experiment(folder)
    experiment.source_spec = loaded
    return experiment


class Session:
    """A connected runner session for one experiment."""

    def __init__(self, experiment: Experiment, target: Target, credential: Any, root: Path, *,
                 out: Printer | None = None):
        self.experiment = experiment
        self.root = root
        self.target = target
        self.local = target.local_state is not None
        self.credential = credential
        probe(self.credential, self.target)
        self.ml = workspace_client(self.credential, self.target)
        self.region: str | None = None
        self._check_workspace()
        self.out = out or Printer()
        self.endpoint_name = self.experiment.by_kind("online_endpoint").name
        if self.experiment.endpoint_suffix == "workspace":
            self.endpoint_name += "-" + workspace_suffix(self.target.subscription_id, self.target.resource_group,
                                                         self.target.workspace_name)

    def _check_workspace(self) -> None:
        """Refuse a workspace that does not exist: otherwise every resource would look absent and plan 'create'."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.region = getattr(self.ml.workspaces.get(self.target.workspace_name), "location", None)
        except ResourceNotFoundError as exc:
            raise UsageError(f"workspace {self.target.workspace_name} was not found in resource group "
                             f"{self.target.resource_group} of subscription {self.target.subscription_id} "
                             f"({explain(exc)}): check config.json or --subscription/--resource-group/--workspace"
                             ) from None

    def metrics_client(self) -> Any:
        """An MLflow client on where this workspace's jobs log their metrics."""
        from mlflow.tracking import MlflowClient

        from generator.runner.metrics import tracking_uri

        return MlflowClient(tracking_uri(self))

    def registry(self, name: str) -> Any:
        """MLClient for registry `name`."""
        return registry_client(self.credential, self.target, name)

    def identity(self) -> dict[str, Any]:
        """Which workspace this is, as a saved plan records it."""
        return {"kind": "local" if self.local else "azure", "subscription_id": self.target.subscription_id,
                "resource_group": self.target.resource_group, "workspace": self.target.workspace_name,
                "region": self.region, "endpoint": self.endpoint_name}

    def context(self, **kwargs: Any) -> Any:
        """A step Context for this session."""
        from generator.runner.steps.common import Context
        from generator.runner.sweep import Slots

        sweep = self.experiment.sweep
        slots = Slots([p.id for p in self.experiment.points], int(sweep["max_concurrent"])) if sweep else None
        poll = self.target.poll_interval
        return Context(ml=self.ml, experiment=self.experiment, out=self.out, endpoint_name=self.endpoint_name,
                       local=self.local, local_state=self.target.local_state, metrics_client=self.metrics_client,
                       slots=slots, poll_interval=poll, heartbeat=max(60.0, poll * 6) if poll >= 1 else poll * 20,
                       **kwargs)
