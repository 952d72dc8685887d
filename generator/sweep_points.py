"""Sweeps: one pipeline job per point of a grid over finetune parameters; the best is registered and deployed.

Azure ML sweep jobs do not take pipeline components as trials (Azure/azure-cli#30929), so each point is a
pipeline job of its own, with a deterministic name derived from the experiment, the run and the point's
values: adding a value to a list adds points and never renames the others.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from generator import naming
from generator.catalog import ModelFacts
from generator.catalog.defaults import range_findings
from generator.component import FILE_TYPES, MANAGED_INPUTS, ComponentInterface, check_value
from generator.diagnostics import WARNING, Problem
from generator.rules import JOB_NAME
from generator.source import Located

# A tool limit, not Azure's: every point is a billed pipeline job and a generated file to review.
MAX_POINTS = 100
LOSSES = {"eval_loss", "train_loss"}


@dataclass(frozen=True)
class Point:
    """One combination of swept values, in the order the spec lists the parameters."""

    values: tuple[tuple[str, Any], ...]

    @property
    def params(self) -> dict[str, Any]:
        """The swept parameters of this point."""
        return dict(self.values)

    @property
    def slug(self) -> str:
        """`learning_rate5e-05-num_train_epochs1`: readable, and valid in job, file and resource names."""
        return "-".join(f"{name}{value_slug(value)}" for name, value in self.values)

    def describe(self) -> str:
        """`learning_rate=5e-05, num_train_epochs=1`, for tags and messages."""
        return ", ".join(f"{name}={value_text(value)}" for name, value in self.values)


def value_text(value: Any) -> str:
    """A swept value as people read it: true/false, 5e-05, 3, cosine."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def value_slug(value: Any) -> str:
    """A swept value as part of a name: `.` becomes `p` (0.05 -> 0p05), anything outside [A-Za-z0-9_-] a `-`."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", value_text(value).replace("+", "").replace(".", "p"))


def section(data: dict[str, Any]) -> dict[str, Any] | None:
    """The spec's sweep section, or None for a single run."""
    return data.get("sweep")


def points(data: dict[str, Any]) -> list[Point]:
    """Every point of the grid, in order (the first parameter varies slowest); empty without a sweep."""
    sweep = section(data)
    if not sweep:
        return []
    names = list(sweep["parameters"])
    combos = itertools.product(*(sweep["parameters"][n] for n in names))
    return [Point(tuple(zip(names, combo, strict=True))) for combo in combos]


def at_point(data: dict[str, Any], point: Point) -> dict[str, Any]:
    """The spec's data as the single job of `point` sees it: the point's values replace finetune.parameters'."""
    result = copy.deepcopy(data)
    result["finetune"]["parameters"] = {**result["finetune"]["parameters"], **point.params}
    return result


def _unlogged_metric(metric: str, swept: dict[str, Any], base: dict[str, Any], located: Located) -> list[Problem]:
    """eval_loss is logged only when the fine-tuning step evaluates: a point with evaluation_strategy "disable"
    (the component's enum: epoch, steps, disable) logs none, so the sweep could never be judged by it."""
    if metric != "eval_loss":
        return []
    values = swept.get("evaluation_strategy") or [base.get("evaluation_strategy")]
    if "disable" not in values:
        return []
    where = ("sweep", "parameters", "evaluation_strategy") if "evaluation_strategy" in swept else \
        ("finetune", "parameters", "evaluation_strategy")
    return [located.problem(where, "evaluation_strategy disable logs no eval_loss, and sweep.select.metric is "
                                   "eval_loss: evaluate (epoch or steps), or select by train_loss")]


