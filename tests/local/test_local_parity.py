"""Serving parity on the local target: a deployment that formats prompts with another chat template than the
evaluated model's does not get traffic. The tiny random test double stands in for Phi-4 (it trains and answers in
seconds); the real model's parity passes in tests/local/test_local_real_model.py (the demo)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, TESTS
from tests.local.projects import edit_spec, use_local_workspace

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
import mlflow  # noqa: E402,F401 - before rouge-score's absl (tests/local/test_local_evaluation.py says why)

SPEC = "specs/local-demo.yaml"
# another prompt format: what a serving stack with the wrong chat template sends the same weights
OTHER_TEMPLATE = ("{% for message in messages %}{{ message['role'] | upper }}: {{ message['content'] }}\n{% endfor %}"
                  "{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def test_a_deployment_serving_another_chat_template_fails_parity_and_gets_no_traffic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from generator.cli.demo import run_step
    from generator.local.daemon import stop
    from tests.support.tinymodel import ensure_foundation_model

    for folder in ("specs", "samples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    edit_spec(tmp_path / SPEC, (("  max_samples: 60 ", "  max_samples: 12 "), ("    test_sft: 100 ", "    test_sft: 20 "),
                                ("  parity: 5 ", "  parity: 3 ")))
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted((tmp_path / "samples" / "ultrachat_mini").glob("*.jsonl")))
    state = use_local_workspace(monkeypatch, tmp_path, ".local-workspace-parity")
    # the local workspace (and so its scoring servers) starts with the hook of tests/support/sitecustomize.py
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS / "support"), str(REPO)]))
    monkeypatch.setenv("SERVE_WITH_CHAT_TEMPLATE", OTHER_TEMPLATE)
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["data", "prepare", SPEC], ["render", SPEC]):
            run_step(args)
        capfd.readouterr()
        with pytest.raises(SystemExit) as refused:  # the random double is let past the gate: parity is the test
            run_step(["apply", SPEC, "--target", "local", "--yes", "--skip-evaluation-gate"])
        captured = capfd.readouterr()
        out = captured.out + captured.err
    finally:
        stop(state)
    assert refused.value.code == 1, out
    assert "[parity] FAILED: serving parity: demo answered 0 of 3 evaluation prompt(s) as the evaluated model " \
           "did" in out, out
    assert "first difference, prompt " in out and "evaluated: " in out and "served:    " in out
    assert "[traffic] not run: parity did not succeed" in out
    saved = json.loads((state / "resources.json").read_text())["resources"]
    endpoint = next(body for key, body in saved.items() if key.endswith("/onlineendpoints/ultrachat-demo"))
    assert not any(endpoint["properties"].get("traffic", {}).values())  # no live traffic ever reached it
    # the deployment made for the unproven model serves nothing, so it was deleted (it would bill for nothing)
    assert "did not pass parity and it serves no traffic" in out
    assert not any(key.endswith("/onlineendpoints/ultrachat-demo/deployments/demo") for key in saved)
