"""Per-kind reconciliation: what exists, what the files want, and how to get there.

Each step compares the generated file with what the workspace holds: absent → create; present
and equal → nothing; present and different → update, or refuse for what cannot change (a
compute's size, a finished job).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from generator.files import sha256
from generator.runner.cost import CREATED_TAG, EXPIRES_TAG, now_tag
from generator.paths import display_path
from generator.runner.errors import (EXIT_CLOUD, EXIT_INPUT, RunnerError, endpoint_error, explain,
                                     storage_role_error)
from generator.runner.manifest import Experiment, Resource
from generator.runner.output import Printer, elapsed
from generator.runner.sweep import JUDGED_TAG, apply_select, judged, plan_select, point_jobs

RUNNING = {"NotStarted", "Queued", "Preparing", "Provisioning", "Starting", "Running", "Finalizing",
           "CancelRequested"}


@dataclass
class Action:
    """What apply would do to one resource, and why."""

    verb: str  # create | update | repair | unchanged | attach | refuse | run
    details: list[str] = field(default_factory=list)
    current: Any = None


@dataclass
class Context:
    """Everything a step needs: the clients, the experiment, names decided at run time, output."""

    ml: Any
    experiment: Experiment
    out: Printer
    endpoint_name: str
    poll_interval: float = 10.0
    heartbeat: float = 60.0
    stream_logs: bool = False
    local: bool = False
    metrics_client: Callable[[], Any] | None = None  # an MlflowClient on the workspace's runs, made when needed
    slots: Any = None  # generator.runner.sweep.Slots of a sweep's points
    selected: dict[str, str] = field(default_factory=dict)  # select resource id -> the point resource it chose

    def where_to_look(self, job: Any) -> str:
        """Where a person reads about `job`: its Studio page on Azure, its log folder on the local workspace."""
        if self.local:
            from generator.runner.connection import local_state_dir

            folder = local_state_dir(self.experiment.folder.parent.parent) / "jobs" / str(getattr(job, "name", ""))
            return f"log: {display_path(folder / 'std_log.txt', self.experiment.folder.parent.parent)}"
        return f"studio: {getattr(job, 'studio_url', '')}"

    def load(self, resource: Resource, loader: Callable[..., Any], overrides: dict[str, Any] | None = None) -> Any:
        """Load the resource's generated file with the SDK, after setting `overrides` (dotted keys)."""
        assert resource.file is not None
        data = yaml.safe_load(resource.file.read_text(encoding="utf-8"))
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                node = node[part]
            node[last] = value
        return loader(io.StringIO(yaml.safe_dump(data, sort_keys=False)), relative_origin=str(resource.file))


def job_status(job: Any) -> str:
    """The job's status as plain text (the SDK returns an enum member)."""
    status = getattr(job, "status", None)
    return str(getattr(status, "value", status) or "Unknown")


def _not_found(call: Callable[[], Any]) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call()
    except ResourceNotFoundError:
        return None


REPAIR = "provisioning state Failed: apply recreates it"


def _failed(current: Any) -> bool:
    """Whether an endpoint or deployment's last provisioning failed (it stays Failed until it is PUT again)."""
    state = getattr(current, "provisioning_state", None)
    return str(getattr(state, "value", state) or "").lower() == "failed"


def _changes(pairs: list[tuple[str, Any, Any]]) -> list[str]:
    return [f"{name}: {old!r} -> {new!r}" for name, old, new in pairs if old != new]


def wait_poller(ctx: Context, tag: str, poller: Any, what: str) -> Any:
    """Wait for a long-running operation, printing its state and the elapsed time."""
    start = last = time.monotonic()
    while not poller.done():
        poller.wait(ctx.poll_interval)
        if time.monotonic() - last >= ctx.heartbeat:
            last = time.monotonic()
            ctx.out.line(tag, f"{what}: {poller.status()} ({elapsed(last - start)})")
    result = poller.result()
    ctx.out.line(tag, f"{what}: done ({elapsed(time.monotonic() - start)})")
    return result


