"""The CI workflows sign in to Azure with OpenID Connect (a federated credential), never with a stored secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted([*(REPO / ".github" / "workflows").glob("*.yml"), *(REPO / "examples").rglob("*.yml")])


def _jobs_signing_in(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job name, job, its azure/login step) for every job that signs in to Azure."""
    found = []
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("azure/login@"):
                found.append((name, job, step))
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_workflow_signs_in_with_oidc_and_stores_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "CLIENT_SECRET" not in text and "creds:" not in text, path
    workflow = yaml.safe_load(text)
    for name, job, step in _jobs_signing_in(workflow):
        permissions = {**(workflow.get("permissions") or {}), **(job.get("permissions") or {})}
        assert permissions.get("id-token") == "write", (path, name)
        assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}, (path, name)


def test_the_check_workflow_plans_with_an_oidc_sign_in() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "check.yml").read_text(encoding="utf-8"))
    assert [name for name, _, _ in _jobs_signing_in(workflow)] == ["plan"]
    assert workflow["permissions"] == {"contents": "read"}  # the other jobs get no token
    assert "AZURE_CLIENT_ID" not in workflow["jobs"]["plan"].get("env", {})  # only azure/login sees the client id
