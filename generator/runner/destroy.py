"""Destroy: delete the experiment's endpoint (and its deployments), the compute when asked, or expired endpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.runner.cost import EndpointAge, TagError, endpoint_age
from generator.runner.steps.common import not_found, wait_poller

if TYPE_CHECKING:
    from generator.runner.session import Session


@dataclass(frozen=True)
class Doomed:
    """What a destroy would delete: names with what they are."""

    endpoint: str
    compute: str | None

    def describe(self) -> str:
        """`endpoint X and its deployments and compute Y`."""
        what = [f"endpoint {self.endpoint} and its deployments"] + ([f"compute {self.compute}"] if self.compute else [])
        return " and ".join(what)


def doomed(session: Session, with_compute: bool, spec: str | None = None) -> Doomed:
    """What `destroy` deletes for the session's experiment; --compute is refused for a compute another spec uses
    (sharing a cluster with the same settings is allowed, and deleting it would stop that experiment)."""
    compute = session.experiment.by_kind("compute").name if with_compute else None
    if compute and spec is not None:
        from generator.errors import UsageError
        from generator.runner.session import others_naming

        shared = others_naming(session.root, spec, "compute", compute)
        if shared:
            raise UsageError(f"compute {compute} is also used by {', '.join(shared)}: destroy --compute would stop "
                             "that experiment's training; nothing was deleted. Drop --compute, or delete the compute "
                             f"by name (`az ml compute delete -n {compute}`) once no experiment needs it")
    return Doomed(session.endpoint_name, compute)


def destroy(session: Session, what: Doomed, say: Callable[[str], None]) -> None:
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


@dataclass
class Expiry:
    """What `destroy --expired` found among the workspace's endpoints."""

    expired: list[tuple[str, EndpointAge]]
    unreadable: list[tuple[str, str]]  # (endpoint, why its tags cannot be read): reported, never deleted
    total: int


def expired_endpoints(session: Session) -> Expiry:
    """The workspace's endpoints whose expiry has passed (only endpoints this tool tagged), those whose tags are
    ours but cannot be read (skipped: one odd tag never stops the clean-up of the others), and how many it has."""
    found = Expiry([], [], 0)
    for endpoint in session.ml.online_endpoints.list():
        found.total += 1
        try:
            age = endpoint_age(endpoint.tags)
        except TagError as exc:
            found.unreadable.append((endpoint.name, str(exc)))
            continue
        if age is not None and age.expired:
            found.expired.append((endpoint.name, age))
    return found


def delete_endpoints(session: Session, names: list[str], say: Callable[[str], None]) -> int:
    """Delete each endpoint and wait for it; one that fails is said and the others still go. How many were
    deleted; RunnerError (naming the failures) after trying them all when any failed."""
    from generator.runner.explain import RunnerError, explain

    context = session.context()
    failed = []
    for name in names:
        try:
            wait_poller(context, "destroy", session.ml.online_endpoints.begin_delete(name=name),
                        f"delete endpoint {name}")
        except Exception as exc:  # the SDK's and the service's errors alike: the next endpoint still goes
            failed.append(f"{name} ({explain(exc)})")
            say(f"[destroy] endpoint {name} was not deleted: {explain(exc)}")
    if failed:
        raise RunnerError(f"deleted {len(names) - len(failed)} of {len(names)} expired endpoint(s); not deleted: "
                          f"{', '.join(failed)}: run destroy --expired again")
    return len(names)