# ---------------------------------------------------------------------------- compute
def plan_compute(ctx: Context, res: Resource) -> Action:
    from azure.ai.ml import load_compute

    desired = ctx.load(res, load_compute)
    current = _not_found(lambda: ctx.ml.compute.get(res.name))
    if current is None:
        return Action("create", [f"amlCompute {desired.size}, {desired.min_instances}-{desired.max_instances} nodes"])
    if (current.provisioning_state or "").lower() == "failed":
        return Action("refuse", [f"compute {res.name} is in Failed state; delete it (destroy --compute) or "
                                 "choose another compute.name"], current)
    if (current.size or "").lower() != desired.size.lower():
        return Action("refuse", [f"size: {current.size!r} -> {desired.size!r} (a cluster's VM size cannot change; "
                                 "delete it with destroy --compute or choose another compute.name)"], current)
    changes = _changes([("min_instances", current.min_instances, desired.min_instances),
                        ("max_instances", current.max_instances, desired.max_instances),
                        ("idle_time_before_scale_down", current.idle_time_before_scale_down,
                         desired.idle_time_before_scale_down),
                        ("tier", (current.tier or "").lower(), (desired.tier or "").lower())])
    return Action("update" if changes else "unchanged", changes, current)


def apply_compute(ctx: Context, res: Resource, action: Action) -> None:
    from azure.ai.ml import load_compute

    poller = ctx.ml.compute.begin_create_or_update(ctx.load(res, load_compute))
    wait_poller(ctx, res.id, poller, f"{action.verb} compute {res.name}")


# ---------------------------------------------------------------------------- data
CONTENT_TAG = "azml-gen.sha256"  # the uploaded file's hash, kept on the data asset Azure stores


def _project_file(ctx: Context, res: Resource) -> Path:
    return ctx.experiment.folder.parent.parent / _local_path(ctx, res)


def plan_data(ctx: Context, res: Resource) -> Action:
    version = str(res.extra["version"])
    current = _not_found(lambda: ctx.ml.data.get(res.name, version=version))
    if current is None:
        return Action("create", [f"upload {_local_path(ctx, res)} as version {version}"])
    recorded = (current.tags or {}).get(CONTENT_TAG)
    local = _project_file(ctx, res)
    if recorded and local.is_file() and sha256(local) != recorded:
        return Action("refuse", [f"{_local_path(ctx, res)} changed since version {version} of {res.name} was "
                                 f"uploaded (data versions are immutable): bump experiment.run in "
                                 f"{ctx.experiment.spec} and render to upload and train anew"], current)
    note = "" if recorded else "; it carries no content hash (not created by this tool), so its files are not compared"
    return Action("unchanged", [f"version {version} exists with the same content{note}" if recorded else
                                f"version {version} exists{note}"], current)


def _local_path(ctx: Context, res: Resource) -> str:
    return ctx.experiment.data_files.get(res.id, "?")


def apply_data(ctx: Context, res: Resource, action: Action) -> None:
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


# ---------------------------------------------------------------------------- endpoint
def plan_endpoint(ctx: Context, res: Resource) -> Action:
    from azure.ai.ml import load_online_endpoint

    desired = ctx.load(res, load_online_endpoint, {"name": ctx.endpoint_name})
    current = _not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    if current is None:
        return Action("create", [f"endpoint {ctx.endpoint_name} ({desired.auth_mode} auth)"])
    if _failed(current):
        return Action("repair", [REPAIR], current)
    changes = _changes([("auth_mode", (current.auth_mode or "").lower(), (desired.auth_mode or "").lower()),
                        ("description", current.description or "", desired.description or ""),
                        ("expires_after", (current.tags or {}).get(EXPIRES_TAG, ""),
                         (desired.tags or {}).get(EXPIRES_TAG, ""))])
    return Action("update" if changes else "unchanged", changes, current)


