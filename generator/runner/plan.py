"""The plan as a value: what apply would do to each resource, its summary line and its exit code.

Plan prints it; apply shows it and asks before it starts anything that costs money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.runner.manifest import Resource

CHANGING = {"create", "update", "repair"}
# Kinds whose creation or update starts something Azure bills by the hour.
BILLED = {"compute", "pipeline_job", "online_endpoint", "online_deployment"}
EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


@dataclass(frozen=True)
class ResourcePlan:
    """One resource: the action apply would take, and the name it has in the workspace."""

    resource: Resource
    action: Any
    name: str

    def lines(self) -> list[str]:
        """The resource's line and its detail lines, as plan prints them."""
        return [f"{self.action.verb:<9} {self.resource.id:<13} {self.name}"] + [f"{'':10}{d}" for d in
                                                                               self.action.details]


@dataclass(frozen=True)
class Plan:
    """Every resource's plan, in the manifest's order."""

    rows: list[ResourcePlan]
    notes: tuple[str, ...] = ()  # what will not fail but may surprise: points queueing for nodes

    def count(self, *verbs: str) -> int:
        """How many resources would get one of `verbs`."""
        return sum(1 for row in self.rows if row.action.verb in verbs)

    @property
    def refused(self) -> list[ResourcePlan]:
        """The resources apply would refuse to touch."""
        return [row for row in self.rows if row.action.verb == "refuse"]

    @property
    def changes(self) -> bool:
        """Whether apply would create, update or repair anything."""
        return self.count(*CHANGING) > 0

    @property
    def billed(self) -> list[ResourcePlan]:
        """The changes that start something billed (compute, training, endpoint, deployment)."""
        return [row for row in self.rows if row.action.verb in CHANGING | {"attach"} and row.resource.kind in BILLED]

    def summary(self) -> str:
        """`Plan: 2 to create, 1 to update, 0 unchanged, 1 refused` (repairs count as updates)."""
        return (f"Plan: {self.count('create')} to create, {self.count('update', 'repair')} to update, "
                f"{self.count('unchanged', 'attach')} unchanged, {self.count('refuse')} refused")

    def exit_code(self, detailed: bool) -> int:
        """1 when anything is refused; with `detailed`, 0 for no changes and 2 for changes (as terraform)."""
        if self.refused:
            return EXIT_ERROR
        if detailed:
            return EXIT_CHANGES if self.changes else EXIT_NO_CHANGES
        return EXIT_NO_CHANGES
