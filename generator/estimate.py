"""What an experiment will take before it runs: training tokens, training hours, and (given prices) money.

A stated model, printed with its assumptions, never a hidden guess:
- tokens: the prepared train split, per conversation the tokenizer's count when `data stats --tokenizer`
  recorded one for this very file, else chars / 4 (labelled an estimate); each conversation cut at
  max_seq_length (the model's context window when it is -1); times the epochs;
- compute: about 4 x parameters x tokens FLOPs for LoRA fine-tuning, 6 x for full fine-tuning, with the
  model's parameter count (catalog/model_sizes.yml; the active count for a mixture of experts);
- evaluation jobs (base and tuned, `evaluation:`): decoding one conversation at a time reads every weight per
  generated token, so the time is at least the weights over the GPU's memory bandwidth per token, plus model load
  and compute start-up; with a fact missing the line says "cannot be estimated" and why;
- the fine-tune's own evaluation: chat_completion_pipeline 0.0.82 evaluates on the test split every epoch by default
  (`evaluation_strategy: epoch`, generator/components/chat_completion_pipeline-0.0.82.yml); evaluation is a forward
  pass only, so 2 x parameters x evaluation tokens FLOPs per epoch (the test split, cut like the train split);
- speed: the GPU's peak dense bf16/fp16 throughput (catalog/gpus.yml) x GPUs used x a model-FLOPs
  utilisation between MFU_LOW and MFU_HIGH, plus FIXED_HOURS for model import, preprocessing and
  model conversion; with ZeRO-3's parameters offloaded to CPU, at least the time the weights take to cross the GPUs'
  host links every micro-batch (generator/fit.py offload_transfer), or a note that the range is optimistic;
- calibration: when an earlier run of the experiment finished, its training time (the `train_runtime` metric
  Hugging Face's Trainer logs) and its token count replace the FLOPs model for the fine-tune step;
- money: hours x instances x the VM size's hourly price (generator/prices.py), never an invented price.
This module never imports azure-ai-ml and never touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import catalog
from generator.data.records import read_jsonl, record_problems
from generator.data.stats import CHARS_PER_TOKEN
from generator.files import sha256, write_atomically

if TYPE_CHECKING:
    from generator.spec import Spec

# Model-FLOPs utilisation for fine-tuning, counted as FLOPS_PER_PARAM_TOKEN x parameters x tokens. The closest
# published measurement to the example (LoRA, batch size 1, one A100-SXM4-80G): QwenLM/Qwen README.md @03cd81f5,
# "Profiling of Memory and Speed", Qwen-14B LoRA at batch 1 x gradient accumulation 8 (with gradient checkpointing
# and Flash Attention 2, no DeepSpeed): 1.6 s/it at 256 tokens, 4.4 at 1,024, 8.4 at 2,048, 17.0 at 4,096, i.e.
# 4 x 14.2e9 x 8 x length / s/it / 312e12 = 23 % at 256 tokens, 34-35.5 % from 1,024 to 4,096. MFU_HIGH is that
# best case; MFU_LOW allows below its 256-token figure for ZeRO-3's per-layer gathers and an attention kernel we do
# not know (an assumption: no published figure for LoRA with ZeRO-3 on one GPU was found). No LoRA figure was found
# for H100; full-training benchmarks of one stack (mosaicml/llm-foundry scripts/train/benchmarking/README.md
# @061f2c7c: 13B at 59.6 % on A100-80GB, 39.8 % on H100-80GB) suggest an H100 reaches about 0.7 of the A100's
# utilisation, so on H100 the range is optimistic. Calibration from a finished run replaces it (README, "What it will
# cost").
MFU_LOW, MFU_HIGH = 0.15, 0.35
FIXED_HOURS = (0.25, 0.75)  # model import, preprocessing and model conversion: a stated allowance
# Per evaluation job: starting the compute and loading the model for model_prediction. A stated allowance like
# FIXED_HOURS: no published figure for either was found.
EVAL_FIXED_HOURS = (0.1, 0.5)
EVALUATED_MODELS = ("base", "tuned")
FLOPS_PER_PARAM_TOKEN = {True: 4, False: 6}  # LoRA (forward + activation gradients), full fine-tuning
# A month of hours for monthly figures. A Microsoft page states 730 for its monthly estimates ("The monthly price
# estimates are based on 730 hours of usage.", MicrosoftDocs/azure-stack-docs AKS-Hybrid/pricing.md @db2f1717), but for
# AKS hybrid, not for VMs or Azure ML. Searched, no Microsoft source for VMs found: find_string "730 hours", "730 hours
# per month", "730 hours in a month", "based on 730 hours"; search (docs, pages, code) "pricing calculator 730 hours
# per month" (third-party pages only).
HOURS_PER_MONTH = 730
FORWARD_FLOPS_PER_PARAM_TOKEN = 2  # evaluation: forward pass only
BYTES_PER_PARAM = 2  # bf16/fp16 weights, as the GPU's dense_tflops figure assumes
TOKEN_COUNTS = ".token-counts.json"  # written by `data stats --tokenizer`, beside the prepared files


@dataclass(frozen=True)
class Tokens:
    """Training tokens: the count, how it was made, and how much truncation removed."""

    per_epoch: int
    epochs: int
    conversations: int
    truncated: int
    max_seq_length: int
    method: str

    @property
    def total(self) -> int:
        """Tokens seen over all epochs."""
        return self.per_epoch * self.epochs


@dataclass(frozen=True)
class Hours:
    """A training-time range in hours, and the one line of assumptions it rests on."""

    low: float
    high: float
    assumptions: str


@dataclass(frozen=True)
class Estimate:
    """Everything plan prints about cost; a part it cannot compute is None with the reason in `missing`."""

    tokens: Tokens | None
    hours: Hours | None
    train_nodes: int
    compute_size: str
    deployment_size: str
    deployment_instances: int
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sweep: str = ""  # how a sweep's figures were summed
    evaluation: EvaluationEstimate | None = None


@dataclass(frozen=True)
class EvaluationEstimate:
    """The evaluation jobs (base and tuned): the tokens they generate at most, on which size, for how long."""

    tokens: int
    size: str
    tier: str
    hours: Hours | None
    missing: str = ""


def _hours_text(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.2f} h"


def evaluation_estimate(spec: Spec) -> EvaluationEstimate | None:
    """The two evaluation jobs at their upper bound of generated tokens: 2 models x max_samples x max_new_tokens,
    on evaluation.instance_type (else the training compute). model_prediction answers one conversation at a time, so
    decoding is limited by memory bandwidth more than by FLOPs: every token reads the weights once, at least
    BYTES_PER_PARAM x parameters / bandwidth (over the size's GPUs, read in parallel at best), and the FLOPs at the
    training utilisation range only count where they are slower. Each job also loads the model and starts its
    compute: EVAL_FIXED_HOURS. Without a bandwidth on file the time cannot be estimated (the FLOPs alone would
    print minutes for hours of decoding). None without an evaluation: section."""
    typed = spec.sections
    section, compute = typed.evaluation, typed.compute
    if section is None or compute is None:
        return None
    tokens = 2 * section.max_samples * section.max_new_tokens
    size_name = section.instance_type or compute.size
    tier = "dedicated" if section.instance_type else compute.tier
    parameters = model_parameters(typed.foundation_model.name)
    size = catalog.vm_size(size_name)
    tflops = gpu_tflops(size.gpu if size else None)
    bandwidth = gpu_memory_gbps(size.gpu if size else None)
    if parameters is None:
        return EvaluationEstimate(tokens, size_name, tier, None, "no parameter count for the model "
                                                                 "(generator/catalog/model_sizes.yml)")
    if size is None or not size.gpus or tflops is None or bandwidth is None:
        what = "GPU throughput" if tflops is None else "memory bandwidth"
        gpu = size.gpu if size and size.gpu else size_name
        return EvaluationEstimate(tokens, size_name, tier, None, f"no {what} on file for {gpu} "
                                                                 "(generator/catalog/gpus.yml), so decoding's floor "
                                                                 "cannot be computed")
    flops = FORWARD_FLOPS_PER_PARAM_TOKEN * parameters * tokens
    peak = tflops * 1e12 * size.gpus
    floor = tokens * BYTES_PER_PARAM * parameters / (bandwidth * 1e9 * size.gpus) / 3600
    jobs = len(EVALUATED_MODELS)
    low = max(flops / (peak * MFU_HIGH) / 3600, floor) + jobs * EVAL_FIXED_HOURS[0]
    high = max(flops / (peak * MFU_LOW) / 3600, floor) + jobs * EVAL_FIXED_HOURS[1]
    hours = Hours(low, high,
                  f"{tokens:,} generated tokens ({jobs} models x {section.max_samples} conversations x "
                  f"{section.max_new_tokens} new tokens at most), one conversation at a time: at "
                  f"least {_hours_text(floor)} reading {BYTES_PER_PARAM} bytes x {parameters / 1e9:g}B parameters "
                  f"per token at {bandwidth:g} GB/s x {size.gpus} GPU(s), or {FORWARD_FLOPS_PER_PARAM_TOKEN} x "
                  f"parameters FLOPs per token at {tflops:g} TFLOPS and {MFU_LOW:.0%}-{MFU_HIGH:.0%} utilisation where "
                  f"slower; plus {EVAL_FIXED_HOURS[0]:g}-{EVAL_FIXED_HOURS[1]:g} h per job for loading the model and "
                  "starting the compute")
    return EvaluationEstimate(tokens, size_name, tier, hours)


def model_parameters(name: str) -> float | None:
    """Parameters one token passes through (the active count for a mixture of experts), or None."""
    size = catalog.model_size(name)
    return size.active if size else None


def gpu_memory_gbps(gpu: str | None) -> float | None:
    """Memory bandwidth of one `gpu` in GB/s, or None when no source was read."""
    facts = catalog.gpu(gpu)
    return facts.memory_gbps if facts else None


def gpu_tflops(gpu: str | None) -> float | None:
    """Peak dense tensor TFLOPS of one `gpu` (vm_sizes.yml's name for it), or None when no source was read."""
    facts = catalog.gpu(gpu)
    return facts.dense_tflops if facts else None


def recorded_token_counts(file: Path) -> tuple[list[int], str] | None:
    """Per-conversation token counts `data stats --tokenizer` recorded for exactly this file, and the tokenizer."""
    try:
        recorded = json.loads((file.parent / TOKEN_COUNTS).read_text(encoding="utf-8"))[file.stem]
        if recorded["sha256"] == sha256(file):
            return [int(n) for n in recorded["counts"]], str(recorded["tokenizer"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def record_token_counts(file: Path, counts: list[int], tokenizer: str) -> None:
    """Remember per-conversation token counts of `file` (with its hash), for plan's estimate."""
    path = file.parent / TOKEN_COUNTS
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    recorded[file.stem] = {"sha256": sha256(file), "tokenizer": tokenizer, "counts": counts}
    write_atomically(path, json.dumps(recorded))


def training_tokens(train_file: Path, max_seq_length: int, epochs: int) -> Tokens:
    """Tokens the fine-tune step trains on: per conversation, cut at max_seq_length, times the epochs."""
    recorded = recorded_token_counts(train_file)
    if recorded is not None:
        lengths, tokenizer = recorded
        method = f"tokenizer {tokenizer} (recorded by data stats)"
    else:
        lengths = []
        for _, record, error in read_jsonl(train_file):
            if error or record_problems(record):
                continue
            lengths.append(sum(len(m["content"]) for m in record["messages"]) // CHARS_PER_TOKEN)
        method = f"estimated as characters / {CHARS_PER_TOKEN}"
    cut = [min(n, max_seq_length) if max_seq_length > 0 else n for n in lengths]
    return Tokens(per_epoch=sum(cut), epochs=epochs, conversations=len(lengths),
                  truncated=sum(1 for n in lengths if max_seq_length > 0 and n > max_seq_length),
                  max_seq_length=max_seq_length, method=method)


def training_hours(tokens: int, parameters: float, lora: bool, tflops_per_gpu: float, gpus: int,
                   eval_tokens: int = 0) -> Hours:
    """The fine-tune step's hours as a range (utilisation MFU_HIGH..MFU_LOW) plus the fixed stages; `eval_tokens` are
    the tokens evaluated over the whole run (forward only)."""
    flops = FLOPS_PER_PARAM_TOKEN[lora] * parameters * tokens + FORWARD_FLOPS_PER_PARAM_TOKEN * parameters * eval_tokens
    peak = tflops_per_gpu * 1e12 * gpus
    low = flops / (peak * MFU_HIGH) / 3600 + FIXED_HOURS[0]
    high = flops / (peak * MFU_LOW) / 3600 + FIXED_HOURS[1]
    kind = "LoRA" if lora else "full fine-tuning"
    evaluated = (f" + {FORWARD_FLOPS_PER_PARAM_TOKEN} x parameters x {eval_tokens:,} evaluation tokens (forward only)"
                 if eval_tokens else "")
    assumptions = (f"{FLOPS_PER_PARAM_TOKEN[lora]} x {parameters / 1e9:g}B parameters x tokens FLOPs ({kind})"
                   f"{evaluated}; "
                   f"{gpus} GPU(s) at {tflops_per_gpu:g} peak dense TFLOPS, {MFU_LOW:.0%}-{MFU_HIGH:.0%} utilisation; "
                   f"plus {FIXED_HOURS[0]:g}-{FIXED_HOURS[1]:g} h for model import, preprocessing and conversion")
    return Hours(low, high, assumptions)


@dataclass(frozen=True)
class Calibration:
    """An earlier run of the experiment: its name, the tokens it trained on (as estimated) and its training time."""

    run: str
    tokens: int
    seconds: float


def calibrated_hours(tokens: int, calibration: Calibration) -> Hours:
    """The fine-tune step's hours at the throughput an earlier run reached, plus the fixed stages."""
    rate = calibration.tokens / max(calibration.seconds, 1e-9)
    train = tokens / rate / 3600
    assumptions = (f"calibrated from {calibration.run}: {calibration.tokens:,} tokens in {calibration.seconds:,.0f} s "
                   f"of training ({rate:,.0f} tokens/s, the same prepared data and sequence length assumed); plus "
                   f"{FIXED_HOURS[0]:g}-{FIXED_HOURS[1]:g} h for model import, preprocessing and conversion")
    return Hours(train + FIXED_HOURS[0], train + FIXED_HOURS[1], assumptions)


def _parameter(spec: Spec, name: str) -> Any:
    parameters = spec.sections.parameters
    return parameters[name] if name in parameters else spec.interface.default(name)


def estimate(spec: Spec, calibration_source: Any = None) -> Estimate:
    """The estimate for a loaded spec (generator.spec.Spec); what cannot be computed is named in `missing`.

    `calibration_source(tokens_per_epoch)`, when given, returns a Calibration from an earlier run, None when
    there is none, or the reason an earlier run could not be read (printed as a note). A sweep's estimate is
    the sum over its points: side by side they end sooner, but every point's GPU hours are billed.
    """
    if not spec.points:
        return replace(_single(spec, calibration_source), evaluation=evaluation_estimate(spec))
    parts = [_single(spec.at(point), calibration_source) for point in spec.points]
    first = parts[0]
    tokens = None
    counted = [p.tokens for p in parts if p.tokens is not None]
    if len(counted) == len(parts) and len({t.per_epoch for t in counted}) == 1:
        tokens = replace(counted[0], epochs=sum(t.epochs for t in counted))
    hours = None
    same_nodes = len({p.train_nodes for p in parts}) == 1
    timed = [(p.hours, 1 if same_nodes else p.train_nodes) for p in parts if p.hours is not None]
    if len(timed) == len(parts):  # node-hours when the points use different node counts
        hours = Hours(sum(h.low * w for h, w in timed), sum(h.high * w for h, w in timed), timed[0][0].assumptions)
    note = (f"a sweep of {len(parts)} points: tokens, hours and cost are the sum over the points (side by side "
            "they end sooner; every point's GPU hours are billed)")
    missing = tuple(dict.fromkeys(reason for p in parts for reason in p.missing))
    return replace(first, tokens=tokens, hours=hours, train_nodes=first.train_nodes if same_nodes else 1,
                   missing=missing, notes=tuple(dict.fromkeys(n for p in parts for n in p.notes)), sweep=note,
                   evaluation=evaluation_estimate(spec))


def with_offload(spec: Spec, hours: Hours, tokens: Tokens) -> Hours:
    """`hours` with the time ZeRO-3's offloaded parameters take to cross the host link (generator/fit.py): the
    lower figure is at least that transfer (overlapped with compute), the upper adds it (not overlapped); where the
    transfer cannot be counted, the assumptions say the range is optimistic."""
    from generator import fit, naming

    params = fit.effective(spec.data["finetune"]["parameters"], spec.interface)
    setup = fit.setup(spec.data, params, spec.root, naming.gpus_per_node(spec.data))
    moved = fit.offload_transfer(setup, tokens.conversations, tokens.epochs,
                                 int(params.get("per_device_train_batch_size") or 1))
    if moved is None:
        return hours
    if isinstance(moved, str):
        return replace(hours, assumptions=f"{hours.assumptions}; {moved}")
    return Hours(max(hours.low, moved.low + FIXED_HOURS[0]), hours.high + moved.high,
                 f"{hours.assumptions}; {moved.assumptions}")


def _eval_tokens(spec: Spec, max_len: int, epochs: int) -> int:
    """Tokens evaluated over the run: the test split once per epoch when `evaluation_strategy` is epoch (the
    component's default); 0 for disable, and for steps (how many evaluations that makes is not counted)."""
    if str(_parameter(spec, "evaluation_strategy")) != "epoch":
        return 0
    data = spec.sections.data
    test_file = spec.root / data.dir / f"{data.test_split}.jsonl"
    return training_tokens(test_file, max_len, 1).per_epoch * epochs if test_file.is_file() else 0


def _single(spec: Spec, calibration_source: Any = None) -> Estimate:
    """The estimate of one pipeline job."""
    typed, missing = spec.sections, []
    assert typed.compute is not None and typed.deployment is not None, "the pipeline route trains and serves on them"
    compute, deployment = typed.compute, typed.deployment
    size = catalog.vm_size(compute.size)
    nodes = int(_parameter(spec, "num_nodes_finetune") or 1)
    gpus = int(_parameter(spec, "number_of_gpu_to_use_finetuning") or 1) * nodes
    max_len = int(_parameter(spec, "max_seq_length") or -1)
    if max_len <= 0 and spec.model_facts is not None and spec.model_facts.text_context_window:
        max_len = int(spec.model_facts.text_context_window)
    train_file = spec.root / typed.data.dir / f"{typed.data.train_split}.jsonl"
    tokens = None
    if train_file.is_file():
        tokens = training_tokens(train_file, max_len, int(_parameter(spec, "num_train_epochs") or 1))
    else:
        missing.append(f"no prepared train data ({typed.data.dir}/{train_file.name}): run `make data`")
    model_name = typed.foundation_model.name
    parameters = model_parameters(model_name)
    if parameters is None:
        missing.append(f"the catalog has no parameter count for {model_name} (generator/catalog/model_sizes.yml)")
    tflops = gpu_tflops(size.gpu if size else None)
    if tflops is None:
        gpu = size.gpu if size and size.gpu else "its GPU"
        missing.append(f"no peak throughput for {gpu} of {compute.size} (generator/catalog/gpus.yml)")
    hours = None
    found = calibration_source(tokens.per_epoch) if tokens is not None and calibration_source else None
    notes = (found,) if isinstance(found, str) else ()
    if isinstance(found, Calibration) and tokens is not None:
        return Estimate(tokens=tokens, hours=calibrated_hours(tokens.total, found), train_nodes=nodes,
                        compute_size=compute.size, deployment_size=deployment.instance_type,
                        deployment_instances=deployment.instance_count)
    if tokens is not None and parameters is not None and tflops is not None:
        lora = str(_parameter(spec, "apply_lora")).lower() == "true"
        hours = training_hours(tokens.total, parameters, lora, tflops, gpus, _eval_tokens(spec, max_len, tokens.epochs))
        hours = with_offload(spec, hours, tokens)
    return Estimate(tokens=tokens, hours=hours, train_nodes=nodes, compute_size=compute.size,
                    deployment_size=deployment.instance_type,
                    deployment_instances=deployment.instance_count, missing=tuple(missing),
                    notes=notes)
