"""Will it start: what the fine-tune step would refuse only after billed hours, checked at render.

The spec's effective parameters (its own, the model's model_specific_defaults, the component's defaults) against:
- memory: the fine-tune's host memory per node and GPU memory per GPU, and the deployment's weights (generator/fit.py);
- multi-node: more nodes than the cluster can hold queue forever;
- the runtime-only rules of the finetune step's finetune.py (`FINETUNE`, each rule citing its lines), which fail
  only after the model import and the preprocessing have run on the cluster.
A rule that depends on a fact not known offline (the registry model's `model_type`) warns and says so; it never
refuses on a guess. Runs after the model's defaults are applied (generator/spec.py), once per sweep point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator import fit, naming, sweep_points
from generator.catalog import ModelFacts
from generator.component import ComponentInterface
from generator.diagnostics import ERROR, WARNING, Problem
from generator.source import Located

FINETUNE = f"{fit.ASSETS}/finetune.py @{fit.ASSETS_COMMIT}"
# finetune.py lines 192-200: DEEPSPEED_STAGE3_SUPPORTED_MODEL_TYPES, from HfModelTypes (azureml-acft-contrib-hf-nlp
# 0.0.91 azureml/acft/contrib/hf/nlp/constants/constants.py lines 113-121) and finetune.py's own
# PHI3_MINI_4K_INSTRUCT_MODEL_TYPE (line 54) and LLAMA_SCOUT_MODEL_TYPE (line 56).
ZERO3_LORA_MODEL_TYPES = ("llama", "falcon", "mistral", "mixtral", "phi_longrope", "phi3mini", "llama4")
MULTINODE = ("azureml-examples sdk/python/foundation-models/system/finetune/Llama-notebooks/multinode-text-"
             "classification/emotion-detection-llama-multinode.ipynb @334bb09d")
PARAMS = ("finetune", "parameters")


def check_startup(data: dict[str, Any], located: Located, interface: ComponentInterface, facts: ModelFacts | None,
                  root: Path) -> list[Problem]:
    """Every problem of the spec's run, each reported once; in a sweep, naming the points it concerns unless it
    concerns them all."""
    points = sweep_points.points(data)
    runs = [(point.describe(), sweep_points.at_point(data, point)) for point in points] or [("", data)]
    found: dict[tuple[str, str], tuple[Problem, list[str]]] = {}
    for name, run in runs:
        for problem in _check_run(run, located, interface, facts, root):
            found.setdefault((problem.path, problem.message), (problem, []))[1].append(name)
    out = []
    for problem, names in found.values():
        if points and len(names) < len(runs):
            problem = Problem(problem.file, problem.line, problem.col, problem.path,
                              f"sweep point(s) {'; '.join(names)}: {problem.message}", problem.severity)
        out.append(problem)
    return out


def _check_run(data: dict[str, Any], located: Located, interface: ComponentInterface, facts: ModelFacts | None,
               root: Path) -> list[Problem]:
    given = data["finetune"]["parameters"]
    params = fit.effective(given, interface)
    problems = [located.problem(field, message, severity=severity)
                for field, message, severity in (_nodes(data, params) + _runtime_rules(params, facts, root))]
    setup = fit.setup(data, params, root, naming.gpus_per_node(data))
    for need in fit.training_needs(setup) + [fit.deployment_need(data)]:
        message = _need_message(need, setup)
        if message:
            problems.append(located.problem(need.field, message[0], severity=message[1]))
    return problems


def fit_lines(spec: Any) -> list[str]:
    """Plan's memory block: per resource one line of figures and one of assumptions (per sweep point where the
    points differ)."""
    runs = [(f" ({point.describe()})", spec.at(point).data) for point in spec.points] or [("", spec.data)]
    lines = ["memory (before anything runs; docs/cost.md, Will it fit):"]
    shown: set[tuple[str, str, str]] = set()
    for suffix, data in runs:
        params = fit.effective(data["finetune"]["parameters"], spec.interface)
        setup = fit.setup(data, params, spec.root, naming.gpus_per_node(data))
        for need in fit.training_needs(setup) + [fit.deployment_need(data)]:
            key = (need.label, need.figures(), need.assumptions)
            if key in shown:
                continue
            shown.add(key)
            label = need.label + (suffix if len(runs) > 1 else "")
            lines.append(f"  {label:<16} {need.figures()}")
            what = "" if need.label == "serving memory" else f"{setup.kind()}: "
            lines.append(f"  {'':<16} assumptions: {what}{need.assumptions}")
    return lines


def _need_message(need: fit.Need, setup: fit.Setup) -> tuple[str, str] | None:
    """The refusal or warning a need gives, or None when it fits or cannot be checked (plan prints that)."""
    if need.verdict not in ("does not fit", "may not fit") or need.low is None or need.have is None:
        return None
    deployment = need.label == "serving memory"
    what = f"{setup.model}'s weights" if deployment else setup.kind()
    if need.verdict == "may not fit":
        return (f"{what} may need up to {fit.gib(need.high or 0)} of {need.label} {need.per} and {need.have_text} "
                f"({need.assumptions})", WARNING)
    estimate = (f" (DeepSpeed's estimate with its buffer: {fit.gib(need.high)})"
                if need.high and need.high > need.low and not deployment else "")
    fix = ("the deployment would fail to load the model; choose a size with more GPU memory" if deployment else
           "the job would import and preprocess the model on billed nodes, then fail; use "
           + ("" if setup.lora else "LoRA (apply_lora: true), ")
           + "more nodes (num_nodes_finetune, at most compute.max_instances) or a size with more memory")
    return (f"{what} needs at least {fit.gib(need.low)} of {need.label} {need.per}{estimate}, and {need.have_text}: "
            f"{fix} ({need.assumptions})", ERROR)


def _nodes(data: dict[str, Any], params: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    nodes = int(params.get("num_nodes_finetune") or 1)
    most = int(data["compute"]["max_instances"])
    if nodes <= most:
        return []
    return [((*PARAMS, "num_nodes_finetune"),
             f"{nodes} nodes on a cluster of at most {most} (compute.max_instances): \"The job will wait to acquire "
             f"given number of nodes before it starts\" ({MULTINODE}), so it would queue forever; raise "
             f"compute.max_instances to {nodes} or lower num_nodes_finetune", ERROR)]


def _runtime_rules(params: dict[str, Any], facts: ModelFacts | None,
                   root: Path) -> list[tuple[tuple[Any, ...], str, str]]:
    """finetune.py's rules that fail (or silently change) a run only once it reaches the fine-tune step."""
    out: list[tuple[tuple[Any, ...], str, str]] = []
    deepspeed = fit.flag(params.get("apply_deepspeed"))
    if deepspeed and fit.flag(params.get("auto_find_batch_size")):
        out.append(((*PARAMS, "auto_find_batch_size"),
                    "with apply_deepspeed the fine-tune fails: \"Deep Speed cannot be coupled with "
                    f"auto_find_batch_size\" ({FINETUNE} lines 886-896); set auto_find_batch_size to false", ERROR))
    if fit.flag(params.get("apply_ort")):
        out.append(((*PARAMS, "apply_ort"),
                    f"ignored: finetune.py sets apply_ort to false for every task before it runs ({FINETUNE} line "
                    "1340, can_apply_ort lines 1399-1407: \"Disabling ORT for all tasks\", since azureml-assets "
                    "93e5641df0), so ONNX Runtime is never applied, and its ZeRO-3 rule against apply_ort (lines "
                    "688-692) never fires", WARNING))
    stage = str(params.get("deepspeed_stage"))
    custom = params.get("deepspeed")
    if isinstance(custom, str) and custom and not custom.startswith(("azureml:", "https://", "http://")):
        if not deepspeed:
            out.append(((*PARAMS, "deepspeed"), f"ignored without apply_deepspeed: true ({FINETUNE} lines "
                                                "1343-1347)", WARNING))
        elif (root / custom).is_file():
            found, stage = _custom_config(root / custom, custom, stage)
            out += found
    if deepspeed and stage == "3":
        out += _zero3_model_type(params, facts)
    return out


