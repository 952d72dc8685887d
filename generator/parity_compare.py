"""Serving parity: the deployment answers the evaluation's prompts as the evaluated model did.

The evaluation scores the MLflow model in a batch job (model_prediction); the deployment serves the same model
through another container and another code path (the scoring server: its own chat template, end-of-turn token,
dtype). A served model that differs from the evaluated one is the most reported failure of fine-tuning stacks, so
before the new deployment gets any live traffic the first K evaluation prompts (`evaluation.parity`) are sent to it
through the azureml-model-deployment header with the evaluation's generation settings (greedy), and its answers are
compared with the evaluation job's own answers to the same prompts.

When two answers match (`same_answer`), stated here because no published definition was found:
- equal once whitespace is collapsed: greedy decoding of the same weights on the same prompt tokens gives the same
  tokens;
- or, when they differ, they agree on their first PREFIX_WORDS words (or the shorter is a prefix of the longer,
  when it is shorter than that): greedy decoding on other hardware or at another batch size can break a near-tie
  between two tokens differently, and from there the answers diverge, but the model and its prompt are the same up
  to that point. A different chat template, end-of-turn token or tokenizer changes the prompt tokens themselves,
  so the answer differs from its first words.
Every one of the K pairs must match; the first that does not is printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PREFIX_WORDS = 12
DEFAULT_PROMPTS = 5  # evaluation.parity's default (specs/spec.schema.json)


def _words(text: str) -> list[str]:
    return text.split()


def same_answer(evaluated: str, served: str) -> bool:
    """Whether the served answer is the evaluated one (the rule in the module's docstring)."""
    a, b = _words(evaluated), _words(served)
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if len(shorter) < PREFIX_WORDS:
        return bool(shorter) and longer[:len(shorter)] == shorter
    return a[:PREFIX_WORDS] == b[:PREFIX_WORDS]


@dataclass(frozen=True)
class Pair:
    """One prompt: its conversation, the evaluation's answer and the deployment's."""

    messages: list[dict[str, str]]
    evaluated: str
    served: str

    @property
    def matches(self) -> bool:
        """Whether the deployment answered as the evaluated model did."""
        return same_answer(self.evaluated, self.served)


@dataclass(frozen=True)
class Parity:
    """The parity check of one deployment."""

    deployment: str
    pairs: list[Pair]

    @property
    def passed(self) -> bool:
        """Every pair matches (and there was at least one)."""
        return bool(self.pairs) and all(pair.matches for pair in self.pairs)

    @property
    def first_difference(self) -> Pair | None:
        """The first pair that does not match."""
        return next((pair for pair in self.pairs if not pair.matches), None)

    def line(self) -> str:
        """`serving parity: demo answered 5 of 5 evaluation prompt(s) as the evaluated model did`."""
        same = sum(pair.matches for pair in self.pairs)
        return (f"serving parity: {self.deployment} answered {same} of {len(self.pairs)} evaluation prompt(s) as the "
                "evaluated model did")

    def difference(self) -> str:
        """The first differing pair, as the refusal prints it ('' when all match)."""
        pair = self.first_difference
        if pair is None:
            return ""
        prompt = next((m["content"] for m in reversed(pair.messages) if m.get("role") == "user"), "")
        return (f"first difference, prompt {prompt[:120]!r}:\n    evaluated: {pair.evaluated[:300]!r}\n"
                f"    served:    {pair.served[:300]!r}")

    def as_json(self) -> dict[str, Any]:
        """The result as plain JSON values."""
        return {"deployment": self.deployment, "passed": self.passed, "prompts": len(self.pairs),
                "matched": sum(pair.matches for pair in self.pairs)}


def request_body(messages: Sequence[dict[str, str]], generation: dict[str, Any]) -> bytes:
    """The scoring request for one prompt with the evaluation's generation settings (the foundation-model serving
    contract generator/request.py checks: `input_data.input_string` and `parameters`)."""
    parameters = {key: generation[key] for key in ("max_new_tokens", "do_sample", "temperature", "top_p")
                  if key in generation}
    return json.dumps({"input_data": {"input_string": list(messages), "parameters": parameters}}).encode()


def served_text(answer: Any) -> str:
    """The assistant text of a scoring answer: `{"output": text}` (Azure's foundation-model serving for chat
    completion, as generator/local/scoring.py answers), or the text itself."""
    if isinstance(answer, (bytes, str)):
        try:
            answer = json.loads(answer)
        except ValueError:
            return answer.decode() if isinstance(answer, bytes) else answer
    output = answer.get("output") if isinstance(answer, dict) else None
    if isinstance(output, str):
        return output
    if isinstance(answer, str):
        return answer
    raise ValueError(f"the deployment's answer is not a chat completion ({str(answer)[:120]})")
