"""Status: what exists of the experiment, the job's state, the endpoint's scoring URI, traffic and age."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.runner.cost import TagError, describe_age, endpoint_age
from generator.runner.experiment import SERVERLESS
from generator.runner.steps.common import job_status, state_of
from generator.runner.steps.registry import PLANNERS

if TYPE_CHECKING:
    from generator.runner.experiment import Resource
    from generator.runner.session import Session

ACTIONS = ("invoke", "traffic", "rollout", "select")  # actions, not resources the workspace holds


@dataclass(frozen=True)
class StatusRow:
    """One resource: its id, its name in the workspace and what state it is in."""

    id: str
    name: str
    state: str

    def line(self) -> str:
        """The row as status prints it."""
        return f"{self.id:<13} {self.name:<40} {self.state}"


def endpoint_hourly(session: Session) -> float | None:
    """What the experiment's endpoint costs per hour (all its instances), or None without a price."""
    from generator.prices import PriceUnavailable
    from generator.runner.cost import price_book

    if not session.target.bills or not session.region:
        return None
    deployment = session.experiment.loaded.sections.deployment
    if deployment is None:
        return None
    try:
        price = price_book(session.root, online=True).price(deployment.instance_type, session.region)
    except PriceUnavailable:
        return None
    return price.usd_per_hour * deployment.instance_count


def deployment_rows(session: Session, res: Resource) -> list[StatusRow]:
    """Every deployment on the endpoint, the model it serves, its instances and traffic share; the spec's own one
    when it is absent, and which ones apply would delete."""
    from generator.runner.serving import read_serving
    from generator.runner.steps.leftovers import wanted

    serving = read_serving(session.ml, session.endpoint_name)
    spec_deployment = session.experiment.by_kind("online_deployment").name
    if serving is None:
        return [StatusRow("deployment", spec_deployment, "absent (no endpoint)")]
    doomed = serving.leftovers(*wanted(res))
    rows = [] if spec_deployment in serving.deployments else [StatusRow("deployment", spec_deployment, "absent")]
    for name in sorted(serving.deployments):
        note = ("  the spec's deployment" if name == spec_deployment else
                "  leftover: not named by the spec, serves nothing; apply deletes it" if name in doomed else
                "  kept at 0 % by rollout.keep_previous" if not serving.serves(name) else
                "  not named by the spec: apply retires it once the spec's deployment takes its traffic")
        described = serving.describe(name).split(" (", 1)[1].rstrip(")")
        rows.append(StatusRow("deployment", name, described + note))
    return rows


def status_rows(session: Session) -> list[StatusRow]:
    """Every resource of the experiment with its state in the workspace; every deployment on the endpoint."""
    if session.experiment.route == SERVERLESS:
        from generator.runner.serverless_route import status_rows as serverless_rows

        return [StatusRow(*row) for row in serverless_rows(session)]
    context = session.context()
    rows = []
    for res in session.experiment.resources:
        if res.kind == "leftover_deployments":
            rows += deployment_rows(session, res)
            continue
        if res.kind in ACTIONS or res.kind == "online_deployment":
            continue
        current = PLANNERS[res.kind](context, res).current
        state = "absent" if current is None else "present"
        if res.kind == "pipeline_job" and current is not None:
            link = session.target.job_link(current)
            state = f"{job_status(current)}  {link}".rstrip()
        if res.kind == "online_endpoint" and current is not None:
            state = f"{state_of(current)}  scoring URI {current.scoring_uri}  traffic {dict(current.traffic or {})}"
            mirror = {k: v for k, v in dict(getattr(current, "mirror_traffic", None) or {}).items() if int(v)}
            state += f"  mirror {mirror}" if mirror else ""
            try:
                age = endpoint_age(current.tags)
            except TagError as exc:
                state += "\n" + " " * 14 + f"age and expiry unknown: {exc}"
            else:
                if age is not None:
                    state += "\n" + " " * 14 + describe_age(age, endpoint_hourly(session))
        rows.append(StatusRow(res.id, session.endpoint_name if res.kind == "online_endpoint" else res.name, state))
    return rows
