"""Issue 24, class 3: `new` only ever writes a spec that renders, with names Azure accepts and no other spec uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.new import endpoint_name
from generator.rules import ONLINE_NAME

SOURCE = "specs/phi4-ultrachat.yaml"


def _specs(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "specs").iterdir())


def test_two_long_names_with_one_prefix_get_two_endpoints_and_both_render(project: Path, cli) -> None:
    first, second = "a-very-long-experiment-name-for-sweeps-lr1", "a-very-long-experiment-name-for-sweeps-lr2"
    for name in (first, second):
        result = cli("new", name, "--from", SOURCE, root=project)
        assert result.exit_code == 0, result.stderr
    names = [yaml.safe_load((project / "specs" / f"{n}.yaml").read_text())["endpoint"]["name"] for n in (first, second)]
    assert names[0] != names[1] and all(ONLINE_NAME.match(n) for n in names)
    rendered = cli("render", root=project)
    assert rendered.exit_code == 0, rendered.stderr


def test_a_name_longer_than_azure_takes_is_refused_and_nothing_is_written(project: Path, cli) -> None:
    before = _specs(project)
    result = cli("new", "x" * 65, "--from", SOURCE, root=project)
    assert result.exit_code == 2 and "at most 64 characters" in result.stderr
    assert _specs(project) == before


def test_a_name_another_spec_uses_in_other_case_is_refused(project: Path, cli) -> None:
    before = _specs(project)
    result = cli("new", "PHI4-Ultrachat", "--from", SOURCE, root=project)
    assert result.exit_code == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert _specs(project) == before


def test_a_copy_that_would_not_render_is_not_written(project: Path, cli) -> None:
    source = project / SOURCE
    source.write_text(source.read_text().replace("num_train_epochs: 3", "num_train_epochs: many", 1))
    before = _specs(project)
    result = cli("new", "copy", "--from", SOURCE, root=project)
    assert result.exit_code == 2
    assert "specs/copy.yaml:" in result.stderr and "specs/copy.yaml was not written" in result.stderr
    assert ".new" not in result.stderr and _specs(project) == before


def test_a_flow_style_source_gives_a_spec_that_renders(project: Path, cli) -> None:
    source = project / SOURCE
    data = yaml.safe_load(source.read_text())
    source.write_text(yaml.safe_dump(data, default_flow_style=True, width=10_000))
    result = cli("new", "flowing", "--from", SOURCE, root=project)
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load((project / "specs" / "flowing.yaml").read_text())
    assert written["experiment"]["name"] == "flowing" and written["experiment"]["run"] == 1
    assert written["endpoint"]["name"] == "flowing-ep" and written["registered_model"]["name"] == "Phi-4-flowing"
    assert cli("render", root=project).exit_code == 0


@pytest.mark.parametrize("name", ["x" * 64, "9lives", "under_score__name", "-".join(["ab"] * 20), "Z"])
def test_derived_endpoint_names_follow_azures_pattern(name: str) -> None:
    for limit in (32, 25):
        derived = endpoint_name(name, limit)
        assert ONLINE_NAME.match(derived) and len(derived) <= limit, derived


def test_a_workspace_suffixed_endpoint_leaves_room_for_the_suffix(project: Path, cli) -> None:
    source = project / SOURCE
    text = source.read_text()
    assert "  name: ultrachat-completion" in text
    source.write_text(text.replace("  name: ultrachat-completion", "  name_suffix: workspace\n  name: ultrachat-c", 1))
    result = cli("new", "a-rather-long-experiment-name", "--from", SOURCE, root=project)
    assert result.exit_code == 0, result.stderr
    assert cli("render", root=project).exit_code == 0
