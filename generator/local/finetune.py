"""The local chat-completion fine-tune: what chat_completion_pipeline does, on a CPU, for real.

Run by the local workspace as `python -m generator.local.finetune JOB_JSON`. Fine-tunes the catalog's
stand-in (SmolLM2-135M-Instruct, converted on first use by generator/local/standin.py) or the folder the
job names. Reads the uploaded train/test jsonl, formats each conversation with the model's own chat
template, applies LoRA when `apply_lora` is true, honours the pipeline's parameters (epochs, batch
sizes, learning rate, scheduler, max_seq_length, seed, …; GPU-only ones are reported as ignored),
logs train/eval loss per step to MLflow and writes the merged model as an MLflow model folder: the
job's `trained_model` output. At the end of each epoch it saves a checkpoint (the LoRA adapter, or the whole model
without LoRA, with the tokenizer) as `checkpoint-<step>` in the job's `pytorch_model_folder` output, as Hugging
Face's Trainer names them, keeping the newest `save_total_limit` (all when it is -1, the component's default).

The loss is computed on the assistant turns only (system and user tokens are labelled -100): the usual
chat SFT convention, which is also what the cloud's chat-completion fine-tune trains. The model learns
to answer, not to predict the user's questions, and the eval loss measures the answers.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.catalog import local_stand_in
from generator.component import load_interface
from generator.files import exclusive_lock
from generator.local.standin import ensure_stand_in

if TYPE_CHECKING:
    from generator.runner.experiment import Experiment

GENERATION_BLOCK = re.compile(r"\{%-?\s*generation\s*-?%\}")
# LoRA's target modules per architecture (config.model_type): the attention query and value projections for
# Llama (SmolLM2), as peft's own default for Llama; the tiny Phi-3 test double fuses them into qkv_proj.
LORA_TARGETS = {"llama": ["q_proj", "v_proj"], "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]}
IGNORED_ON_CPU = ("apply_deepspeed", "deepspeed_stage", "deepspeed", "precision", "apply_ort", "num_nodes_finetune",
                  "number_of_gpu_to_use_finetuning", "shm_size_finetune", "auto_find_batch_size",
                  "dataloader_num_workers", "compute_model_import", "compute_preprocess", "compute_finetune",
                  "compute_model_evaluation", "resume_from_checkpoint")  # a local job starts from its model
THREADS_VARIABLE = "AZML_LOCAL_THREADS"  # torch threads of this job (the executor shares the cores among jobs)
SERVED_WITH = ("torch", "transformers", "mlflow-skinny")  # the saved model's pip requirements, at the local pins


def pip_requirements() -> list[str]:
    """`name==version` of SERVED_WITH, read from requirements-local.txt (the pins the model was trained with)."""
    from generator.paths import PROJECT_DIR

    pins = dict(line.split("==", 1) for line in (PROJECT_DIR / "requirements-local.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    return [f"{name}=={pins[name].split()[0]}" for name in SERVED_WITH]


@contextlib.contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a sqlite MLflow store: two jobs starting side by side (a sweep) would
    otherwise both create its tables ("table … already exists") or the same experiment."""
    with exclusive_lock(Path(tracking_uri.removeprefix("sqlite:///") + ".lock")):
        yield


def typed_parameters(raw: dict[str, Any]) -> dict[str, Any]:
    """Every component input with its value from the job (strings from REST) or its default, typed."""
    interface = load_interface("chat_completion_pipeline", "0.0.82")
    assert interface is not None
    params: dict[str, Any] = {}
    for name, spec in interface.inputs.items():
        value = raw.get(name, spec.default)
        if value is None:
            continue
        if spec.type == "integer":
            value = int(float(value))
        elif spec.type == "number":
            value = float(value)
        elif spec.type == "bool-string":
            value = str(value).lower() == "true"
        params[name] = value
    return params


# The fine-tune's inputs that decide what the local run trains, in the order plan prints them.
PLAN_PARAMETERS = ("num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                   "learning_rate", "lr_scheduler_type", "warmup_steps", "max_seq_length", "apply_lora", "lora_r",
                   "lora_alpha", "lora_dropout", "seed")


