"""The local workspace's MLflow store: a sqlite file, new ones copied from an empty store made once per MLflow
version and kept in the model cache. MLflow's import and its migrations of a new sqlite file take 4 to 5 s of CPU
on this machine; the copy takes milliseconds."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
from pathlib import Path

from generator.local.standin import cache_root

EMPTY_STORE = "mlflow-{version}-empty-store.db"  # in cache_root(): a new MLflow store, copied for each workspace


def mlflow_version() -> str:
    """The installed MLflow's version, read from its package metadata (importing MLflow takes 2 s): the full package
    or mlflow-skinny, which the local extra installs."""
    for name in ("mlflow", "mlflow-skinny"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    raise ModuleNotFoundError("MLflow is not installed: install the local extra (make demo does)")


def make_empty_store(template: Path) -> None:
    """Create an empty sqlite MLflow store at `template` (MLflow's migrations), written whole or not at all."""
    from mlflow.tracking import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    building = template.with_name(f"{template.name}.{os.getpid()}.new")
    building.unlink(missing_ok=True)
    MlflowClient(f"sqlite:///{building}").search_experiments(max_results=1)
    os.replace(building, template)


def create_store(db: Path) -> None:
    """Make `db` a new, empty MLflow store, whole or not at all, unless it exists. The caller holds the store's
    lock (generator/local/finetune.py `store_lock`)."""
    if db.exists():
        return
    template = cache_root() / EMPTY_STORE.format(version=mlflow_version())
    if not template.is_file():
        make_empty_store(template)
    copy = db.with_name(db.name + ".copy")
    shutil.copyfile(template, copy)
    os.replace(copy, db)
