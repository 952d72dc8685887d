"""Run one bench/*.py script once at its tiny `--smoke` size and check that it prints its figures.

Each script has its own test file (tests/bench/test_bench_<name>.py), so that `pytest -n 2 --dist loadfile` spreads
the smoke runs, which together take minutes, over both workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "bench").glob("*.py"))


def run_smoke(name: str, tmp_path: Path) -> None:
    """bench/<name>.py --smoke in its own process group, in a clean environment; assert it ends well and prints."""
    # tests before this one in the same worker may have registered an emulator's cloud (azure-ai-ml keeps it in
    # AZUREML_CURRENT_CLOUD) or trusted its certificate
    inherited = {k: v for k, v in os.environ.items() if k not in ("AZUREML_CURRENT_CLOUD", "REQUESTS_CA_BUNDLE")}
    env = {**inherited, "PYTHONPATH": str(REPO), "AZML_LOCAL_WORKSPACE": str(tmp_path / "workspace")}
    process = subprocess.Popen([sys.executable, str(REPO / "bench" / f"{name}.py"), "--smoke"], cwd=REPO, env=env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=900)
    finally:  # the script's servers and jobs go with it, whatever happened
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0, out[-2000:] + err[-4000:]
    assert out.strip(), "a benchmark prints its figures"
