"""Following a local job's log: every line once, in order, and no wait after the job ends."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from generator.local import local_target
from generator.local.local_target import LocalTarget
from generator.runner.output import Printer


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
    monkeypatch.setenv("AZML_LOCAL_WORKSPACE", "state")
    target = LocalTarget(tmp_path)
    state = tmp_path / "state"
    snow = "snø".encode()  # a character split between two reads
    jobs = GrowingJob(state / "jobs" / "run1" / "std_log.txt",
                      [b"", b"step 0: eval_loss 3.2\nstep 4", b"/16: train_loss 2.9\n" + snow[:3], snow[3:] + b"\ndone"])
    sleeps: list[float] = []
    monkeypatch.setattr(local_target.time, "sleep", sleeps.append)
    out = io.StringIO()
    target.follow_job_log(SimpleNamespace(jobs=jobs), "run1", Printer(out), "pipeline-job", 0.2)
    assert out.getvalue() == "step 0: eval_loss 3.2\nstep 4/16: train_loss 2.9\nsnø\ndone\n"
    assert jobs.gets == 4  # it stopped at the first answer that the job had ended
    assert sleeps == [local_target.LOG_POLL] * 3  # a second between reads, not the SDK's back-off
