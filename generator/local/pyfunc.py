"""The fine-tuned model as an MLflow pyfunc: a Hugging Face folder plus a chat() that answers a conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlflow.pyfunc

DEFAULT_PARAMETERS = {"temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}
MAX_NEW_TOKENS = 1024  # a bound on one local request's work (both cores are shared with everything else)
BATCH_TOKENS = 8192  # prompt and answer tokens of one batch of chat_many (a 135M model's cache: about 0.4 GB)


class ChatModel(mlflow.pyfunc.PythonModel):
    """Answers `[{"role", "content"}, …]` with the next assistant message."""

    def load_context(self, context: Any) -> None:
        """Load tokenizer and model from the `hf_model` artifact."""
        self.load(context.artifacts["hf_model"])

    def load(self, folder: str) -> None:
        """Load tokenizer and model from a Hugging Face folder."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder)
        self.model.eval()

    def _settings(self, parameters: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        """(max_new_tokens, generate()'s keyword arguments) from the request's generation parameters."""
        settings = {**DEFAULT_PARAMETERS, **(parameters or {})}
        max_new = int(settings["max_new_tokens"])
        if not 1 <= max_new <= MAX_NEW_TOKENS:
            raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} on the local workspace, "
                             f"got {max_new}")
        sample = bool(settings["do_sample"]) and float(settings["temperature"]) > 0
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if "min_new_tokens" in settings:  # transformers' generate(): no end of turn before that many (benchmarks)
            kwargs["min_new_tokens"] = min(max_new, max(0, int(settings["min_new_tokens"])))
        if sample:
            kwargs.update(temperature=float(settings["temperature"]), top_p=float(settings["top_p"]))
        return max_new, kwargs

    def _prompt(self, conversation: list[dict[str, str]], max_new: int) -> list[int]:
        """The conversation's prompt tokens, cut to the model's context window (oldest tokens first)."""
        ids = list(self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True,
                                                      return_dict=True)["input_ids"])
        window = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        return ids[-max(1, window - max_new):] if window and len(ids) + max_new > window else ids

    def _stops(self) -> set[int]:
        """The model's end-of-turn tokens."""
        stop = self.model.generation_config.eos_token_id
        return set(stop if isinstance(stop, list) else [stop])

    def _answer(self, new_tokens: list[int]) -> tuple[str, int]:
        """(text, tokens generated) of one row of generate()'s new tokens: up to its first end-of-turn token,
        which counts (padding after it, in a batch, does not)."""
        stops = self._stops()
        count = next((i + 1 for i, token in enumerate(new_tokens) if token in stops), len(new_tokens))
        return self.tokenizer.decode(new_tokens[:count], skip_special_tokens=True).strip(), count

    def chat(self, conversation: list[dict[str, str]], parameters: dict[str, Any] | None = None,
             deadline_s: float | None = None) -> str:
        """The assistant's answer to `conversation` (generation parameters as in the Azure request).

        Bounded: `max_new_tokens` at most MAX_NEW_TOKENS, the prompt cut to the model's context window
        (oldest tokens first), and generation stopped at `deadline_s` seconds, which raises TimeoutError.
        Afterwards `last_prompt_tokens`, `last_new_tokens` and `last_stopped` (whether the answer ended at an
        end-of-turn token rather than at max_new_tokens) describe it.
        """
        import time

        import torch

        started = time.monotonic()
        max_new, kwargs = self._settings(parameters)
        ids = torch.tensor([self._prompt(conversation, max_new)])
        if deadline_s is not None:
            kwargs["max_time"] = max(0.0, deadline_s - (time.monotonic() - started))
        with torch.no_grad():
            output = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        if deadline_s is not None and time.monotonic() - started >= deadline_s:
            raise TimeoutError(f"generation did not finish within {deadline_s:g} s")
        new_tokens = output[0][ids.shape[1]:].tolist()
        text, self.last_new_tokens = self._answer(new_tokens)
        self.last_prompt_tokens = int(ids.shape[1])
        self.last_stopped = self.last_new_tokens > 0 and new_tokens[self.last_new_tokens - 1] in self._stops()
        return text

    def chat_many(self, conversations: list[list[dict[str, str]]], parameters: dict[str, Any] | None = None,
                  batch_tokens: int = BATCH_TOKENS,
                  progress: Callable[[int, int], None] | None = None) -> list[tuple[str, int]]:
        """(answer, tokens generated) for each conversation, generated in batches.

        On a CPU each new token reads every weight once, whatever the batch, so answering a batch of prompts
        costs little more than answering one (the local evaluation's 12 answers: 22 s batched against 54 s one
        by one, the same greedy answers). Prompts are sorted by length and padded on the left; a batch holds at
        most `batch_tokens` prompt and answer tokens, which bounds its memory. `progress(answered, tokens)` is
        called after each batch.
        """
        import torch

        max_new, kwargs = self._settings(parameters)
        prompts = [self._prompt(c, max_new) for c in conversations]
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        groups: list[list[int]] = []
        for i in order:
            if groups and (len(groups[-1]) + 1) * (len(prompts[i]) + max_new) <= batch_tokens:
                groups[-1].append(i)
            else:
                groups.append([i])
        answers: dict[int, tuple[str, int]] = {}
        stop = self.model.generation_config.eos_token_id
        pad = self.tokenizer.pad_token_id  # a model folder without a pad token pads with its end-of-turn token
        pad = pad if pad is not None else (stop[0] if isinstance(stop, list) else stop)
        for group in groups:
            width = max(len(prompts[i]) for i in group)
            ids = torch.tensor([[pad] * (width - len(prompts[i])) + prompts[i] for i in group])
            mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in group])
            with torch.no_grad():
                output = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            for row, i in enumerate(group):
                answers[i] = self._answer(output[row][width:].tolist())
            if progress is not None:
                progress(len(answers), sum(count for _, count in answers.values()))
        return [answers[i] for i in range(len(prompts))]

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """MLflow entry point: the Azure request body (`input_data.input_string`) or a list of conversations.

        Left unannotated on purpose: MLflow turns type hints on predict into a schema it then enforces.
        """
        if isinstance(model_input, dict) and "input_data" in model_input:
            data = model_input["input_data"]
            return [self.chat(c, data.get("parameters")) for c in data["input_string"]]
        return [self.chat(conversation, params) for conversation in model_input]