def check_sweep(data: dict[str, Any], located: Located, interface: ComponentInterface,
                facts: ModelFacts | None) -> list[Problem]:
    """Every problem of the sweep section: each name and value checked as finetune.parameters are, each point's
    parameters checked against the model's recommended ranges, the point's job name, the grid's size, and the
    selection goal."""
    sweep = section(data)
    if not sweep:
        return []
    problems = list(_names_and_values(sweep["parameters"], data["finetune"]["parameters"], located, interface))
    if facts is not None:
        problems += _ranges(sweep["parameters"], data["finetune"]["parameters"], located, facts)
    select = sweep["select"]
    if select["metric"] in LOSSES and select["goal"] != "minimize":
        problems.append(located.problem(("sweep", "select", "goal"), f"{select['metric']} is a loss: lower is "
                                                                     "better, so the goal is minimize"))
    problems += _unlogged_metric(select["metric"], sweep["parameters"], data["finetune"]["parameters"], located)
    if any(p.severity != WARNING for p in problems):
        return problems
    grid = points(data)
    if len(grid) > MAX_POINTS:
        return problems + [located.problem(("sweep", "parameters"), f"{len(grid)} points: at most {MAX_POINTS} (a "
                                                                    "limit of this tool: each point is a billed job "
                                                                    "and a file to review)")]
    seen: dict[str, Point] = {}
    for point in grid:
        if point.slug in seen:
            problems.append(located.problem(("sweep", "parameters"), f"points {seen[point.slug].describe()} and "
                                                                     f"{point.describe()} get the same name "
                                                                     f"{point.slug!r}: use values that differ in "
                                                                     "letters or digits"))
        seen[point.slug] = point
        if not JOB_NAME.fullmatch(naming.job_name(data, point.slug)):
            problems.append(located.problem(("sweep", "parameters"), f"the job name of point {point.describe()} is "
                                                                     "not a valid Azure ML job name (letters, digits, "
                                                                     "'_' and '-', at most 255 characters)"))
    return problems


def _names_and_values(swept: dict[str, list[Any]], base: dict[str, Any], located: Located,
                      interface: ComponentInterface) -> Iterable[Problem]:
    for name, values in swept.items():
        path = ("sweep", "parameters", name)
        if name in MANAGED_INPUTS:
            yield located.problem(path, f"set by the generator from {MANAGED_INPUTS[name]}; it cannot be swept",
                                  key=True)
            continue
        if name not in interface.inputs:
            yield located.problem(path, interface.unknown_message(name), key=True)
            continue
        if interface.inputs[name].type in FILE_TYPES:
            yield located.problem(path, "a file input cannot be swept (each point trains on the experiment's data)",
                                  key=True)
            continue
        for index, value in enumerate(values):
            message = check_value(interface.inputs[name], value)
            if message:
                yield located.problem(path + (index,), message)
        if name in base:
            yield located.problem(("finetune", "parameters", name), f"replaced in every point by "
                                                                    f"sweep.parameters.{name}",
                                  severity=WARNING)


def _ranges(swept: dict[str, list[Any]], base: dict[str, Any], located: Located, facts: ModelFacts) -> list[Problem]:
    """The model's recommended ranges, checked for each swept value (a warning, as for finetune.parameters)."""
    problems = []
    for name, values in swept.items():
        for index, value in enumerate(values):
            if name != "learning_rate" or isinstance(value, (bool, str)):
                continue  # the model publishes a range for the learning rate only (RANGE_KEYS)
            for finding in range_findings(facts, {**base, name: value}):
                if finding.field[-1] == name:
                    problems.append(located.problem(("sweep", "parameters", name, index), finding.message,
                                                    severity=finding.severity))
    return problems


def queueing(data: dict[str, Any]) -> str | None:
    """Why points would wait for nodes even within max_concurrent, or None: each point's fine-tune step takes
    num_nodes_finetune nodes of the compute, which has max_instances."""
    sweep = section(data)
    if not sweep:
        return None
    grid = points(data)
    running = min(sweep["max_concurrent"], len(grid))
    nodes = sorted((int(at_point(data, p)["finetune"]["parameters"].get("num_nodes_finetune", 1)) for p in grid),
                   reverse=True)[:running]
    needed, have = sum(nodes), int(data["compute"]["max_instances"])
    if needed <= have:
        return None
    return (f"sweep: {running} points at a time need {needed} node(s) of compute {data['compute']['name']}, which "
            f"has max_instances {have}: points will queue behind each other (raise compute.max_instances or lower "
            "sweep.max_concurrent)")
