"""A tiny Phi-3-architecture causal LM and a byte-level BPE tokenizer with a Phi-3 chat template.

Random weights: it tests the plumbing and that the loss falls, not the quality of the answers.
Built once from the conversations it is given and cached as a Hugging Face model folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

SPECIALS = ["<unk>", "<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# Assistant turns are wrapped in {% generation %} so apply_chat_template can return the mask of
# the tokens the loss is computed on.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
SIZE = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "max_position_embeddings": 512}
STAMP = "tinymodel.json"


def conversation_texts(files: Iterable[Path]) -> list[str]:
    """Every message text of the jsonl conversation files."""
    texts = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts += [m["content"] for m in json.loads(line)["messages"]]
    return texts


def build_tokenizer(texts: list[str], vocab_size: int = 1024):  # -> PreTrainedTokenizerFast
    """Train a byte-level BPE on `texts` and wrap it with the Phi-3 chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>",
                                        eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                        additional_special_tokens=SPECIALS[3:])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer, seed: int = 0):  # -> Phi3ForCausalLM
    """A randomly initialised Phi3ForCausalLM sized for a CPU (~0.5 M parameters)."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(seed)
    config = Phi3Config(vocab_size=len(tokenizer), rope_scaling=None, tie_word_embeddings=False,
                        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=[tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                                      tokenizer.convert_tokens_to_ids("<|end|>")], **SIZE)
    return Phi3ForCausalLM(config)


def ensure_foundation_model(folder: Path, corpus: list[Path]) -> Path:
    """The tiny model folder, built on first use from `corpus` (jsonl conversations) and cached."""
    if (folder / STAMP).is_file():
        return folder
    tokenizer = build_tokenizer(conversation_texts(corpus))
    model = build_model(tokenizer)
    staging = folder.with_name(folder.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(staging)
    model.save_pretrained(staging)
    (staging / STAMP).write_text(json.dumps({"architecture": "Phi3ForCausalLM", **SIZE,
                                             "vocab_size": len(tokenizer)}, indent=2))
    staging.rename(folder)
    return folder
