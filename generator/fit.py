"""Will it fit: the fine-tune's memory per GPU and per node, and the deployment's weights, against the VM size.

What the fine-tune step really runs is read in Azure/azureml-assets at the catalog's commit (`ASSETS`): with
apply_deepspeed its finetune.py takes the `deepspeed` config file when one is given, else zero2.json or zero3.json
beside it by deepspeed_stage (finetune.py lines 855-868). zero3.json offloads the optimizer and the parameters to CPU
(lines 15-24), zero2.json the optimizer (lines 9-21): what must fit is split between GPU memory and the VM's host
memory. Model-state memory comes from DeepSpeed's published estimator (`ZERO3_ESTIMATOR`, `ZERO2_ESTIMATOR`), with its
own multipliers; each figure prints what it leaves out. Every need is a range: `low` is what the model states take
at least (render refuses when it cannot fit), `high` DeepSpeed's estimate with its buffer factor (render warns when
it may not fit). This module never imports azure-ai-ml and never touches the network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import catalog
from generator.component import ComponentInterface

ASSETS = "Azure/azureml-assets assets/training/finetune_acft_hf_nlp/src/finetune"
ASSETS_COMMIT = "4b41f8cc"  # the catalog's commit (generator/catalog/models.yml)
# DeepSpeed 0.19.8, the PyPI sdist deepspeed-0.19.8.tar.gz: deepspeed/runtime/zero/stage3.py lines 4016-4052
# (estimate_zero3_model_states_mem_needs) and deepspeed/runtime/zero/stage_1_and_2.py lines 4017-4034
# (estimate_zero2_model_states_mem_needs). Both take additional_buffer_factor=1.5 for the CPU figure.
ZERO3_ESTIMATOR = "DeepSpeed 0.19.8 deepspeed/runtime/zero/stage3.py:4016-4052"
ZERO2_ESTIMATOR = "DeepSpeed 0.19.8 deepspeed/runtime/zero/stage_1_and_2.py:4017-4034"
BUFFER_FACTOR = 1.5
# Mixed-precision AdamW without DeepSpeed: "18 bytes per model parameter plus activation memory"; fp32 training keeps
# 4 bytes of weights, 8 of AdamW states and 4 of gradients per parameter (huggingface/transformers
# docs/source/en/model_memory_anatomy.md @249ef816, "Anatomy of Model's Memory").
MEMORY_ANATOMY = "huggingface/transformers docs/source/en/model_memory_anatomy.md @249ef816"
TRAIN_BYTES = {"16": 18, "32": 16}
WEIGHT_BYTES = {"16": 2, "32": 4}  # one weight in 16-bit or in fp32 (the same page: 4 bytes per parameter in fp32)
GIB = 2 ** 30


@dataclass(frozen=True)
class Offload:
    """A DeepSpeed configuration as far as memory is concerned: its ZeRO stage and what it offloads to CPU."""

    stage: int
    optimizer: bool
    parameters: bool
    source: str  # the file, and what it offloads
    cite: str = ""  # where the file was read

    def describe(self) -> str:
        """`ZeRO-3 from zero3.json (optimizer and parameters offloaded to CPU)`."""
        offloaded = (("optimizer", self.optimizer), ("parameters", self.parameters))
        moved = " and ".join(what for what, on in offloaded if on)
        return f"ZeRO-{self.stage} from {self.source} ({moved or 'nothing'} offloaded to CPU)"


ZERO3 = Offload(3, True, True, "zero3.json", f"{ASSETS}/zero3.json @{ASSETS_COMMIT} lines 15-24")
ZERO2 = Offload(2, True, False, "zero2.json", f"{ASSETS}/zero2.json @{ASSETS_COMMIT} lines 9-21")


@dataclass(frozen=True)
class Setup:
    """What the fine-tune runs with: the model's parameters, LoRA or not, precision, DeepSpeed, nodes and GPUs."""

    model: str
    parameters: float | None
    lora: bool
    precision: str
    deepspeed: Offload | None
    deepspeed_unread: str  # why a custom DeepSpeed config's offload settings are unknown ("" when they are known)
    nodes: int
    gpus_per_node: int
    size: catalog.VmSize | None
    size_name: str

    @property
    def gpus(self) -> int:
        """GPUs over all nodes."""
        return self.nodes * self.gpus_per_node

    def kind(self) -> str:
        """`LoRA of Phi-4 (14B parameters) with ZeRO-3 from zero3.json (...) on 1 node(s) x 1 GPU(s)`."""
        what = "LoRA" if self.lora else "a full fine-tune"
        size = f" ({self.parameters / 1e9:g}B parameters)" if self.parameters else ""
        how = self.deepspeed.describe() if self.deepspeed else "without DeepSpeed"
        return f"{what} of {self.model}{size} with {how} on {self.nodes} node(s) x {self.gpus_per_node} GPU(s)"


