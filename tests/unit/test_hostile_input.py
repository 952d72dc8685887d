"""Hostile or careless specs: every input ends in exit 0 or 2 with located messages, never a traceback or a hang."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.errors import InvalidInput
from generator.spec import load_spec
from tests.conftest import REPO

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                         max_leaves=30)
SECTIONS = st.fixed_dictionaries({}, optional={key: DOCUMENTS for key in (
    "experiment", "foundation_model", "compute", "data", "finetune", "registered_model", "endpoint", "deployment",
    "smoke_test")})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(DOCUMENTS, SECTIONS))
def test_any_yaml_document_is_valid_or_reported(document: object, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("spec")
    path = root / "specs" / "x.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        load_spec(path, root)
    except InvalidInput as exc:
        assert exc.problems and all(p.file == "specs/x.yaml" for p in exc.problems)


MEMORY_CAP = 768 * 2**20  # address space of the render process: an expansion of the document would exceed it


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _render_alone(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`render` in its own process with its memory capped: bounded memory is a refusal, not a MemoryError."""
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "x.yaml").write_text(text)
    return subprocess.run([sys.executable, "-m", "generator", "render", "--root", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, preexec_fn=_cap_memory)


def test_nested_aliases_are_refused_not_expanded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]  # 9^12 values
    done = _render_alone(tmp_path, "\n".join(lines) + "\n")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert ("specs/x.yaml:1:13: the document expands to more than 100000 values (nested YAML aliases?)"
            in done.stderr)


@pytest.mark.slow
def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    done = _render_alone(tmp_path, "x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "specs/x.yaml: values are nested more than 50 levels deep" in done.stderr