def _custom_config(path: Path, shown: str, stage: str) -> tuple[list[tuple[tuple[Any, ...], str, str]], str]:
    """The custom DeepSpeed config's problems (finetune.py refuses them at run time), and the stage it sets."""
    field = (*PARAMS, "deepspeed")
    config = fit.read_deepspeed_config(path)
    if config is None:
        return [(field, f"{shown} is not a JSON object, which the fine-tune fails to read (\"Invalid deepspeed config "
                        f"file. Unable to load json file.\", {FINETUNE} lines 606-643)", ERROR)], stage
    zero = config.get("zero_optimization")
    found = zero.get("stage") if isinstance(zero, dict) else None
    if not isinstance(found, int):
        return [(field, f"{shown} has no zero_optimization.stage: the fine-tune fails with \"Stage information is "
                        f"missing from the config file.\" ({FINETUNE} lines 628-643)", ERROR)], stage
    if found == 3 and not (isinstance(zero, dict) and zero.get("stage3_gather_16bit_weights_on_model_save") is True):
        return [(field, f"{shown} is a ZeRO-3 config without \"stage3_gather_16bit_weights_on_model_save\": true: the "
                        f"fine-tune fails with \"stage3_gather_16bit_weights_on_model_save should be `true` in "
                        f"deepspeed stage 3 config.\" ({FINETUNE} lines 742-756); add it under zero_optimization",
                 ERROR)], "3"
    return [], str(found)