@dataclass(frozen=True)
class Need:
    """Memory one resource needs (bytes; `low` None when it cannot be computed), what it has, and the assumptions."""

    label: str  # "host memory" / "GPU memory" / "serving memory"
    per: str  # "per node" / "per GPU" / "per instance"
    field: tuple[str, ...]
    low: float | None
    high: float | None
    have: float | None
    have_text: str
    assumptions: str

    @property
    def verdict(self) -> str:
        """fits / may not fit / does not fit / not checked."""
        if self.low is None or self.have is None:
            return "not checked"
        if self.low > self.have:
            return "does not fit"
        if self.high is not None and self.high > self.have:
            return "may not fit"
        return "fits"

    def figures(self) -> str:
        """`26.1-78.2 GiB (28-84 GB) per node; Standard_NC24ads_A100_v4 has 220 GiB: fits`."""
        if self.low is None:
            need = "not computed"
        elif self.high is None or round(self.high / GIB, 1) == round(self.low / GIB, 1):
            need = f"{gib(self.low)} {self.per}"
        else:
            need = (f"{self.low / GIB:,.1f}-{self.high / GIB:,.1f} GiB "
                    f"({self.low / 1e9:,.0f}-{self.high / 1e9:,.0f} GB) {self.per}")
        return f"{need}; {self.have_text}: {self.verdict}"


def gib(value: float) -> str:
    """Bytes as GiB, with GB beside them: `234.7 GiB (252 GB)`."""
    return f"{value / GIB:,.1f} GiB ({value / 1e9:,.0f} GB)"


def flag(value: Any) -> bool:
    """A bool-string parameter ("true"/"false", or a bool) as a bool."""
    return str(value).lower() == "true"


def read_deepspeed_config(path: Path) -> dict[str, Any] | None:
    """A custom DeepSpeed config file's JSON object, or None when it cannot be read as one."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def offload_of(config: dict[str, Any], source: str) -> Offload | None:
    """The stage and offload devices of a DeepSpeed config (finetune.py identify_deepspeed_stage reads
    zero_optimization.stage, lines 628-643); None without a stage of 2 or 3."""
    zero = config.get("zero_optimization")
    zero = zero if isinstance(zero, dict) else {}
    stage = zero.get("stage")
    if stage not in (2, 3):
        return None

    def on_cpu(key: str) -> bool:
        section = zero.get(key)
        return isinstance(section, dict) and str(section.get("device", "none")).lower() == "cpu"

    return Offload(int(stage), on_cpu("offload_optimizer"), on_cpu("offload_param") and stage == 3, source)


USED = ("apply_deepspeed", "deepspeed_stage", "deepspeed", "apply_lora", "precision", "num_nodes_finetune",
        "per_device_train_batch_size", "auto_find_batch_size", "apply_ort")


def effective(params: dict[str, Any], interface: ComponentInterface) -> dict[str, Any]:
    """The parameters this module reads: the given ones (the spec's and the model's defaults), else the
    component's defaults."""
    out = {name: interface.default(name) for name in USED}
    out.update({name: value for name, value in params.items() if name in USED})
    return out


