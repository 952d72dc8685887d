"""Following a local job's log: every line once, in order, and no wait after the job ends."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from generator.runner.experiment import Resource
from generator.runner.output import Printer
from generator.runner.steps import job as job_step
from generator.runner.steps.common import Context


class GrowingJob:
    """jobs.get of a job that writes one more piece of its log before each answer, then ends."""

    def __init__(self, log: Path, pieces: list[bytes]):
        self.log, self.pieces, self.gets = log, list(pieces), 0

    def get(self, name: str) -> SimpleNamespace:
        self.gets += 1
        if self.pieces:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("ab") as handle:
                handle.write(self.pieces.pop(0))
        return SimpleNamespace(name=name, status="Running" if self.pieces else "Completed")


def test_the_local_log_is_printed_whole_and_the_follow_ends_with_the_job(tmp_path: Path, monkeypatch) -> None:
    state = tmp_path / "state"
    snow = "snø".encode()  # a character split between two reads
    jobs = GrowingJob(state / "jobs" / "run1" / "std_log.txt",
                      [b"", b"step 0: eval_loss 3.2\nstep 4", b"/16: train_loss 2.9\n" + snow[:3], snow[3:] + b"\ndone"])
    sleeps: list[float] = []
    monkeypatch.setattr(job_step.time, "sleep", sleeps.append)
    out = io.StringIO()
    ctx = Context(ml=SimpleNamespace(jobs=jobs), experiment=None, out=Printer(out), endpoint_name="e",
                  poll_interval=0.2, local=True, local_state=state)
    job_step.follow_local_log(ctx, Resource(id="pipeline-job", kind="pipeline_job", name="run1", depends_on=[], az=""))
    assert out.getvalue() == "step 0: eval_loss 3.2\nstep 4/16: train_loss 2.9\nsnø\ndone\n"
    assert jobs.gets == 4  # it stopped at the first answer that the job had ended
    assert sleeps == [job_step.LOCAL_LOG_POLL] * 3  # a second between reads, not the SDK's back-off
