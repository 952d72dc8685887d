"""Print apply's wall time against the workspace emulator next to the seed notebook's sequential order.

Latencies are the real ones scaled by 1/100: compute 2 min, endpoint 5 min, training 60 min,
deployment 10 min. Figures only, no assertions. Run: `make bench` or `.venv/bin/python bench/apply.py`;
`--smoke` scales them by 1/10,000 instead (the test suite checks that the script still runs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from generator.cli import main  # noqa: E402
from generator.runner import session as commands  # noqa: E402
from generator.emulator.faults import Latency  # noqa: E402
from tests.emulator.harness import Behaviour, EmulatorCredential, install_dns, start_emulator  # noqa: E402

SCALE = 1 / 10_000 if "--smoke" in sys.argv else 1 / 100
LATENCY = Latency(compute=120 * SCALE, endpoint=300 * SCALE, deployment=600 * SCALE, job_queued=0.0,
                  job_running=3600 * SCALE)
SEED_ORDER = ["compute", "data-train", "data-test", "pipeline-job", "model", "endpoint", "leftovers", "deployment",
              "traffic", "smoke-test"]  # the seed had no leftovers step: it is an instant no-op on a new endpoint


def _project(root: Path, cloud: dict[str, Any]) -> None:
    (root / "specs").mkdir(parents=True)
    # like with like: the seed's flow had no evaluation jobs, so the spec's evaluation: section is left out
    spec = yaml.safe_load((REPO / "specs" / "phi4-ultrachat.yaml").read_text(encoding="utf-8"))
    spec.pop("evaluation", None)
    (root / "specs" / "phi4-ultrachat.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    data = root / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        shutil.copy(REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl", data)
    (root / "config.json").write_text(json.dumps(cloud))


def timed_apply(sequential: bool) -> float:
    """Wall seconds of one apply from nothing; `sequential` chains the steps in the seed's order."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        emulator, cloud = start_emulator(root / "tls", Behaviour(latency=LATENCY))
        os.environ["REQUESTS_CA_BUNDLE"] = str(root / "tls" / "ca.pem")
        _project(root, cloud)
        os.chdir(root)
        assert CliRunner().invoke(main, ["render"]).exit_code == 0
        real_load = commands.load_experiment
        if sequential:
            def chained(folder: Path) -> Any:
                experiment = real_load(folder)
                for previous, resource in zip(SEED_ORDER, SEED_ORDER[1:]):
                    experiment.resource(resource).depends_on = [previous]
                experiment.resources.sort(key=lambda r: SEED_ORDER.index(r.id))
                return experiment
            commands.load_experiment = chained
        try:
            start = time.perf_counter()
            result = CliRunner().invoke(main, ["apply", "specs/phi4-ultrachat.yaml", "--yes"],
                                        obj={"credential": EmulatorCredential()})
            seconds = time.perf_counter() - start
        finally:
            commands.load_experiment = real_load
            emulator.stop()
            os.chdir(REPO)
        if result.exit_code != 0:
            raise SystemExit(f"apply failed: {result.stdout}{result.stderr}")
        return seconds


def main_bench() -> None:
    """Print the figures."""
    install_dns()
    ideal_seq = sum((LATENCY.compute, LATENCY.job_running, LATENCY.endpoint, LATENCY.deployment))
    # the job waits for the endpoint (no GPU time on a run that could not be deployed)
    ideal_par = max(LATENCY.compute, LATENCY.endpoint) + LATENCY.job_running + LATENCY.deployment
    print(f"latencies x{SCALE:g}: compute {LATENCY.compute:.1f}s, endpoint {LATENCY.endpoint:.1f}s, "
          f"training {LATENCY.job_running:.1f}s, deployment {LATENCY.deployment:.1f}s")
    parallel = timed_apply(sequential=False)
    sequential = timed_apply(sequential=True)
    print(f"apply (dependency graph, side by side): {parallel:.1f} s   (latency floor {ideal_par:.1f} s)")
    print(f"seed's sequential order:                {sequential:.1f} s   (latency floor {ideal_seq:.1f} s)")
    print(f"ratio apply / sequential: {parallel / sequential:.2f}; saved {sequential - parallel:.1f} s "
          f"(= {(sequential - parallel) / SCALE / 60:.0f} min at real latencies)")


if __name__ == "__main__":
    main_bench()
