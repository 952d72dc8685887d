"""Jobs forked from the warm process run like `python -m module args` would, with the libraries already imported."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from generator.local import warm

pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")


@pytest.fixture(scope="module", autouse=True)
def warm_process() -> None:
    warm.start({"WARM_TEST_STARTED": "1"})


def test_a_job_gets_its_arguments_environment_folder_and_log_and_exits_with_its_code(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    log.write_text("[local] header written by the executor\n", encoding="utf-8")
    child = warm.WarmProcess("tests.local.warm_child", ["3"], log, {"WARM_TEST_VARIABLE": "seen"}, tmp_path)
    assert child.wait(120) == 3 and child.returncode == 3 and child.poll() == 3
    header, report, stderr = log.read_text(encoding="utf-8").splitlines()
    assert header == "[local] header written by the executor"  # appended to, not overwritten
    facts = json.loads(report)
    assert facts["argv"] == ["tests.local.warm_child", "3"] and facts["cwd"] == str(tmp_path)
    assert facts["variable"] == "seen"
    assert facts["warm"]  # torch was imported by the warm process, before the job's main ran
    assert facts["threads"] == 2 and facts["product"] == 64.0 ** 3
    assert stderr == "a line on stderr"


def test_a_running_job_can_be_stopped(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    log.touch()
    child = warm.WarmProcess("tests.local.warm_child", ["sleep"], log, {}, tmp_path)
    while "sleeping" not in log.read_text(encoding="utf-8"):
        assert child.poll() is None
        time.sleep(0.05)
    assert child.poll() is None
    child.terminate()
    assert child.wait(30) == -signal.SIGTERM
