"""Every kind of resource a manifest may hold has a runner step: plan can say what apply will do with it."""

from generator.runner.steps.registry import APPLIERS, PLANNERS
from generator.validate import _KINDS


def test_every_manifest_kind_has_a_planner_and_an_applier() -> None:
    assert sorted(_KINDS - PLANNERS.keys()) == [] and sorted(_KINDS - APPLIERS.keys()) == []
    assert PLANNERS.keys() == APPLIERS.keys() == _KINDS
