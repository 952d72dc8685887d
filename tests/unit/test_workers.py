"""Many specs are loaded and rendered on every core (generator/workers.py), with the same results as one by one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from generator import writer
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


def test_many_folders_are_written_by_the_workers_and_a_failed_one_is_named(tmp_path: Path) -> None:
    files = {"a.yml": "a: 1\n", "b.yml": "b: 2\n"}
    (tmp_path / "not-a-folder").write_text("a file where a parent folder should be", encoding="utf-8")
    jobs = [(tmp_path / "generated" / f"exp-{i:03d}", files) for i in range(PARALLEL_FROM)]
    jobs.insert(42, (tmp_path / "not-a-folder" / "exp-bad", files))
    with pytest.raises(writer.WriteError) as failed:
        writer.write_experiments(jobs)
    assert "not-a-folder" in str(failed.value) and len(str(failed.value).splitlines()) == 1
    assert len(failed.value.changes) == 2 * PARALLEL_FROM  # every other folder was written, and reported
    assert all(change.status == "created" for change in failed.value.changes)
    for folder, _ in jobs[:42] + jobs[43:]:
        assert {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()} == files
    assert not list((tmp_path / "generated").glob(".*"))  # no staging folder left
    again = writer.write_experiments(jobs[:42] + jobs[43:])  # the same files again: nothing to do
    assert len(again) == 2 * PARALLEL_FROM and all(change.status == "unchanged" for change in again)