def setup(data: dict[str, Any], params: dict[str, Any], root: Path, gpus_per_node: int) -> Setup:
    """The fine-tune's setup from the spec's data and its effective parameters (the spec's, the model's defaults, the
    component's defaults, in that order)."""
    model = data["foundation_model"]["name"]
    size_facts = catalog.model_size(model)
    offload: Offload | None = None
    unread = ""
    if flag(params.get("apply_deepspeed")):
        custom = params.get("deepspeed")
        if isinstance(custom, str) and custom:
            config = read_deepspeed_config(root / custom) if "://" not in custom and not custom.startswith(
                "azureml:") else None
            offload = offload_of(config, f"the spec's {custom}") if config is not None else None
            if offload is None:
                unread = (f"the DeepSpeed config {custom} is not a local file with a ZeRO stage, so its offload is "
                          "unknown")
        else:
            offload = ZERO3 if str(params.get("deepspeed_stage")) == "3" else ZERO2
    return Setup(model=model, parameters=size_facts.parameters if size_facts else None,
                 lora=flag(params.get("apply_lora")), precision=str(params.get("precision", "32")),
                 deepspeed=offload, deepspeed_unread=unread, nodes=int(params.get("num_nodes_finetune") or 1),
                 gpus_per_node=gpus_per_node, size=catalog.vm_size(data["compute"]["size"]),
                 size_name=data["compute"]["size"])


def _gpu_memory(size: catalog.VmSize | None) -> float | None:
    """One GPU's memory in bytes (gpus.yml's GB read as GiB, the larger reading), or None."""
    facts = catalog.gpu(size.gpu if size else None)
    return facts.memory_gb * GIB if facts and facts.memory_gb else None


def _host(s: Setup) -> tuple[float | None, float | None, str]:
    """Host memory per node: (low, high, assumptions)."""
    p, n, g, t = s.parameters or 0.0, s.nodes, s.gpus_per_node, s.gpus
    ds = s.deepspeed
    frozen = WEIGHT_BYTES.get(s.precision, 2)
    adapters = ("; the adapters' weights, gradients and optimizer states are not counted (their size depends on "
                "lora_r and the target modules, which are not read offline)")
    if ds is None:
        return None, None, ("without DeepSpeed nothing is offloaded to the host; how the model is loaded there is "
                            "not read, so host memory is not checked")
    if ds.stage == 3 and ds.parameters:
        if not s.lora:
            return (p * 18 / n, p * max(4 * g, 18 / n) * BUFFER_FACTOR,
                    f"{ZERO3_ESTIMATOR}, parameters and optimizer offloaded: 18 bytes x parameters / nodes with "
                    f"zero_init, x max(4 x GPUs per node, 18 / nodes) without, x{BUFFER_FACTOR:g} buffer for the upper "
                    "figure; activations are not counted")
        return (p * frozen / n, p * max(4 * g, frozen / n) * BUFFER_FACTOR,
                f"LoRA, which the estimator ({ZERO3_ESTIMATOR}) does not model: the frozen base weights at {frozen} "
                f"bytes/parameter (precision {s.precision}) offloaded and partitioned over {n} node(s); the upper "
                f"figure keeps the estimator's loading term without zero_init (4 bytes/parameter per GPU process) and "
                f"its x{BUFFER_FACTOR:g} buffer{adapters}")
    if ds.stage == 3:
        load = p * 4 * g * BUFFER_FACTOR
        if not s.lora and ds.optimizer:
            return (p * 16 / n, p * max(4 * g, 16 / n) * BUFFER_FACTOR,
                    f"{ZERO3_ESTIMATOR}, optimizer offloaded: 16 bytes x parameters / nodes with zero_init, x max(4 x "
                    f"GPUs per node, 16 / nodes) without, x{BUFFER_FACTOR:g} buffer for the upper figure")
        return (0.0, load, f"{ZERO3_ESTIMATOR}: nothing the estimator counts stays on the host with zero_init; "
                           f"without it each GPU process loads 4 bytes/parameter, x{BUFFER_FACTOR:g} buffer"
                           + (adapters if s.lora else ""))
    if ds.optimizer and not s.lora:
        return (p * max(4 * t, 16), p * max(4 * t, 16) * BUFFER_FACTOR,
                f"{ZERO2_ESTIMATOR}, optimizer offloaded: max(4 x GPUs, 16) bytes x parameters per node, "
                f"x{BUFFER_FACTOR:g} buffer for the upper figure; activations are not counted")
    load = p * 4 * (t if ds.optimizer else g)
    return (0.0 if s.lora else load, load * BUFFER_FACTOR,
            f"{ZERO2_ESTIMATOR}: the estimator's loading term, 4 bytes/parameter per GPU process, x{BUFFER_FACTOR:g} "
            "buffer for the upper figure" + (adapters if s.lora else ""))


