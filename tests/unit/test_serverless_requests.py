"""What the serverless route's runner sends and reads: the evaluation's chat requests (greedy unless do_sample, as
model_prediction's generator_config reads the settings) and the model an endpoint's model id names."""

from __future__ import annotations

from generator.runner.steps.endpoint_evaluation import request_body
from generator.runner.steps.serverless_endpoint import served_model

MESSAGES = [{"role": "user", "content": "hi"}]


def test_the_evaluation_asks_greedily_unless_the_spec_samples() -> None:
    assert request_body(MESSAGES, {"max_new_tokens": 32, "do_sample": False, "temperature": 0.7}) == {
        "messages": MESSAGES, "max_tokens": 32, "temperature": 0.0}
    assert request_body(MESSAGES, {"max_new_tokens": 8, "do_sample": True, "temperature": 0.7, "top_p": 0.9}) == {
        "messages": MESSAGES, "max_tokens": 8, "temperature": 0.7, "top_p": 0.9}


def test_an_endpoints_model_is_named_by_name_and_version() -> None:
    workspace_model = "azureml://locations/eastus2/workspaces/1111/models/Phi-4-tuned/versions/3"
    assert served_model(workspace_model) == "Phi-4-tuned:3"
    assert served_model("azureml://registries/azureml/models/Phi-4") == "azureml://registries/azureml/models/Phi-4"
    assert served_model(None) == "(none)"