def apply_endpoint(ctx: Context, res: Resource, action: Action) -> None:
    from azure.ai.ml import load_online_endpoint

    desired = ctx.load(res, load_online_endpoint, {"name": ctx.endpoint_name})
    kept = dict(action.current.tags or {}) if action.current is not None else {}
    desired.tags = {**{k: v for k, v in kept.items() if k != EXPIRES_TAG}, **(desired.tags or {})}
    if action.current is None:  # its age is counted from when this tool created it (the tag stays on updates)
        desired.tags[CREATED_TAG] = now_tag()
    if action.current is not None:
        desired.traffic = action.current.traffic
    try:
        poller = ctx.ml.online_endpoints.begin_create_or_update(desired)
        wait_poller(ctx, res.id, poller, f"{action.verb} endpoint {ctx.endpoint_name}")
    except Exception as exc:  # refused on the request or failed in the operation: Azure's message tells which
        raise endpoint_error(exc, ctx.endpoint_name) from None


# ---------------------------------------------------------------------------- pipeline job
def plan_job(ctx: Context, res: Resource) -> Action:
    current = _not_found(lambda: ctx.ml.jobs.get(res.name))
    if current is None:
        return Action("create", [f"submit pipeline job {res.name}"])
    status = job_status(current)
    studio = getattr(current, "studio_url", None) or ""
    changes = job_input_changes(ctx, res, current)
    if changes:
        why = ("the job finished with the old values" if status not in RUNNING
               else f"the job is {status} with the old values and cannot change")
        return Action("refuse", [f"pipeline-job {res.name}: {'; '.join(changes)} ({why}): bump experiment.run in "
                                 f"{ctx.experiment.spec} and render to train again"], current)
    if status in RUNNING:
        return Action("attach", [f"job {res.name} is {status}: wait for it (nothing is submitted again)"], current)
    if status == "Completed":
        return Action("unchanged", [f"job {res.name} completed with these inputs (bump experiment.run to train "
                                    "again)"], current)
    return Action("refuse", [f"job {res.name} is {status}; a finished job is not re-submitted: bump "
                             f"experiment.run in {ctx.experiment.spec} and render to train again. {studio}".strip()],
                  current)


_ASSET_ID = re.compile(r"^(?:azureml:)?(?:/subscriptions/.*/(?:data|models)/)?([^/:]+)(?:/versions/|:)([^/:]+)$")


def _input_value(value: Any) -> str:
    """A node input as the REST body holds it, with asset ids and `name:version` written alike."""
    raw = value.get("value", value.get("uri")) if isinstance(value, dict) else value
    match = _ASSET_ID.match(str(raw)) if isinstance(raw, str) and ("/versions/" in raw or raw.count(":") == 1) \
        and not raw.startswith("azureml://") else None
    return f"{match.group(1)}:{match.group(2)}" if match else str(raw)


def job_input_changes(ctx: Context, res: Resource, current: Any) -> list[str]:
    """`name: old -> new` for every node input of the existing job that the rendered file now sets otherwise."""
    from azure.ai.ml import load_job

    try:
        desired = ctx.load(res, load_job)._to_rest_object().as_dict()["properties"]["jobs"]
        existing = current._to_rest_object().as_dict()["properties"]["jobs"]
    except Exception:  # a job this tool did not submit (another shape): nothing to compare
        return []
    changes = []
    for node, spec in desired.items():
        ours, theirs = spec.get("inputs") or {}, (existing.get(node) or {}).get("inputs") or {}
        for name in sorted(set(ours) | set(theirs)):
            old, new = (_input_value(theirs[name]) if name in theirs else "(unset)",
                        _input_value(ours[name]) if name in ours else "(unset)")
            if old != new:
                changes.append(f"{name} {old} -> {new}")
    return changes