def plan_line(experiment: Experiment) -> str:
    """What local plan/apply say about the model: the stand-in for the spec's model and the values it trains with,
    each said to come from the spec, the model's defaults or chat_completion_pipeline's defaults."""
    name = experiment.foundation_model.split("/models/", 1)[-1].split("/", 1)[0]
    line = local_stand_in().stands_in_line(name)
    spec = getattr(experiment.source_spec, "data", None) or {}
    from_spec = (spec.get("finetune") or {}).get("parameters") or {}
    from_model = experiment.parameters_from_model
    if experiment.route == "serverless":  # a FineTuning job takes the catalog's model_specific_defaults (jobspec.py)
        from generator import catalog

        registry = experiment.foundation_model.split("/registries/", 1)[-1].split("/", 1)[0]
        facts = catalog.model(registry, name)
        from_model = dict(facts.model_specific_defaults) if facts is not None else {}
    used = typed_parameters({**from_model, **from_spec})
    groups: dict[str, list[str]] = {"the spec's": [], "the model's defaults": [], "the component's defaults": []}
    for key in PLAN_PARAMETERS:
        if key in used:
            origin = ("the spec's" if key in from_spec else "the model's defaults" if key in from_model
                      else "the component's defaults")
            value = str(used[key]).lower() if isinstance(used[key], bool) else used[key]
            groups[origin].append(f"{key}={value}")
    said = "; ".join(f"{origin} {', '.join(values)}" for origin, values in groups.items() if values)
    return line + (f"\nfine-tuned here with {said}" if said else "")


def log(message: str) -> None:
    """A line of the job's log (stdout goes to the log file the workspace serves)."""
    print(message, flush=True)


def assistant_mask(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """(input ids, 1 for assistant tokens) of a conversation.

    Uses the template's {% generation %} markers when it has them (the tiny test double's does); a real
    model's template usually has none (SmolLM2's ChatML template has none), so the mask is then built
    from the lengths of the tokenised prefixes: the conversation up to the assistant turn with the
    generation prompt, and up to the end of that turn. The mask covers the answer and its end-of-turn
    token, so the model learns where to stop.
    """
    if GENERATION_BLOCK.search(tokenizer.chat_template or ""):
        out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        return list(out["input_ids"]), list(out["assistant_masks"])
    ids = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    mask = [0] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:i], tokenize=True, add_generation_prompt=True,
                                                  return_dict=True)["input_ids"])
        end = len(tokenizer.apply_chat_template(messages[:i + 1], tokenize=True, return_dict=True)["input_ids"])
        mask[start:end] = [1] * (min(end, len(ids)) - start)
    return ids, mask


