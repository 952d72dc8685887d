"""Blue/green on the local target, for real: two model versions train, both deployments serve, and the local
workspace splits live requests between them exactly as the endpoint's shares say (generator/emulator/routing.py)."""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

torch = pytest.importorskip("torch", reason="the local extra (requirements-local.txt) is part of make test")
SPEC = "specs/local-demo.yaml"
ENDPOINT = "ultrachat-demo"


def test_both_versions_really_answer_and_live_traffic_splits_exactly(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    from generator.cli.demo import run_step
    from generator.local.daemon import LOCAL_STATE_ENV, read_state, stop
    from generator.emulator.routes_arm import LOCAL_DEPLOYMENT_HEADER
    from tests.support.tinymodel import ensure_foundation_model
    from generator.runner.connection import workspace_from_config, workspace_client
    from generator.emulator.connect import LocalCredential

    for folder in ("specs", "samples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    spec = tmp_path / SPEC
    data = yaml.safe_load(spec.read_text())
    data.pop("evaluation", None)  # this test is about traffic: no gate between the versions
    data["rollout"] = {"strategy": "blue_green", "mirror_percent": 0, "traffic_steps": [100], "keep_previous": True}
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    tiny = ensure_foundation_model(tmp_path / "tiny", sorted((tmp_path / "samples" / "ultrachat_mini").glob("*.jsonl")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # the local target sets it; restored after the test
    monkeypatch.setenv(LOCAL_STATE_ENV, ".local-workspace-rollout")
    state_dir = tmp_path / ".local-workspace-rollout"
    try:
        for args in (["local", "start", "--model", f"Phi-4={tiny}"], ["data", "prepare", SPEC], ["render", SPEC],
                     ["apply", SPEC, "--target", "local", "--yes"]):
            run_step(args)
        data["experiment"]["run"] = 2
        spec.write_text(yaml.safe_dump(data, sort_keys=False))
        run_step(["render", SPEC])
        run_step(["apply", SPEC, "--target", "local", "--yes"])
        applied = capfd.readouterr().out
        state = read_state(state_dir)
        target = workspace_from_config(state["config"])
        ml = workspace_client(LocalCredential(state["token_secret"]), target)
        endpoint = ml.online_endpoints.get(ENDPOINT)
        assert dict(endpoint.traffic) == {"demo-v1": 0, "demo-v2": 100}  # promoted; blue kept at 0 %
        endpoint.traffic = {"demo-v1": 70, "demo-v2": 30}  # an operator's split, for the count
        ml.online_endpoints.begin_create_or_update(endpoint).result()
        key = ml.online_endpoints.get_keys(ENDPOINT).primary_key
        context = ssl.create_default_context(cafile=state["ca_bundle"])
        body = json.dumps({"input_data": {"input_string": [[{"role": "user", "content": "hello"}]],
                                          "parameters": {"max_new_tokens": 4}}}).encode()
        served: Counter[str] = Counter()
        for _ in range(20):
            request = urllib.request.Request(endpoint.scoring_uri, data=body, method="POST", headers={
                "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, context=context, timeout=120) as answer:
                assert isinstance(json.loads(answer.read())["output"], str)  # a real model answered
                served[answer.headers[LOCAL_DEPLOYMENT_HEADER]] += 1
    finally:
        stop(state_dir)
    assert "[rollout] smoke: demo-v2 answered through the azureml-model-deployment header" in applied
    assert "[rollout] kept the previous deployment demo-v1 at 0 %" in applied
    assert served == {"demo-v1": 14, "demo-v2": 6}
