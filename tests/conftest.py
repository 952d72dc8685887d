"""Shared fixtures: a throw-away project root and an in-process CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SPEC = REPO / "specs" / "phi4-ultrachat.yaml"
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root holding a copy of the example spec (and nothing generated yet)."""
    (tmp_path / "specs").mkdir()
    shutil.copy(EXAMPLE_SPEC, tmp_path / "specs" / EXAMPLE_SPEC.name)
    return tmp_path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process with `--root` appended; returns click's Result (stdout, stderr, exit_code)."""
    def run(*args: str, root: Path) -> Result:
        monkeypatch.chdir(root)
        return CliRunner().invoke(main, [*args, "--root", str(root)], catch_exceptions=False)
    return run


def write_held_out(data: Path) -> None:
    """Keep in data/test_sft.jsonl only the conversations whose prompt opens no training conversation."""
    from generator.data.evaluation_split import evaluated, prompt_key, training_openings

    openings = training_openings(data / "train_sft.jsonl")
    kept = {line for line, prompt in evaluated(data / "test_sft.jsonl", 10_000)[0]
            if prompt_key(prompt) not in openings}
    lines = (data / "test_sft.jsonl").read_text().splitlines()
    (data / "test_sft.jsonl").write_text("".join(line + "\n" for number, line in enumerate(lines, 1)
                                                 if number in kept))


PINNED_TODAY = "2026-11-25"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on one date (the generator's clock reads AZML_TODAY), so none fails as time passes."""
    monkeypatch.setenv("AZML_TODAY", PINNED_TODAY)
    return PINNED_TODAY


KINDS = {"unit": "fast tests of one function or command, no server",
         "contract": "recorded Azure traffic: our classifiers and the emulator against the real answers",
         "e2e": "the real MLClient against the workspace emulator",
         "local": "real training and serving on this machine (the local target)",
         "bench": "every bench/ script runs once at a tiny size"}


def pytest_configure(config: pytest.Config) -> None:
    """Register one marker per kind of test (tests/<kind>/): `pytest -m unit`, `make test-fast`."""
    for kind, what in KINDS.items():
        config.addinivalue_line("markers", f"{kind}: {what}")
    config.addinivalue_line("markers", "slow: a unit test that runs subprocesses or many generated cases "
                                       "(make test runs it; make test-fast leaves it out)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its kind, from the folder it lives in."""
    for item in items:
        kind = Path(str(item.path)).relative_to(TESTS).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
