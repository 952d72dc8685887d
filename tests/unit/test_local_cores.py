"""How the local workspace shares this machine's cores among its jobs (no job runs here: the decision only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.local.executor import LocalExecutor, LocalJob


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalExecutor:
    """An executor on a two-core machine, with no job yet."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    return LocalExecutor(tmp_path, tmp_path / "cert.pem", tmp_path / "ca.pem")


def _add(executor: LocalExecutor, name: str, submitted: float, status: str = "Queued",
         evaluation: bool = False) -> LocalJob:
    job = LocalJob(name, Path(name), status=status, evaluation=evaluation, submitted=submitted)
    executor.jobs[name] = job
    return job


def test_a_fine_tune_gets_every_core_while_the_evaluation_submitted_after_it_waits(executor: LocalExecutor) -> None:
    """The demo submits its fine-tune and, a moment later, the base evaluation, which waits for it: however far the
    evaluation's own thread has got, the fine-tune trains on both cores."""
    _add(executor, "run1", submitted=1.0, status="Running")
    evaluation = _add(executor, "run1-eval-base", submitted=2.0, evaluation=True)
    assert executor._blockers(evaluation) == ["run1"]
    assert executor._threads_per_job() == 2


def test_a_sweeps_points_share_the_cores(executor: LocalExecutor) -> None:
    _add(executor, "sweep-p1", submitted=1.0, status="Running")
    _add(executor, "sweep-p2", submitted=2.0)
    assert executor._threads_per_job() == 1


def test_finished_jobs_take_no_share(executor: LocalExecutor) -> None:
    _add(executor, "run1", submitted=1.0, status="Completed")
    _add(executor, "run1-eval-base", submitted=2.0, status="Running", evaluation=True)
    assert executor._threads_per_job() == 2
