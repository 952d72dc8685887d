"""The plan as a value, made and diffed against a fake workspace (no HTTP), as Helm tests its actions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from azure.core.exceptions import ResourceNotFoundError

from generator.errors import ExitCode, PlanMoved
from generator.runner.apply import refuse_if_refused
from generator.runner.azure_target import AzureTarget
from generator.runner.experiment import load_experiment
from generator.runner.explain import StepRefused
from generator.runner.output import Printer
from generator.runner.plan import Reason, Verb
from generator.runner.plan_view import document, markdown, summary
from generator.runner.planner import check_saved, make_plan, moved_since
from generator.runner.steps.common import Context
from generator.spec import load_specs
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "docs" / "plan.schema.json").read_text(encoding="utf-8"))


@dataclass
class Operations:
    """One kind of the workspace's resources: `get` answers what `items` holds, else Azure's 404."""

    items: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, *args: Any, **kwargs: Any) -> Any:
        key = name if "version" not in kwargs else f"{name}:{kwargs['version']}"
        if key not in self.items:
            raise ResourceNotFoundError(f"{key} not found")
        return self.items[key]


class FakeWorkspace:
    """The MLClient surface the planners read: compute, data, jobs, models, endpoints, deployments."""

    def __init__(self) -> None:
        self.compute, self.data, self.jobs, self.models = Operations(), Operations(), Operations(), Operations()
        self.online_endpoints, self.online_deployments = Operations(), Operations()


@pytest.fixture
def session() -> SimpleNamespace:
    """The committed example experiment, planned against an empty fake workspace."""
    spec = load_specs(REPO, [REPO / "specs" / "phi4-ultrachat.yaml"], check_data=False)[0][0]
    experiment = load_experiment(REPO / "generated" / spec.experiment)
    experiment.source_spec = spec
    identity = {"kind": "azure", "subscription_id": "s", "resource_group": "rg", "workspace": "ws", "region": None,
                "endpoint": experiment.by_kind("online_endpoint").name}
    return SimpleNamespace(experiment=experiment, target=AzureTarget(), ml=FakeWorkspace(), identity=lambda: identity,
                           endpoint_name=identity["endpoint"], root=REPO, offline="", region=None,
                           no_price="the workspace did not say its region")


def _plan(session: SimpleNamespace) -> Any:
    context = Context(ml=session.ml, experiment=session.experiment, out=Printer(), endpoint_name=session.endpoint_name)
    return make_plan(session, context)


def test_an_empty_workspace_plans_every_resource_created(session: SimpleNamespace) -> None:
    planned = _plan(session)
    assert {row.resource.kind: row.action.verb for row in planned.rows} == {
        "compute": Verb.CREATE, "data": Verb.CREATE, "online_endpoint": Verb.CREATE, "pipeline_job": Verb.CREATE,
        "model": Verb.CREATE, "online_deployment": Verb.CREATE, "traffic": Verb.CREATE, "invoke": Verb.RUN,
        "evaluation_job": Verb.CREATE, "evaluation_gate": Verb.RUN, "leftover_deployments": Verb.UNCHANGED,
        "parity": Verb.RUN}
    assert all(row.action.reason == Reason.ABSENT for row in planned.rows if row.action.verb == Verb.CREATE)
    assert summary(planned) == "Plan: 10 to create, 0 to update, 0 to delete, 1 unchanged, 0 refused"
    assert (planned.exit_code(detailed=True), planned.exit_code(detailed=False)) == (ExitCode.CHANGES, ExitCode.OK)


def test_the_plan_json_validates_against_its_published_schema(session: SimpleNamespace) -> None:
    planned = document(_plan(session))
    jsonschema.validate(planned, SCHEMA)
    assert planned["format_version"] == "2.0" and planned["applyable"] and planned["changes"]
    assert planned["generated"]["compute.yml"] == __import__("hashlib").sha256(
        (REPO / "generated" / "phi4-ultrachat" / "compute.yml").read_bytes()).hexdigest()


def test_the_schema_rejects_a_plan_of_another_shape(session: SimpleNamespace) -> None:
    planned = document(_plan(session))
    planned["resource_changes"][0]["action"] = "destroy"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(planned, SCHEMA)


def test_markdown_is_a_table_with_one_row_per_resource(session: SimpleNamespace) -> None:
    text = markdown(_plan(session))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| action | resource | name | details |"
    assert len(rows) == 1 + len(session.experiment.resources)
    assert "| + create | `compute` |" in text and "**Plan: 10 to create" in text


def test_a_finished_job_with_other_inputs_is_refused_with_its_reason_and_fields(session: SimpleNamespace) -> None:
    job = session.experiment.by_kind("pipeline_job")
    session.ml.jobs.items[job.name] = SimpleNamespace(status="Completed", _to_rest_object=lambda: _rest_job(
        job, {"learning_rate": "0.001"}))
    row = next(r for r in _plan(session).rows if r.resource.kind == "pipeline_job")
    assert row.action.verb == Verb.REFUSE and row.action.reason == Reason.JOB_DONE_INPUTS_DIFFER
    change = next(c for c in row.action.changes if c.path == "learning_rate")
    assert (change.before, change.updatable) == ("0.001", False)
    with pytest.raises(StepRefused, match="apply refuses pipeline-job phi4-ultrachat-run1: learning_rate") as refused:
        refuse_if_refused(_plan(session))
    assert refused.value.exit_code == ExitCode.ERROR


def _rest_job(job: Any, overrides: dict[str, str]) -> Any:
    """The rendered job's REST body with some node inputs set otherwise (as a job submitted earlier)."""
    from azure.ai.ml import load_job

    body = load_job(job.file)._to_rest_object().as_dict()
    for node in body["properties"]["jobs"].values():
        for name, value in overrides.items():
            if name in (node.get("inputs") or {}):
                node["inputs"][name] = {"job_input_type": "literal", "value": value}
    return SimpleNamespace(as_dict=lambda: body)


