"""The gate's evidence: a paired bootstrap interval and a paired permutation test of tuned against base, checked
against hand computations with the same seed, and the verdict the gate takes from them."""

from __future__ import annotations

import itertools
import math

import pytest

from generator import evidence
from generator.evidence import Verdict
from generator.textmetrics import bleu, bleu_counts

np = pytest.importorskip("numpy", reason="the data extra is part of make test")


def _hand_bootstrap(base: list[float], tuned: list[float], seed: int, resamples: int,
                    confidence: float) -> tuple[float, float]:
    """The percentile interval, one resample at a time, as the module documents it."""
    rng = np.random.default_rng(seed)
    n = len(base)
    means = []
    for _ in range(resamples):
        picks = rng.integers(0, n, size=n)
        means.append(sum(tuned[i] - base[i] for i in picks) / n)
    means.sort()

    def quantile(q: float) -> float:  # numpy's default: linear interpolation between order statistics
        position = q * (len(means) - 1)
        below = math.floor(position)
        above = min(below + 1, len(means) - 1)
        return means[below] + (means[above] - means[below]) * (position - below)

    return quantile((1 - confidence) / 2), quantile((1 + confidence) / 2)


def test_a_mean_above_min_gain_with_a_wide_interval_fails_and_the_same_mean_with_a_narrow_one_passes() -> None:
    base = [0.20] * 40
    spread = [0.20 + d for d in [0.15, -0.11] * 20]  # differences +0.15 / -0.11: mean +0.02, wide
    steady = [0.22] * 40  # every difference +0.02: the same mean, no spread
    wide = evidence.compare("rougeL", base, spread, min_gain=0.01)
    narrow = evidence.compare("rougeL", base, steady, min_gain=0.01)
    assert wide.difference == pytest.approx(0.02) and narrow.difference == pytest.approx(0.02)
    assert wide.low < 0.01 < wide.high and wide.verdict is Verdict.UNDECIDED and not wide.passed
    assert narrow.low == pytest.approx(0.02) and narrow.verdict is Verdict.PASSED and narrow.passed
    assert "cannot decide" in wide.why() and "conversations would narrow it" in wide.why()
    # more of the same spread: the interval the verdict asked for is narrow enough
    assert wide.needed is not None and wide.needed > 40
    more = evidence.compare("rougeL", [0.20] * wide.needed * 2,
                            [0.20 + d for d in [0.15, -0.11] * wide.needed], min_gain=0.01)
    assert more.passed