def model_type_note(spec: Any) -> str:
    """Plan's line when ZeRO-3's model-type rules apply and the model's own defaults vouch for the combination (the
    render warning covers the other cases), else ''."""
    params = fit.effective(spec.data["finetune"]["parameters"], spec.interface)
    if not fit.flag(params.get("apply_deepspeed")) or str(params.get("deepspeed_stage")) != "3" or params.get(
            "deepspeed") or _zero3_model_type(params, spec.model_facts) or spec.model_facts is None:
        return ""
    lora = " with LoRA" if fit.flag(params.get("apply_lora")) else ""
    return (f"ZeRO-3{lora} fails for some model types ({FINETUNE} lines 192-200, 671-735); the model_type of "
            f"{spec.model_facts.name} is not known offline, and its model_specific_defaults set ZeRO-3{lora}, as "
            "Microsoft runs it")


def _zero3_model_type(params: dict[str, Any], facts: ModelFacts | None) -> list[tuple[tuple[Any, ...], str, str]]:
    """ZeRO-3 fails for model type mixformer-sequential, and with LoRA for model types off finetune.py's list. The
    registry model's model_type is not known offline: warn, unless the model's own defaults set this combination
    (Microsoft then runs it as its default)."""
    lora = fit.flag(params.get("apply_lora"))
    defaults = facts.model_specific_defaults if facts else {}
    lora_default = str(defaults.get("apply_lora")).lower() == "true"
    own = str(defaults.get("deepspeed_stage")) == "3" and (not lora or lora_default)
    if own:
        return []
    name = facts.name if facts else "this model"
    rule = (f"ZeRO-3 fails for model type mixformer-sequential ({FINETUNE} lines 698-702)"
            + (f" and, with LoRA, for every model type but {', '.join(ZERO3_LORA_MODEL_TYPES)} (lines 192-200, "
               "679-686)" if lora else ""))
    return [((*PARAMS, "apply_lora" if lora else "deepspeed_stage"),
             f"{rule}; the model_type of {name} is not known offline (it is the registry model's config.model_type) "
             "and its model_specific_defaults do not set this combination, so this is not checked: a wrong type fails "
             "after the model import and the preprocessing", WARNING)]
