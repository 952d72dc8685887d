"""Look at prepared data before paying for training: sizes, turns, lengths, truncation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.data import DataError
from generator.data.hub import go_offline_unless_reachable
from generator.data.records import read_jsonl, record_problems

CHARS_PER_TOKEN = 4  # rough estimate for English text with a Llama-2-family tokenizer, used without a tokenizer


@dataclass
class SplitStats:
    """Per-conversation figures of one split."""

    split: str
    turns: list[int]
    chars: list[int]
    tokens: list[int] | None
    skipped: int = 0

    @property
    def rows(self) -> int:
        """Conversations in the split."""
        return len(self.turns)


def percentile(values: Sequence[int], q: float) -> int:
    """The q-th percentile (nearest rank) of `values`; 0 for no values."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def split_stats(path: Path, split: str, count_tokens: Callable[[list[dict[str, str]]], int] | None) -> SplitStats:
    """Figures for the conversations in one jsonl file; malformed records are counted as skipped."""
    turns: list[int] = []
    chars: list[int] = []
    tokens: list[int] | None = [] if count_tokens else None
    skipped = 0
    for _, record, error in read_jsonl(path):
        if error or record_problems(record):
            skipped += 1
            continue
        messages = [m for m in record["messages"] if isinstance(m, dict) and isinstance(m.get("content"), str)]
        turns.append(len(messages))
        chars.append(sum(len(m["content"]) for m in messages))
        if tokens is not None and count_tokens is not None:
            tokens.append(count_tokens(messages))
    return SplitStats(split, turns, chars, tokens, skipped)


def table(stats: list[SplitStats], max_seq_length: int) -> str:
    """A plain-text table: rows, turns and lengths as p50/p90/p99/max, share over max_seq_length."""
    def spread(values: Sequence[int]) -> str:
        return "/".join(f"{percentile(values, q):,}" for q in (50, 90, 99, 100))

    has_tokens = all(s.tokens is not None for s in stats)
    unit = "tokens" if has_tokens else f"~tokens (chars/{CHARS_PER_TOKEN})"
    head = ["split", "rows", "turns p50/p90/p99/max", "chars p50/p90/p99/max", f"{unit} p50/p90/p99/max"]
    if max_seq_length > 0:
        head.append(f"> max_seq_length {max_seq_length}")
    rows = [head]
    for s in stats:
        tokens = s.tokens if s.tokens is not None else [c // CHARS_PER_TOKEN for c in s.chars]
        row = [s.split, f"{s.rows:,}", spread(s.turns), spread(s.chars), spread(tokens)]
        if max_seq_length > 0:
            over = sum(1 for t in tokens if t > max_seq_length)
            row.append(f"{over:,} ({100 * over / max(1, s.rows):.1f} %)")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{s.split}: {s.skipped:,} malformed line(s) skipped, not counted above (`data check` names them)"
              for s in stats if s.skipped]
    return "\n".join(lines)


def histogram_png(stats: list[SplitStats], max_seq_length: int, out: Path, title: str) -> None:
    """Write a PNG histogram of conversation length (tokens, or estimated tokens) with max_seq_length marked."""
    from generator.plots import chart

    estimated = any(s.tokens is None for s in stats)
    unit = f"estimated tokens (chars / {CHARS_PER_TOKEN})" if estimated else "tokens"
    with chart(out, title, f"conversation length, {unit}", "conversations") as ax:
        for s in stats:
            lengths: list[Any] = s.tokens if s.tokens is not None else [c / CHARS_PER_TOKEN for c in s.chars]
            if lengths:
                ax.hist(lengths, bins=50, alpha=0.55, label=f"{s.split} ({s.rows:,})")
        if max_seq_length > 0:
            ax.axvline(max_seq_length, color="red", linestyle="--", linewidth=1.5,
                       label=f"max_seq_length {max_seq_length} (longer is truncated)")


_LOCAL_HINT = ("Pass a local tokenizer folder, e.g. one fetched on a connected machine with "
               "`huggingface-cli download {path} --local-dir <folder>`")


def _cached(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds a tokenizer of `repo_id` (checked without importing transformers)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "tokenizer_config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def tokenizer_counter(path: str) -> Callable[[list[dict[str, str]]], int]:
    """Token counter from a Hugging Face tokenizer: a local folder, or a Hub id when the Hub can be reached."""
    local = Path(path).is_dir()
    offline = False if local else go_offline_unless_reachable()  # before transformers reads the switches
    if offline and not _cached(path):
        raise DataError(f"--tokenizer {path}: not a local folder, and the Hub cannot be reached from this machine "
                        f"(offline) and has no cached copy. {_LOCAL_HINT.format(path=path)}")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        text = str(exc).strip()
        where = f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"
        raise DataError(f"--tokenizer {path}: cannot load it ({where}). {_LOCAL_HINT.format(path=path)}") from None

    def count(messages: list[dict[str, str]]) -> int:
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template(messages, tokenize=True)
            # transformers 5 answers a mapping (input_ids, attention_mask): len() of it would count its keys
            return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
        return sum(len(tokenizer.encode(m["content"], add_special_tokens=False)) for m in messages)
    return count
