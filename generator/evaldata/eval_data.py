"""Chat conversations → the rows model_prediction 0.0.37 reads for task chat-completion.

The code of the command component generated/<experiment>/component-eval-data.yml (this folder is its
snapshot: standard library only, so it runs in the component's model-evaluation environment and on the
local target alike).

What model_prediction expects, read in Azure/azureml-assets @4b41f8ccbc01cf492767adc586ce1661c54c340a,
assets/training/model_evaluation/src/:
- task_factory/text/chat_completion.py `ChatCompletion.predict`: each row's first input column holds a list of
  `{role, content}` messages; a trailing `assistant` message is dropped, then the model answers the rest;
- utils.py `read_data` / `prepare_data`: a jsonl file; the label column (`label_column_name`) is split off as the
  ground truth. Without one, chat-completion takes ground truth from the last message only when its role is
  `user` (the `TASK.CHAT_COMPLETION` branch), which is not the reference answer: so we give an explicit label
  column;
- validation.py: `extra_cols_tasks` includes chat-completion.
So each row is `{"messages": <the conversation cut before its last assistant turn>, "ground_truth": <that turn's
content>}`: nothing of the answer stays in the prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

INPUT_COLUMN = "messages"  # model_prediction's input_column_names
LABEL_COLUMN = "ground_truth"  # model_prediction's label_column_name


def evaluation_row(record: Any) -> dict[str, Any] | None:
    """The conversation cut before its last assistant turn, and that turn as ground truth; None when the record
    has no assistant turn after a user turn, or is not a conversation."""
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return None
    turns = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if not turns:
        return None
    last = turns[-1]
    prompt = [{"role": m.get("role"), "content": m.get("content")} for m in messages[:last]]
    answer = messages[last].get("content")
    if not any(m["role"] == "user" for m in prompt) or not isinstance(answer, str) or not answer.strip():
        return None
    if not all(isinstance(m["content"], str) and m["role"] in ("system", "user", "assistant") for m in prompt):
        return None
    return {INPUT_COLUMN: prompt, LABEL_COLUMN: answer}


def convert(lines: Iterable[str], max_samples: int) -> Iterator[dict[str, Any]]:
    """The first `max_samples` evaluation rows of a jsonl stream (records that are no conversation are skipped)."""
    kept = 0
    for line in lines:
        if kept >= max_samples:
            return
        if not line.strip():
            continue
        try:
            row = evaluation_row(json.loads(line))
        except ValueError:
            row = None
        if row is not None:
            kept += 1
            yield row


def _input_file(path: str) -> str:
    """A uri_file input is a file; a folder (uri_folder) must hold exactly one .jsonl file."""
    if not os.path.isdir(path):
        return path
    found = sorted(name for name in os.listdir(path) if name.endswith(".jsonl"))
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one .jsonl file, found {found or 'none'}")
    return os.path.join(path, found[0])


def main(argv: list[str] | None = None) -> int:
    """`python eval_data.py --conversations IN --max_samples N --output OUT`: write OUT (jsonl); print a count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", required=True)
    parser.add_argument("--max_samples", type=int, required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.max_samples < 1:
        raise SystemExit("--max_samples must be at least 1")
    output = os.path.join(args.output, "test_data.jsonl") if os.path.isdir(args.output) else args.output
    count = 0
    with open(_input_file(args.conversations), encoding="utf-8") as source, \
            open(output, "w", encoding="utf-8") as out:
        for row in convert(source, args.max_samples):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    if count == 0:
        raise SystemExit(f"{args.conversations}: no conversation with a user turn and an assistant answer")
    print(f"wrote {count} evaluation row(s) to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