def encode(tokenizer: Any, files: list[Path], max_len: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per conversation; labels are -100 outside assistant tokens."""
    examples = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            ids, mask = assistant_mask(tokenizer, json.loads(line)["messages"])
            ids, mask = ids[:max_len], mask[:max_len]
            labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
            if any(label != -100 for label in labels):
                examples.append((ids, labels))
    return examples


def batches(examples: list[tuple[list[int], list[int]]], size: int, pad: int, rng: random.Random | None) -> list[Any]:
    """Padded tensors (input_ids, attention_mask, labels) per batch, shuffled when `rng` is given."""
    import torch

    order = list(range(len(examples)))
    if rng is not None:
        rng.shuffle(order)
    out = []
    for start in range(0, len(order), size):
        chunk = [examples[i] for i in order[start:start + size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in chunk])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in chunk])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in chunk])
        out.append((ids, mask, labels))
    return out


def assistant_loss(model: Any, ids: Any, mask: Any, labels: Any) -> Any:
    """Mean cross-entropy of the next token over the labelled (assistant) positions: the loss
    `model(..., labels=labels).loss` computes, with the output layer applied only where a label is.

    The output layer (SmolLM2: 49,152 words x 576) and the softmax over the vocabulary are a fifth of a
    forward pass per position, and about half of the demo's positions are system, user or padding tokens
    whose logits the loss never reads: skipping them makes a training step about a tenth cheaper.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under peft's LoRA wrapper
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def evaluate(model: Any, data: list[Any]) -> float:
    """Mean loss per assistant token over `data`."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, mask, labels in data:
            tokens = int((labels[:, 1:] != -100).sum())
            total += float(assistant_loss(model, ids, mask, labels)) * tokens
            count += tokens
    model.train()
    return total / max(1, count)


def train(job: dict[str, Any]) -> dict[str, float]:
    """Fine-tune as `job` says; return the final metrics."""
    import mlflow
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler

    p = typed_parameters(job["parameters"])
    ignored = [f"{k}={job['parameters'][k]}" for k in IGNORED_ON_CPU if k in job["parameters"]]
    if ignored:
        log(f"ignored on CPU: {', '.join(ignored)}")
    torch.set_num_threads(int(os.environ.get(THREADS_VARIABLE) or 0) or max(1, torch.get_num_threads()))
    model_dir = job.get("model_dir") or str(ensure_stand_in(say=log))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    # seeded once the model is loaded: the stand-in's first-use conversion draws random initial weights, which
    # would otherwise shift the LoRA weights and dropout of a first run against every later one
    random.seed(p["seed"])
    torch.manual_seed(p["seed"])
    max_len = p["max_seq_length"] if p["max_seq_length"] > 0 else model.config.max_position_embeddings
    train_set = encode(tokenizer, [Path(job["train_file"])], max_len)
    # evaluated in batches of conversations of similar length: the same per-token mean loss over less padding (the
    # demo's 12 test conversations: 1,328 positions against 1,536 in file order)
    test_set = batches(sorted(encode(tokenizer, [Path(job["test_file"])], max_len), key=lambda e: len(e[0])),
                       p["per_device_eval_batch_size"], tokenizer.pad_token_id, None)
    log(f"train {len(train_set)} conversations, test {sum(len(b[0]) for b in test_set)}; max_seq_length {max_len}; "
        f"learning_rate {p['learning_rate']:g}, {p['num_train_epochs']} epoch(s), batch "
        f"{p['per_device_train_batch_size']}")
    if p["apply_lora"]:
        from peft import LoraConfig, get_peft_model

        targets = LORA_TARGETS[model.config.model_type]
        model = get_peft_model(model, LoraConfig(r=p["lora_r"], lora_alpha=p["lora_alpha"],
                                                 lora_dropout=p["lora_dropout"], target_modules=targets,
                                                 task_type="CAUSAL_LM"))
        trainable = sum(x.numel() for x in model.parameters() if x.requires_grad)
        log(f"LoRA r={p['lora_r']} alpha={p['lora_alpha']} on {', '.join(targets)}: {trainable:,} trainable")
    checkpoints = Path(job.get("checkpoint_dir") or Path(job["output_dir"]).parent / "pytorch_model_folder")
    rng = random.Random(p["seed"])
    per_epoch = math.ceil(len(train_set) / p["per_device_train_batch_size"] / p["gradient_accumulation_steps"])
    total_steps = p["max_steps"] if p["max_steps"] > 0 else per_epoch * p["num_train_epochs"]
    optimizer = torch.optim.AdamW([x for x in model.parameters() if x.requires_grad], lr=p["learning_rate"],
                                  betas=(p["adam_beta1"], p["adam_beta2"]), eps=p["adam_epsilon"],
                                  weight_decay=p["weight_decay"])
    scheduler = get_scheduler(p["lr_scheduler_type"], optimizer, num_warmup_steps=p["warmup_steps"],
                              num_training_steps=total_steps)
    mlflow.set_tracking_uri(job["tracking_uri"])
    with store_lock(job["tracking_uri"]):
        mlflow.set_experiment(job["experiment"])
    with mlflow.start_run(run_name=job["run_name"], tags={"azureml.job": job["run_name"]}):
        mlflow.log_params({k: v for k, v in p.items() if k in job["parameters"] or k in (
            "learning_rate", "num_train_epochs", "per_device_train_batch_size", "lr_scheduler_type", "apply_lora")})
        initial = evaluate(model, test_set)
        mlflow.log_metric("eval_loss", initial, step=0)
        log(f"step 0: eval_loss {initial:.4f}")
        step, tokens, seconds, window = 0, 0, 0.0, []
        last_eval = (0, initial)  # (step, eval loss): the final figure is not computed twice for one step
        train_started = time.perf_counter()  # train_runtime: the training loop's wall time, as HF's Trainer logs it
        for epoch in range(p["num_train_epochs"]):
            if step >= total_steps:
                break
            for i, (ids, mask, labels) in enumerate(batches(train_set, p["per_device_train_batch_size"],
                                                            tokenizer.pad_token_id, rng)):
                start = time.perf_counter()
                loss = assistant_loss(model, ids, mask, labels)
                (loss / p["gradient_accumulation_steps"]).backward()
                window.append(float(loss.detach()))
                if (i + 1) % p["gradient_accumulation_steps"] == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), p["max_grad_norm"])
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                    step += 1
                    if step % p["logging_steps"] == 0 or step == total_steps:
                        mlflow.log_metrics({"train_loss": sum(window) / len(window),
                                            "learning_rate": scheduler.get_last_lr()[0]}, step=step)
                        log(f"step {step}/{total_steps}: train_loss {sum(window) / len(window):.4f}")
                        window = []
                    if p["evaluation_strategy"] == "steps" and step % p["eval_steps"] == 0:
                        last_eval = (step, evaluate(model, test_set))
                        mlflow.log_metric("eval_loss", last_eval[1], step=step)
                seconds += time.perf_counter() - start
                tokens += int(mask.sum())
                if step >= total_steps:
                    break
            if p["evaluation_strategy"] != "disable":
                last_eval = (step, last_eval[1] if last_eval[0] == step else evaluate(model, test_set))
                mlflow.log_metric("eval_loss", last_eval[1], step=step)
                log(f"epoch {epoch + 1}: eval_loss {last_eval[1]:.4f}")
            saved = save_checkpoint(model, tokenizer, checkpoints, step, p["save_total_limit"])
            log(f"epoch {epoch + 1}: checkpoint {saved.name} saved")
        train_runtime = time.perf_counter() - train_started
        final = last_eval[1] if last_eval[0] == step else evaluate(model, test_set)
        metrics = {"initial_eval_loss": initial, "final_eval_loss": final, "train_runtime": train_runtime,
                   "train_tokens_per_second": tokens / max(seconds, 1e-9), "train_steps": float(step)}
        mlflow.log_metrics(metrics)
        log(f"eval_loss {initial:.4f} -> {final:.4f}; {metrics['train_tokens_per_second']:.0f} training tokens/s")
        save_mlflow_model(model, tokenizer, Path(job["output_dir"]), p)
    return metrics


def save_checkpoint(model: Any, tokenizer: Any, folder: Path, step: int, limit: int) -> Path:
    """Save the trainable weights (peft saves only the adapter) and the tokenizer as `folder`/checkpoint-`step`;
    keep the newest `limit` checkpoints (every one when `limit` is 0 or less)."""
    path = folder / f"checkpoint-{step}"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if limit > 0:
        saved = sorted(folder.glob("checkpoint-*"), key=lambda found: int(found.name.rsplit("-", 1)[1]))
        for old in saved[:-limit]:
            shutil.rmtree(old)
    return path


def save_mlflow_model(model: Any, tokenizer: Any, output: Path, p: dict[str, Any]) -> None:
    """Merge LoRA (when asked) and write the model as an MLflow pyfunc folder at `output`."""
    import mlflow.pyfunc

    from generator.local.pyfunc import ChatModel

    if p["apply_lora"] and p["merge_lora_weights"]:
        model = model.merge_and_unload()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        mlflow.pyfunc.save_model(path=str(output), python_model=ChatModel(), artifacts={"hf_model": tmp},
                                 pip_requirements=pip_requirements())
    log(f"trained_model written: MLflow model at {output}")


LIBRARY_LOGGERS = ("mlflow", "alembic", "transformers", "peft", "torch", "urllib3", "py.warnings")


def send_library_logs_to(path: Path) -> None:
    """MLflow, transformers and friends log (and warn) into `path`, not into the job's log the user reads.

    Called after mlflow is imported: its import installs its own stderr handler, which this replaces.
    """
    import logging

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.captureWarnings(True)


def main() -> None:
    """Entry point: `python -m generator.local.finetune JOB_JSON`."""
    import mlflow  # noqa: F401 - imported first so its logging set-up is in place before ours replaces it

    job_file = Path(sys.argv[1])
    send_library_logs_to(job_file.parent / "libraries.log")
    job = json.loads(job_file.read_text(encoding="utf-8"))
    train(job)


if __name__ == "__main__":
    main()
