"""The local evaluation, for real but cheaply: the metrics on fixed texts (values worked out by hand and by the
libraries azureml-metrics calls), and the demo spec's evaluation jobs end to end with the tiny random test double:
the local workspace runs them like any pipeline job, the gate reads their figures from MLflow, tags the model and
refuses traffic to a tuned model that does not beat its base; `jobs.download` fetches an evaluation's answers.
The real model's evaluation is checked on the one demo run of tests/local/test_local_real_model.py."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.local.projects import edit_spec, use_local_workspace

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
# MLflow's first import configures logging with dictConfig, which closes every logging handler that exists; absl
# (imported by rouge-score) makes one on the sys.stderr of the moment, here pytest's capture file. Imported the
# other way round in one worker, the gate test below closed pytest's capture and the worker crashed ("lost
# sys.stderr"). The evaluation job imports mlflow first too (generator/local/evaluate.py main).
import mlflow  # noqa: E402,F401

SPEC = "specs/local-demo.yaml"
JOB = "phi4-ultrachat-demo-run1"
EVALUATIONS = {"base": f"{JOB}-eval-base", "tuned": f"{JOB}-eval-tuned"}
METRICS = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu_1", "bleu_2", "bleu_3", "bleu_4"]


def test_the_13a_tokenizer_splits_punctuation_but_not_numbers() -> None:
    from generator.textmetrics import tokenize_13a

    assert tokenize_13a("Hello, world. It costs 1,000.50 (or 3-4 days)!") == [
        "Hello", ",", "world", ".", "It", "costs", "1,000.50", "(", "or", "3", "-", "4", "days", ")", "!"]


def test_the_metrics_of_fixed_texts_are_the_hand_computed_ones() -> None:
    from generator.textmetrics import compute_metrics

    # one answer: 5 of its 6 unigrams and 3 of its 5 bigrams are in the 6-token reference, no 3- or 4-gram is
    got = compute_metrics(["the cat is on the mat"], ["the cat sat on the mat"], METRICS)
    assert list(got) == METRICS
    assert got["rouge1"] == pytest.approx(5 / 6) and got["rouge2"] == pytest.approx(3 / 5)
    assert got["rougeL"] == pytest.approx(5 / 6) and got["rougeLsum"] == pytest.approx(5 / 6)
    assert got["bleu_1"] == pytest.approx(5 / 6)  # same length: no brevity penalty
    assert got["bleu_2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert got["bleu_3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))  # "on the mat" matches
    assert got["bleu_4"] == 0.0  # no 4-gram matches: BLEU-4 is 0 without smoothing, as in tensorflow/nmt
    # a short answer pays the brevity penalty: 3 tokens against 6, every unigram matches
    assert compute_metrics(["the cat sat"], ["the cat sat on the mat"], ["bleu_1"])["bleu_1"] == pytest.approx(
        math.exp(1 - 6 / 3))
    assert compute_metrics([""], ["anything"], ["bleu_1", "rouge1"]) == {"bleu_1": 0.0, "rouge1": 0.0}
    with pytest.raises(ValueError, match="not computed locally"):
        compute_metrics(["a"], ["a"], ["perplexity"])


@pytest.mark.filterwarnings("ignore:\\nThe hypothesis contains 0 counts")
def test_the_metrics_of_a_corpus_are_the_libraries_figures() -> None:
    """Several answers: ROUGE is rouge_score's per-answer F-measure, aggregated (bootstrap mid, close to the mean);
    BLEU is a corpus BLEU, which equals nltk's corpus_bleu when no answer is shorter than n tokens."""
    from nltk.translate.bleu_score import corpus_bleu
    from rouge_score import rouge_scorer

    from generator.textmetrics import compute_metrics, tokenize_13a

    answers = ["Drink water, sleep well and take short breaks.", "The capital of France is Paris, of course.",
               "Use a timer: work 25 minutes, then rest for 5."]
    truths = ["Sleep well, drink plenty of water and take breaks.", "The capital of France is Paris.",
              "Work for 25 minutes with a timer, then take a 5 minute break."]
    got = compute_metrics(answers, truths, METRICS)
    again = compute_metrics(answers, truths, METRICS)
    assert got == again  # the bootstrap is seeded
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    for name in ("rouge1", "rougeL"):
        mean = sum(scorer.score(t, a)[name].fmeasure for a, t in zip(answers, truths)) / 3
        assert got[name] == pytest.approx(mean, abs=0.02)
    for n in (1, 2, 3, 4):
        expected = corpus_bleu([[tokenize_13a(t)] for t in truths], [tokenize_13a(a) for a in answers],
                               weights=(1 / n,) * n)
        assert got[f"bleu_{n}"] == pytest.approx(expected, rel=1e-9), n
    assert 0 < got["bleu_4"] < got["bleu_1"] < 1


