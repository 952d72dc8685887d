"""The evaluation's reference-based metrics, per answer and aggregated, computed as compute_metrics computes them.

One module for every place that scores answers: the local evaluation job (generator/local/evaluate.py) and the
evaluation gate (per-answer scores of both models' `predictions` against `ground_truth`, on Azure and locally).

What azureml-metrics 0.0.91 (PyPI wheel) does for task chat-completion, with compute_metrics' defaults
(`common/_scoring.py` `_score_chat_completion`: the last assistant turn of each predicted conversation against
its ground truths; Azure/azureml-assets `assets/training/model_evaluation/src/evaluators/evaluators.py`
ChatCompletionEvaluator passes each ground truth as a one-element list):
- rouge1, rouge2, rougeL, rougeLsum: `text/summarization/rouge/rouge.py` (the Hugging Face evaluate rouge script):
  `rouge_score.rouge_scorer.RougeScorer(rouge_types, use_stemmer=False)`, `score_multi(references, prediction)`
  per answer, aggregated by `rouge_score.scoring.BootstrapAggregator`, reported as `mid.fmeasure` (0..1). So each
  answer has its own score (`rouge_per_answer`: the very F-measures the aggregator is given), and the logged figure
  is the bootstrap median of their mean (`rouge`, seeded here; compute_metrics' resampling is not seeded, so its
  figure moves by about 0.04 standard errors from run to run);
- bleu_1..bleu_4: `text/translation/_seq2seq_translation.py` Bleu with max_order n and smooth=False, through
  `text/translation/bleu/bleu.py` (its static copy of the Hugging Face evaluate bleu script): sacreBLEU's 13a
  tokenizer (`tokenizer_13a.py`, mteval-v13a) and tensorflow/nmt's `compute_bleu`, a corpus BLEU (n-gram matches
  summed over all answers, uniform weights, brevity penalty), 0..1. It has no per-answer score: each answer
  contributes counts (`bleu_counts`), and a resample of answers is scored by summing theirs (`bleu_from_counts`).
  The wheel's bleu.py imports `nmt_bleu.py`, which the 0.0.91 wheel does not ship, and the `evaluate` package
  fetches metric scripts from the Hub, so the formula is computed here; it equals nltk's `corpus_bleu` (weights
  (1/n,)*n, no smoothing) whenever every answer has at least n tokens (tests/local/test_local_evaluation.py).
- rouge-score imports nltk (its Porter stemmer, unused here: use_stemmer=False; rougeLsum splits on newlines, so
  nltk's sentence tokenizer data is not needed).
rouge-score is part of the local extra (requirements-local.txt); numpy of the data extra.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence

ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BLEU = {"bleu_1": 1, "bleu_2": 2, "bleu_3": 3, "bleu_4": 4}  # azureml-metrics constants TRANSLATION_NGRAM_MAP
METRICS = (*BLEU, *ROUGE)
BOOTSTRAP_SEED = 0  # rouge_score's BootstrapAggregator resamples with numpy's global generator: seeded here
# ...and held while it draws: two aggregations in threads of one process (the workspace emulator's request threads)
# otherwise share the generator between seeding and drawing, and their figures move (19 of 20 concurrent pairs did).
_GLOBAL_GENERATOR = threading.Lock()

# mteval-v13a's tokenisation, as sacreBLEU's tokenizer_13a (which azureml-metrics' bleu.py uses): punctuation and
# symbols become tokens, a period or comma only when not inside a number, a dash after a digit.
_13A = [(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "), (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"), (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def per_answer(metric: str) -> bool:
    """Whether `metric` has a score per answer (the rouge family) rather than only a corpus figure (BLEU)."""
    return metric in ROUGE


def tokenize_13a(line: str) -> list[str]:
    """The 13a tokens of `line`."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return line.split()


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu_counts(prediction: str, references: Sequence[str], order: int) -> list[int]:
    """One answer's contribution to corpus BLEU up to `order`: clipped n-gram matches for n = 1..order, possible
    n-grams for n = 1..order, the answer's length and the shortest reference's length (2 x order + 2 integers)."""
    hypothesis, tokenized = tokenize_13a(prediction), [tokenize_13a(r) for r in references]
    matches, possible = [], []
    for n in range(1, order + 1):
        reference_counts: Counter[tuple[str, ...]] = Counter()
        for ref in tokenized:
            reference_counts |= _ngrams(ref, n)
        matches.append(sum((_ngrams(hypothesis, n) & reference_counts).values()))
        possible.append(max(0, len(hypothesis) - n + 1))
    return [*matches, *possible, len(hypothesis), min(len(r) for r in tokenized)]


