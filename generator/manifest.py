"""The experiment's manifest: every resource, its file, name, dependencies and `az ml` command.

The runner walks it as a dependency graph; reviewers read it; `az ml` users copy from it.
"""

from __future__ import annotations

from typing import Any

from generator import naming, rollout_stages
from generator.entities import data_file, evaluation_split_differs, job_file_stem, registry_model_uri, tuned_model_ref
from generator.spec import Spec


def resource_row(rid: str, kind: str, name: str, depends_on: list[str], az: str, file: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """One resource of the manifest: id, kind, its file (when it has one), name, what it waits for, the rest of what
    the runner reads, and the az ml command that makes it by hand (last)."""
    resource: dict[str, Any] = {"id": rid, "kind": kind}
    if file:
        resource["file"] = file
    resource.update(name=name, depends_on=depends_on, **extra, az=az)
    return resource


def resources(spec: Spec) -> list[dict[str, Any]]:
    """The resources in an order that respects `depends_on` (the seed's order)."""
    data = spec.data
    folder = f"generated/{spec.experiment}"
    version = naming.model_version(data)
    endpoint = data["endpoint"]["name"]
    deployment = rollout_stages.deployment_name(data)
    train, test = data["data"]["train_split"], data["data"]["test_split"]
    return [
        resource_row("compute", "compute", data["compute"]["name"], [],
                  f"az ml compute create --file {folder}/compute.yml", "compute.yml"),
        resource_row("data-train", "data", naming.data_asset_name(data, train), [],
                  f"az ml data create --file {folder}/data-train.yml", "data-train.yml", version=version),
        resource_row("data-test", "data", naming.data_asset_name(data, test), [],
                  f"az ml data create --file {folder}/data-test.yml", "data-test.yml", version=version),
        resource_row("endpoint", "online_endpoint", endpoint, [],
                  f"az ml online-endpoint create --file {folder}/endpoint.yml", "endpoint.yml"),
        _leftovers(data, endpoint, deployment),
        *_evaluation_data(spec, folder, version),
        *_training(spec, folder, version),
        *_evaluation(spec, folder),
        resource_row("deployment", "online_deployment", deployment,
                  ["endpoint", "model"] + (["gate"] if gated(data) else []),
                  f"az ml online-deployment create --file {folder}/deployment.yml", "deployment.yml",
                  endpoint=endpoint, strategy="blue_green" if data.get("rollout") else "in_place"),
        *_serving(data, endpoint, deployment, folder, spec.file),
    ]


def gated(data: dict[str, Any]) -> bool:
    """Whether the spec has an evaluation gate: then the deployment waits for it, so no deployment is created or
    changed (and billed) for a model the gate refuses."""
    return bool((data.get("evaluation") or {}).get("gate"))


def _leftovers(data: dict[str, Any], endpoint: str, deployment: str) -> dict[str, Any]:
    """The endpoint's deployments the spec does not name and that serve no traffic: deleted early, so nothing is
    left billing after a refused, failed or interrupted apply (the ones serving are retired by `traffic` or
    `rollout` once the spec's deployment has taken their traffic)."""
    rollout = data.get("rollout") or {}
    return resource_row("leftovers", "leftover_deployments", endpoint, ["endpoint"],
                     f"az ml online-deployment list --endpoint-name {endpoint} --query \"[].name\"  # then "
                     f"`az ml online-deployment delete --endpoint-name {endpoint} --name <name> --yes` for each one "
                     f"but {deployment} that serves no traffic" + (" (and the previous one the rollout kept)"
                                                                    if rollout.get("keep_previous") else ""),
                     keep=[deployment], keep_previous=bool(rollout.get("keep_previous")))


def _serving(data: dict[str, Any], endpoint: str, deployment: str, folder: str, spec_file: str) -> list[dict[str, Any]]:
    """Without a rollout: the smoke test through the azureml-model-deployment header, then the deployment's share of
    live traffic; with one, the staged rollout (smoke-tested at every stage), then the smoke test."""
    smoke = f"az ml online-endpoint invoke --name {endpoint} --deployment-name {deployment} " \
            f"--request-file {folder}/sample-request.json"
    parity = _parity(data, endpoint, deployment, spec_file)
    if data.get("rollout"):
        before = [parity["id"]] if parity else ["deployment"]
        return [*([parity] if parity else []), _traffic(data, endpoint, deployment, folder, spec_file, before),
                resource_row("smoke-test", "invoke", endpoint, ["rollout"], smoke, "sample-request.json",
                          deployment=deployment)]
    return [resource_row("smoke-test", "invoke", endpoint, ["deployment"], smoke, "sample-request.json",
                      deployment=deployment),
            *([parity] if parity else []),
            _traffic(data, endpoint, deployment, folder, spec_file, [parity["id"] if parity else "smoke-test"])]


def _parity(data: dict[str, Any], endpoint: str, deployment: str, spec_file: str) -> dict[str, Any] | None:
    """Serving parity before any live traffic: the first `evaluation.parity` evaluation prompts sent to the new
    deployment through the azureml-model-deployment header with the evaluation's generation settings, each answer
    compared with the tuned evaluation's own (generator/parity_compare.py). None without an evaluation, or with
    parity 0."""
    from generator import evaluation_jobs

    section = data.get("evaluation")
    if not section or not section["parity"]:
        return None
    after = ["smoke-test"] if not data.get("rollout") else ["deployment"]
    return resource_row("parity", "parity", endpoint, after + [evaluation_jobs.resource_id("tuned")],
                     f"python -m generator invoke {spec_file} --parity  # the first {section['parity']} evaluation "
                     f"prompt(s) to {deployment}, each answer against the tuned evaluation's",
                     deployment=deployment, prompts=section["parity"],
                     job=evaluation_jobs.job_name(data, "tuned"),
                     data="data-eval" if evaluation_split_differs(data) else "data-test",
                     max_samples=section["max_samples"],
                     generation=dict(section["generation"]))


def _traffic(data: dict[str, Any], endpoint: str, deployment: str, folder: str, spec_file: str,
             after: list[str]) -> dict[str, Any]:
    """The deployment's share of live traffic at once (every other deployment's share to 0), or, with a rollout, the
    staged blue/green rollout (each stage with the `az ml` command that does it by hand). Either waits for the
    evaluation step when the spec has one."""
    after = after + ["gate"] if "evaluation" in data else after
    if not data.get("rollout"):
        return resource_row("traffic", "traffic", endpoint, after,
                         f'az ml online-endpoint update --name {endpoint} '
                         f'--traffic "{deployment}={data["deployment"]["traffic_percent"]}"',
                         traffic={deployment: data["deployment"]["traffic_percent"]})
    plan = data["rollout"]
    return resource_row("rollout", "rollout", endpoint, after,
                     f"python -m generator apply {spec_file}  # or, by hand, the stages' commands in order",
                     "sample-request.json", deployment=deployment, mirror_percent=plan["mirror_percent"],
                     traffic_steps=plan["traffic_steps"], keep_previous=plan["keep_previous"],
                     stages=rollout_stages.stages(data, endpoint, f"{folder}/sample-request.json"))


def _training(spec: Spec, folder: str, version: str) -> list[dict[str, Any]]:
    """The pipeline job and the model registered from it; for a sweep, a job per point, the selection, and the
    model registered from the point it selects."""
    data = spec.data
    inputs = ["compute", "data-train", "data-test", "endpoint"]
    model_name = data["registered_model"]["name"]
    if not spec.points:
        return [resource_row("pipeline-job", "pipeline_job", naming.job_name(data), inputs,
                          f"az ml job create --file {folder}/pipeline-job.yml --stream", "pipeline-job.yml"),
                resource_row("model", "model", model_name, ["pipeline-job"],
                          f"az ml model create --file {folder}/model.yml", "model.yml", version=version)]
    jobs = [resource_row(job_file_stem(p), "pipeline_job", naming.job_name(data, p.slug), inputs,
                      f"az ml job create --file {folder}/{job_file_stem(p)}.yml", f"{job_file_stem(p)}.yml",
                      sweep_point=p.params) for p in spec.points]
    select = data["sweep"]["select"]
    best = f"the point with the {'lowest' if select['goal'] == 'minimize' else 'highest'} {select['metric']}"
    return [*jobs,
            resource_row("select", "select", naming.job_name(data), [job["id"] for job in jobs],
                      f"python -m generator compare {spec.file}  # then pick {best}",
                      metric=select["metric"], goal=select["goal"]),
            resource_row("model", "model", model_name, ["select"],
                      f"az ml model create --file {folder}/model-<point>.yml  # the model file of {best}",
                      version=version, candidates={job_file_stem(p): f"model-{p.slug}.yml" for p in spec.points})]


def _evaluation_data(spec: Spec, folder: str, version: str) -> list[dict[str, Any]]:
    """The evaluation split's own data asset, when it is not data.test_split."""
    if not evaluation_split_differs(spec.data):
        return []
    return [resource_row("data-eval", "data", naming.data_asset_name(spec.data, spec.data["evaluation"]["test_split"]),
                      [], f"az ml data create --file {folder}/data-eval.yml", "data-eval.yml", version=version)]


def _evaluation(spec: Spec, folder: str) -> list[dict[str, Any]]:
    """The base model's evaluation (like training it waits only for the compute, the data and the endpoint, so no GPU
    time is spent before the endpoint exists; it runs while training runs), the
    tuned model's (after registration), and the gate: it reads both, tags the registered model with the figures and
    lets traffic through only when the tuned model beats its base (`evaluation.gate`)."""
    from generator import evaluation_jobs

    data = spec.data
    if "evaluation" not in data:
        return []
    section = data["evaluation"]
    test = "data-eval" if evaluation_split_differs(data) else "data-test"
    gate = section.get("gate")
    jobs = [resource_row(evaluation_jobs.resource_id(role), "evaluation_job", evaluation_jobs.job_name(data, role),
                      ["compute", test] + (["endpoint"] if role == "base" else ["model"]),
                      f"az ml job create --file {folder}/{evaluation_jobs.job_file(role)} --stream",
                      evaluation_jobs.job_file(role), role=role,
                      model=registry_model_uri(spec) if role == "base" else tuned_model_ref(data))
            for role in evaluation_jobs.ROLES]
    return [*jobs, resource_row("gate", "evaluation_gate", data["registered_model"]["name"],
                             [evaluation_jobs.resource_id(role) for role in evaluation_jobs.ROLES],
                             f"python -m generator compare {spec.file} --evaluation"
                             + (f"  # then: the {gate['confidence']:.0%} interval of tuned {gate['metric']} - base "
                                f"{gate['metric']} at or above {gate['min_gain']:g}" if gate else ""),
                             version=naming.model_version(data), metrics=list(section["metrics"]),
                             **({"metric": gate["metric"], "min_gain": gate["min_gain"],
                                 "confidence": gate["confidence"]} if gate else {}))]


def manifest(spec: Spec) -> dict[str, Any]:
    """The whole manifest: experiment, spec file, foundation model, data files, resources."""
    data = spec.data
    return {
        "experiment": spec.experiment,
        "spec": spec.file,
        "foundation_model": registry_model_uri(spec),
        "foundation_model_pin": spec.pin,
        "foundation_model_label": data["foundation_model"].get("label"),
        "parameters_from_model": dict(spec.model_defaults.applied),
        "endpoint_name_suffix": data["endpoint"]["name_suffix"],
        "data_files": {
            "data-train": data_file(data, data["data"]["train_split"]),
            "data-test": data_file(data, data["data"]["test_split"]),
            **({"data-eval": data_file(data, data["evaluation"]["test_split"])}
               if evaluation_split_differs(data) else {}),
        },
        "sweep": {"points": len(spec.points), "max_concurrent": data["sweep"]["max_concurrent"]}
        if spec.points else None,
        "resources": resources(spec),
    }
