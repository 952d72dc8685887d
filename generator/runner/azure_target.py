"""The Azure target: a workspace in Azure (config.json or explicit ids), signed in like the seed notebook."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from generator.errors import MissingExtra
from generator.runner.targets import Connection, WorkspaceIds

if TYPE_CHECKING:
    from generator.extras import Extra
    from generator.runner.experiment import Experiment
    from generator.runner.output import Printer



class AzureTarget:
    """A workspace in Azure: everything it starts bills, its jobs log to Studio and its MLflow."""

    name = "azure"
    where = "Azure"
    bills = True
    regional = True  # serverless fine-tuning is offered per region (generator/catalog/serverless.yml)
    no_price = "the workspace did not say its region"
    billing_head = "still billing"
    max_request_bytes: int | None = None  # generator/request.py AZURE_LIMIT: Azure documents none
    request_limit = ""

    def connect(self, ids: WorkspaceIds, credential: Any = None) -> Connection:
        """The workspace from flags, the environment or config.json, and `credential`, else DefaultAzureCredential
        (or a browser login at a terminal)."""
        from generator.runner.connection import default_credential, resolve_workspace

        workspace = resolve_workspace(ids.config, ids.subscription, ids.resource_group, ids.workspace)
        return Connection(workspace, credential if credential is not None else default_credential(workspace))

    def plan_lines(self, experiment: Experiment) -> list[str]:
        """Nothing beyond the model's pin: the registry model itself trains."""
        return []

    def queueing_note(self, spec_data: dict[str, Any]) -> str | None:
        """A sweep whose points at a time need more nodes than the compute's max_instances queues."""
        from generator.sweep_points import queueing

        return queueing(spec_data)

    def job_link(self, job: Any) -> str:
        """The job's Studio page."""
        url = getattr(job, "studio_url", None) or ""
        return f"studio: {url}" if url else ""

    def follow_job_log(self, ml: Any, job_name: str, out: Printer, tag: str, poll_interval: float) -> None:
        """jobs.stream, which ends (raising) when the job fails; the caller reads the state that follows."""
        try:
            ml.jobs.stream(job_name)
        except Exception as exc:  # a failed job raises here; the state check that follows reports it
            out.line(tag, f"log stream ended: {type(exc).__name__}")

    def deployment_log(self, endpoint: str, deployment: str) -> str:
        """The az command that prints the deployment's log."""
        return f"az ml online-deployment get-logs --endpoint-name {endpoint} --name {deployment}"

    def tracking_uri(self, ml: Any) -> str:
        """MLFLOW_TRACKING_URI when set (another MLflow server the jobs log to), else the workspace's MLflow tracking
        URI (read through azureml-mlflow, the azure extra)."""
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        try:
            import azureml.mlflow  # noqa: F401 - registers the azureml:// tracking scheme
        except ImportError:
            raise MissingExtra("reading metrics from an Azure workspace needs the azureml-mlflow package (the azure "
                               "extra, requirements-azure.txt): `make metrics` installs it", ["azure"]) from None
        return str(ml.workspaces.get(ml.workspace_name).mlflow_tracking_uri)

    def missing_extras(self, kinds: Iterable[str]) -> list[tuple[Extra, str, str]]:
        """The extras (generator/extras.py STEP_NEEDS) the manifest's steps need on Azure and lack."""
        from generator.extras import missing_for

        return missing_for(kinds, self.name)

    def quota_scope(self, ml: Any) -> str:
        """The workspace's region."""
        region = getattr(ml.workspaces.get(ml.workspace_name), "location", None)
        return f"in region {region or 'of the workspace'}"