def test_the_local_workspace_runs_the_evaluation_jobs_and_the_gate_reads_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    from generator.cli.demo import run_step
    from generator.local.daemon import stop
    from tests.support.tinymodel import ensure_foundation_model

    for folder in ("specs", "samples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    spec = tmp_path / SPEC  # 12 conversations and a gate of +0.05 the random double never reaches: a clear refusal
    edit_spec(spec, (("  max_samples: 60 ", "  max_samples: 12 "), ("    test_sft: 100 ", "    test_sft: 20 "),
                                ("    min_gain: 0.0\n", "    min_gain: 0.05\n")))
    # the tiny random test double stands in for Phi-4 (`local start --model`): it trains and answers in seconds
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted((tmp_path / "samples" / "ultrachat_mini").glob("*.jsonl")))
    state = use_local_workspace(monkeypatch, tmp_path, ".local-workspace-eval")
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["data", "prepare", SPEC], ["render", SPEC]):
            run_step(args)
        # the random double does not beat its base by +0.05 rougeL: apply refuses traffic
        with pytest.raises(SystemExit) as refused:
            run_step(["apply", SPEC, "--target", "local", "--yes"])
        captured = capfd.readouterr()
        applied = captured.out + captured.err
        with pytest.raises(SystemExit) as refused_again:
            run_step(["apply", SPEC, "--target", "local", "--yes"])
        captured = capfd.readouterr()
        again = captured.out + captured.err
        # run 1 given traffic anyway; run 2 is refused by its gate too: run 1's model serves on, untouched
        run_step(["apply", SPEC, "--target", "local", "--yes", "--skip-evaluation-gate"])
        spec.write_text(spec.read_text().replace("  run: 1\n", "  run: 2\n", 1))
        run_step(["render", SPEC])
        capfd.readouterr()
        with pytest.raises(SystemExit) as refused_run_2:
            run_step(["apply", SPEC, "--target", "local", "--yes"])
        run_2 = capfd.readouterr().out
        # the evaluation's answers, as jobs.download fetches them from the local workspace: the files the job wrote
        from generator.emulator.connect import LocalCredential
        from generator.local.daemon import read_state
        from generator.runner.connection import workspace_client, workspace_from_config

        daemon = read_state(state)
        assert daemon is not None
        ml = workspace_client(LocalCredential(daemon["token_secret"]), workspace_from_config(daemon["config"]))
        ml.jobs.download(EVALUATIONS["base"], output_name="predictions", download_path=tmp_path / "downloaded")
    finally:
        stop(state)
    written = state / "jobs" / EVALUATIONS["base"] / "outputs" / "model_prediction" / "predictions.jsonl"
    downloaded = tmp_path / "downloaded" / "named-outputs" / "predictions" / "predictions.jsonl"
    assert downloaded.read_bytes() == written.read_bytes() and len(downloaded.read_text().splitlines()) == 12
    assert refused.value.code == refused_again.value.code == refused_run_2.value.code == 1
    assert "evaluation gate: the whole interval is below min_gain +0.0500: the tuned model does not reach it" in applied
    assert "[gate] rougeL: n=12, tuned - base " in applied and "95% interval [" in applied
    # the deployment waits for the gate: nothing was deployed for the refused model
    assert "[deployment] not run: gate did not succeed" in applied
    assert "[parity] not run: smoke-test did not succeed" in applied
    assert "[traffic] not run: parity did not succeed" in applied
    assert "still running (the local target bills nothing; on Azure this bills): no deployment on endpoint " \
           "ultrachat-demo" in applied
    assert "[deployment] not run: gate did not succeed" in run_2
    assert [line for line in run_2.splitlines() if line.startswith(("serving:", "still running"))][:3] == [
        "serving: demo serves Phi-4-ultrachat-demo:1 with 100 % (as before this apply)",
        "serving: nothing that served changed",
        "still running (the local target bills nothing; on Azure this bills): deployment demo (Phi-4-ultrachat-demo:1, "
        "1 x Standard_NC24ads_A100_v4, live 100 %)"]
    for job in EVALUATIONS.values():
        assert f"{job}: Completed" in applied, applied
        log = (state / "jobs" / job / "std_log.txt").read_text()
        assert "eval_data: 12 held-out conversation(s)" in log and "model_prediction: 12/12 answered" in log, log
        result = json.loads((state / "jobs" / job / "outputs" / "evaluation_result" / "evaluationResult" /
                             "metrics.json").read_text())
        assert list(result) == METRICS and all(0 <= v <= 1 for v in result.values())
        predictions = (state / "jobs" / job / "outputs" / "model_prediction" / "predictions.jsonl").read_text()
        assert len(predictions.splitlines()) == 12
    # one model-loading job at a time on this machine: the fine-tune and the base evaluation, submitted side by
    # side, run one after the other (executor.py _blockers)
    starts = [(state / "jobs" / job / "std_log.txt").read_text().splitlines()[0] for job in (JOB, EVALUATIONS["base"])]
    assert [line.startswith("[local] queued behind ") for line in starts].count(True) == 1, starts
    assert f"evaluating on this CPU; Phi-4: {tiny.name} (local start --model)" in (
        state / "jobs" / EVALUATIONS["base"] / "std_log.txt").read_text()
    # the gate read both jobs' figures from the compute_metrics step runs and printed base against tuned
    gate = [line.split("] ", 1)[1].split() for line in applied.splitlines() if line.startswith("[gate] ")]
    assert ["metric", "base", "tuned", "delta"] in gate
    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("phi4-ultrachat-demo").experiment_id
    figures = {}
    for role, job in EVALUATIONS.items():
        runs = client.search_runs([experiment], filter_string=f"tags.mlflow.rootRunId = '{job}'")
        assert sorted(r.info.run_name for r in runs) == ["compute_metrics", "eval_data", "model_prediction"]
        step = next(r for r in runs if r.info.run_name == "compute_metrics")
        figures[role] = step.data.metrics
        assert sorted(step.data.metrics) == sorted(METRICS)
    for name in METRICS:
        row = next(cells for cells in gate if cells[0] == name)
        assert row[1:3] == [f"{figures['base'][name]:.4f}", f"{figures['tuned'][name]:.4f}"]
    # the registered model carries the figures, so the second apply evaluates nothing again (and refuses again)
    saved = json.loads((state / "resources.json").read_text())["resources"]
    model = next(body for key, body in saved.items() if "/models/phi-4-ultrachat-demo/versions/1" in key)
    tags = model["properties"]["tags"]
    assert float(tags["evaluation.tuned.rougeL"]) == figures["tuned"]["rougeL"]
    assert tags["evaluation.base.job"] == EVALUATIONS["base"]
    assert "] submitted" not in again and "its figures are on the registered model's tags" in again
    endpoint = next(body for key, body in saved.items() if key.endswith("/onlineendpoints/ultrachat-demo"))
    assert endpoint["properties"]["traffic"] == {"demo": 100}
    deployment = next(body for key, body in saved.items()
                      if key.endswith("/onlineendpoints/ultrachat-demo/deployments/demo"))
    assert str(deployment["properties"]["model"]).endswith(("Phi-4-ultrachat-demo:1", "/versions/1"))
