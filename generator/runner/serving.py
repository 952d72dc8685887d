"""What an endpoint serves: its deployments (the model each serves, its instances), live and mirrored traffic.

Read once by plan (the leftovers step, a snapshot of what served before apply), again at apply's end (what serves
now and what still bills) and by `status`. Which deployments the spec still wants is one rule, `leftovers`: the
spec's own deployment, any deployment that serves live or mirrored traffic (the `traffic` or `rollout` step retires
it once the spec's deployment has taken its traffic), and, with `rollout.keep_previous`, the one the last rollout
kept at 0 % (named in the endpoint's tag PREVIOUS_TAG, set in the same update that moves the last of the traffic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PREVIOUS_TAG = "azml-gen.previous-deployment"  # endpoint tag: the deployment a rollout kept at 0 % (keep_previous)


def model_ref(value: Any) -> str:
    """`name:version` of a deployment's model, whether the SDK gives an ARM id, `azureml:name:version` or an object."""
    text = str(getattr(value, "id", value) or "")
    if "/models/" in text:
        parts = text.rstrip("/").split("/")
        return f"{parts[parts.index('models') + 1]}:{parts[-1]}"
    return text.removeprefix("azureml:")


def _shares(mapping: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (mapping or {}).items()}


@dataclass(frozen=True)
class Deployed:
    """One deployment on the endpoint: the model it serves, its instances and its provisioning state."""

    name: str
    model: str
    instance_type: str
    instance_count: int
    state: str

    def plain(self) -> dict[str, Any]:
        """As a plan records it."""
        return {"model": self.model, "instance_type": self.instance_type, "instance_count": self.instance_count,
                "state": self.state}


@dataclass(frozen=True)
class Serving:
    """An endpoint's deployments and traffic (live and mirrored shares, zeros dropped) and the deployment its last
    rollout kept."""

    deployments: dict[str, Deployed] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    previous: str | None = None

    def serves(self, name: str) -> bool:
        """Whether `name` gets live or mirrored traffic."""
        return self.live.get(name, 0) > 0 or self.mirror.get(name, 0) > 0

    def plain(self) -> dict[str, Any]:
        """As a plan records it (`observed`)."""
        return {"deployments": {n: d.plain() for n, d in sorted(self.deployments.items())}, "traffic": self.live,
                "mirror_traffic": self.mirror, "previous": self.previous}

    def leftovers(self, keep: list[str], keep_previous: bool) -> list[str]:
        """The deployments the spec does not want: not in `keep`, serving no traffic, and not the one the last rollout
        kept (when `keep_previous`)."""
        kept = set(keep) | ({self.previous} if keep_previous and self.previous else set())
        return sorted(n for n in self.deployments if n not in kept and not self.serves(n))

    def describe(self, name: str) -> str:
        """`demo-v1 (Phi-4-ultrachat-200k:1, 1 x Standard_NC24ads_A100_v4, live 100 %)`."""
        deployed = self.deployments.get(name)
        if deployed is None:
            return f"{name} (absent)"
        share = f"live {self.live.get(name, 0)} %" + (f", mirror {self.mirror[name]} %" if self.mirror.get(name)
                                                      else "")
        state = "" if deployed.state.lower() in ("", "succeeded") else f", {deployed.state}"
        return f"{name} ({deployed.model}, {deployed.instance_count} x {deployed.instance_type}, {share}{state})"

    def serving_text(self) -> str:
        """Who serves live traffic: `demo serves Phi-4-ultrachat-200k:1 with 100 % of live traffic`, or none."""
        serving = [f"{n} serves {self.deployments[n].model if n in self.deployments else '?'} with {share} %"
                   for n, share in sorted(self.live.items()) if share > 0]
        mirrored = [f"{n} gets {share} % mirrored" for n, share in sorted(self.mirror.items()) if share > 0]
        return "; ".join(serving + mirrored) or "no deployment serves live traffic"


def read_serving(ml: Any, endpoint_name: str) -> Serving | None:
    """The endpoint's deployments and traffic (None when the endpoint does not exist)."""
    from generator.runner.steps.common import not_found, state_of

    endpoint = not_found(lambda: ml.online_endpoints.get(endpoint_name))
    if endpoint is None:
        return None
    deployments = {}
    for item in ml.online_deployments.list(endpoint_name):
        deployments[str(item.name)] = Deployed(str(item.name), model_ref(item.model), str(item.instance_type or ""),
                                               int(item.instance_count or 0), state_of(item))
    live = {k: v for k, v in _shares(getattr(endpoint, "traffic", None)).items() if v > 0}
    mirror = {k: v for k, v in _shares(getattr(endpoint, "mirror_traffic", None)).items() if v > 0}
    return Serving(deployments, live, mirror, (endpoint.tags or {}).get(PREVIOUS_TAG))


def from_plain(observed: Any) -> Serving | None:
    """A Serving from what a plan recorded (None when the endpoint did not exist)."""
    if not isinstance(observed, dict) or "deployments" not in observed:
        return None
    deployments = {n: Deployed(n, **d) for n, d in observed["deployments"].items()}
    return Serving(deployments, dict(observed["traffic"]), dict(observed["mirror_traffic"]), observed.get("previous"))
