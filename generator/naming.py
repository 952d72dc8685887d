"""Deterministic names: Azure itself is the state, so names derive from the spec alone."""

from __future__ import annotations

from typing import Any

from generator import catalog
from generator.component import ComponentInterface


def job_name(data: dict[str, Any], point: str | None = None) -> str:
    """The pipeline job's name: `<experiment>-run<run>` (bump run to train again); a sweep point's adds
    `-<point>`."""
    return f"{data['experiment']['name']}-run{data['experiment']['run']}" + (f"-{point}" if point else "")


def model_version(data: dict[str, Any]) -> str:
    """The registered model's version: the experiment's run number."""
    return str(data["experiment"]["run"])


def data_asset_name(data: dict[str, Any], split: str) -> str:
    """The data asset holding `split` of this experiment's prepared data."""
    return f"{data['experiment']['name']}-{split}"


def gpus_per_node(data: dict[str, Any]) -> int:
    """GPUs per node of the compute: the spec's gpus_per_node, else the known size's count."""
    compute = data["compute"]
    if compute.get("gpus_per_node") is not None:
        return int(compute["gpus_per_node"])
    known = catalog.vm_size(compute["size"])
    if known is None or known.gpus is None:
        raise ValueError(f"unknown VM size {compute['size']!r} and no gpus_per_node")
    return known.gpus


def dataset_tag(data: dict[str, Any]) -> str:
    """Short dataset name for display names: HuggingFaceH4/ultrachat_200k → ultrachat."""
    return str(data["data"]["dataset"]).rsplit("/", 1)[-1].split("_", 1)[0].lower()


def display_name(data: dict[str, Any], interface: ComponentInterface) -> str:
    """The seed's job display name, so runs are told apart in Studio at a glance."""
    params = data["finetune"]["parameters"]

    def value(name: str) -> Any:
        return params.get(name, interface.default(name))

    def flag(name: str) -> bool:
        return str(value(name)).lower() == "true"

    batch = (int(value("per_device_train_batch_size")) * int(value("gradient_accumulation_steps"))
             * gpus_per_node(data) * int(value("num_nodes_finetune")))
    deepspeed = f"ds{value('deepspeed_stage')}" if flag("apply_deepspeed") else "nods"
    lora = "lora" if flag("apply_lora") else "nolora"
    return (f"{data['foundation_model']['name']}-{dataset_tag(data)}-bs{batch}-{value('lr_scheduler_type')}-"
            f"{deepspeed}-{lora}-save_limit{value('save_total_limit')}-seqlen{value('max_seq_length')}")