def bleu_from_counts(totals: Sequence[float], order: int) -> float:
    """Corpus BLEU from summed `bleu_counts` (tensorflow/nmt `compute_bleu`, smooth=False): a zero precision makes
    it 0; brevity penalty exp(1 - r/c) when the answers are not longer than the references."""
    matches, possible = totals[:order], totals[order:2 * order]
    hypothesis_length, reference_length = totals[2 * order], totals[2 * order + 1]
    precisions = [m / p if p else 0.0 for m, p in zip(matches, possible, strict=True)]
    if min(precisions) <= 0 or hypothesis_length == 0:
        return 0.0
    geometric_mean = math.exp(sum(math.log(p) / order for p in precisions))
    ratio = hypothesis_length / reference_length if reference_length else 1.0
    return geometric_mean * (1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio))


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]], order: int) -> float:
    """Corpus BLEU up to n-grams of `order` on 13a tokens (uniform weights, no smoothing), 0..1: tensorflow/nmt's
    `compute_bleu`, which azureml-metrics' bleu script runs. nltk's corpus_bleu is the same formula except for
    answers shorter than n tokens (it counts one possible n-gram for them, nmt none)."""
    totals = [0] * (2 * order + 2)
    for refs, prediction in zip(references, predictions, strict=True):
        totals = [a + b for a, b in zip(totals, bleu_counts(prediction, refs, order), strict=True)]
    return bleu_from_counts(totals, order)


def rouge_per_answer(predictions: Sequence[str], references: Sequence[Sequence[str]],
                     names: Iterable[str]) -> dict[str, list[float]]:
    """Each answer's ROUGE F-measures (rouge_score, no stemmer, `score_multi` over its references), 0..1: the
    scores compute_metrics' BootstrapAggregator is given."""
    from rouge_score import rouge_scorer

    names = list(names)
    scorer = rouge_scorer.RougeScorer(rouge_types=names, use_stemmer=False)
    scores: dict[str, list[float]] = {name: [] for name in names}
    for refs, prediction in zip(references, predictions, strict=True):
        found = scorer.score_multi(list(refs), prediction)
        for name in names:
            scores[name].append(float(found[name].fmeasure))
    return scores


def rouge_aggregate(per_answer_scores: dict[str, list[float]]) -> dict[str, float]:
    """The logged ROUGE figures from per-answer F-measures, as azureml-metrics aggregates them: rouge_score's
    BootstrapAggregator (1,000 resamples of the answers, the median of their means: `mid`), with numpy's global
    generator seeded with BOOTSTRAP_SEED. The aggregator draws one set of resamples per ROUGE type, in the order
    the types are given, so a figure depends on which types were computed before it: the same names in the same
    order give compute_metrics' figure exactly. Each resample takes whole rows, so the F-measure column is all the
    `mid.fmeasure` of a type depends on."""
    import numpy as np
    from rouge_score import scoring

    aggregator = scoring.BootstrapAggregator()
    for index in range(len(next(iter(per_answer_scores.values()), []))):
        aggregator.add_scores({name: scoring.Score(precision=scores[index], recall=scores[index],
                                                   fmeasure=scores[index])
                               for name, scores in per_answer_scores.items()})
    with _GLOBAL_GENERATOR:
        state = np.random.get_state()
        np.random.seed(BOOTSTRAP_SEED)
        try:
            result = aggregator.aggregate()
        finally:
            np.random.set_state(state)
    return {name: float(result[name].mid.fmeasure) for name in per_answer_scores}


def rouge(predictions: Sequence[str], references: Sequence[Sequence[str]], names: Iterable[str]) -> dict[str, float]:
    """ROUGE F-measures aggregated as azureml-metrics does (per answer, then `rouge_aggregate`), 0..1."""
    return rouge_aggregate(rouge_per_answer(predictions, references, names))


def compute_metrics(predictions: Sequence[str], ground_truths: Sequence[str], names: Iterable[str]) -> dict[str, float]:
    """The metrics `names` (compute_metrics' names) of answers against their reference answers."""
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"metrics {', '.join(unknown)} are not computed locally; these are: {', '.join(METRICS)}")
    if len(predictions) != len(ground_truths) or not predictions:
        raise ValueError(f"{len(predictions)} prediction(s) for {len(ground_truths)} reference answer(s)")
    references = [[truth] for truth in ground_truths]
    out = rouge(predictions, references, [n for n in names if n in ROUGE]) if any(n in ROUGE for n in names) else {}
    out.update({n: bleu(predictions, references, BLEU[n]) for n in names if n in BLEU})
    return {n: out[n] for n in names}
