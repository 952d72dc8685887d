"""Cost against the workspace emulator: priced plan, the budget refusing before any PUT, endpoint expiry.

The Retail Prices API is the local fake of tests/test_cost.py (invented prices: $4.00/h for the Linux
meter of Standard_NC24ads_A100_v4); the clock is pinned with AZML_NOW.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.emulator.harness import Emulator
from tests.unit.test_cost import FakePrices, fake_prices  # noqa: F401 - the fixture
from tests.e2e.test_runner_e2e import SPEC, run, workspace  # noqa: F401 - the fixture

T0 = "2026-11-25T08:00:00+00:00"


@pytest.fixture
def priced(workspace: tuple[Path, Emulator], fake_prices: FakePrices,  # noqa: F811 - fixtures
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Emulator]]:
    """The e2e project with prices from the fake and the clock at T0."""
    monkeypatch.setenv("AZML_NOW", T0)
    yield workspace


def _edit_spec(project: Path, old: str, new: str) -> None:
    spec = project / SPEC
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    assert CliRunner().invoke(main, ["render", "--root", str(project)]).exit_code == 0


def test_plan_prices_training_and_the_endpoint(priced: tuple[Path, Emulator]) -> None:
    project, _ = priced
    result = run("plan")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("estimate (before anything runs; see README, What it will cost):\n")[1].splitlines()
    assert lines[2].startswith("  evaluation time  18-66 min on Standard_NC24ads_A100_v4 (25,600 generated tokens ")
    assert lines[3] == ("  training cost    $1.93-$4.93 (Standard_NC24ads_A100_v4 x 1 node(s) at $4.00/h; Azure Retail "
                        "Prices API, Virtual Machines NCads A100 v4 Series / NC24ads A100 v4, read 2026-11-25)")
    assert lines[4].startswith("  evaluation cost  $1.21-$4.41 (Standard_NC24ads_A100_v4 at $4.00/h; ")
    assert lines[5] == ("  endpoint         $4.00/h, $96.00/day, $2,920.00/month while it runs (Standard_NC24ads_A100_v4 "
                        "x 1; Azure Retail Prices API, Virtual Machines NCads A100 v4 Series / NC24ads A100 v4, read "
                        "2026-11-25)")
    assert lines[6] == ("  upper estimate   $105.34: training at its upper bound, the evaluation at its upper bound, plus "
                        "the endpoint for one day (the spec sets no endpoint.expires_after)")
    assert lines[7] == "  memory (before anything runs; docs/cost.md, Will it fit):"
    assert lines[-1].startswith("Plan: ")
    assert (project / ".azml-cache" / "prices.json").is_file()


def test_a_budget_below_the_estimate_refuses_before_anything_is_created(priced: tuple[Path, Emulator]) -> None:
    project, emulator = priced
    _edit_spec(project, "registered_model:", "budget:\n  max_usd: 50\n\nregistered_model:")
    plan = run("plan")
    assert ("  budget           upper estimate $105.34 against max_usd $50.00: OVER it: apply refuses"
            in plan.stdout)
    refused = run("apply")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1] == (
        "error: the upper estimate $105.34 exceeds budget.max_usd $50.00 in specs/phi4-ultrachat.yaml: nothing was "
        "created. Lower the data share, the epochs or endpoint.expires_after, raise the budget, or pass --over-budget.")
    assert emulator.count("PUT") == 0 and emulator.count("POST") == 0
    _edit_spec(project, "  name: ultrachat-completion", "  expires_after: 8h\n  name: ultrachat-completion")
    within = run("plan")  # training, evaluation and 8 hours of the endpoint: $4.93 + $4.41 + $32.00, unrounded
    assert "upper estimate $41.34 against max_usd $50.00: within it" in within.stdout
    assert run("apply").exit_code == 0


def test_a_budget_without_a_price_refuses_unless_overridden(priced: tuple[Path, Emulator],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = priced
    monkeypatch.setenv("AZML_RETAIL_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")  # unreachable
    _edit_spec(project, "registered_model:", "budget:\n  max_usd: 500\n\nregistered_model:")
    refused = run("apply")
    assert refused.exit_code == 1
    assert "error: budget.max_usd is $500.00 in specs/phi4-ultrachat.yaml, and no price is known (the Azure Retail " \
           "Prices API could not be reached (" in refused.stderr
    assert emulator.count("PUT") == 0
    assert run("apply", "--over-budget").exit_code == 0


def test_expired_endpoints_are_listed_then_only_ours_are_deleted(priced: tuple[Path, Emulator],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = priced
    _edit_spec(project, "  name: ultrachat-completion", "  expires_after: 8h\n  name: ultrachat-completion")
    assert run("apply").exit_code == 0
    endpoints = f"{emulator.workspace_path}/onlineendpoints".lower()
    ours = emulator.resources[f"{endpoints}/ultrachat-completion"]
    assert ours["tags"] == {"azml-gen.expires-after": "8h", "azml-gen.created-at": T0}
    for name, tags in (("someone-elses", {"owner": "team-b"}),
                       ("ours-for-three-days", {"azml-gen.expires-after": "3d", "azml-gen.created-at": T0})):
        other = copy.deepcopy(ours)
        other.update(name=name, id=ours["id"].rsplit("/", 1)[0] + "/" + name, tags=tags)
        emulator.resources[f"{endpoints}/{name}"] = other
    monkeypatch.setenv("AZML_NOW", "2026-11-25T17:00:00+00:00")
    status = run("status")
    assert "up 9.0 h, expired 2026-11-25 16:00 UTC (1.0 h ago), about $36.00 so far" in status.stdout
    deleted = run("destroy", "--expired", "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.stdout.splitlines()[0] == ("expired   ultrachat-completion             up 9.0 h, expired "
                                              "2026-11-25 16:00 UTC (1.0 h ago)")
    assert "deleted 1 expired endpoint(s)" in deleted.stdout
    assert sorted(k.rsplit("/", 1)[1] for k in emulator.resources if k.startswith(endpoints + "/")
                  and k.count("/") == endpoints.count("/") + 1) == ["ours-for-three-days", "someone-elses"]


def test_destroy_expired_asks_first_and_needs_yes_without_a_terminal(priced: tuple[Path, Emulator],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project, emulator = priced
    _edit_spec(project, "  name: ultrachat-completion", "  expires_after: 8h\n  name: ultrachat-completion")
    assert run("apply").exit_code == 0
    monkeypatch.setenv("AZML_NOW", "2026-11-26T08:00:00+00:00")
    result = run("destroy", "--expired")
    assert result.exit_code == 2
    assert "destroy --expired would delete 1 endpoint(s); pass --yes to confirm without a terminal" in result.stderr
    assert emulator.count("DELETE") == 0


def test_a_finished_run_calibrates_the_next_runs_estimate(priced: tuple[Path, Emulator], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project, _ = priced
    assert run("apply").exit_code == 0  # run 1 finishes in the emulator
    _edit_spec(project, "run: 1 ", "run: 2 ")
    unread = run("plan")
    assert ("  training time    not calibrated: phi4-ultrachat-run1 finished, but its metrics cannot be read ("
            in unread.stdout)  # without azureml-mlflow, or (with it) because the emulator serves no MLflow API
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)  # what run 1's fine-tune step logged
    logged = client.create_run(client.create_experiment("phi4-ultrachat"), tags={"azureml.job": "phi4-ultrachat-run1"})
    client.log_param(logged.info.run_id, "num_train_epochs", 3)
    client.log_metric(logged.info.run_id, "train_runtime", 400.0)
    client.log_metric(logged.info.run_id, "eval_loss", 1.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    calibrated = run("plan")
    assert ("  training time    22-52 min (calibrated from phi4-ultrachat-run1: 86,523 tokens in 400 s of training "
            "(216 tokens/s, the same prepared data and sequence length assumed); plus 0.25-0.75 h for model import, "
            "preprocessing and conversion)") in calibrated.stdout