def apply_job(ctx: Context, res: Resource, action: Action) -> None:
    from azure.ai.ml import load_job

    if action.verb == "create":
        job = ctx.load(res, load_job)
        submitted = ctx.ml.jobs.create_or_update(job)
        link = ctx.where_to_look(submitted) if ctx.local else getattr(submitted, "studio_url", "")
        ctx.out.line(res.id, f"submitted {submitted.name}: {link}")
    wait_for_job(ctx, res)


# What jobs.stream prints about Azure ML Studio, which means nothing for a job of the local workspace.
_STUDIO_LINES = ("RunId:", "Web View:", "Execution Summary", "=====")


class _DropStudioLines(io.TextIOBase):
    """A stdout stand-in that passes every complete line except the SDK's Studio headers and footers."""

    def __init__(self, target: Any):
        self._target, self._pending = target, ""

    def write(self, text: str) -> int:
        """Buffer until a newline, then pass the line on unless it is a Studio line."""
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not line.startswith(_STUDIO_LINES):
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        """Pass a trailing partial line on, then flush."""
        if self._pending and not self._pending.startswith(_STUDIO_LINES):
            self._target.write(self._pending)
        self._pending = ""
        self._target.flush()


@contextlib.contextmanager
def studio_lines_dropped(local: bool) -> Iterator[None]:
    """On the local target, hide the stream's Studio links (they point at ml.azure.com with made-up ids)."""
    if not local:
        yield
        return
    filtered = _DropStudioLines(sys.stdout)
    with contextlib.redirect_stdout(filtered):
        try:
            yield
        finally:
            filtered.flush()


def wait_for_job(ctx: Context, res: Resource) -> None:
    """Wait until the job ends, printing each state change and a heartbeat; fail with its error."""
    start = last_print = time.monotonic()
    status = None
    side_by_side = "sweep_point" in res.extra and ctx.slots is not None and ctx.slots.capacity > 1
    if ctx.stream_logs and not side_by_side:  # the logs of points running side by side would interleave
        try:
            with studio_lines_dropped(ctx.local):
                ctx.ml.jobs.stream(res.name)
        except Exception as exc:  # a failed job raises here; the state check below reports it
            ctx.out.line(res.id, f"log stream ended: {type(exc).__name__}")
    while True:
        job = ctx.ml.jobs.get(res.name)
        now = time.monotonic()
        if job_status(job) != status or now - last_print >= ctx.heartbeat:
            status, last_print = job_status(job), now
            ctx.out.line(res.id, f"{res.name}: {status} ({elapsed(now - start)})")
        if status not in RUNNING:
            break
        time.sleep(ctx.poll_interval)
    if status != "Completed":
        raise RunnerError(f"pipeline job {res.name} {status}: {job_error(ctx, res.name)}\n  "
                          f"{ctx.where_to_look(job)}\n  nothing downstream was created; fix the cause, "
                          f"bump experiment.run in {ctx.experiment.spec}, render and apply again", EXIT_CLOUD)


def job_error(ctx: Context, name: str) -> str:
    """The failed job's error from run history (the job entity itself does not carry it)."""
    try:
        details = ctx.ml.jobs._runs_operations.get_run_details(name)  # no public API exposes the run's error
        root = details.error.error
        return f"{root.code}: {root.message}"
    except Exception:  # no run history answer: the Studio link below still leads to the logs
        return "no error detail from run history; see the job's logs in Studio"


# ---------------------------------------------------------------------------- model
def _chosen_file(ctx: Context, res: Resource) -> Path | None:
    """A sweep's model: the model file of the point the selection chose (None before it has chosen)."""
    choice = next((ctx.selected[dep] for dep in res.depends_on if dep in ctx.selected), None)
    return ctx.experiment.folder / res.extra["candidates"][choice] if choice else None


