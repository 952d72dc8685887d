"""Spec validation: a corpus of broken specs with the exact messages users see."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TESTS

CORPUS = sorted((TESTS / "broken_specs").glob("*.yaml"))


@pytest.mark.parametrize("broken", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_spec_reports_every_problem_exactly(broken: Path, tmp_path: Path, cli) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(broken, tmp_path / "specs" / broken.name)
    result = cli("render", f"specs/{broken.name}", root=tmp_path)
    expected = broken.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert result.exit_code == 2
    assert result.stderr.splitlines()[:-1] == expected
    assert result.stderr.splitlines()[-1].endswith("nothing was written")
    assert not (tmp_path / "generated").exists()


def test_corpus_covers_each_validation_layer() -> None:
    messages = "\n".join(p.with_suffix(".expected").read_text() for p in CORPUS)
    for marker in ("unknown field", "required field is missing", "invalid YAML", "duplicate key",
                   "greater than max_instances", "did you mean 'learning_rate'?", "set by the generator",
                   "no interface on file", "warning:"):
        assert marker in messages, marker


def test_minimal_spec_is_valid_and_gets_defaults(tmp_path: Path, cli) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(TESTS / "valid_minimal.yaml", tmp_path / "specs" / "minimal.yaml")
    result = cli("render", root=tmp_path)
    assert result.exit_code == 0, result.stderr
    job = (tmp_path / "generated" / "broken" / "pipeline-job.yml").read_text()
    assert "component: azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82" in job
    assert "number_of_gpu_to_use_finetuning: 1" in job  # looked up for Standard_NC24ads_A100_v4
    deployment = (tmp_path / "generated" / "broken" / "deployment.yml").read_text()
    assert "name: demo\n" in deployment and "initial_delay: 600" in deployment


def test_problems_of_several_specs_are_reported_together(project: Path, cli) -> None:
    shutil.copy(CORPUS[0], project / "specs" / "a.yaml")
    shutil.copy(TESTS / "broken_specs" / "wrong_types.yaml", project / "specs" / "b.yaml")
    result = cli("render", root=project)
    assert result.exit_code == 2
    files = {line.split(":", 1)[0] for line in result.stderr.splitlines()[:-1]}
    assert files == {"specs/a.yaml", "specs/b.yaml"}
    assert not (project / "generated").exists()


def test_two_specs_with_one_experiment_name_are_refused(project: Path, cli) -> None:
    shutil.copy(project / "specs" / "phi4-ultrachat.yaml", project / "specs" / "copy.yaml")
    result = cli("render", root=project)
    assert result.exit_code == 2
    assert ("specs/copy.yaml:16:9: experiment.name: experiment 'phi4-ultrachat' is also used by "
            "specs/phi4-ultrachat.yaml:16: each experiment needs its own (`python -m generator new NAME --from "
            "specs/phi4-ultrachat.yaml` derives them)") in result.stderr


def test_a_copy_rendered_alone_is_still_compared_with_every_spec(project: Path, cli) -> None:
    text = (project / "specs" / "phi4-ultrachat.yaml").read_text()
    (project / "specs" / "copy.yaml").write_text(text.replace("name: phi4-ultrachat\n", "name: my-exp\n")
                                                 .replace("max_instances: 2", "max_instances: 4"))
    result = cli("render", "specs/copy.yaml", root=project)
    assert result.exit_code == 2 and not (project / "generated").exists()
    errors = result.stderr.splitlines()[:-1]
    assert [line.split(": ")[1] for line in errors] == ["compute.name", "registered_model.name", "endpoint.name"]
    assert ("compute 'gpu-cluster-big' is also used by specs/phi4-ultrachat.yaml:26 with other settings "
            "(max_instances: 4 vs 2): share a compute only with the same settings") in errors[0]


def test_new_derives_the_experiments_own_names_and_keeps_the_comments(project: Path, cli) -> None:
    result = cli("new", "lr-sweep-a", "--from", "specs/phi4-ultrachat.yaml", root=project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "created specs/lr-sweep-a.yaml from specs/phi4-ultrachat.yaml"
    text = (project / "specs" / "lr-sweep-a.yaml").read_text()
    assert "  name: lr-sweep-a\n" in text and "  name: lr-sweep-a-ep   # endpoint names are unique" in text
    assert "  name: Phi-4-lr-sweep-a\n" in text and "  run: 1 " in text
    assert "# What changed from the seed, and why" in text  # comments survive
    rendered = cli("render", root=project)
    assert rendered.exit_code == 0, rendered.stderr
    again = cli("new", "lr-sweep-a", "--from", "specs/phi4-ultrachat.yaml", root=project)
    assert again.exit_code == 2 and "specs/lr-sweep-a.yaml exists already" in again.stderr
    bad = cli("new", "no spaces", "--from", "specs/phi4-ultrachat.yaml", root=project)
    assert bad.exit_code == 2 and "experiment names use letters, digits, '-' and '_'" in bad.stderr


def test_cli_basics_version_help_and_a_quiet_broken_pipe(tmp_path: Path) -> None:
    import subprocess
    import sys

    from click.testing import CliRunner

    from generator.cli import main
    from tests.conftest import REPO

    assert CliRunner().invoke(main, ["--version"]).output == "azml-gen 0.1.0\n"
    assert CliRunner().invoke(main, ["-h"]).output.startswith("Usage:")
    reader_gone = subprocess.Popen([sys.executable, "-m", "generator", "catalog", "models"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader_gone.stdout.close()  # like `| head` that stopped reading: the first write fails with EPIPE
    errors = reader_gone.stderr.read().decode()
    assert reader_gone.wait() == 1 and errors == ""


def test_the_schemas_finetune_parameters_come_from_the_component_interface() -> None:
    import json

    import jsonschema
    from click.testing import CliRunner

    from generator.cli import main
    from generator.component import MANAGED_INPUTS, load_interface
    from generator.paths import SCHEMA_PATH

    assert CliRunner().invoke(main, ["schema", "--check"]).output == "spec.schema.json is up to date\n"
    parameters = json.loads(SCHEMA_PATH.read_text())["properties"]["finetune"]["properties"]["parameters"]
    interface = load_interface("chat_completion_pipeline", "0.0.82")
    assert set(parameters["properties"]) == {n for n, i in interface.inputs.items() if n not in MANAGED_INPUTS
                                             and i.type in ("string", "integer", "number", "bool-string",
                                                            "uri_file", "uri_folder")}
    assert parameters["properties"]["learning_rate"]["type"] == "number"
    assert parameters["properties"]["lr_scheduler_type"]["enum"][:2] == ["linear", "cosine"]
    assert all("default" not in entry for entry in parameters["properties"].values())  # defaults stay unset
    editor = jsonschema.Draft7Validator(parameters)
    assert not list(editor.iter_errors({"learning_rate": 2.0e-5, "apply_lora": True, "deepspeed_stage": 3}))
    assert [e.validator for e in editor.iter_errors({"learning_rat": 1})] == ["additionalProperties"]
