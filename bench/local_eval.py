"""Print the local evaluation's figures: one evaluation job of the stand-in (SmolLM2-135M-Instruct) over 40 held-out
conversations of the shipped sample, as the local workspace runs it (generator/local/evaluate.py `run`: eval_data,
greedy generation with the demo's 48 new tokens, compute_metrics, MLflow logging, the evaluationResult folder):
wall time of each part, generated tokens/s, and the metrics. The tuned model has the same architecture and size,
so it generates at the same speed. Figures only, no assertions.

Run: `.venv/bin/python bench/local_eval.py` (needs the local extra: `make demo` installs it). `--smoke` (the test
suite's check that the script still runs): 2 conversations, 8 new tokens, the shared model cache: its figures
mean nothing.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1",
                  TRANSFORMERS_VERBOSITY="error", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")

from generator.local import evaluate  # noqa: E402
from generator.textmetrics import METRICS  # noqa: E402
from generator.local.standin import ensure_stand_in  # noqa: E402

SMOKE = "--smoke" in sys.argv
CONVERSATIONS = 2 if SMOKE else 40
MAX_NEW_TOKENS = 8 if SMOKE else 48  # specs/local-demo.yaml evaluation.generation.max_new_tokens


def main() -> None:
    """Run one evaluation job in this process and print its figures."""
    import logging
    import warnings

    import mlflow  # noqa: F401 - its logging set-up first, then quieted
    import torch

    warnings.simplefilter("ignore")  # MLflow warns that ChatModel.predict has no type hints (on purpose)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    folder = ensure_stand_in(say=lambda line: None)
    with tempfile.TemporaryDirectory() as tmp:
        job = {"model_dir": str(folder), "mlflow_model": None, "model_name": folder.name,
               "conversations": str(REPO / "samples" / "ultrachat_mini" / "test_sft.jsonl"),
               "max_samples": CONVERSATIONS, "generator_config": {"max_new_tokens": MAX_NEW_TOKENS, "do_sample": False},
               "metrics": list(METRICS), "output_dir": str(Path(tmp) / "outputs"),
               "tracking_uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}", "experiment": "bench", "run_name": "bench-eval"}
        log = io.StringIO()
        started = time.perf_counter()
        with redirect_stdout(log):
            metrics = evaluate.run(job)
        total = time.perf_counter() - started
        from mlflow.tracking import MlflowClient

        client = MlflowClient(job["tracking_uri"])
        experiment = client.get_experiment_by_name("bench").experiment_id
        step = next(r for r in client.search_runs([experiment], "tags.mlflow.rootRunId = 'bench-eval'")
                    if r.info.run_name == "model_prediction").data.metrics
    load = os.getloadavg()
    print(f"local evaluation, {CONVERSATIONS} conversations of test_sft, greedy, max_new_tokens {MAX_NEW_TOKENS}, "
          f"{torch.get_num_threads()} torch threads, load average {load[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print(f"  whole job {total:.1f} s: model load {step['load_seconds']:.1f} s, generation "
          f"{step['predict_seconds']:.1f} s, the rest (eval_data, metrics, MLflow) "
          f"{total - step['load_seconds'] - step['predict_seconds']:.1f} s")
    print(f"  generated {step['generated_tokens']:.0f} tokens: {step['tokens_per_second']:.1f} tokens/s, "
          f"{step['predict_seconds'] / CONVERSATIONS:.2f} s per conversation")
    print("  " + ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))


if __name__ == "__main__":
    main()
