"""A missing optional extra is named with the make target that installs it, before any work and without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TESTS


def run_without(blocked: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run `python -m generator ARGS` as if the packages in `blocked` were not installed."""
    env = {**os.environ, "PYTHONPATH": f"{TESTS / 'support'}{os.pathsep}{REPO}", "BLOCK_MODULES": blocked}
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("blocked, args, group, target", [
    ("matplotlib", ["data", "stats", "specs/local-demo.yaml"], "data extra (requirements-data.txt)", "make data"),
    ("transformers", ["data", "stats", "specs/local-demo.yaml", "--tokenizer", "x"],
     "local extra (requirements-local.txt)", "make demo"),
    ("azure", ["plan", "specs/phi4-ultrachat.yaml", "--subscription", "s", "--resource-group", "r", "--workspace", "w"],
     "core requirements (requirements.txt)", "make render"),
])
def test_a_missing_package_names_its_extra_and_make_target(blocked: str, args: list[str], group: str,
                                                           target: str) -> None:
    result = run_without(blocked, *args)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing printed before the refusal (no table, then a traceback)
    assert result.stderr == (f"error: the {blocked} package is missing: it comes with the {group}. `{target}` "
                             f"installs it into .venv (or run `.venv/bin/pip install -r {group.split('(')[1][:-1]}`); "
                             f"then run the command with .venv/bin/python (this one ran with {sys.executable})\n")


def test_debug_shows_the_import_error_itself() -> None:
    result = run_without("matplotlib", "--debug", "data", "stats", "specs/local-demo.yaml")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ModuleNotFoundError: No module named 'matplotlib'" in result.stderr
