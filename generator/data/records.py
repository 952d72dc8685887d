"""Check chat records: `{"prompt": str, "prompt_id": str, "messages": [{"role", "content"}, …]}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from generator.diagnostics import Problem
from generator.paths import display_path

ROLES = ("user", "assistant", "system")


def record_problems(record: Any) -> list[str]:
    """What is wrong with one parsed record (empty when it is fine)."""
    if not isinstance(record, dict):
        return ["record is not a JSON object"]
    problems = [f"'{key}' must be a string" for key in ("prompt", "prompt_id")
                if key in record and not isinstance(record[key], str)]
    messages = record.get("messages")
    if messages is None:
        return problems + ["missing 'messages'"]
    if not isinstance(messages, list) or not messages:
        return problems + ["'messages' must be a non-empty list"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(f"messages[{i}]: not an object")
            continue
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            problems.append(f"messages[{i}]: unknown role {role!r} (expected user, assistant or system)")
        if not isinstance(content, str):
            problems.append(f"messages[{i}]: missing content" if content is None
                            else f"messages[{i}]: content must be a string")
        elif not content.strip():
            problems.append(f"messages[{i}]: empty content")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if roles and roles[0] not in ("user", "system"):
        problems.append(f"conversation starts with {roles[0]!r}; it must start with user or system")
    if "assistant" not in roles:
        problems.append("no assistant turn")
    return problems


def read_jsonl(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed record or None, JSON error or None) for every non-blank line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line.rstrip("\r\n")), None
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON: {exc.msg} at column {exc.pos + 1}"


def check_file(path: Path, file: str) -> tuple[int, list[Problem]]:
    """(records read, problems as `file:LINE: message`) for a jsonl file of chat records."""
    count, problems = 0, []
    try:
        for number, record, error in read_jsonl(path):
            count += 1
            for message in [error] if error else record_problems(record):
                problems.append(Problem(file, number, 0, "", message))
    except UnicodeDecodeError as exc:
        problems.append(Problem(file, 0, 0, "", f"not UTF-8 text: {exc.reason}"))
    except OSError as exc:
        problems.append(Problem(file, 0, 0, "", f"cannot read: {exc.strerror}"))
    if count == 0 and not problems:
        problems.append(Problem(file, 0, 0, "", "no records"))
    return count, problems


def prepared_file(root: Path, data: dict[str, Any], split: str) -> Path:
    """Where the prepared jsonl of `split` lives, for a spec's data (with defaults)."""
    return root / data["data"]["dir"] / f"{split}.jsonl"


def check_prepared(root: Path, data: dict[str, Any]) -> list[Problem]:
    """Problems in the spec's train/test files that exist (missing ones are for validate/apply to report)."""
    problems: list[Problem] = []
    for split in (data["data"]["train_split"], data["data"]["test_split"]):
        path = prepared_file(root, data, split)
        if path.is_file():
            problems += check_file(path, display_path(path, root))[1]
    return problems
