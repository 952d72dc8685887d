"""Build a scoring request in the seed notebook's shape from one prepared conversation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from generator.data import DataError
from generator.data.records import read_jsonl, record_problems


def conversations(path: Path) -> list[dict[str, Any]]:
    """Every well-formed record of a jsonl file."""
    return [record for _, record, error in read_jsonl(path) if not error and not record_problems(record)]


def pick(records: list[dict[str, Any]], row: int | None, seed: int | None) -> tuple[int, dict[str, Any]]:
    """(index, record): row `row`, or a random one drawn with `seed`."""
    if not records:
        raise DataError("the split has no well-formed conversations; run `data check` on it")
    if row is None:
        row = random.Random(seed).randrange(len(records))
    if not 0 <= row < len(records):
        raise DataError(f"--row {row} is out of range: the split has {len(records)} conversations "
                        f"(0-{len(records) - 1})")
    return row, records[row]


def scoring_request(record: dict[str, Any], parameters: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(request, reference answer): the conversation up to its last user turn, and the answer the data has."""
    messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    reference = None
    while messages and messages[-1]["role"] == "assistant":
        reference = messages.pop()["content"]
    request = {"input_data": {"input_string": [messages], "parameters": parameters}, "params": {}}
    return request, reference
