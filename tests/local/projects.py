"""What the local-target tests set up before they start a local workspace: a spec edited in place, a slice of the
shipped sample as the prepared data, and the environment that points the runner at the test's own workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO


def edit_spec(spec: Path, replacements: tuple[tuple[str, str], ...]) -> None:
    """Replace each `old` of the spec's text by `new` once; each must be there (the test fails if the spec moved)."""
    text = spec.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    spec.write_text(text)


def sample_slice(data: Path, counts: tuple[tuple[str, int], ...]) -> None:
    """The first `count` conversations of each split of the shipped sample, as the prepared data in `data`."""
    data.mkdir(parents=True)
    for split, count in counts:
        lines = (REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        (data / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines[:count]), encoding="utf-8")


def use_local_workspace(monkeypatch: pytest.MonkeyPatch, root: Path, name: str) -> Path:
    """Run the commands in `root` against its own local workspace folder `name`; that folder."""
    from generator.local.daemon import LOCAL_STATE_ENV

    monkeypatch.chdir(root)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # the local target sets it; restored after the test
    monkeypatch.setenv(LOCAL_STATE_ENV, name)
    return root / name
