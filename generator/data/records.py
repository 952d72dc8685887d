"""Check chat records: `{"prompt": str, "prompt_id": str, "messages": [{"role", "content"}, …]}`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


MAX_LINE_BYTES = 16 << 20  # one conversation; a longer line is reported, not parsed


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """(record, None) or (None, what is wrong) for one line's bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: {exc.reason} at byte {exc.start + 1}"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.pos + 1}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError:  # Python converts integers of at most 4300 digits
        return None, "invalid JSON: a number too long to convert"


def read_jsonl(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed record or None, what is wrong or None) for every non-blank line.

    Each line is decoded on its own, so a bad byte or a broken record costs one line, not the file.
    """
    with open(path, "rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                    raw = handle.readline(MAX_LINE_BYTES)
                yield number, None, f"line longer than {MAX_LINE_BYTES >> 20} MiB"
                continue
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            record, error = _parse(line)
            yield number, record, error


def check_file(path: Path, file: str) -> tuple[int, list[Problem]]:
    """(records read, problems as `file:LINE: message`) for a jsonl file of chat records."""
    count, problems = 0, []
    try:
        for number, record, error in read_jsonl(path):
            count += 1
            for message in [error] if error else record_problems(record):
                problems.append(Problem(file, number, 0, "", message))
    except OSError as exc:
        problems.append(Problem(file, 0, 0, "", f"cannot read: {exc.strerror}"))
    if count == 0 and not problems:
        problems.append(Problem(file, 0, 0, "", "no records"))
    return count, problems


def prepared_file(root: Path, data: dict[str, Any], split: str) -> Path:
    """Where the prepared jsonl of `split` lives, for a spec's data (with defaults)."""
    return root / str(data["data"]["dir"]) / f"{split}.jsonl"


def check_prepared(root: Path, data: dict[str, Any]) -> list[Problem]:
    """Problems in the spec's train/test files that exist (missing ones are for validate/apply to report)."""
    problems: list[Problem] = []
    for split in (data["data"]["train_split"], data["data"]["test_split"]):
        path = prepared_file(root, data, split)
        if path.is_file():
            problems += check_file(path, display_path(path, root))[1]
    return problems