def test_the_interval_and_p_are_the_hand_computed_ones_with_the_same_seed() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.1, 0.3, 30).tolist()
    tuned = [b + d for b, d in zip(base, rng.normal(0.01, 0.05, 30).tolist())]
    got = evidence.compare("rouge1", base, tuned, min_gain=0.0, confidence=0.9, seed=3, resamples=2_000)
    low, high = _hand_bootstrap(base, tuned, seed=3, resamples=2_000, confidence=0.9)
    assert (got.low, got.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert got.difference == pytest.approx(sum(tuned) / 30 - sum(base) / 30)
    # p: 2**30 arrangements are too many to enumerate, so seeded random swaps, one row per permutation
    swap_rng = np.random.default_rng(3 + 1)
    observed = abs(got.difference)
    hits = 0
    for _ in range(evidence.PERMUTATIONS):
        signs = [1 - 2 * int(s) for s in swap_rng.integers(0, 2, size=30)]
        hits += abs(sum(s * (t - b) for s, t, b in zip(signs, tuned, base)) / 30) >= observed - 1e-12
    assert got.p_value == pytest.approx((1 + hits) / (1 + evidence.PERMUTATIONS)) and not got.p_exact


def test_p_is_exact_on_few_conversations() -> None:
    differences = [0.05, 0.02, -0.01, 0.04, 0.03, 0.06, -0.02, 0.01]
    base = [0.3] * len(differences)
    tuned = [0.3 + d for d in differences]
    got = evidence.compare("rougeL", base, tuned, min_gain=0.0)
    observed = abs(sum(differences) / len(differences))
    arrangements = list(itertools.product((1, -1), repeat=len(differences)))
    hits = sum(abs(sum(s * d for s, d in zip(signs, differences)) / len(differences)) >= observed - 1e-12
               for signs in arrangements)
    assert got.p_exact and got.p_value == pytest.approx(hits / len(arrangements))


def test_too_few_conversations_say_so_instead_of_passing() -> None:
    # five conversations, every one better by 0.2: the interval is [0.2, 0.2], but no paired test on five can be
    # significant at 95 % (its smallest p is 2 / 32), so the gate does not pretend
    got = evidence.compare("rougeL", [0.1] * 5, [0.3] * 5, min_gain=0.0)
    assert got.verdict is Verdict.TOO_FEW and not got.passed
    assert "at least 6" in got.why() and evidence.minimum_n(0.95) == 6 and evidence.minimum_n(0.99) == 8
    assert evidence.compare("rougeL", [0.1] * 6, [0.3] * 6, min_gain=0.0).passed


def test_an_interval_wholly_below_min_gain_is_a_clear_fail() -> None:
    got = evidence.compare("rougeL", [0.3] * 20, [0.25, 0.27] * 10, min_gain=0.0)
    assert got.verdict is Verdict.BELOW and got.high < 0 and "does not reach" in got.why()


def test_bleu_is_bootstrapped_over_conversations_as_a_corpus_figure() -> None:
    references = [["the cat sat on the mat"], ["a dog ran in the park"], ["it rained all day long"],
                  ["we ate bread and cheese"], ["the sun set over the hills"], ["she read a long book"]]
    base_answers = ["a cat on a mat", "the dog ran", "rain all day", "we ate cheese", "sun set", "she read"]
    tuned_answers = ["the cat sat on a mat", "a dog ran in a park", "it rained all day", "we ate bread",
                     "the sun set over hills", "she read a book"]
    base = [bleu_counts(a, r, 2) for a, r in zip(base_answers, references)]
    tuned = [bleu_counts(a, r, 2) for a, r in zip(tuned_answers, references)]
    got = evidence.compare("bleu_2", base, tuned, min_gain=0.0, seed=11, resamples=200)
    assert got.base == pytest.approx(bleu(base_answers, references, 2))
    assert got.tuned == pytest.approx(bleu(tuned_answers, references, 2))
    rng = np.random.default_rng(11)
    stats = []
    for _ in range(200):
        picks = rng.integers(0, 6, size=6).tolist()
        stats.append(bleu([tuned_answers[i] for i in picks], [references[i] for i in picks], 2)
                     - bleu([base_answers[i] for i in picks], [references[i] for i in picks], 2))
    assert (got.low, got.high) == (pytest.approx(float(np.quantile(stats, 0.025))),
                                   pytest.approx(float(np.quantile(stats, 0.975))))
    assert got.p_exact  # 2**6 arrangements, all of them


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_score_that_is_not_a_number_never_passes(bad: float) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        evidence.compare("rougeL", [0.1] * 10, [0.2] * 9 + [bad], min_gain=0.0)


def test_the_comparison_is_paired_and_the_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="same conversations"):
        evidence.compare("rougeL", [0.1] * 10, [0.2] * 9, min_gain=0.0)
    with pytest.raises(ValueError, match="same conversations"):
        evidence.compare("rougeL", [], [], min_gain=0.0)
    with pytest.raises(ValueError, match="confidence"):
        evidence.compare("rougeL", [0.1] * 10, [0.2] * 10, min_gain=0.0, confidence=1.0)
    with pytest.raises(ValueError, match="min_gain"):
        evidence.compare("rougeL", [0.1] * 10, [0.2] * 10, min_gain=math.nan)


def test_the_evidence_reads_as_a_line_json_and_tags() -> None:
    got = evidence.compare("rougeL", [0.2] * 10, [0.25] * 10, min_gain=0.0)
    assert got.line().startswith("rougeL: n=10, tuned - base +0.0500, 95% interval [+0.0500, +0.0500], p=")
    document = got.as_json()
    assert document["verdict"] == "passed" and document["low"] == pytest.approx(0.05) and document["n"] == 10
    assert got.tags("evaluation.gate")["evaluation.gate.verdict"] == "passed"


def test_rouge_figures_do_not_move_when_two_threads_aggregate_at_once() -> None:
    """The aggregate seeds numpy's global generator: held by a lock, two evaluations scored side by side in one
    process (the emulator's request threads) give the figures each gives alone."""
    import threading

    pytest.importorskip("rouge_score", reason="the local extra is part of make test")
    from generator.textmetrics import compute_metrics

    truths = ["Drink water, sleep well and take short breaks.", "The capital of France is Paris.",
              "Work for 25 minutes with a timer, then take a 5 minute break.", "Tomatoes need sun and regular water."]
    answers = {"base": ["Sleep.", "It is a city in Europe.", "Use a timer.", "Water them."],
               "tuned": ["Drink water, sleep well and take breaks.", "The capital of France is Paris.",
                         "Work 25 minutes with a timer, then take a 5 minute break.", "Tomatoes need sun and water."]}
    names = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    alone = {role: compute_metrics(given, truths, names) for role, given in answers.items()}
    for _ in range(10):
        together: dict[str, dict[str, float]] = {}
        threads = [threading.Thread(target=lambda role=role: together.__setitem__(
            role, compute_metrics(answers[role], truths, names))) for role in answers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert together == alone
