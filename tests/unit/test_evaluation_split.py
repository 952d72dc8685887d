"""The evaluation split is checked at render (and so at plan and apply) when its prepared file exists: empty,
broken, too small, or overlapping the training conversations, each reported as `file:LINE: message` before anything
is billed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from click.testing import Result

DATA = Path("data") / "ultrachat_200k"


def _conversation(question: str, answer: str = "An answer.") -> str:
    return json.dumps({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})


def _prepare(project: Path, train: list[str], test: list[str], evaluation: list[str] | None = None,
             spec_edits: dict[str, str] | None = None) -> None:
    folder = project / DATA
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_sft.jsonl").write_text("".join(line + "\n" for line in train))
    (folder / "test_sft.jsonl").write_text("".join(line + "\n" for line in test))
    if evaluation is not None:
        (folder / "test_gen.jsonl").write_text("".join(line + "\n" for line in evaluation))
    spec = project / "specs" / "phi4-ultrachat.yaml"
    text = spec.read_text()
    for old, new in {"max_samples: 200 ": "max_samples: 10 ", **(spec_edits or {})}.items():
        assert old in text or new in text, old
        text = text.replace(old, new, 1)
    spec.write_text(text)


TRAIN = [_conversation(f"Training question {i}?") for i in range(20)]
TEST = [_conversation(f"Held-out question {i}?") for i in range(10)]


def test_a_clean_split_renders(project: Path, cli: Callable[..., Result]) -> None:
    _prepare(project, TRAIN, TEST)
    result = cli("render", root=project)
    assert result.exit_code == 0, result.stderr
    assert "overlap" not in result.stderr


def test_an_empty_or_broken_evaluation_split_is_refused_with_its_file_and_line(project: Path,
                                                                             cli: Callable[..., Result]) -> None:
    own = {"  gate:\n": "  test_split: test_gen\n  gate:\n"}  # evaluation on a split of its own
    _prepare(project, TRAIN, TEST, [], own)
    empty = cli("render", root=project)
    assert empty.exit_code == 2 and "data/ultrachat_200k/test_gen.jsonl: no records" in empty.stderr
    (project / DATA / "test_gen.jsonl").write_text("\n".join(TEST[:3] + ["{broken"] + TEST[3:]) + "\n")
    broken = cli("render", root=project)
    assert broken.exit_code == 2
    assert "data/ultrachat_200k/test_gen.jsonl:4: invalid JSON: Expecting property name enclosed in double quotes " \
           "at column 2" in broken.stderr
    assert not (project / "generated").exists()  # nothing was written


def test_too_few_evaluable_conversations_are_refused(project: Path, cli: Callable[..., Result]) -> None:
    unanswered = json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "assistant", "content": "No question was asked."}]})
    _prepare(project, TRAIN, TEST[:6] + [unanswered] * 2)
    result = cli("render", root=project)
    assert result.exit_code == 2
    assert ("data/ultrachat_200k/test_sft.jsonl:8: evaluation.max_samples: holds 6 evaluable conversation(s) of 8 "
            "record(s) (a user turn, then a final assistant answer to compare with), and evaluation.max_samples asks "
            "for 10") in result.stderr


def test_overlap_with_training_is_counted_and_refused_above_max_overlap(project: Path,
                                                                       cli: Callable[..., Result]) -> None:
    # held-out lines 3 and 7 ask what training conversations 5 and 12 open with (another answer: still the prompt)
    test = list(TEST)
    test[2] = _conversation("Training question 4?", "Another answer.")
    test[6] = _conversation("Training question 11?")
    _prepare(project, TRAIN, test)
    refused = cli("render", root=project)
    assert refused.exit_code == 2
    assert ("data/ultrachat_200k/test_sft.jsonl:3: evaluation.max_overlap: 2 of the 10 evaluated conversation(s) "
            "(20.0%) have prompt messages that open a training conversation (line 3 opens "
            "data/ultrachat_200k/train_sft.jsonl:5, line 7 opens data/ultrachat_200k/train_sft.jsonl:12): the gate "
            "would partly measure memorisation; evaluation.max_overlap allows 0.0%") in refused.stderr
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  max_samples: 10 ", "  max_overlap: 0.2\n  max_samples: 10 ", 1))
    allowed = cli("render", root=project)
    assert allowed.exit_code == 0, allowed.stderr
    assert "test_sft.jsonl:3: evaluation.max_overlap: warning: 2 of the 10 evaluated" in allowed.stderr


def test_a_training_conversation_that_continues_an_evaluated_prompt_overlaps_but_a_shared_first_turn_alone_does_not(
        project: Path, cli: Callable[..., Result]) -> None:
    """The definition: the evaluated prompt (everything before its last answer) opens a training conversation."""
    turns = [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1."},
             {"role": "user", "content": "Q2?"}, {"role": "assistant", "content": "A2."}]
    longer = json.dumps({"messages": turns + [{"role": "user", "content": "Q3?"},
                                              {"role": "assistant", "content": "A3."}]})
    other_follow_up = json.dumps({"messages": turns[:2] + [{"role": "user", "content": "Something else?"},
                                                           {"role": "assistant", "content": "A."}]})
    test = [json.dumps({"messages": turns})] + TEST[1:]  # its prompt: Q1, A1, Q2
    _prepare(project, TRAIN + [other_follow_up], test)
    assert cli("render", root=project).exit_code == 0  # only the first turn is shared
    _prepare(project, TRAIN + [longer], test)
    result = cli("render", root=project)
    assert result.exit_code == 2 and "1 of the 10 evaluated conversation(s) (10.0%)" in result.stderr
