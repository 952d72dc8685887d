"""The fine-tuned model as an MLflow pyfunc: a Hugging Face folder plus a chat() that answers a conversation."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc

DEFAULT_PARAMETERS = {"temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}


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

    def chat(self, conversation: list[dict[str, str]], parameters: dict[str, Any] | None = None) -> str:
        """The assistant's answer to `conversation` (generation parameters as in the Azure request)."""
        import torch

        settings = {**DEFAULT_PARAMETERS, **(parameters or {})}
        inputs = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        sample = bool(settings["do_sample"]) and float(settings["temperature"]) > 0
        kwargs: dict[str, Any] = {"max_new_tokens": int(settings["max_new_tokens"]), "do_sample": sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sample:
            kwargs.update(temperature=float(settings["temperature"]), top_p=float(settings["top_p"]))
        with torch.no_grad():
            output = self.model.generate(**inputs, **kwargs)
        new_tokens = output[0][inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """MLflow entry point: the Azure request body (`input_data.input_string`) or a list of conversations.

        Left unannotated on purpose: MLflow turns type hints on predict into a schema it then enforces.
        """
        if isinstance(model_input, dict) and "input_data" in model_input:
            data = model_input["input_data"]
            return [self.chat(c, data.get("parameters")) for c in data["input_string"]]
        return [self.chat(conversation, params) for conversation in model_input]
