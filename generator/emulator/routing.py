"""How the workspace splits an endpoint's scoring requests between its deployments, deterministically.

Azure's rules (MicrosoftDocs/azure-ai-docs how-to-safely-rollout-online-endpoints.md @96b17518): live traffic
is split by the endpoint's `traffic` shares; a request naming a deployment in the `azureml-model-deployment`
header goes only to it and is not mirrored; `mirrorTraffic` copies a share of the other requests to one
deployment, whose answers are dropped. Azure does not say how it picks a deployment for one request; here it
is a smooth weighted round-robin (nginx's), so over any 100 requests the counts match the shares exactly and
tests can count them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class _Split:
    shares: tuple[tuple[str, int], ...]
    credit: dict[str, int] = field(default_factory=dict)
    mirror: tuple[str, int] | None = None
    sent: int = 0  # live requests routed since the shares last changed (for the mirror's share)


class Router:
    """Picks the deployment of each live request, and whether a copy goes to the mirror."""

    def __init__(self) -> None:
        self._splits: dict[str, _Split] = {}
        self._lock = threading.Lock()

    def route(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> tuple[str | None, str | None]:
        """(the deployment that answers, the deployment that gets a copy or None) for the next live request."""
        shares = tuple(sorted((name, int(share)) for name, share in traffic.items() if int(share) > 0))
        mirrored = next(((name, int(share)) for name, share in sorted(mirror.items()) if int(share) > 0), None)
        with self._lock:
            split = self._splits.get(endpoint)
            if split is None or split.shares != shares or split.mirror != mirrored:
                split = self._splits[endpoint] = _Split(shares, {name: 0 for name, _ in shares}, mirrored)
            if not shares:
                return None, None
            total = sum(share for _, share in shares)
            for name, share in shares:
                split.credit[name] += share
            chosen = max(shares, key=lambda item: (split.credit[item[0]], -shares.index(item)))[0]
            split.credit[chosen] -= total
            copy = None
            if mirrored is not None and (split.sent + 1) * mirrored[1] // 100 > split.sent * mirrored[1] // 100:
                copy = mirrored[0]
            split.sent += 1
            return chosen, copy