def plan_model(ctx: Context, res: Resource) -> Action:
    version = str(res.extra["version"])
    current = _not_found(lambda: ctx.ml.models.get(res.name, version=version))
    if "candidates" not in res.extra:
        if current is None:
            return Action("create", [f"register {res.name}:{version} from the job's trained_model output"])
        return Action("unchanged", [f"{res.name}:{version} is registered"], current)
    chosen = _chosen_file(ctx, res)
    wanted = yaml.safe_load(chosen.read_text(encoding="utf-8"))["tags"]["pipeline_job"] if chosen else None
    if current is None:
        return Action("create", [f"register {res.name}:{version} from {wanted}" if wanted else
                                 f"register {res.name}:{version} from the point the sweep selects"])
    source = (current.tags or {}).get("pipeline_job", "")
    if wanted and source != wanted:
        return Action("refuse", [f"{res.name}:{version} was registered from {source or 'another job'}, but the "
                                 f"sweep now selects {wanted} (a model version is immutable): bump experiment.run "
                                 f"in {ctx.experiment.spec} and render to sweep again"], current)
    return Action("unchanged", [f"{res.name}:{version} is registered from {source}"], current)


def apply_model(ctx: Context, res: Resource, action: Action) -> None:
    from azure.ai.ml import load_model

    source = res
    if "candidates" in res.extra:
        chosen = _chosen_file(ctx, res)
        if chosen is None:
            raise RunnerError("the sweep selected no point, so there is no model to register", EXIT_CLOUD)
        source = Resource(res.id, res.kind, res.name, res.depends_on, res.az, chosen, res.extra)
    model = ctx.load(source, load_model)
    if "candidates" in res.extra:
        select = next(ctx.experiment.resource(dep) for dep in res.depends_on if dep in ctx.selected)
        model.tags = {**(model.tags or {}), JUDGED_TAG: judged(point_jobs(ctx, select))}
    model = ctx.ml.models.create_or_update(model)
    ctx.out.line(res.id, f"registered model {model.name}:{model.version}")


# ---------------------------------------------------------------------------- deployment
def _model_ref(value: Any) -> str:
    text = str(getattr(value, "id", value) or "")
    if "/models/" in text:
        parts = text.rstrip("/").split("/")
        return f"{parts[parts.index('models') + 1]}:{parts[-1]}"
    return text.removeprefix("azureml:")


def plan_deployment(ctx: Context, res: Resource) -> Action:
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    current = _not_found(lambda: ctx.ml.online_deployments.get(res.name, ctx.endpoint_name))
    if current is None:
        return Action("create", [f"deployment {res.name} on {ctx.endpoint_name}: {desired.instance_type} x "
                                 f"{desired.instance_count}"])
    if _failed(current):
        return Action("repair", [REPAIR], current)
    changes = _changes([
        ("instance_type", (current.instance_type or "").lower(), desired.instance_type.lower()),
        ("instance_count", current.instance_count, desired.instance_count),
        ("model", _model_ref(current.model), _model_ref(desired.model)),
        ("liveness_probe.initial_delay", getattr(current.liveness_probe, "initial_delay", None),
         desired.liveness_probe.initial_delay),
        ("request_timeout_ms", getattr(current.request_settings, "request_timeout_ms", None),
         desired.request_settings.request_timeout_ms)])
    return Action("update" if changes else "unchanged", changes, current)


def apply_deployment(ctx: Context, res: Resource, action: Action) -> None:
    from azure.ai.ml import load_online_deployment

    desired = ctx.load(res, load_online_deployment, {"endpoint_name": ctx.endpoint_name})
    poller = ctx.ml.online_deployments.begin_create_or_update(desired)
    wait_poller(ctx, res.id, poller, f"{action.verb} deployment {res.name}")


