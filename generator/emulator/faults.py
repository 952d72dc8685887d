"""What a test (or a benchmark) makes the emulated service do beyond answering: latency, 429/503 faults, refusals,
failed operations, and operations held until a test opens their gate.

A separate type from the workspace's settings (generator/emulator/settings.py): the local target's daemon injects
none. The routes read it; which jobs fail and how long they run is the gated backend's (tests/emulator/gated.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Latency:
    """Seconds each long-running thing takes in the emulator."""

    compute: float = 0.0
    endpoint: float = 0.0
    deployment: float = 0.0
    job_queued: float = 0.0
    job_running: float = 0.0


@dataclass
class Faults:
    """Faults to inject, latency, failures, refusals, and the gates that hold operations."""

    latency: Latency = field(default_factory=Latency)
    fault_rate: float = 0.0  # share of requests answered 429 or 503 (Retry-After: 0)
    fault_seed: int = 1
    failing_jobs: set[str] = field(default_factory=set)
    taken_endpoint_names: set[str] = field(default_factory=set)
    # Where a taken name surfaces: "request" (the PUT is refused) or "operation" (the PUT is accepted and
    # the long-running operation fails). Public material records the message, not which of the two.
    endpoint_conflict_in: str = "request"
    failing_endpoints: set[str] = field(default_factory=set)  # create operation ends Failed (online or serverless)
    failing_deployments: set[str] = field(default_factory=set)
    failing_scoring: set[str] = field(default_factory=set)  # deployments whose scoring answers 500 (a bad model)
    # jobs whose first submission is stored but answered 500, as a connection lost after the service accepted it:
    # the client's retry then finds the job there
    lost_job_answers: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)  # "usages", "vmSizes": answer 403 as to a reader without rights
    # (status, body) the emulated endpoint answers every scoring request with, as a model that refuses would.
    scoring_answer: tuple[int, Any] | None = None
    # The next N chat completions of any serverless endpoint are answered 429 TooManyRequests (Retry-After: 0), as an
    # endpoint past its rate limit would (each deployment: 200,000 tokens and 1,000 requests per minute).
    chat_throttled: int = 0
    # Gates a test opens: "job:<name>" keeps a job Running, "endpoint:<name>", "deployment:<name>", "compute:<name>",
    # "serverless:<name>" (a serverless endpoint) and "subscription:<name>" (a marketplace subscription) keep the
    # create operation InProgress, until set.
    gates: dict[str, threading.Event] = field(default_factory=dict)

    def held(self, kind: str, name: str) -> bool:
        """Whether a gate holds `name` of `kind` (job, endpoint, deployment, compute, serverless, subscription): there
        is one, not yet open."""
        gate = self.gates.get(f"{kind}:{name}")
        return gate is not None and not gate.is_set()
