"""Destroy: delete the experiment's endpoint (and its deployments), the compute when asked, or expired endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from generator.runner.cost import EndpointAge, endpoint_age
from generator.runner.steps.common import not_found, wait_poller


@dataclass(frozen=True)
class Doomed:
    """What a destroy would delete: names with what they are."""

    endpoint: str
    compute: str | None

    def describe(self) -> str:
        """`endpoint X and its deployments and compute Y`."""
        what = [f"endpoint {self.endpoint} and its deployments"] + ([f"compute {self.compute}"] if self.compute else [])
        return " and ".join(what)


def doomed(session: Any, with_compute: bool) -> Doomed:
    """What `destroy` deletes for the session's experiment."""
    return Doomed(session.endpoint_name, session.experiment.by_kind("compute").name if with_compute else None)


def destroy(session: Any, what: Doomed, say: Callable[[str], None]) -> None:
    """Delete what exists of `what`, saying what did not exist; registered models and data stay."""
    context = session.context()
    if not_found(lambda: session.ml.online_endpoints.get(what.endpoint)) is not None:
        wait_poller(context, "destroy", session.ml.online_endpoints.begin_delete(name=what.endpoint),
                    f"delete endpoint {what.endpoint}")
    else:
        say(f"[destroy] endpoint {what.endpoint} does not exist; nothing to delete")
    if what.compute:
        if not_found(lambda: session.ml.compute.get(what.compute)) is not None:
            wait_poller(context, "destroy", session.ml.compute.begin_delete(what.compute),
                        f"delete compute {what.compute}")
        else:
            say(f"[destroy] compute {what.compute} does not exist; nothing to delete")


def expired_endpoints(session: Any) -> tuple[list[tuple[str, EndpointAge]], int]:
    """The workspace's endpoints whose expiry has passed (only endpoints this tool tagged), and how many it has."""
    endpoints = list(session.ml.online_endpoints.list())
    found = [(endpoint.name, age) for endpoint in endpoints
             if (age := endpoint_age(endpoint.tags)) is not None and age.expired]
    return found, len(endpoints)


def delete_endpoints(session: Any, names: list[str]) -> None:
    """Delete each endpoint and wait for it."""
    context = session.context()
    for name in names:
        wait_poller(context, "destroy", session.ml.online_endpoints.begin_delete(name=name), f"delete endpoint {name}")