# ---------------------------------------------------------------------------- traffic and smoke test
def plan_traffic(ctx: Context, res: Resource) -> Action:
    wanted = {str(k): int(v) for k, v in res.extra["traffic"].items()}
    endpoint = _not_found(lambda: ctx.ml.online_endpoints.get(ctx.endpoint_name))
    current = {k: int(v) for k, v in ((endpoint.traffic if endpoint else None) or {}).items()}
    merged = {**current, **wanted}
    if endpoint is not None and current == merged:
        return Action("unchanged", [f"traffic {current}"], endpoint)
    return Action("update" if endpoint else "create", [f"traffic: {current or {}} -> {merged}"], endpoint)


def apply_traffic(ctx: Context, res: Resource, action: Action) -> None:
    endpoint = ctx.ml.online_endpoints.get(ctx.endpoint_name)
    endpoint.traffic = {**{k: int(v) for k, v in (endpoint.traffic or {}).items()},
                        **{str(k): int(v) for k, v in res.extra["traffic"].items()}}
    wait_poller(ctx, res.id, ctx.ml.online_endpoints.begin_create_or_update(endpoint), "set traffic")


def plan_invoke(ctx: Context, res: Resource) -> Action:
    return Action("run", [f"send {res.file.name if res.file else 'the sample request'} to "
                          f"{ctx.endpoint_name}/{res.extra.get('deployment')}"])


def invoke(ctx: Context, deployment: str, request_file: Path) -> str:
    """Send `request_file` to the deployment; return the raw answer (the key never leaves the SDK).
    The request is checked against the scoring contract first, so a bad file never reaches the endpoint."""
    from azure.core.exceptions import HttpResponseError

    from generator.request import parse_request

    try:
        parse_request(request_file.read_bytes())
    except OSError as exc:
        raise RunnerError(f"cannot read the request file {request_file}: {exc.strerror}", EXIT_INPUT) from None
    except ValueError as exc:
        raise RunnerError(f"request file {request_file}: {exc}", EXIT_INPUT) from None
    try:
        return ctx.ml.online_endpoints.invoke(endpoint_name=ctx.endpoint_name, deployment_name=deployment,
                                              request_file=str(request_file))
    except (AttributeError, TypeError) as exc:
        # azure-ai-ml 1.35's validate_response (_utils/_endpoint_utils.py) crashes on some error answers: a body
        # whose "error" is not an object (AttributeError), and any 408, which it maps to
        # ServiceRequestTimeoutError(response=…) without the message that class requires (TypeError).
        raise RunnerError(f"invoke {ctx.endpoint_name}/{deployment}: the endpoint answered an error that azure-ai-ml "
                          f"fails to read ({type(exc).__name__}: {exc}); a request that outlived the deployment's "
                          "request_timeout_ms (HTTP 408) is one such answer. The deployment's logs say more: "
                          f"az ml online-deployment get-logs --endpoint-name {ctx.endpoint_name} --name {deployment}",
                          EXIT_CLOUD) from None
    except HttpResponseError as exc:
        raise explain(exc, f"invoke {ctx.endpoint_name}/{deployment}") from None


def apply_invoke(ctx: Context, res: Resource, action: Action) -> None:
    assert res.file is not None
    answer = invoke(ctx, res.extra["deployment"], res.file)
    ctx.out.line(res.id, f"answer: {answer}")


PLANNERS: dict[str, Callable[[Context, Resource], Action]] = {
    "compute": plan_compute, "data": plan_data, "online_endpoint": plan_endpoint, "pipeline_job": plan_job,
    "select": plan_select, "model": plan_model, "online_deployment": plan_deployment, "traffic": plan_traffic,
    "invoke": plan_invoke}
APPLIERS: dict[str, Callable[[Context, Resource, Action], None]] = {
    "compute": apply_compute, "data": apply_data, "online_endpoint": apply_endpoint, "pipeline_job": apply_job,
    "select": apply_select, "model": apply_model, "online_deployment": apply_deployment, "traffic": apply_traffic,
    "invoke": apply_invoke}
