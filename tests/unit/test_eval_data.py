"""The evaluation-data component's code: conversations → model_prediction's chat-completion rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from generator.evaldata.eval_data import LABEL_COLUMN, convert, evaluation_row
from tests.conftest import REPO

SAMPLE = REPO / "samples" / "ultrachat_mini" / "test_sft.jsonl"


def test_each_sample_conversation_is_cut_before_its_last_assistant_turn_which_becomes_the_ground_truth() -> None:
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = list(convert(SAMPLE.read_text(encoding="utf-8").splitlines(), 10_000))
    assert rows and len(rows) == sum(1 for r in records if evaluation_row(r) is not None)
    for record, row in zip((r for r in records if evaluation_row(r) is not None), rows):
        messages = record["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        assert row[LABEL_COLUMN] == messages[last]["content"]
        assert row["messages"] == [{"role": m["role"], "content": m["content"]} for m in messages[:last]]
        assert row["messages"][-1]["role"] != "assistant"  # model_prediction would drop it and score the rest
        # nothing of the answer leaks into the prompt: the prompt holds only what came before the answer
        before = "".join(m["content"] for m in messages[:last])
        assert (row[LABEL_COLUMN] in "".join(m["content"] for m in row["messages"])) == (row[LABEL_COLUMN] in before)
        assert set(row) == {"messages", LABEL_COLUMN}


def test_records_without_an_answer_are_skipped_and_max_samples_counts_kept_rows() -> None:
    lines = ['{"messages": [{"role": "user", "content": "hi"}]}', "not json", "",
             '{"messages": [{"role": "assistant", "content": "only me"}]}',
             '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}',
             '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "c"}, '
             '{"role": "assistant", "content": "d"}, {"role": "user", "content": "e"}]}',
             '{"messages": [{"role": "user", "content": "f"}, {"role": "assistant", "content": "g"}]}']
    assert [row[LABEL_COLUMN] for row in convert(lines, 2)] == ["b", "d"]
    assert list(convert(lines, 5))[1]["messages"] == [{"role": "system", "content": "s"},
                                                      {"role": "user", "content": "c"}]


def test_the_script_runs_standalone_as_the_component_command(tmp_path: Path) -> None:
    out = tmp_path / "test_data.jsonl"
    result = subprocess.run([sys.executable, str(REPO / "generator" / "evaldata" / "eval_data.py"),
                             "--conversations", str(SAMPLE), "--max_samples", "5", "--output", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5
