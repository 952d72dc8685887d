"""The local target (`--target local`): the project's local workspace on this machine, as the runner asks it.

It implements generator/runner/targets.py `Target`: the workspace is started (generator/local/daemon.py) when a
command connects; its files are where generator/local/layout.py puts them; nothing it runs bills. Importing this module
imports no ML library (the runtime's modules import them where they run).
"""

from __future__ import annotations

import codecs
import contextlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.local.daemon import local_state_dir
from generator.local.layout import Layout
from generator.paths import display_path
from generator.request import LOCAL_MAX_REQUEST_BYTES
from generator.runner.explain import NothingToRead
from generator.runner.targets import Connection, WorkspaceIds

if TYPE_CHECKING:
    from generator.extras import Extra
    from generator.runner.experiment import Experiment
    from generator.runner.output import Printer


# How often a job's log file is read and its state asked while it runs (the runner's poll interval when longer). A
# state GET costs the runner a few milliseconds of the CPU the job trains on.
LOG_POLL = 1.0


class LocalTarget:
    """The local workspace of the project at `root` (its state folder: AZML_LOCAL_WORKSPACE or .local-workspace/)."""

    name = "local"
    where = "the local workspace"
    bills = False
    regional = False  # the local workspace fine-tunes every model of serverless.yml, in no region
    no_price = "the local workspace bills nothing (prices are for Azure workspaces)"
    billing_head = "still running (the local target bills nothing; on Azure this bills)"
    max_request_bytes: int | None = LOCAL_MAX_REQUEST_BYTES
    request_limit = ("the local target's scoring server takes at most {limit} (its own limit, not Azure's: "
                     "generator/request.py)")

    def __init__(self, root: Path):
        self.root = root
        self.layout = Layout(local_state_dir(root).resolve())
        self._tracking: str | None = None

    def connect(self, ids: WorkspaceIds, credential: Any = None) -> Connection:
        """Start (or find) the local workspace, make this process trust and reach it; the ids are not used, and its
        own credential unless `credential` is given."""
        from generator.local.daemon import start_local
        from generator.runner.connection import workspace_from_config

        config, own, state_dir, self._tracking = start_local(self.root)
        self.layout = Layout(state_dir)
        return Connection(workspace_from_config(config), credential if credential is not None else own)

    def plan_lines(self, experiment: Experiment) -> list[str]:
        """The model that stands in for the spec's, and the values it trains with here."""
        from generator.local.finetune import plan_line

        return [plan_line(experiment)]

    def queueing_note(self, spec_data: dict[str, Any]) -> str | None:
        """None: the local workspace runs fine-tunes side by side and never queues them for nodes."""
        return None

    def job_link(self, job: Any) -> str:
        """The job's log file."""
        return f"log: {display_path(self.layout.job_log(str(getattr(job, 'name', ''))), self.root)}"

    def follow_job_log(self, ml: Any, job_name: str, out: Printer, tag: str, poll_interval: float) -> None:
        """Print the job's log file as it grows, until the job ends.

        The SDK's jobs.stream is not used here: it waits between polls on a curve made for cloud jobs of hours
        (azure-ai-ml operations/_job_ops_helper.py `_wait_before_polling`: 60 / (1 + 100 e^(-t/20)) seconds, about
        50 s between polls two minutes in), which kept a local apply waiting up to a minute after its job had ended.
        """
        from generator.runner.steps.common import RUNNING, job_status

        path = self.layout.job_log(job_name)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset, pending = 0, ""
        while True:
            ended = job_status(ml.jobs.get(job_name)) not in RUNNING  # asked first: an ended job's log is whole
            with contextlib.suppress(FileNotFoundError), path.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
                offset += len(chunk)
                pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                out.line("", line)
            if ended:
                if pending:
                    out.line("", pending)
                return
            time.sleep(max(poll_interval, LOG_POLL))

    def deployment_log(self, endpoint: str, deployment: str) -> str:
        """The deployment's scoring server log."""
        return str(self.layout.scoring_log(endpoint, deployment))

    def tracking_uri(self, ml: Any) -> str:
        """The local workspace's MLflow store."""
        if self._tracking is None:
            raise NothingToRead("the local workspace is not running; run apply --target local first")
        return self._tracking

    def missing_extras(self, kinds: Iterable[str]) -> list[tuple[Extra, str, str]]:
        """The extras (generator/extras.py STEP_NEEDS) the manifest's steps need here and lack."""
        from generator.extras import missing_for

        return missing_for(kinds, self.name)

    def quota_scope(self, ml: Any) -> str:
        """The local workspace's emulated quota."""
        return "in the local workspace (its emulated quota)"
