"""The pinned interface of a registry pipeline component, and checks of parameters against it.

azure-ai-ml never fetches a registry component offline, so a misspelt or mistyped input would
only fail in the cloud. We keep each pinned component's interface in `generator/components/`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generator.diagnostics import WARNING, Problem, number_hint
from generator.paths import COMPONENTS_DIR
from generator.source import Located

BOOL_STRING = "bool-string"
FILE_TYPES = frozenset({"uri_file", "uri_folder"})
URI_PREFIXES = ("azureml:", "https://", "http://", "wasbs://", "abfss://")

# Inputs the generator sets from other spec sections; the value says where.
MANAGED_INPUTS: dict[str, str] = {
    "compute_model_import": "compute.name",
    "compute_preprocess": "compute.name",
    "compute_finetune": "compute.name",
    "number_of_gpu_to_use_finetuning": "compute.gpus_per_node (or the known GPU count of compute.size)",
    "mlflow_model_path": "foundation_model",
    "pytorch_model_path": "foundation_model",
    "huggingface_id": "foundation_model",
    "train_file_path": "data.train_split",
    "test_file_path": "data.test_split",
    "validation_file_path": "data",
    "train_mltable_path": "data",
    "validation_mltable_path": "data",
    "test_mltable_path": "data",
}


@dataclass(frozen=True)
class ComponentInput:
    """One input of the component, as published."""

    name: str
    type: str
    default: Any = None
    enum: tuple[str, ...] = ()
    min: float | None = None
    optional: bool = True
    description: str = ""
    unused: str = ""  # declared, but no step of this version reads it: why, with its source


@dataclass(frozen=True)
class ComponentInterface:
    """Name, version, inputs and outputs of one pinned component version."""

    name: str
    version: str
    inputs: Mapping[str, ComponentInput]
    outputs: Mapping[str, str]

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickled by name and version when this is the pinned interface: every spec loaded by a worker
        (generator/workers.py) carries one, and the process that receives them has it loaded already."""
        if load_interface(self.name, self.version) is self:
            return load_interface, (self.name, self.version)
        return super().__reduce_ex__(protocol)

    def default(self, name: str) -> Any:
        """The component's default for input `name` (None when it has none)."""
        return self.inputs[name].default

    def check_parameters(self, params: Mapping[str, Any], located: Located, base: tuple[str, ...]) -> list[Problem]:
        """Check every parameter's name, type, enum and minimum; return the problems."""
        problems = []
        for name, value in params.items():
            path = base + (name,)
            if name in MANAGED_INPUTS:
                problems.append(located.problem(path, f"set by the generator from {MANAGED_INPUTS[name]}; "
                                                      "remove it from finetune.parameters", key=True))
            elif name not in self.inputs:
                problems.append(located.problem(path, self.unknown_message(name), key=True))
            else:
                message = check_value(self.inputs[name], value)
                if message:
                    problems.append(located.problem(path, message))
                elif self.inputs[name].unused:
                    problems.append(located.problem(path, f"{name} has no effect: {self.inputs[name].unused}; "
                                                          "evaluate with the spec's evaluation: section instead "
                                                          "(docs/evaluation.md)", severity=WARNING, key=True))
        return problems

    def unknown_message(self, name: str) -> str:
        """What to say about an input the component does not have, with the closest name when one is near."""
        message = f"{self.name} {self.version} has no input '{name}'"
        close = difflib.get_close_matches(name, [n for n in self.inputs if n not in MANAGED_INPUTS], n=1, cutoff=0.6)
        return message + (f"; did you mean '{close[0]}'?" if close else "; see generator/components/"
                          f"{self.name}-{self.version}.yml for its inputs")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_value(spec: ComponentInput, value: Any) -> str | None:
    """None when `value` fits the input, else what is wrong and how to fix it."""
    if spec.type == BOOL_STRING:
        if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
            return None
        return f"must be true or false, got {value!r}"
    if spec.type == "integer":
        if not _is_int(value):
            return f"must be an integer, got {value!r}{number_hint(value)}"
    elif spec.type == "number":
        if not (_is_int(value) or isinstance(value, float)):
            return f"must be a number, got {value!r}{number_hint(value)}"
    elif spec.type == "string":
        if not (isinstance(value, str) or _is_int(value)):
            return f"must be a string, got {value!r}"
        if spec.enum and str(value) not in spec.enum:
            close = difflib.get_close_matches(str(value), spec.enum, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return f"must be one of {', '.join(spec.enum)}, got {value!r}{hint}"
    elif spec.type in FILE_TYPES:
        if not isinstance(value, str) or not value:
            return f"must be a path to a local file or an azureml:// URI, got {value!r}"
    else:
        return f"input of type {spec.type} cannot be set from finetune.parameters"
    if spec.min is not None and value < spec.min:
        return f"must be at least {spec.min:g}, got {value!r}"
    if spec.type == "number" and spec.name in POSITIVE and not value > 0:
        return f"must be above 0, got {value!r}: {POSITIVE[spec.name]}"
    return None


# Inputs the interface publishes no minimum for, but that a billed job would reject or waste: the fact, with its source.
POSITIVE = {"learning_rate": "the fine-tuning step's optimizer (torch.optim.AdamW) raises 'Invalid learning rate' for "
                             "a negative one, and 0 trains nothing (pytorch/pytorch torch/optim/adamw.py)"}


def literal(spec: ComponentInput, value: Any) -> Any:
    """The value as the component takes it: "true"/"false" for bool-strings, str for string inputs."""
    if spec.type == BOOL_STRING:
        return ("true" if value else "false") if isinstance(value, bool) else value
    if spec.type == "string":
        return str(value)
    return value


def interface_file(name: str, version: str) -> Path:
    """Where the interface of component `name` at `version` is kept."""
    return COMPONENTS_DIR / f"{name}-{version}.yml"


def known_versions(name: str) -> list[str]:
    """Versions of component `name` whose interface is on file."""
    return sorted(p.stem[len(name) + 1:] for p in COMPONENTS_DIR.glob(f"{name}-*.yml"))


@cache
def load_interface(name: str, version: str) -> ComponentInterface | None:
    """The pinned interface of `name` at `version`, or None when none is on file (or the name is no file name)."""
    if not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", part) and ".." not in part for part in (name, version)):
        return None
    path = interface_file(name, version)
    if not path.is_file():
        return None
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    inputs = {
        key: ComponentInput(
            name=key,
            type=item["type"],
            default=item.get("default"),
            enum=tuple(str(v) for v in item.get("enum", ())),
            min=item.get("min"),
            optional=item.get("optional", True),
            description=item.get("description", ""),
            unused=item.get("unused", ""),
        )
        for key, item in raw["inputs"].items()
    }
    outputs = {key: item["type"] for key, item in raw["outputs"].items()}
    return ComponentInterface(raw["name"], str(raw["version"]), inputs, outputs)
