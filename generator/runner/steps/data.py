"""Data assets: each version uploaded once, tagged with its file's hash; a changed file needs a new run."""

from __future__ import annotations

from pathlib import Path

from generator.files import sha256
from generator.runner.experiment import Resource
from generator.runner.explain import storage_role_error
from generator.runner.plan import Action, FieldChange, Reason, Verb
from generator.runner.steps.common import Context, not_found

CONTENT_TAG = "azml-gen.sha256"  # the uploaded file's hash, kept on the data asset Azure stores


def _project_file(ctx: Context, res: Resource) -> Path:
    return ctx.experiment.folder.parent.parent / _project_path(ctx, res)


def plan_data(ctx: Context, res: Resource) -> Action:
    """Absent → upload; present with another content hash → refuse (data versions are immutable)."""
    version = str(res.extra["version"])
    current = not_found(lambda: ctx.ml.data.get(res.name, version=version))
    if current is None:
        return Action(Verb.CREATE, [f"upload {_project_path(ctx, res)} as version {version}"], reason=Reason.ABSENT)
    recorded = (current.tags or {}).get(CONTENT_TAG)
    observed = {"version": version, CONTENT_TAG: recorded}
    file = _project_file(ctx, res)
    if recorded and file.is_file() and sha256(file) != recorded:
        change = FieldChange(CONTENT_TAG, recorded, sha256(file), updatable=False)
        return Action(Verb.REFUSE, [f"{_project_path(ctx, res)} changed since version {version} of {res.name} was "
                                    f"uploaded (data versions are immutable): bump experiment.run in "
                                    f"{ctx.experiment.spec} and render to upload and train anew"], current,
                      Reason.DATA_CHANGED, [change], observed)
    note = "" if recorded else "; it carries no content hash (not created by this tool), so its files are not compared"
    return Action(Verb.UNCHANGED, [f"version {version} exists with the same content{note}" if recorded else
                                   f"version {version} exists{note}"], current, Reason.EQUAL, [], observed)


def _project_path(ctx: Context, res: Resource) -> str:
    return ctx.experiment.data_files.get(res.id, "?")


def apply_data(ctx: Context, res: Resource, action: Action) -> None:
    """Upload the file and register the version, tagged with its content hash."""
    from azure.ai.ml import load_data

    data = ctx.load(res, load_data)
    data.tags = {**(data.tags or {}), CONTENT_TAG: sha256(_project_file(ctx, res))}
    try:
        ctx.ml.data.create_or_update(data)
    except Exception as exc:
        refused = storage_role_error(exc, f"upload {res.name}", _storage_account(ctx))
        if refused is None:
            raise
        raise refused from None
    ctx.out.line(res.id, f"registered data {res.name}:{res.extra['version']}")


def _storage_account(ctx: Context) -> str:
    """The workspace's storage account name (the last segment of its resource id)."""
    try:
        return str(ctx.ml.workspaces.get(ctx.ml.workspace_name).storage_account).rsplit("/", 1)[-1]
    except Exception:  # the hint still helps without the name
        return "the workspace's storage account"
