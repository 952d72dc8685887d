"""The evaluation split, checked before anything is billed: enough evaluable conversations, and not the training ones.

Evaluable: a conversation the evaluation's own data step turns into a row (generator/evaldata/eval_data.py
`evaluation_row`: a user turn before the last assistant turn, that turn's content as the reference answer).
The evaluation reads the first `evaluation.max_samples` of them; fewer than that is refused, since the gate would
decide on less evidence than the spec states.

Overlap, defined: an evaluated conversation overlaps training when its prompt (the messages the evaluation gives the
model: every message before its last assistant turn, role and content compared exactly) is the opening of a training
conversation (that conversation's first messages are exactly those). The model then trained on the very prompt it is
evaluated on, so the gate would partly measure memorisation. The share of evaluated conversations that overlap is
reported and refused above `evaluation.max_overlap` (default 0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.data.records import check_file, check_prepared, prepared_file, read_jsonl
from generator.diagnostics import ERROR, WARNING, Problem
from generator.evaldata.eval_data import INPUT_COLUMN, evaluation_row
from generator.paths import display_path

EXAMPLES = 3  # overlapping conversations named by file:line


def _message_key(message: Any) -> bytes:
    role, content = (message.get("role"), message.get("content")) if isinstance(message, dict) else (None, None)
    return json.dumps([role, content], ensure_ascii=False).encode("utf-8") + b"\n"


def _openings(messages: Any) -> Iterable[bytes]:
    """A digest of every opening of a conversation (its first message, its first two, ...)."""
    digest = hashlib.blake2b(digest_size=16)
    for message in messages if isinstance(messages, list) else []:
        digest.update(_message_key(message))
        yield digest.copy().digest()


def prompt_key(prompt: list[dict[str, Any]]) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for message in prompt:
        digest.update(_message_key(message))
    return digest.digest()


def training_openings(path: Path) -> dict[bytes, int]:
    """Every opening of every training conversation, with the line of the first conversation that has it."""
    found: dict[bytes, int] = {}
    for line, record, _ in read_jsonl(path):
        for key in _openings(record.get("messages") if isinstance(record, dict) else None):
            found.setdefault(key, line)
    return found


def evaluated(path: Path, max_samples: int) -> tuple[list[tuple[int, list[dict[str, Any]]]], int, int]:
    """The first `max_samples` evaluable conversations as (line, prompt), how many records were read, and the line
    the file ends at."""
    rows: list[tuple[int, list[dict[str, Any]]]] = []
    records = last = 0
    for line, record, _ in read_jsonl(path):
        records, last = records + 1, line
        row = evaluation_row(record) if record is not None else None
        if row is not None and len(rows) < max_samples:
            rows.append((line, row[INPUT_COLUMN]))
    return rows, records, last


def check_evaluation_split(root: Path, data: dict[str, Any]) -> list[Problem]:
    """Problems of the spec's evaluation split, as `file:LINE: message`: its records (when it is a split of its own),
    too few evaluable conversations, and overlap with the training split. Files that do not exist are not checked
    here (validate and apply report them)."""
    from generator.rules import evaluation_split

    section = data["evaluation"]
    split, train = evaluation_split(data), data["data"]["train_split"]
    path = prepared_file(root, data, split)
    if not path.is_file():
        return []
    file = display_path(path, root)
    problems = check_file(path, file)[1] if split not in (data["data"]["test_split"], train) else []
    rows, records, last = evaluated(path, int(section["max_samples"]))
    if records and len(rows) < section["max_samples"]:
        problems.append(Problem(file, last, 0, "evaluation.max_samples", f"holds {len(rows)} evaluable "
                                f"conversation(s) of {records} record(s) (a user turn, then a final assistant answer "
                                f"to compare with), and evaluation.max_samples asks for {section['max_samples']}: the "
                                "gate would decide on less than the spec says; prepare more data or lower "
                                "evaluation.max_samples"))
    train_path = prepared_file(root, data, train)
    if rows and train_path.is_file():
        problems += _overlap(rows, training_openings(train_path), file, display_path(train_path, root),
                             float(section["max_overlap"]))
    return problems


def _overlap(rows: list[tuple[int, list[dict[str, Any]]]], openings: dict[bytes, int], file: str, train_file: str,
             allowed: float) -> list[Problem]:
    hits = [(line, openings[key]) for line, prompt in rows if (key := prompt_key(prompt)) in openings]
    if not hits:
        return []
    share = len(hits) / len(rows)
    examples = ", ".join(f"line {line} opens {train_file}:{other}" for line, other in hits[:EXAMPLES])
    message = (f"{len(hits)} of the {len(rows)} evaluated conversation(s) ({share:.1%}) have prompt messages that open "
               f"a training conversation ({examples}{', ...' if len(hits) > EXAMPLES else ''}): the gate would partly "
               f"measure memorisation; evaluation.max_overlap allows {allowed:.1%}")
    return [Problem(file, hits[0][0], 0, "evaluation.max_overlap", message,
                    severity=WARNING if share <= allowed else ERROR)]


def check_prepared_data(root: Path, data: dict[str, Any]) -> list[Problem]:
    """Every check of the spec's prepared files that exist: the train and test records, and the evaluation split."""
    return check_prepared(root, data) + (check_evaluation_split(root, data) if "evaluation" in data else [])
