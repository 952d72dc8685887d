"""Rendering: golden output, determinism, atomic writes, pruning, and no azure-ai-ml import."""

from __future__ import annotations

import pytest

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, TESTS

GOLDEN = TESTS / "golden"


def _render_golden(root: Path, cli) -> Path:
    (root / "specs").mkdir(exist_ok=True)
    shutil.copy(GOLDEN / "spec.yaml", root / "specs" / "phi4-ultrachat.yaml")
    result = cli("render", root=root)
    assert result.exit_code == 0, result.stderr
    return root / "generated" / "phi4-ultrachat"


def test_example_renders_exactly_the_golden_files(tmp_path: Path, cli) -> None:
    out = _render_golden(tmp_path, cli)
    expected_dir = GOLDEN / "expected"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(out, expected_dir)
    produced = sorted(p.name for p in out.iterdir())
    assert produced == sorted(p.name for p in expected_dir.iterdir())
    for name in produced:
        assert (out / name).read_bytes() == (expected_dir / name).read_bytes(), name


GOLDEN_SWEEP = TESTS / "golden_sweep"


def test_a_two_by_two_sweep_renders_exactly_the_golden_files_and_every_file_loads(tmp_path: Path, cli) -> None:
    from generator.validate import validate_experiment

    (tmp_path / "specs").mkdir()
    shutil.copy(GOLDEN_SWEEP / "spec.yaml", tmp_path / "specs" / "phi4-ultrachat.yaml")
    result = cli("render", root=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    out = tmp_path / "generated" / "phi4-ultrachat"
    expected_dir = GOLDEN_SWEEP / "expected"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(out, expected_dir)
    produced = sorted(p.name for p in out.iterdir())
    points = ["learning_rate1e-05-num_train_epochs1", "learning_rate1e-05-num_train_epochs3",
              "learning_rate5e-05-num_train_epochs1", "learning_rate5e-05-num_train_epochs3"]
    assert produced == sorted(["compute.yml", "data-train.yml", "data-test.yml", "endpoint.yml", "deployment.yml",
                               "manifest.yml", "sample-request.json"] + [f"pipeline-job-{p}.yml" for p in points]
                              + [f"model-{p}.yml" for p in points])
    assert produced == sorted(p.name for p in expected_dir.iterdir())
    for name in produced:
        assert (out / name).read_bytes() == (expected_dir / name).read_bytes(), name
    job = (out / f"pipeline-job-{points[2]}.yml").read_text()
    assert "name: phi4-ultrachat-run1-learning_rate5e-05-num_train_epochs1\n" in job
    assert "      learning_rate: 5.0e-05\n" in job and "      num_train_epochs: 1\n" in job
    assert [p for p in validate_experiment(out, tmp_path) if p.severity == "error"] == []


def test_render_prints_one_line_per_file(project: Path, cli) -> None:
    first = cli("render", root=project)
    *files, defaults = first.stdout.splitlines()
    assert files == [f"created   generated/phi4-ultrachat/{name}" for name in sorted(
        ["compute.yml", "data-train.yml", "data-test.yml", "pipeline-job.yml", "model.yml", "endpoint.yml",
         "deployment.yml", "sample-request.json", "manifest.yml", "eval_data.py", "component-eval-data.yml",
         "evaluation-base.yml", "evaluation-tuned.yml"])]
    assert defaults.startswith("phi4-ultrachat: from Phi-4's model_specific_defaults: deepspeed_stage=3, ")
    second = cli("render", root=project)
    assert second.stdout.splitlines()[0] == "13 file(s) unchanged"  # a count, not a line per file


def test_output_is_deterministic_and_has_headers(project: Path, cli, tmp_path_factory) -> None:
    cli("render", root=project)
    out = project / "generated" / "phi4-ultrachat"
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    other = tmp_path_factory.mktemp("again")
    shutil.copytree(project / "specs", other / "specs")
    cli("render", root=other)
    assert first == {p.name: p.read_bytes() for p in (other / "generated" / "phi4-ultrachat").iterdir()}
    for name, body in first.items():
        text = body.decode()
        text = re.sub(r"foundation_model_pin: .*\(2026-07-23\)\)\"\n", "", text)  # the catalog's source date
        assert not re.search(r"20\d\d-\d\d-\d\d|\d{10}", text), name  # no render dates or epoch timestamps
        assert str(project) not in text, name
        if name.endswith(".yml"):
            assert text.startswith("# generated from specs/phi4-ultrachat.yaml by `make render` - do not edit")
        if name.endswith(".yml") and name != "manifest.yml":
            assert text.splitlines()[1].startswith("$schema: https://azuremlschemas.azureedge.net/latest/")


def test_bumping_run_renames_job_and_model_version(project: Path, cli) -> None:
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("run: 1 ", "run: 2 "))
    cli("render", root=project)
    out = project / "generated" / "phi4-ultrachat"
    assert "name: phi4-ultrachat-run2\n" in (out / "pipeline-job.yml").read_text()
    model = (out / "model.yml").read_text()
    assert 'version: "2"' in model and "azureml://jobs/phi4-ultrachat-run2/outputs/trained_model" in model
    assert "model: azureml:Phi-4-ultrachat-200k:2" in (out / "deployment.yml").read_text()


