"""generated/ in unexpected shapes: symlinks, hand edits, failed writes and two renders at once.

Every case ends in a clear line and an exit code, never a traceback; nothing outside the project is
read or written; the previous tree survives a failed write.
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from generator import writer
from tests.conftest import REPO

EXPERIMENT = "phi4-ultrachat"


@pytest.fixture
def rendered(project: Path, cli) -> Path:
    """The example project, rendered; returns its generated/<experiment>/ folder."""
    assert cli("render", root=project).exit_code == 0
    return project / "generated" / EXPERIMENT


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the project holding a secret-looking file the generator must never read or change."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "compute.yml").write_text("SECRET-OUTSIDE-THE-PROJECT\n")
    return folder


def test_a_symlinked_file_is_stale_never_read_and_replaced_by_render(rendered: Path, outside: Path, project: Path,
                                                                       cli) -> None:
    (rendered / "compute.yml").unlink()
    (rendered / "compute.yml").symlink_to(outside / "compute.yml")
    checked = cli("check", root=project)
    assert checked.exit_code == 1
    assert f"stale: generated/{EXPERIMENT}/compute.yml: a symlink, never followed" in checked.stderr
    assert "SECRET" not in checked.stdout + checked.stderr and "Traceback" not in checked.stderr
    result = cli("render", root=project)
    assert result.exit_code == 0
    assert f"updated   generated/{EXPERIMENT}/compute.yml (was a symlink, never followed)" in result.stdout
    assert not (rendered / "compute.yml").is_symlink() and "amlCompute" in (rendered / "compute.yml").read_text()
    assert (outside / "compute.yml").read_text() == "SECRET-OUTSIDE-THE-PROJECT\n"


def test_a_symlinked_experiment_folder_is_replaced_not_written_through(rendered: Path, outside: Path, project: Path,
                                                                        cli) -> None:
    for child in rendered.iterdir():
        child.unlink()
    rendered.rmdir()
    rendered.symlink_to(outside, target_is_directory=True)
    checked = cli("check", root=project)
    assert checked.exit_code == 1
    assert f"stale: generated/{EXPERIMENT}/manifest.yml: {EXPERIMENT}/ is a symlink, never followed" in checked.stderr
    assert cli("render", root=project).exit_code == 0
    assert rendered.is_dir() and not rendered.is_symlink() and (rendered / "manifest.yml").is_file()
    assert sorted(p.name for p in outside.iterdir()) == ["compute.yml"]
    assert (outside / "compute.yml").read_text() == "SECRET-OUTSIDE-THE-PROJECT\n"


def test_a_generated_folder_linking_out_of_the_project_is_refused(project: Path, outside: Path, cli) -> None:
    (project / "generated").symlink_to(outside, target_is_directory=True)
    result = cli("render", root=project)
    assert result.exit_code == 1
    assert result.stderr == (f"error: generated/ is a symlink to {outside.resolve()}, outside the project: replace it "
                             "with a folder (the generator never writes through a link out of the project)\n")
    assert sorted(p.name for p in outside.iterdir()) == ["compute.yml"]


@pytest.mark.parametrize("file, content, reason", [
    ("manifest.yml", b"- just\n- a list\n", "out of date"),
    ("compute.yml", b"42\n", "out of date"),
    ("endpoint.yml", b"name: \xff\xfe not utf-8\n", "unreadable or not UTF-8 text"),
])
def test_a_hand_edited_file_of_the_wrong_shape_is_stale_not_a_traceback(rendered: Path, project: Path, cli,
                                                                         file: str, content: bytes,
                                                                         reason: str) -> None:
    (rendered / file).write_bytes(content)
    checked = cli("check", root=project)
    assert checked.exit_code == 1
    assert checked.stderr.splitlines() == [f"stale: generated/{EXPERIMENT}/{file}: {reason}",
                                           "generated/ is stale: run `make render` and commit the result"]


@pytest.mark.parametrize("manifest, message", [
    (b"- a list\n", "generated/phi4-ultrachat/manifest.yml:1:1: resources: the manifest needs a list of resources: "
                    "run `make render`"),
    (b"resources:\n- {kind: compute, file: ../../outside.yml}\n",
     "generated/phi4-ultrachat/manifest.yml:2:25: resources[0].file: must be a file name in the experiment's folder "
     "(no path)"),
    (b"resources:\n- 7\n", "generated/phi4-ultrachat/manifest.yml:2:3: resources[0]: not a resource of a known kind "
                           "(base_endpoint, chat_completion, compute, data, endpoint_evaluation, evaluation_gate, "
                           "evaluation_job, finetuning_job, invoke, leftover_deployments, marketplace_subscription, "
                           "model, online_deployment, online_endpoint, parity, pipeline_job, rollout, select, "
                           "serverless_endpoint, traffic)"),
])
def test_validate_reads_a_hand_edited_manifest_safely(rendered: Path, project: Path, cli, manifest: bytes,
                                                      message: str) -> None:
    (rendered / "manifest.yml").write_bytes(manifest)
    result = cli("validate", root=project)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message, "1 error(s) in generated files"]


def test_validate_names_a_non_mapping_resource_file(rendered: Path, project: Path, cli) -> None:
    (rendered / "compute.yml").write_text("- a\n- list\n")
    result = cli("validate", root=project)
    assert result.exit_code == 2
    assert (f"generated/{EXPERIMENT}/compute.yml:1:1: expected a mapping (an Azure ML compute document), got list"
            in result.stderr)


def test_a_failed_swap_puts_the_old_folder_back_and_leaves_nothing(rendered: Path, project: Path, cli,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in rendered.iterdir()}
    spec = project / "specs" / f"{EXPERIMENT}.yaml"
    spec.write_text(spec.read_text().replace("max_instances: 2", "max_instances: 4"))
    real_rename = os.rename

    def failing_rename(src, dst):
        if ".new-" in str(src):
            raise PermissionError(13, "Permission denied", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    result = cli("render", root=project)
    monkeypatch.setattr(os, "rename", real_rename)
    assert result.exit_code == 1
    assert result.stderr == (f"error: cannot write generated/{EXPERIMENT}: Permission denied ({rendered}); "
                             "the folder is unchanged\n")
    assert before == {p.name: p.read_bytes() for p in rendered.iterdir()}
    assert [p.name for p in (project / "generated").iterdir()] == [EXPERIMENT]


def test_a_second_render_waits_for_the_first(rendered: Path, project: Path) -> None:
    spec = project / "specs" / f"{EXPERIMENT}.yaml"
    spec.write_text(spec.read_text().replace("max_instances: 2", "max_instances: 4"))
    fd = os.open(project / "generated", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a first render holds it
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    second = subprocess.Popen([sys.executable, "-m", "generator", "render", "--root", str(project)], cwd=project,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert second.stderr.readline() == "waiting for another render to finish (generated/ is locked)\n"
        assert "max_instances: 2" in (rendered / "compute.yml").read_text()  # it waits: nothing written yet
    finally:
        os.close(fd)  # the first render finishes
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert f"updated   generated/{EXPERIMENT}/compute.yml" in out
    assert "max_instances: 4" in (rendered / "compute.yml").read_text()


def test_generated_files_are_readable_by_all_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    writer._umask.cache_clear()
    try:
        _, staging = writer.stage(tmp_path / "exp", {"a.yml": "name: é\n"})
        assert staging is not None
        writer.swap_in(tmp_path / "exp", staging)
    finally:
        os.umask(previous)
        writer._umask.cache_clear()
    assert stat.S_IMODE((tmp_path / "exp" / "a.yml").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "exp").stat().st_mode) == 0o755
    assert (tmp_path / "exp" / "a.yml").read_bytes() == "name: é\n".encode("utf-8")
