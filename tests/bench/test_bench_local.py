"""bench/local.py still runs (its --smoke size; its figures are not judged here)."""

from pathlib import Path

from tests.bench.smoke import run_smoke


def test_bench_local_runs_to_its_figures(tmp_path: Path) -> None:
    run_smoke("local", tmp_path)