def test_a_saved_plan_is_refused_when_the_workspace_moved(session: SimpleNamespace) -> None:
    saved = json.loads(json.dumps(document(_plan(session))))
    check_saved(saved, _plan(session))  # nothing moved: no error
    compute = session.experiment.by_kind("compute")
    session.ml.compute.items[compute.name] = SimpleNamespace(
        size="Standard_NC24ads_A100_v4", provisioning_state="Succeeded", min_instances=0, max_instances=1,
        idle_time_before_scale_down=120, tier="dedicated")
    moved = moved_since(saved, _plan(session))
    assert moved and moved[0].startswith("compute: planned create, now ")
    with pytest.raises(PlanMoved) as refused:
        check_saved(saved, _plan(session))
    assert "nothing was applied" in str(refused.value)


def test_a_saved_plan_is_refused_when_a_generated_file_changed(session: SimpleNamespace, tmp_path: Path) -> None:
    saved = document(_plan(session))
    saved["generated"]["deployment.yml"] = "0" * 64
    assert moved_since(saved, _plan(session)) == [
        "generated/phi4-ultrachat/deployment.yml changed since the plan was made"]


def test_a_saved_plan_records_the_data_it_uploads_and_is_refused_when_it_moved(session: SimpleNamespace,
                                                                              tmp_path: Path) -> None:
    session.root = tmp_path
    train = tmp_path / session.experiment.data_files["data-train"]
    train.parent.mkdir(parents=True)
    train.write_text('{"messages": []}\n')
    saved = json.loads(json.dumps(document(_plan(session))))
    assert saved["data"] == {"data/ultrachat_200k/test_sft.jsonl": None,
                             "data/ultrachat_200k/train_sft.jsonl": __import__("hashlib").sha256(
                                 train.read_bytes()).hexdigest()}
    jsonschema.validate(saved, SCHEMA)
    check_saved(saved, _plan(session))
    train.write_text('{"messages": [1]}\n')  # edited between `plan --out` and `apply --plan`
    (tmp_path / session.experiment.data_files["data-test"]).write_text("{}\n")
    with pytest.raises(PlanMoved) as refused:
        check_saved(saved, _plan(session))
    assert refused.value.moved == [
        "data file data/ultrachat_200k/test_sft.jsonl created since the plan was made (apply would upload other data "
        "than was reviewed)",
        "data file data/ultrachat_200k/train_sft.jsonl changed since the plan was made (apply would upload other data "
        "than was reviewed)"]
    del saved["data"]  # a plan saved before plans recorded their data
    assert moved_since(saved, _plan(session))[0].startswith("the plan records no hash of the data it uploads")


def test_apply_executes_the_plan_it_was_shown_without_planning_again(session: SimpleNamespace,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph runs each row's applier with the plan's own Action; only a deferred action is decided again."""
    from generator.runner import graph
    from generator.runner.plan import Action

    planned = _plan(session)
    calls: list[tuple[str, Action]] = []
    replanned: list[str] = []
    monkeypatch.setattr(graph, "APPLIERS", {kind: (lambda ctx, res, action: calls.append((res.id, action)))
                                             for kind in graph.APPLIERS})
    monkeypatch.setattr(graph, "PLANNERS", {kind: (lambda ctx, res: replanned.append(res.id) or Action(Verb.RUN))
                                             for kind in graph.PLANNERS})
    compute = next(row for row in planned.rows if row.resource.kind == "compute")
    compute.action.verb = Verb.UNCHANGED  # as if the cluster existed when the plan was shown
    model = next(row for row in planned.rows if row.resource.kind == "model")
    model.action.deferred = True
    context = Context(ml=session.ml, experiment=session.experiment, out=Printer(), endpoint_name=session.endpoint_name)
    outcomes = graph.Graph(planned, context).run()
    shown = {row.resource.id: row.action for row in planned.rows}
    assert replanned == ["model"]
    assert [rid for rid, _ in calls] and "compute" not in [rid for rid, _ in calls]
    assert all(action is shown[rid] for rid, action in calls if rid != "model")
    assert outcomes["compute"].status == "unchanged" and all(
        outcomes[rid].status == "done" for rid, _ in calls)
