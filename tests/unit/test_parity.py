"""Serving parity's comparison: greedy answers of the same model match, another prompt format does not."""

from __future__ import annotations

import json

import pytest

from generator.parity_compare import PREFIX_WORDS, Pair, Parity, request_body, same_answer, served_text
from generator.request import parse_request

ANSWER = ("Public speaking matters because it is a powerful tool for communication and persuasion in every part "
          "of life, from school to work.")


def test_the_same_answer_matches_whatever_the_whitespace() -> None:
    assert same_answer(ANSWER, "  " + ANSWER.replace(" ", "\n", 3) + " ")


def test_answers_that_part_after_their_first_words_match_and_early_differences_do_not() -> None:
    words = ANSWER.split()
    late = " ".join(words[:PREFIX_WORDS] + ["entirely", "different", "ending"])
    early = " ".join(words[:3] + ["entirely", "different"] + words[5:])
    assert same_answer(ANSWER, late)
    assert not same_answer(ANSWER, early)
    # another chat template: the same model answers another prompt
    assert not same_answer(ANSWER, "Sure! Here are three reasons why public speaking matters: 1. Confidence")


def test_a_short_answer_matches_only_as_a_prefix_of_the_other() -> None:
    assert same_answer("Paris.", "Paris. It is the capital of France.")
    assert not same_answer("Lyon.", "Paris. It is the capital of France.")
    assert not same_answer("", "Paris.")
    assert same_answer("", "")


def test_the_check_passes_only_when_every_pair_matches_and_names_the_first_that_does_not() -> None:
    messages = [{"role": "user", "content": "Why does public speaking matter?"}]
    good = Pair(messages, ANSWER, ANSWER)
    bad = Pair(messages, ANSWER, "Sure! Here are three reasons why it matters")
    assert Parity("demo", [good, good]).passed
    result = Parity("demo", [good, bad, bad])
    assert not result.passed and result.first_difference is bad
    assert result.line() == "serving parity: demo answered 1 of 3 evaluation prompt(s) as the evaluated model did"
    assert "Why does public speaking matter?" in result.difference() and "Sure! Here are" in result.difference()
    assert not Parity("demo", []).passed  # nothing compared proves nothing
    assert result.as_json() == {"deployment": "demo", "passed": False, "prompts": 3, "matched": 1}


def test_the_request_carries_the_evaluations_generation_settings_and_is_a_valid_scoring_request() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    body = request_body(messages, {"max_new_tokens": 48, "do_sample": False, "temperature": 0.0, "top_p": 1.0})
    conversation, parameters = parse_request(body)
    assert conversation == messages
    assert parameters == {"max_new_tokens": 48, "do_sample": False, "temperature": 0.0, "top_p": 1.0}


@pytest.mark.parametrize("answer", [json.dumps({"output": "Hello"}), {"output": "Hello"}, "Hello",
                                    json.dumps({"output": "Hello"}).encode()])
def test_the_served_text_is_read_from_the_answer(answer: object) -> None:
    assert served_text(answer) == "Hello"


def test_an_answer_that_is_no_chat_completion_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a chat completion"):
        served_text({"predictions": [1, 2]})
