"""Serving parity before any live traffic: the deployment answers the evaluation's prompts as the evaluated model did.

The prompts are the first `evaluation.parity` rows the evaluation itself answered: the prepared evaluation split cut by
the eval-data component's own code (generator/evaldata/eval_data.py `convert`), checked against the tuned evaluation
job's ground truth so both sides are the same conversations. Each goes to the deployment through the
azureml-model-deployment header (such a request reaches only that deployment: MicrosoftDocs/azure-ai-docs
how-to-safely-rollout-online-endpoints.md @96b17518), with the evaluation's generation settings; the comparison is
generator/parity_compare.py's. A mismatch fails the step, so traffic (or a rollout's first stage) never comes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from generator.errors import Refused
from generator.evaldata.eval_data import INPUT_COLUMN, LABEL_COLUMN, convert
from generator.parity_compare import Pair, Parity, request_body, served_text
from generator.runner.evaluation_answers import read_answers
from generator.runner.experiment import Resource
from generator.runner.explain import RunnerError
from generator.runner.plan import Action, Reason, Verb
from generator.runner.steps.common import Context
from generator.runner.steps.traffic import invoke


class ParityFailed(Refused):
    """The deployment does not answer as the evaluated model did: no traffic (exit 1, as a refused gate)."""

    def __init__(self, result: Parity):
        super().__init__(f"{result.line()}; it does not serve the model that was evaluated (another "
                         f"chat template, end-of-turn token, tokenizer or dtype?), so it gets no traffic\n  "
                         f"{result.difference()}")
        self.result = result


def plan_parity(ctx: Context, res: Resource) -> Action:
    """Runs on every apply, before traffic."""
    return Action(Verb.RUN, [f"send the first {res.extra['prompts']} evaluation prompt(s) to {ctx.endpoint_name}/"
                             f"{res.extra['deployment']} through the azureml-model-deployment header (greedy, the "
                             "evaluation's settings); each answer must be the tuned evaluation's own"],
                  reason=Reason.ACTION)


def prompts(ctx: Context, res: Resource) -> list[dict[str, Any]]:
    """The first `prompts` evaluation rows (messages and ground truth), as the eval-data component cut them."""
    path = ctx.experiment.folder.parent.parent / ctx.experiment.data_files[res.extra["data"]]
    try:
        with open(path, encoding="utf-8") as source:
            rows = list(convert(source, int(res.extra["max_samples"])))
    except OSError as exc:
        raise RunnerError(f"parity: cannot read the evaluation data {path}: {exc.strerror}") from None
    return rows[:int(res.extra["prompts"])]


def check(ctx: Context, res: Resource) -> Parity:
    """Send the prompts to the deployment and compare its answers with the tuned evaluation's."""
    rows = prompts(ctx, res)
    evaluated = read_answers(ctx.ml, res.extra["job"])
    if [row[LABEL_COLUMN] for row in rows] != evaluated.references[:len(rows)]:
        raise RunnerError(f"parity: the evaluation job {res.extra['job']} did not answer the prepared evaluation "
                          f"data's first {len(rows)} conversation(s) (its ground truth differs): the data changed "
                          "since it ran; evaluate again (evaluation.attempt)")
    deployment, pairs = res.extra["deployment"], []
    with tempfile.TemporaryDirectory(prefix="azml-parity-") as tmp:
        for i, row in enumerate(rows):
            request = Path(tmp) / f"parity-{i + 1}.json"
            request.write_bytes(request_body(row[INPUT_COLUMN], dict(res.extra["generation"])))
            served = served_text(invoke(ctx, deployment, request))
            pairs.append(Pair(list(row[INPUT_COLUMN]), evaluated.predictions[i], served))
    return Parity(deployment, pairs)


def apply_parity(ctx: Context, res: Resource, action: Action) -> None:
    """Run the check; a mismatch fails the step with the first differing pair."""
    result = check(ctx, res)
    if not result.passed:
        raise ParityFailed(result)
    ctx.out.line(res.id, result.line())
