"""Many specs are loaded and rendered on every core (generator/workers.py), with the same results as one by one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from generator import writer
from generator.build import render_project
from generator.errors import InvalidInput
from generator.render import render_spec
from generator.spec import load_specs
from generator.workers import PARALLEL_FROM, map_over_cores
from tests.conftest import EXAMPLE_SPEC


def _pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def test_results_come_back_in_the_order_of_the_items() -> None:
    items = list(range(PARALLEL_FROM * 2))
    results = map_over_cores(_pid_and_square, items)
    assert [square for _, square in results] == [i * i for i in items]
    if (os.cpu_count() or 1) > 1:
        assert os.getpid() not in {pid for pid, _ in results}  # computed in worker processes
    few = map_over_cores(_pid_and_square, items[:3])
    assert {pid for pid, _ in few} == {os.getpid()}  # a few items are not worth a process


def _project(root: Path, count: int) -> None:
    (root / "specs").mkdir()
    text = EXAMPLE_SPEC.read_text(encoding="utf-8")
    for i in range(count):
        (root / "specs" / f"exp-{i:03d}.yaml").write_text(
            text.replace("name: phi4-ultrachat\n", f"name: exp-{i:03d}\n")
            .replace("name: ultrachat-completion ", f"name: exp-{i:03d}-ep ")
            .replace("name: Phi-4-ultrachat-200k\n", f"name: Phi-4-exp-{i:03d}\n"), encoding="utf-8")


def test_many_specs_load_and_render_as_one_does(tmp_path: Path) -> None:
    _project(tmp_path, PARALLEL_FROM)
    specs, _ = load_specs(tmp_path, sorted((tmp_path / "specs").glob("*.yaml")), check_data=False)
    assert [spec.experiment for spec in specs] == [f"exp-{i:03d}" for i in range(PARALLEL_FROM)]
    rendered = map_over_cores(render_spec, specs)
    assert rendered[7] == render_spec(specs[7]) and rendered[-1] == render_spec(specs[-1])


def test_an_invalid_spec_among_many_is_reported_from_its_worker(tmp_path: Path) -> None:
    _project(tmp_path, PARALLEL_FROM)
    broken = tmp_path / "specs" / "exp-042.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("  run: 1 ", "  run: -1 "), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        load_specs(tmp_path, sorted((tmp_path / "specs").glob("*.yaml")), check_data=False)
    errors = [p for p in refused.value.problems if p.severity == "error"]
    assert [(p.file, p.path) for p in errors] == [("specs/exp-042.yaml", "experiment.run")]


def _render(root: Path) -> tuple[list, list[writer.Change]]:
    return render_project(root, sorted((root / "specs").glob("*.yaml")), all_specs=True, on_loaded=lambda _: None)


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file()}


def test_many_experiments_are_staged_by_the_workers_and_written_as_one_by_one(tmp_path: Path) -> None:
    _project(tmp_path, PARALLEL_FROM)
    specs, changes = _render(tmp_path)
    assert len(specs) == PARALLEL_FROM and {c.status for c in changes} == {"created"}
    for spec in (specs[0], specs[42], specs[-1]):
        assert _tree(tmp_path / "generated" / spec.experiment) == render_spec(spec)
    assert not list((tmp_path / "generated").glob(".*"))  # no temp folder left
    _, again = _render(tmp_path)
    assert len(again) == len(changes) and {c.status for c in again} == {"unchanged"}


def test_an_invalid_spec_among_many_leaves_generated_as_it_was(tmp_path: Path) -> None:
    _project(tmp_path, PARALLEL_FROM)
    _render(tmp_path)
    before = _tree(tmp_path / "generated")
    for i in range(PARALLEL_FROM):  # every experiment would change, and their workers stage the change
        spec = tmp_path / "specs" / f"exp-{i:03d}.yaml"
        spec.write_text(spec.read_text(encoding="utf-8").replace("run: 1 ", "run: 2 "), encoding="utf-8")
    shared = tmp_path / "specs" / "exp-077.yaml"  # an error only the check across experiments sees
    shared.write_text(shared.read_text(encoding="utf-8").replace("name: exp-077-ep ", "name: exp-012-ep "),
                      encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        _render(tmp_path)
    assert [p.path for p in refused.value.problems if p.severity == "error"] == ["endpoint.name"]
    assert _tree(tmp_path / "generated") == before  # nothing written, no temp folder left
    assert not list((tmp_path / "generated").glob(".*"))


def test_a_folder_that_cannot_be_written_is_named_after_the_others_are(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, PARALLEL_FROM)
    real_stage = writer.stage

    def disk_full_for_one(folder: Path, files: dict[str, str]) -> tuple[list[writer.Change], Path | None]:
        if folder.name == "exp-042":  # the workers are forked from this process: they see this stand-in too
            raise writer.WriteError("cannot write generated/exp-042: No space left on device; the folder is unchanged")
        return real_stage(folder, files)

    monkeypatch.setattr(writer, "stage", disk_full_for_one)
    with pytest.raises(writer.WriteError) as failed:
        _render(tmp_path)
    assert str(failed.value).splitlines() == [
        "cannot write generated/exp-042: No space left on device; the folder is unchanged"]
    written = sorted(p.name for p in (tmp_path / "generated").iterdir())
    assert written == [f"exp-{i:03d}" for i in range(PARALLEL_FROM) if i != 42]  # and no temp folder
    assert len(failed.value.changes) == len(_tree(tmp_path / "generated" / "exp-000")) * (PARALLEL_FROM - 1)
    assert all(change.status == "created" for change in failed.value.changes)
