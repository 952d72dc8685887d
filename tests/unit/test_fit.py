"""Will it fit (issue 30): the fine-tune's host memory per node and GPU memory per GPU from the component's own
DeepSpeed configs and DeepSpeed 0.19.8's estimator, and the deployment's weights, each checked against a hand
computation of the published formulas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import catalog, fit

GIB = 2 ** 30
PHI4 = 14e9  # generator/catalog/model_sizes.yml


def _setup(lora: bool, deepspeed: fit.Offload | None = fit.ZERO3, nodes: int = 1, gpus: int = 1,
           size: str = "Standard_NC24ads_A100_v4", precision: str = "16") -> fit.Setup:
    return fit.Setup(model="Phi-4", parameters=PHI4, lora=lora, precision=precision, deepspeed=deepspeed,
                     deepspeed_unread="", nodes=nodes, gpus_per_node=gpus, size=catalog.vm_size(size), size_name=size)


def _host(setup: fit.Setup) -> fit.Need:
    return next(n for n in fit.training_needs(setup) if n.label == "host memory")


def _gpu(setup: fit.Setup) -> fit.Need:
    return next(n for n in fit.training_needs(setup) if n.label == "GPU memory")


def test_a_full_fine_tune_with_zero3_follows_deepspeeds_formula_and_does_not_fit_one_nc24ads() -> None:
    need = _host(_setup(lora=False))
    # stage3.py:4016-4052, cpu_offload and cpu_offload_params: zero_init 18 x params / nodes; without it
    # params x max(4 x GPUs per node, 18 / nodes); x additional_buffer_factor 1.5
    assert need.low == 18 * PHI4 == 252e9
    assert need.high == PHI4 * max(4 * 1, 18 / 1) * 1.5 == pytest.approx(378e9)
    assert need.have == 220 * GIB  # vm_sizes.yml, read as GiB
    assert need.verdict == "does not fit"
    assert need.figures() == ("234.7-352.0 GiB (252-378 GB) per node; Standard_NC24ads_A100_v4 has 220 GiB: "
                              "does not fit")


def test_two_nodes_halve_the_host_memory_and_fit() -> None:
    need = _host(_setup(lora=False, nodes=2))
    assert need.low == 18 * PHI4 / 2
    assert need.high == pytest.approx(PHI4 * max(4, 18 / 2) * 1.5)  # 189 GB = 176.0 GiB < 220 GiB
    assert need.verdict == "fits"


def test_four_gpus_per_node_without_zero_init_raise_the_upper_figure_only() -> None:
    need = _host(_setup(lora=False, gpus=4, size="Standard_NC96ads_A100_v4"))
    assert need.low == 18 * PHI4 and need.high == pytest.approx(PHI4 * max(16, 18) * 1.5)
    assert need.verdict == "fits"  # 880 GiB


def test_lora_counts_the_frozen_weights_at_2_bytes_instead_of_the_estimators_18() -> None:
    need = _host(_setup(lora=True))
    assert need.low == 2 * PHI4  # 16-bit frozen weights, offloaded (zero3.json offload_param)
    assert need.high == pytest.approx(PHI4 * max(4, 2) * 1.5)  # the estimator's loading term kept, with its buffer
    assert need.verdict == "fits"
    assert "the adapters' weights, gradients and optimizer states are not counted" in need.assumptions


def test_with_parameters_offloaded_the_gpu_side_needs_the_largest_layer_which_is_not_on_file() -> None:
    need = _gpu(_setup(lora=False))
    assert need.low is None and need.verdict == "not checked"
    assert "4 x the largest layer's parameters, which no file here gives for Phi-4" in need.assumptions
    assert need.have == 80 * GIB  # gpus.yml A100 80GB PCIe


def test_zero2_offloads_the_optimizer_only_and_keeps_16_bit_weights_on_every_gpu() -> None:
    setup = _setup(lora=False, deepspeed=fit.ZERO2, gpus=2, size="Standard_NC48ads_A100_v4")
    host, gpu = _host(setup), _gpu(setup)
    # stage_1_and_2.py:4017-4034, cpu_offload: gpu 2 x params; cpu params x max(4 x total GPUs, 16) x 1.5
    assert gpu.low == 2 * PHI4 and gpu.verdict == "fits"
    assert host.low == PHI4 * 16 and host.high == pytest.approx(PHI4 * 16 * 1.5)
    assert host.have == 440 * GIB and host.verdict == "fits"  # 336 GB = 312.9 GiB at most


def test_between_the_bounds_render_warns_instead_of_refusing() -> None:
    # 2 nodes of NC24ads: 18 x 14e9 / 2 = 126 GB per node with zero_init; 14e9 x max(4, 9) x 1.5 = 189 GB without:
    # both under 220 GiB. With 7e9 more parameters on one node of NC48ads (440 GiB): 378 GB low, 567 GB high.
    setup = fit.Setup(model="x", parameters=21e9, lora=False, precision="16", deepspeed=fit.ZERO3, deepspeed_unread="",
                      nodes=1, gpus_per_node=2, size=catalog.vm_size("Standard_NC48ads_A100_v4"),
                      size_name="Standard_NC48ads_A100_v4")
    need = _host(setup)
    assert need.low == 18 * 21e9 < 440 * GIB < need.high == pytest.approx(21e9 * 18 * 1.5)
    assert need.verdict == "may not fit"


def test_without_deepspeed_a_full_fine_tune_needs_18_bytes_per_parameter_on_every_gpu() -> None:
    gpu = _gpu(_setup(lora=False, deepspeed=None))
    assert gpu.low == 18 * PHI4 and gpu.verdict == "does not fit"  # model_memory_anatomy.md: mixed-precision AdamW
    assert _gpu(_setup(lora=False, deepspeed=None, precision="32")).low == 16 * PHI4
    assert _host(_setup(lora=False, deepspeed=None)).verdict == "not checked"


def test_custom_configs_are_read_for_their_stage_and_offload(tmp_path: Path) -> None:
    config = {"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"}}}
    offload = fit.offload_of(config, "ds.json")
    assert (offload.stage, offload.optimizer, offload.parameters) == (3, True, False)
    need = _gpu(_setup(lora=False, deepspeed=offload))
    assert need.low == 2 * PHI4  # stage3.py: largest layer x 4 (not counted) + 2 x params / GPUs
    assert fit.offload_of({"zero_optimization": {}}, "x") is None


def test_the_deployment_needs_the_weights_in_16_bit_at_least() -> None:
    data = {"foundation_model": {"name": "Phi-4"}, "deployment": {"instance_type": "Standard_NC4as_T4_v3"}}
    need = fit.deployment_need(data)
    assert need.low == 2 * PHI4 and need.high == 4 * PHI4 and need.have == 16 * GIB
    assert need.verdict == "does not fit"
    data["deployment"]["instance_type"] = "Standard_NC24ads_A100_v4"
    assert fit.deployment_need(data).verdict == "fits"
    data["foundation_model"]["name"] = "some-model-outside-the-catalog"
    outside = fit.deployment_need(data)
    assert outside.verdict == "not checked" and "no parameter count for some-model-outside-the-catalog" in \
        outside.assumptions


def test_the_offloaded_parameters_cross_the_host_link_every_micro_batch() -> None:
    moved = fit.offload_transfer(_setup(lora=True), conversations=320, epochs=3, batch=1)
    steps = 960
    assert moved.low == pytest.approx(steps * 2 * PHI4 / 32e9 / 3600)  # one pass at 32 GB/s (gpus.yml)
    assert moved.high == pytest.approx(steps * (2 * PHI4 + 2 * (PHI4 - 1e9)) / 32e9 / 3600)
    no_rate = fit.offload_transfer(_setup(lora=True, size="Standard_ND96isr_H100_v5", gpus=8), 320, 3, 1)
    assert isinstance(no_rate, str) and no_rate.endswith("(generator/catalog/gpus.yml): the range is optimistic")
    assert fit.offload_transfer(_setup(lora=True, deepspeed=fit.ZERO2), 320, 3, 1) is None


def test_every_gpu_has_its_memory_with_a_source() -> None:
    for size in catalog.vm_sizes():
        if size.gpus and size.gpu != "K80":
            gpu = catalog.gpu(size.gpu)
            assert gpu is not None and gpu.memory_gb, size.name
            assert gpu.sources["memory_gb_source"].startswith("MicrosoftDocs/azure-compute-docs"), size.gpu


def test_the_example_is_accepted_and_a_full_fine_tune_of_it_is_refused_on_host_memory(project: Path, cli) -> None:
    assert cli("render", root=project).exit_code == 0
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("apply_lora: true", "apply_lora: false"))
    shutil.rmtree(project / "generated")
    result = cli("render", root=project)
    assert result.exit_code == 2 and not (project / "generated").exists()
    assert result.stderr.startswith(
        "specs/phi4-ultrachat.yaml:27:9: compute.size: a full fine-tune of Phi-4 (14B parameters) with ZeRO-3 from "
        "zero3.json (optimizer and parameters offloaded to CPU) on 1 node(s) x 1 GPU(s) needs at least 234.7 GiB "
        "(252 GB) of host memory per node (DeepSpeed's estimate with its buffer: 352.0 GiB (378 GB)), and "
        "Standard_NC24ads_A100_v4 has 220 GiB: the job would import and preprocess the model on billed nodes, then "
        "fail; use LoRA (apply_lora: true), more nodes")
