"""The local workspace's MLflow store: made once per MLflow version, then copied for each new workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from generator.local import mlflow_store
from generator.local.executor import LocalExecutor
from generator.local.standin import CACHE_VARIABLE


def _executor(folder: Path) -> LocalExecutor:
    folder.mkdir()
    return LocalExecutor(folder, folder / "cert.pem", folder / "ca.pem")


def test_a_new_workspace_copies_the_empty_store_made_by_the_first(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    first = _executor(tmp_path / "first")
    first.prepare_store()
    assert [e.name for e in MlflowClient(f"sqlite:///{first.state_dir / 'mlflow.db'}").search_experiments()] == [
        "Default"]
    assert len(list((tmp_path / "cache").glob("mlflow-*-empty-store.db"))) == 1

    def migrations_again(template: Path) -> None:
        raise AssertionError("MLflow's migrations ran again for a version whose empty store is cached")

    monkeypatch.setattr(mlflow_store, "make_empty_store", migrations_again)
    second = _executor(tmp_path / "second")
    second.prepare_store()
    client = MlflowClient(f"sqlite:///{second.state_dir / 'mlflow.db'}")
    client.create_experiment("second-only")  # a working store of its own, not shared with the first
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "second-only"]
    assert [e.name for e in MlflowClient(f"sqlite:///{first.state_dir / 'mlflow.db'}").search_experiments()] == [
        "Default"]
    assert not list(second.state_dir.glob("mlflow.db.*copy"))


def test_an_existing_store_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    workspace = _executor(tmp_path / "ws")
    workspace.prepare_store()
    MlflowClient(f"sqlite:///{workspace.state_dir / 'mlflow.db'}").create_experiment("kept")
    restarted = LocalExecutor(workspace.state_dir, workspace.cert_pem, workspace.ca_pem)
    restarted.prepare_store()
    assert "kept" in {e.name for e in MlflowClient(f"sqlite:///{workspace.state_dir / 'mlflow.db'}").search_experiments()}
