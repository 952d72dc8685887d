"""Print the wall time of the two-point local sweep (specs/local-sweep.yaml) with both points side by side
(max_concurrent 2) and one after the other (max_concurrent 1, i.e. two sequential runs), each applied from
nothing in its own local workspace. Same points, same code path, same span: `apply --target local`, from
the first request to the smoke test. Figures only, no assertions.

Run: `.venv/bin/python bench/sweep.py` (needs the local extra: `make demo` installs it); `--smoke` applies
the side-by-side case only, on the tiny random test double (the test suite checks that the script still runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC = "specs/local-sweep.yaml"
SMOKE = "--smoke" in sys.argv


def apply_once(max_concurrent: int) -> tuple[float, list[str]]:
    """Seconds of one apply of the sweep from nothing, and each job's time as apply printed it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("specs", "samples"):
            shutil.copytree(REPO / folder, root / folder)
        spec = root / SPEC
        spec.write_text(spec.read_text().replace("max_concurrent: 2", f"max_concurrent: {max_concurrent}"))
        env = {**os.environ, "AZML_LOCAL_WORKSPACE": ".local-workspace-bench"}
        python = [sys.executable, "-m", "generator"]
        steps = [["data", "prepare", SPEC], ["render", SPEC]]
        if SMOKE:  # the tiny random test double stands in for the model: the smoke run checks the script, fast
            sys.path.insert(0, str(REPO))
            from tests.support.tinymodel import ensure_foundation_model

            tiny = ensure_foundation_model(root / "tiny", sorted((root / "samples" / "ultrachat_mini").glob("*.jsonl")))
            steps.insert(0, ["local", "start", "--model", f"Phi-4={tiny}"])
        for args in steps:
            subprocess.run(python + args, cwd=root, env=env, check=True, capture_output=True)
        start = time.monotonic()
        done = subprocess.run(python + ["apply", SPEC, "--target", "local", "--yes"], cwd=root, env=env,
                              capture_output=True, text=True)
        seconds = time.monotonic() - start
        subprocess.run(python + ["local", "stop"], cwd=root, env=env, capture_output=True)
        if done.returncode:
            raise SystemExit(done.stdout + done.stderr)
        jobs = re.findall(r"\] (\S+-run1-\S+): Completed \((\S+)\)", done.stdout)
        return seconds, [f"{name.rsplit('-', 1)[-1]} {took}" for name, took in jobs]


def main() -> None:
    """Apply the sweep both ways and print the wall times."""
    model = "the tiny random test double (--smoke)" if SMOKE else "the local stand-in, SmolLM2-135M-Instruct"
    print(f"{os.cpu_count()} CPU(s); {SPEC}: 2 points x 1 epoch of {model}")
    cases = (("side by side (max_concurrent 2)", 2), ("two sequential runs (max_concurrent 1)", 1))
    for label, concurrent in cases[:1] if SMOKE else cases:
        seconds, jobs = apply_once(concurrent)
        print(f"{label:<40} apply {seconds:6.1f} s   jobs: {', '.join(jobs)}")


if __name__ == "__main__":
    main()
