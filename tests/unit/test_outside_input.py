"""Issue 24, class 6: what is read from outside (registry answers, env vars, MLflow stores) is validated."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from generator.catalog import MODELS_FILE, load_models
from generator.catalog.rest import SYSTEM_METADATA, to_rest
from generator.runner import catalog_refresh


class FakeRegistry:
    """A registry client whose `models.get(name, label=latest)` answers version `version`."""

    def __init__(self, version: str = "8") -> None:
        self.models = SimpleNamespace(get=lambda name, label=None, version_=None: SimpleNamespace(version=version))


def _refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any], version: str = "8"):
    catalog = tmp_path / "models.yml"
    catalog.write_text(MODELS_FILE.read_text())
    monkeypatch.setattr(catalog_refresh, "registry_model_properties", lambda client, name, v: answer)
    return catalog, catalog_refresh.refresh(FakeRegistry(version), "azureml", ["Phi-4"], catalog)


def _phi4_answer() -> dict[str, Any]:
    facts = next(m for m in load_models() if m.name == "Phi-4")
    return to_rest(facts, SYSTEM_METADATA)


@pytest.mark.parametrize("spoil, why", [
    (lambda a: a["system_metadata"]["supportedComputes"].update(finetuneComputes=["<script>", "Standard_NC24"]),
     "is not an Azure VM size name"),
    (lambda a: a["system_metadata"]["SKU"].update(finetuneMinSkuSpec="lots"), "is not vCPUs|GPUs|memory|disk"),
    (lambda a: a["system_metadata"].update(textContextWindow=-5), "textContextWindow -5 is not a positive integer"),
    (lambda a: a["tags"].update(model_specific_defaults="{'learning_rate': float('nan')}"),
     "its model_specific_defaults tag is not a mapping of plain values"),
    (lambda a: a["tags"].update(model_specific_defaults="{'learning_rate': 1e999}"),
     "model_specific_defaults 'learning_rate': inf is not a plain value"),
    (lambda a: a["system_metadata"]["deprecation"].update(finetuneRetirementDate="someday"), "cannot be read"),
])
def test_a_malformed_registry_answer_is_never_written_into_the_catalog(tmp_path: Path, monkeypatch, spoil,
                                                                         why: str) -> None:
    answer = _phi4_answer()
    answer.setdefault("tags", {})
    answer["system_metadata"].setdefault("deprecation", {})
    spoil(answer)
    catalog, (text, notes) = _refresh(tmp_path, monkeypatch, answer)
    assert text == catalog.read_text()  # the catalog's entry is kept as it was
    assert any(why in note and "kept the catalog's entry" in note for note in notes), notes


def test_a_version_that_is_no_version_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, (text, notes) = _refresh(tmp_path, monkeypatch, _phi4_answer(), version="latest; rm -rf")
    assert text == catalog.read_text() and "is not a positive integer" in notes[0]


def test_a_well_formed_answer_still_refreshes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, (text, notes) = _refresh(tmp_path, monkeypatch, _phi4_answer(), version="9")
    assert "version: '9'" in text and not [n for n in notes if "malformed" in n]


@pytest.mark.parametrize("variable, value", [("AZML_TODAY", "tomorrow"), ("AZML_TODAY", "2026-13-45"),
                                             ("AZML_NOW", "noon")])
def test_a_bad_clock_variable_is_one_line_naming_it(project: Path, cli, monkeypatch: pytest.MonkeyPatch,
                                                     variable: str, value: str) -> None:
    from generator import clock

    monkeypatch.setenv(variable, value)
    if variable == "AZML_NOW":  # plan --offline reads no time of day: the clock itself
        with pytest.raises(clock.ClockError, match=r"AZML_NOW='noon' is not a time; .* or unset it") as refused:
            clock.now()
        assert refused.value.exit_code == 2
        return
    result = cli("plan", "specs/phi4-ultrachat.yaml", "--offline", root=project)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {variable}={value!r} is not a date; use YYYY-MM-DD, or "
                                                  "unset it to use today"]


def test_finite_check_of_nan_default_is_refused() -> None:
    from generator.catalog import ModelFacts

    facts = ModelFacts(registry="azureml", name="x", version="1", model_specific_defaults={"learning_rate": math.nan})
    assert catalog_refresh.malformed(facts)


@pytest.mark.parametrize("content", [b"garbage, not a database", None])
def test_a_broken_or_missing_mlflow_store_is_one_line(tmp_path: Path, content: bytes | None,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    from generator.runner.explain import RunnerError
    from generator.runner.metrics import find_run, open_store

    store = tmp_path / "mlflow.db"
    if content is not None:
        store.write_bytes(content)
        expected = r"^the MLflow store sqlite:///.*mlflow\.db cannot be read \(DatabaseError: .*\): check "
    else:
        expected = r"^no MLflow experiment 'x': has the job x-run1 run yet\?$"
    with pytest.raises(RunnerError, match=expected) as refused:
        find_run(open_store(f"sqlite:///{store}"), "x", "x-run1")
    assert "\n" not in str(refused.value) and refused.value.exit_code == 2
    assert "INFO" not in capfd.readouterr().err  # no "Creating initial MLflow database tables..."


def test_a_stores_password_is_not_shown() -> None:
    from generator.runner.metrics import store_error

    assert "secret" not in str(store_error("https://user:secret@mlflow.example:5000/x", ValueError("no")))
