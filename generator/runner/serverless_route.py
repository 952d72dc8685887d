"""The serverless route's runner parts beyond its steps: pre-flight, status, apply's closing lines and destroy.

The route's steps (steps/finetuning_job.py, serverless_endpoint.py, marketplace_subscription.py, chat_completion.py)
plan and apply like the pipeline's. What differs around them: pre-flight checks the model and the workspace's region
(no compute, no VM quota: "This deployment option doesn't require quota from your subscription", serverless.yml),
status shows the job, the model it registered and the endpoint with what it bills, and destroy deletes the serverless
endpoints (the tuned model's and, with an evaluation, the base model's).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from generator import clock
from generator.catalog import checks
from generator.runner.cost import TagError, endpoint_age
from generator.runner.explain import NotRunnable
from generator.runner.output import Printer
from generator.runner.steps.common import job_status, not_found, state_of, wait_poller

if TYPE_CHECKING:
    from generator.runner.session import Session
    from generator.runner.steps.common import Context

ENDPOINTS = ("serverless_endpoint", "base_endpoint")  # the manifest kinds destroy deletes on this route


def hosting_warnings() -> list[str]:
    """What a serverless endpoint bills while it exists, and when Azure deletes it (serverless.yml's warnings)."""
    from generator.serverless import warnings_before_paying

    return [text for text, _ in warnings_before_paying() if "hourly" in text or "15 days" in text]


def preflight(session: Session, out: Printer) -> None:
    """The pinned model exists in its registry and is not retired; the workspace's region fine-tunes it serverless.
    NotRunnable (exit 2) before anything is created otherwise."""
    from generator.runner.preflight import MODEL_URI, read_live_model, refuse_or_warn
    from generator.serverless import region_problem

    live = read_live_model(session.experiment, session.registry, out)
    findings = checks.model_status(live.facts, clock.today())
    refuse_or_warn(findings, out)
    match = MODEL_URI.match(session.experiment.foundation_model)
    assert match is not None  # read_live_model refused an unpinned model
    registry, name = match.group(1), match.group(2)
    if not session.target.regional:
        out.line("preflight", f"{name}: the route's regions do not apply {session.target.where}; on Azure the "
                              "workspace's region must be one that fine-tunes it serverless")
        return
    if not session.region:
        out.line("preflight", f"warning: the workspace names no region, so whether it fine-tunes {name} serverless "
                              "is not checked")
        return
    wrong = region_problem(registry, name, session.region)
    if wrong:
        raise NotRunnable(f"the workspace is in {session.region}: {wrong}")
    out.line("preflight", f"{name} fine-tunes serverless in {session.region}; no VM quota is needed on this route")


def status_rows(session: Session) -> list[tuple[str, str, str]]:
    """(id, name, state) of the data, the job and the model it registered, each endpoint with its model and what it
    bills."""
    from generator.runner.steps.finetuning_job import registered_version
    from generator.runner.steps.registry import PLANNERS
    from generator.runner.steps.serverless_endpoint import served_model

    ctx = session.context()
    rows = []
    for res in session.experiment.resources:
        if res.kind == "finetuning_job":
            job = not_found(partial(session.ml.jobs.get, res.name))
            state = "absent" if job is None else f"{job_status(job)}  {session.target.job_link(job)}".rstrip()
            rows.append((res.id, res.name, state))
            version = registered_version(ctx, res) if job is not None else None
            rows.append(("model", str(res.extra["registered_model"]),
                                  f"version {version} (registered by {res.name})" if version else
                                  "not registered yet (the job registers it when it completes)"))
        elif res.kind in ENDPOINTS:
            endpoint = not_found(partial(session.ml.serverless_endpoints.get, res.name))
            tuned = res.kind == "serverless_endpoint"
            rows.append((res.id, res.name, "absent: nothing bills" if endpoint is None else
                         f"{state_of(endpoint)}  serves {served_model(endpoint.model_id)}  "
                         f"inference URI {endpoint.scoring_uri}" + _bills(endpoint.tags, tuned)))
        elif res.kind in ("data", "marketplace_subscription"):
            current = PLANNERS[res.kind](ctx, res).current
            rows.append((res.id, res.name, "absent" if current is None else "present"))
    return rows


def _bills(tags: dict[str, str] | None, tuned: bool) -> str:
    """The lines under a serverless endpoint: its age, and (the tuned model's) that it bills by the hour while it
    exists."""
    indent = "\n" + " " * 14
    try:
        age = endpoint_age(tags)
        told = indent + f"up {age.age_hours:.1f} h (since this tool created it)" if age is not None else ""
    except TagError as exc:
        told = indent + f"age unknown: {exc}"
    return told + "".join(indent + f"{text}: `destroy` deletes it" if "hourly" in text else indent + text
                          for text in (hosting_warnings() if tuned else []))


def closing_lines(ctx: Context) -> list[str]:
    """Apply's last lines: which serverless endpoints exist (each bills by the hour), and how to stop them."""
    head = ctx.target.billing_head
    lines = []
    for res in ctx.experiment.resources:
        if res.kind in ENDPOINTS:
            from generator.runner.steps.serverless_endpoint import served_model

            found = not_found(partial(ctx.ml.serverless_endpoints.get, res.name))
            if found is not None and res.kind == "serverless_endpoint":
                lines.append(f"{head}: serverless endpoint {res.name} ({served_model(found.model_id)}), by the hour "
                             "while it exists, called or not")
            elif found is not None:
                lines.append(f"{head}: serverless endpoint {res.name} of the base model {found.model_id} (the "
                             "evaluation's), as Azure prices that model's serverless deployment")
    if lines:
        lines.append(f"stop it: python -m generator destroy {ctx.experiment.spec} (deletes the serverless "
                     "endpoint(s))")
    else:
        lines.append(f"{head}: no serverless endpoint of this experiment exists")
    return lines


def doomed(session: Session) -> list[str]:
    """The serverless endpoints destroy deletes: the experiment's own (the tuned model's, the base model's)."""
    return [res.name for res in session.experiment.resources if res.kind in ENDPOINTS]


def destroy(session: Session, names: list[str], say: Callable[[str], None]) -> None:
    """Delete each serverless endpoint that exists, saying which did not; the model, the job and data stay."""
    context = session.context()
    for name in names:
        if not_found(partial(session.ml.serverless_endpoints.get, name)) is None:
            say(f"[destroy] serverless endpoint {name} does not exist; nothing to delete")
            continue
        wait_poller(context, "destroy", session.ml.serverless_endpoints.begin_delete(name),
                    f"delete serverless endpoint {name}")