def _gpu(s: Setup) -> tuple[float | None, str]:
    """GPU memory per GPU: (low or None, assumptions). DeepSpeed's estimator gives no buffer on the GPU side."""
    p, t = s.parameters or 0.0, s.gpus
    ds = s.deepspeed
    frozen = WEIGHT_BYTES.get(s.precision, 2)
    tail = "; activations are not counted (they grow with per_device_train_batch_size and max_seq_length)"
    if ds is None:
        if s.lora:
            return (p * frozen, f"LoRA without DeepSpeed: the frozen base weights at {frozen} bytes/parameter "
                                f"(precision {s.precision}) on every GPU ({MEMORY_ANATOMY}); the adapters' states are "
                                f"not counted{tail}")
        per = TRAIN_BYTES.get(s.precision, 18)
        precision = "mixed-precision" if s.precision == "16" else "fp32"
        return (p * per, f"{per} bytes/parameter on every GPU for {precision} AdamW ({MEMORY_ANATOMY}){tail}")
    if ds.stage == 3 and ds.parameters:
        return (None, f"{ZERO3_ESTIMATOR}, parameters offloaded: 4 x the largest layer's parameters, which no file "
                      f"here gives for {s.model}, so GPU memory is not checked{tail}")
    if ds.stage == 3:
        states: float = (2 if ds.optimizer else 18) if not s.lora else frozen
        return (p * states / t, f"{ZERO3_ESTIMATOR}: {states} bytes x parameters / {t} GPU(s)"
                                + (" (LoRA: the frozen weights, partitioned)" if s.lora else "")
                                + f", plus 4 x the largest layer (not on file, not counted){tail}")
    if s.lora:
        return (p * frozen, f"LoRA with ZeRO-2, which partitions gradients and optimizer states but not parameters "
                            f"({ZERO2_ESTIMATOR}, 2 bytes x parameters for the 16-bit weights): the frozen base "
                            f"weights at {frozen} bytes/parameter on every GPU{tail}")
    states = 2 if ds.optimizer else 2 + 18 / t
    return (p * states, f"{ZERO2_ESTIMATOR}: {states:g} bytes x parameters per GPU "
                        f"({'optimizer offloaded' if ds.optimizer else 'nothing offloaded'}){tail}")


def training_needs(s: Setup) -> list[Need]:
    """Host memory per node and GPU memory per GPU of the fine-tune, against the compute size."""
    size = s.size
    host_have = size.memory_gib * GIB if size and size.memory_gib else None
    host_text = (f"{size.name} has {size.memory_gib} GiB" if host_have and size
                 else f"no host memory on file for {s.size_name}")
    gpu_have = _gpu_memory(size)
    gpu_text = (f"each {size.gpu} of {size.name} has {gpu_have / GIB:g} GiB" if gpu_have and size
                else f"no GPU memory on file for {s.size_name}")
    if s.parameters is None or s.deepspeed_unread:
        why = s.deepspeed_unread or f"no parameter count for {s.model} (generator/catalog/model_sizes.yml)"
        return [Need("host memory", "per node", ("compute", "size"), None, None, host_have, host_text, why),
                Need("GPU memory", "per GPU", ("compute", "size"), None, None, gpu_have, gpu_text, why)]
    low, high, host_why = _host(s)
    gpu_low, gpu_why = _gpu(s)
    config = f"; {s.deepspeed.source}: {s.deepspeed.cite}" if s.deepspeed and s.deepspeed.cite else ""
    if s.deepspeed and s.precision != "16" and not s.lora:
        config += (f"; the estimator assumes 16-bit weights with fp32 master copies, and precision {s.precision} is "
                   "counted the same")
    return [Need("host memory", "per node", ("compute", "size"), low, high, host_have, host_text, host_why + config),
            Need("GPU memory", "per GPU", ("compute", "size"), gpu_low, gpu_low, gpu_have, gpu_text, gpu_why + config)]


