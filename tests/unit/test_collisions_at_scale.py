"""Shared names across many specs: found through an index (linear), reported once per shared name (issue 19)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import generator.spec
from generator.spec import collisions, load_spec
from tests.conftest import REPO

EXAMPLE = REPO / "specs" / "phi4-ultrachat.yaml"


def _copies(root: Path, count: int) -> list[Path]:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    text = EXAMPLE.read_text(encoding="utf-8")
    paths = []
    for i in range(count):
        path = root / "specs" / f"copy-{i:04d}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def test_a_thousand_copies_give_one_line_per_shared_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(_copies(tmp_path, 1)[0], tmp_path)
    specs = [dataclasses.replace(spec, file=f"specs/copy-{i:04d}.yaml") for i in range(1000)]
    looked_up = []  # every read of a name from a spec: linear means a few per spec and shared name, not per pair
    value = generator.spec._value
    monkeypatch.setattr(generator.spec, "_value", lambda *args: looked_up.append(1) or value(*args))
    problems = collisions(specs[:500], specs[500:])
    assert len(looked_up) <= len(generator.spec.SHARED_NAMES) * (len(specs) + 10)
    assert [p.path for p in problems] == ["experiment.name", "endpoint.name", "registered_model.name"]
    assert all(p.file == "specs/copy-0000.yaml" and "is also used by specs/copy-0001.yaml:" in p.message
               and "(and 996 more)" in p.message for p in problems)


def test_names_differing_only_in_case_collide_and_each_group_is_reported_once(tmp_path: Path) -> None:
    paths = _copies(tmp_path, 3)
    paths[1].write_text(paths[1].read_text().replace("name: ultrachat-completion ", "name: UltraChat-Completion "))
    specs = [load_spec(path, tmp_path) for path in paths]
    problems = collisions(specs, [])
    endpoint = [p for p in problems if p.path == "endpoint.name"]
    assert len(endpoint) == 1 and endpoint[0].file == "specs/copy-0000.yaml"
    assert "is also used by specs/copy-0001.yaml:74, specs/copy-0002.yaml:74: each experiment" in endpoint[0].message


@pytest.mark.slow
def test_render_of_many_copies_prints_one_line_per_shared_name_and_writes_nothing(tmp_path: Path, cli) -> None:
    _copies(tmp_path, 120)  # 100 or more are loaded on every core (generator/build.py)
    result = cli("render", root=tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(" is also used by ")[0] for line in lines[:-1]] == [
        "specs/copy-0000.yaml:16:9: experiment.name: experiment 'phi4-ultrachat'",
        "specs/copy-0000.yaml:61:9: registered_model.name: registered model 'Phi-4-ultrachat-200k'",
        "specs/copy-0000.yaml:74:9: endpoint.name: endpoint 'ultrachat-completion'"], result.stderr
    assert all("specs/copy-0003.yaml" in line and "(and 116 more)" in line for line in lines[:-1])
    assert lines[-1] == "3 error(s) in 1 spec file(s); nothing was written"
    assert not (tmp_path / "generated").exists()
