"""Evaluation end to end with the real MLClient against the emulator: base and tuned are evaluated, the figures
are read from MLflow where compute_metrics logs them, both jobs' answers are downloaded and scored per conversation,
and the gate keeps traffic from a tuned model whose paired interval does not clear min_gain."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator.harness import Emulator
from generator.textmetrics import compute_metrics
from tests.e2e.test_runner_e2e import answer, held_out, run, workspace  # noqa: F401 - the fixture

BASE, TUNED = "phi4-ultrachat-run1-eval-base", "phi4-ultrachat-run1-eval-tuned"


def _traffic_puts(emulator: Emulator) -> int:
    """PUTs of the endpoint itself (traffic lives on the endpoint; its creation sends none)."""
    return sum(1 for method, path in emulator.requests if method == "PUT"
               and path.split("?")[0].lower().endswith("/onlineendpoints/ultrachat-completion"))


def test_a_tuned_model_that_scores_lower_gets_no_traffic_and_apply_exits_1_with_the_figures(
        workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    answer(emulator, project, BASE, "reference")  # base answers every conversation right; tuned vaguely
    answer(emulator, project, TUNED, "vague", served=True)  # the deployment serves the model evaluated
    result = run("apply")
    out = result.stdout + result.stderr
    assert result.exit_code == 1, out
    # the evidence: the 50 held-out conversations scored per answer, tuned - base with its paired interval
    assert "[gate] rougeL: n=50, tuned - base -" in result.stdout and "95% interval [-" in result.stdout
    assert "evaluation gate: the whole interval is below min_gain +0.0000: the tuned model does not reach it" in out
    # the deployment waits for the gate: nothing was deployed (or billed) for the refused model
    assert "[deployment] not run: gate did not succeed" in out
    assert "[smoke-test] not run: deployment did not succeed" in out
    assert "[parity] not run: smoke-test did not succeed" in out
    assert "[traffic] not run: parity did not succeed" in out
    figures = {role: compute_metrics(*emulator.behaviour.evaluation_answers[job],
                                     ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu_1", "bleu_4"])
               for role, job in (("base", BASE), ("tuned", TUNED))}
    lines = [line.split("] ", 1)[1].split() for line in result.stdout.splitlines() if line.startswith("[gate] ")
             and ("rougeL " in line or "metric" in line)]
    assert ["metric", "base", "tuned", "delta"] in lines
    assert ["rougeL", f"{figures['base']['rougeL']:.4f}", f"{figures['tuned']['rougeL']:.4f}",
            f"{figures['tuned']['rougeL'] - figures['base']['rougeL']:+.4f}"] in lines
    ws = emulator.workspace_path.lower()
    assert ws + "/onlineendpoints/ultrachat-completion/deployments/demo" not in emulator.resources
    assert emulator.count("PUT", "/deployments/") == 0
    assert result.stdout.splitlines()[-4:] == [
        "serving: no deployment serves live traffic (as before this apply)",
        "serving: nothing that served changed",
        "still billing: no deployment on endpoint ultrachat-completion",
        "still billing: compute gpu-cluster-big: min_instances 0, so no node bills while it is idle"]
    endpoint = emulator.resources[ws + "/onlineendpoints/ultrachat-completion"]["properties"]
    assert endpoint["traffic"] == {}
    assert _traffic_puts(emulator) == 1  # the endpoint's creation only: no traffic update was sent
    # the model carries its figures, so the next apply reads them and evaluates nothing again
    tags = emulator.resources[ws + "/models/phi-4-ultrachat-200k/versions/1"]["properties"]["tags"]
    assert (float(tags["evaluation.base.rougeL"]), float(tags["evaluation.tuned.rougeL"])) == (
        figures["base"]["rougeL"], figures["tuned"]["rougeL"])
    assert tags["evaluation.tuned.job"] == TUNED
    assert (tags["evaluation.gate.n"], tags["evaluation.gate.verdict"]) == ("50", "below")
    assert float(tags["evaluation.gate.high"]) < 0 <= float(tags["evaluation.gate.p_value"]) <= 1
    jobs = emulator.count("PUT", "/jobs/")
    again = run("apply")
    assert again.exit_code == 1 and emulator.count("PUT", "/jobs/") == jobs
    assert f"[eval-tuned] unchanged: {TUNED} ({TUNED}: its figures are on the registered model's tags)" in again.stdout
    # an explicit override gives it traffic
    forced = run("apply", "--skip-evaluation-gate")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert "gate NOT met" in forced.stdout and "--skip-evaluation-gate" in forced.stdout
    assert emulator.resources[ws + "/onlineendpoints/ultrachat-completion"]["properties"]["traffic"] == {"demo": 100}


def test_the_base_evaluation_runs_while_training_runs(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    training = emulator.gate("job", "phi4-ultrachat-run1")
    import threading

    finished: list[int] = []
    thread = threading.Thread(target=lambda: finished.append(run("apply").exit_code))
    thread.start()
    emulator.wait_until(lambda: any(m == "PUT" and p.split("?")[0].lower().endswith(f"/jobs/{BASE}")
                                    for m, p in emulator.requests), "the base evaluation is submitted")
    assert not any(m == "PUT" and p.split("?")[0].lower().endswith(f"/jobs/{TUNED}") for m, p in emulator.requests)
    training.set()
    thread.join(120)
    assert finished == [0]


def test_compare_evaluation_shows_base_and_tuned_side_by_side(workspace: tuple[Path, Emulator]) -> None:
    import json

    project, emulator = workspace
    assert run("apply").exit_code == 0
    shown = run("compare", "--evaluation", "--format", "json")
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    document = json.loads(shown.stdout)
    rows = {row["model"]: row for row in document["evaluation"]}
    assert set(rows) == {"base", "tuned"}
    assert (rows["base"]["job"], rows["tuned"]["job"]) == (BASE, TUNED)
    answers, references = emulator.behaviour.evaluation_answers[TUNED]
    assert rows["tuned"]["metrics"]["rougeL"] == compute_metrics(answers, references, ["rouge1", "rouge2", "rougeL",
                                                                                       "rougeLsum", "bleu_1",
                                                                                       "bleu_4"])["rougeL"]
    assert rows["tuned"]["source"] == "the registered model's tags"  # what the gate judged
    assert Path(document["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the gate's evidence, computed again from both jobs' answers as apply's gate did: the same interval
    [proof] = document["evidence"]
    tags = emulator.resources[emulator.workspace_path.lower() + "/models/phi-4-ultrachat-200k/versions/1"][
        "properties"]["tags"]
    assert (proof["experiment"], proof["metric"], proof["n"], proof["verdict"]) == ("phi4-ultrachat", "rougeL", 50,
                                                                                    "passed")
    assert (proof["low"], proof["high"]) == (float(tags["evaluation.gate.low"]), float(tags["evaluation.gate.high"]))
    assert proof["low"] <= proof["difference"] <= proof["high"] and len(proof["differences"]) == 50
    assert sum(proof["differences"]) / 50 == pytest.approx(proof["difference"])
    assert Path(document["differences_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run("compare", "--evaluation").stdout.splitlines()
    assert table[0].split()[:2] == ["experiment", "model"] and "rougeL" in table[0].split()
    assert any(line.split()[:2] == ["phi4-ultrachat", "tuned"] and "(+" in line for line in table)
    assert any(line.startswith("phi4-ultrachat: rougeL: n=50, tuned - base +") and "gate passed" in line
               for line in table)


def test_plan_says_what_the_gate_requires_and_apply_tags_the_evidence(workspace: tuple[Path, Emulator]) -> None:
    project, emulator = workspace
    plan = run("plan")
    assert ("traffic only when the 95% paired bootstrap interval of tuned - base rougeL over the evaluated "
            "conversations lies at or above +0 (10,000 resamples, seed 0; fewer than 6 conversations cannot decide)"
            in plan.stdout)
    applied = run("apply")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "[gate] gate passed: the interval's lower bound +" in applied.stdout
    assert "[parity] serving parity: demo answered 5 of 5 evaluation prompt(s) as the evaluated model did" in \
        applied.stdout
