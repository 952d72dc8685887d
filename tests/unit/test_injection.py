"""No spec value can inject YAML or template code: every string renders as exactly that string."""

from __future__ import annotations

import pytest

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given, settings, strategies as st

from generator.render import render_spec
from generator.spec import load_spec
from tests.conftest import EXAMPLE_SPEC

BASE = yaml.safe_load(EXAMPLE_SPEC.read_text())


def _render(spec_data: dict) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "specs").mkdir()
        (root / "specs" / "x.yaml").write_text(yaml.safe_dump(spec_data), encoding="utf-8")
        files = render_spec(load_spec(root / "specs" / "x.yaml", root))
    return {name: json.loads(text) if name.endswith(".json") else yaml.safe_load(text) for name, text in files.items()
            if not name.endswith(".py")}  # a component's code, copied verbatim (no spec value reaches it)


BASELINE = _render(BASE)


def _keys(value: object) -> object:
    """The shape of a document: its mapping keys, recursively (values ignored)."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(item) for item in value]
    return None


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80))
@example(text="x\nfoo: bar")
@example(text="{{ 7*7 }}")
@example(text="{% for x in range(3) %}x{% endfor %}")
@example(text="--- !!python/object/apply:os.system ['echo hi']")
@example(text="&a [*a, *a] # comment")
@example(text='"quoted" \'single\' \\back\\slash\ttab\r\n\x00\u2028\U0001F600')
@example(text="true")
@example(text="${{parent.inputs.x}}")
def test_free_text_renders_as_exactly_itself(text: str) -> None:
    data = json.loads(json.dumps(BASE))
    data["experiment"]["description"] = text
    data["registered_model"]["description"] = text
    data["endpoint"]["description"] = text
    data["smoke_test"]["messages"][0]["content"] = text or "x"
    out = _render(data)
    assert out["pipeline-job.yml"]["description"] == text
    assert out["model.yml"]["description"] == text
    assert out["endpoint.yml"]["description"] == text
    assert out["sample-request.json"]["input_data"]["input_string"][0][0]["content"] == (text or "x")
    for name, document in out.items():
        assert _keys(document) == _keys(BASELINE[name]), name


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]", fullmatch=True),
       instance_type=st.text(min_size=1, max_size=40), temperature=st.floats(0, 5, allow_nan=False))
def test_names_and_numbers_survive_the_round_trip(name: str, instance_type: str, temperature: float) -> None:
    data = json.loads(json.dumps(BASE))
    data["endpoint"]["name"] = name
    data["foundation_model"] = {"registry": "azureml", "name": "Custom-Model", "version": "1"}  # no size lists
    data["deployment"]["instance_type"] = instance_type
    data["smoke_test"]["parameters"]["temperature"] = temperature
    out = _render(data)
    assert out["endpoint.yml"]["name"] == name and out["deployment.yml"]["endpoint_name"] == name
    assert out["deployment.yml"]["instance_type"] == instance_type
    assert out["sample-request.json"]["input_data"]["parameters"]["temperature"] == temperature
    assert _keys(out["deployment.yml"]) == _keys(BASELINE["deployment.yml"])
