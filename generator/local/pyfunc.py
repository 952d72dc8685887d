"""The fine-tuned model as an MLflow pyfunc: a Hugging Face folder plus a chat() that answers a conversation."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc

DEFAULT_PARAMETERS = {"temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}
MAX_NEW_TOKENS = 1024  # a bound on one local request's work (both cores are shared with everything else)


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

    def chat(self, conversation: list[dict[str, str]], parameters: dict[str, Any] | None = None,
             deadline_s: float | None = None) -> str:
        """The assistant's answer to `conversation` (generation parameters as in the Azure request).

        Bounded: `max_new_tokens` at most MAX_NEW_TOKENS, the prompt cut to the model's context window
        (oldest tokens first), and generation stopped at `deadline_s` seconds, which raises TimeoutError.
        """
        import time

        import torch

        started = time.monotonic()
        settings = {**DEFAULT_PARAMETERS, **(parameters or {})}
        max_new = int(settings["max_new_tokens"])
        if not 1 <= max_new <= MAX_NEW_TOKENS:
            raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} on the local workspace, "
                             f"got {max_new}")
        inputs = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        window = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        if window and inputs["input_ids"].shape[1] + max_new > window:
            keep = max(1, window - max_new)
            inputs = {name: tensor[:, -keep:] for name, tensor in inputs.items()}
        sample = bool(settings["do_sample"]) and float(settings["temperature"]) > 0
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if deadline_s is not None:
            kwargs["max_time"] = max(0.0, deadline_s - (time.monotonic() - started))
        if sample:
            kwargs.update(temperature=float(settings["temperature"]), top_p=float(settings["top_p"]))
        with torch.no_grad():
            output = self.model.generate(**inputs, **kwargs)
        if deadline_s is not None and time.monotonic() - started >= deadline_s:
            raise TimeoutError(f"generation did not finish within {deadline_s:g} s")
        new_tokens = output[0][inputs["input_ids"].shape[1]:]
        self.last_new_tokens = len(new_tokens)  # what the answer cost (the local evaluation reports tokens/s)
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """MLflow entry point: the Azure request body (`input_data.input_string`) or a list of conversations.

        Left unannotated on purpose: MLflow turns type hints on predict into a schema it then enforces.
        """
        if isinstance(model_input, dict) and "input_data" in model_input:
            data = model_input["input_data"]
            return [self.chat(c, data.get("parameters")) for c in data["input_string"]]
        return [self.chat(conversation, params) for conversation in model_input]