def deployment_need(data: dict[str, Any]) -> Need:
    """The model's weights at serving precision against one deployment instance's GPU memory."""
    model = data["foundation_model"]["name"]
    name = data["deployment"]["instance_type"]
    size = catalog.vm_size(name)
    per_gpu = _gpu_memory(size)
    have = per_gpu * size.gpus if per_gpu and size and size.gpus else None
    have_text = (f"{size.name} has {have / GIB:g} GiB ({size.gpus} x {size.gpu})" if have and size
                 else f"no GPU memory on file for {name}")
    facts = catalog.model_size(model)
    if facts is None:
        return Need("serving memory", "per instance", ("deployment", "instance_type"), None, None, have, have_text,
                    f"no parameter count for {model} (generator/catalog/model_sizes.yml)")
    p = facts.parameters
    return Need("serving memory", "per instance", ("deployment", "instance_type"), p * WEIGHT_BYTES["16"],
                p * WEIGHT_BYTES["32"], have, have_text,
                f"{model} {p / 1e9:g}B parameters at 2 bytes each in 16-bit, 4 in fp32 ({MEMORY_ANATOMY}); which "
                "precision the registered MLflow model is served in is not read offline; the KV cache and the "
                "inference server's own memory are not counted")


# zero3.json line 31: "stage3_max_live_parameters": 1e9, "The maximum number of parameters resident per GPU before
# releasing" (DeepSpeed 0.19.8 deepspeed/runtime/zero/config.py lines 245-249): with more parameters than that, the
# forward pass releases what it used, and the backward pass fetches it again.
MAX_LIVE = 1e9


@dataclass(frozen=True)
class Transfer:
    """Hours the GPUs spend at least receiving offloaded parameters: one pass per micro-batch (`low`), and a
    forward plus a backward pass (`high`)."""

    low: float
    high: float
    assumptions: str


def offload_transfer(s: Setup, conversations: int, epochs: int, batch: int) -> Transfer | str | None:
    """The time ZeRO-3's offloaded parameters take to reach the GPUs over their host links: None when nothing is
    offloaded, the reason (to print) when it cannot be counted. One micro-batch is `batch` conversations per GPU
    (no packing assumed: the preprocessing is not read to confirm it); each GPU receives its partition of the
    weights (parameters / GPUs) for the forward pass and, beyond MAX_LIVE parameters, again for the backward pass."""
    if s.deepspeed is None or not s.deepspeed.parameters or s.parameters is None:
        return None
    facts = catalog.gpu(s.size.gpu if s.size else None)
    if facts is None or not facts.pcie_gbps:
        gpu = s.size.gpu if s.size and s.size.gpu else s.size_name
        return (f"the parameters are offloaded to CPU ({s.deepspeed.source}) and move to the GPU every micro-batch, "
                f"but no host-link rate is on file for {gpu} (generator/catalog/gpus.yml): the range is optimistic")
    steps = math.ceil(conversations / max(batch * s.gpus, 1)) * epochs
    weights = WEIGHT_BYTES.get(s.precision, 2) * s.parameters / s.gpus
    again = weights * max(s.parameters - MAX_LIVE, 0.0) / s.parameters
    rate = facts.pcie_gbps * 1e9
    low, high = steps * weights / rate / 3600, steps * (weights + again) / rate / 3600
    return Transfer(low, high, f"parameters offloaded ({s.deepspeed.source}): {steps:,} micro-batches x "
                               f"{weights / 1e9:,.1f} GB of weights per GPU host-to-GPU at {facts.pcie_gbps:g} GB/s "
                               f"(gpus.yml), once per micro-batch overlapped with compute for the lower figure, and "
                               f"again in the backward pass beyond stage3_max_live_parameters {MAX_LIVE:,.0f}, not "
                               "overlapped, for the upper")