def test_display_name_follows_the_seed_formula(project: Path, cli) -> None:
    spec = project / "specs" / "phi4-ultrachat.yaml"
    text = spec.read_text().replace("    apply_deepspeed: true\n", "    apply_deepspeed: true\n    gradient_accumulation_steps: 4\n"
                                    "    max_seq_length: 2048\n    save_total_limit: 1\n    apply_lora: false\n"
                                    "    num_nodes_finetune: 2\n")
    spec.write_text(text.replace("    apply_lora: true\n", ""))
    assert cli("render", root=project).exit_code == 0  # a full fine-tune of Phi-4 fits the host memory of 2 nodes
    job = (project / "generated" / "phi4-ultrachat" / "pipeline-job.yml").read_text()
    # batch 1 x accumulation 4 x 1 GPU (NC24ads_A100_v4) x 2 nodes; deepspeed stage 3 from Phi-4's model defaults
    assert "display_name: Phi-4-ultrachat-bs8-cosine-ds3-nolora-save_limit1-seqlen2048\n" in job


def test_invalid_spec_leaves_previous_output_untouched(project: Path, cli) -> None:
    cli("render", root=project)
    out = project / "generated" / "phi4-ultrachat"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("max_instances: 2", "max_instances: -1"))
    result = cli("render", root=project)
    assert result.exit_code == 2
    assert "compute.max_instances: must be at least 1, got -1" in result.stderr
    assert before == {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}


def test_a_failure_while_writing_keeps_the_old_folder(project: Path, cli, monkeypatch) -> None:
    cli("render", root=project)
    out = project / "generated" / "phi4-ultrachat"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("max_instances: 2", "max_instances: 4"))
    real_open, calls = os.open, []

    def failing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and ".new-" in str(path):
            calls.append(path)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    result = cli("render", root=project)
    monkeypatch.setattr(os, "open", real_open)
    assert len(calls) == 3  # the third file of the new folder failed
    assert result.exit_code == 1
    assert result.stderr == ("error: cannot write generated/phi4-ultrachat: No space left on device; "
                             "the folder is unchanged\n")
    assert before == {p.name: p.read_bytes() for p in out.iterdir()}
    assert [p.name for p in (project / "generated").iterdir()] == ["phi4-ultrachat"]


def test_a_crash_mid_swap_is_repaired_by_the_next_render(project: Path, cli) -> None:
    cli("render", root=project)
    generated = project / "generated"
    (generated / "phi4-ultrachat").rename(generated / ".phi4-ultrachat.old-abc")
    (generated / ".phi4-ultrachat.new-def").mkdir()
    result = cli("render", root=project)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "13 file(s) unchanged"
    assert [p.name for p in generated.iterdir()] == ["phi4-ultrachat"]


def test_files_and_experiments_no_longer_produced_are_removed(project: Path, cli) -> None:
    cli("render", root=project)
    generated = project / "generated"
    (generated / "phi4-ultrachat" / "old-deployment.yml").write_text("stale")
    hand_made = generated / "notes"
    hand_made.mkdir()
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("name: phi4-ultrachat", "name: phi3-renamed"))
    result = cli("render", root=project)
    assert "removed   generated/phi4-ultrachat/old-deployment.yml" in result.stdout
    assert sorted(p.name for p in generated.iterdir()) == ["notes", "phi3-renamed"]


def test_rendering_one_spec_leaves_other_experiments_alone(project: Path, cli) -> None:
    cli("render", root=project)
    assert cli("new", "other", "--from", "specs/phi4-ultrachat.yaml", root=project).exit_code == 0
    result = cli("render", "specs/other.yaml", root=project)
    assert result.exit_code == 0
    assert sorted(p.name for p in (project / "generated").iterdir()) == ["other", "phi4-ultrachat"]


def test_no_specs_is_an_error(tmp_path: Path, cli) -> None:
    (tmp_path / "specs").mkdir()
    result = cli("render", root=tmp_path)
    assert result.exit_code == 2 and "no specs found" in result.stderr


def test_render_never_imports_azure_ai_ml(project: Path) -> None:
    code = ("import sys\nfrom generator.cli import main\n"
            "try:\n    main(['render', '--root', sys.argv[1]])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\nassert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code, str(project)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


@pytest.mark.slow
def test_console_script_and_module_entry_points_agree(project: Path) -> None:
    script = Path(sys.executable).parent / "azml-gen"
    module = subprocess.run([sys.executable, "-m", "generator", "render", "--root", str(project)],
                            capture_output=True, text=True, cwd=REPO)
    console = subprocess.run([str(script), "render", "--root", str(project)], capture_output=True, text=True)
    assert module.returncode == 0 and console.returncode == 0
    created = [line for line in module.stdout.splitlines() if line.startswith("created   ")]
    assert created and console.stdout.splitlines()[0] == f"{len(created)} file(s) unchanged"
    assert console.stdout.splitlines()[1:] == module.stdout.splitlines()[len(created):]  # the model-defaults line
