"""The two targets answer the runner's questions: what bills, where a person reads about a job, the links."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from generator.local.local_target import LocalTarget
from generator.runner.azure_target import AzureTarget
from generator.runner.explain import NothingToRead


def test_what_each_target_bills_and_where_a_person_reads_about_a_job(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZML_LOCAL_WORKSPACE", ".ws")
    local, azure = LocalTarget(tmp_path), AzureTarget()
    assert (azure.bills, local.bills) == (True, False)
    job = SimpleNamespace(name="run1", studio_url="https://ml.azure.com/runs/run1")
    assert azure.job_link(job) == "studio: https://ml.azure.com/runs/run1"
    assert local.job_link(job) == "log: .ws/jobs/run1/std_log.txt"
    assert local.deployment_log("ep", "blue") == str(tmp_path / ".ws" / "deployments" / "ep-blue" / "scoring.log")
    assert azure.deployment_log("ep", "blue") == "az ml online-deployment get-logs --endpoint-name ep --name blue"
    assert local.queueing_note({"sweep": {"max_concurrent": 8}}) is None
    assert local.quota_scope(None) == "in the local workspace (its emulated quota)"
    with pytest.raises(NothingToRead, match="the local workspace is not running"):
        local.tracking_uri(None)
