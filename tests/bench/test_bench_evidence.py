"""bench/evidence.py still runs (its --smoke size; its figures are not judged here)."""

from pathlib import Path

from tests.bench.smoke import run_smoke


def test_bench_evidence_runs_to_its_figures(tmp_path: Path) -> None:
    run_smoke("evidence", tmp_path)
