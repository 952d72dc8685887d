"""The evaluation gate's evidence: the tuned model against its base on the same conversations, as an interval.

A difference of two averages cannot tell a better model from noise. Both models answer the same held-out
conversations, so the comparison is paired: per conversation, tuned minus base.
- A per-answer metric (the rouge family, generator/textmetrics.py `rouge_per_answer`): the statistic is the mean
  of the per-conversation differences.
- A corpus metric (BLEU): there is no per-answer score; each conversation contributes n-gram counts
  (`bleu_counts`), and the statistic is corpus BLEU of the tuned answers minus corpus BLEU of the base answers of
  the same conversations.
- The interval: a paired bootstrap over conversations (Efron and Tibshirani, An Introduction to the Bootstrap,
  1993, ch. 13, the percentile interval): RESAMPLES resamples of n conversations drawn with replacement by
  `numpy.random.default_rng(seed)` (one row of `integers(0, n, n)` per resample, in order), the statistic of each,
  and the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of those (numpy's default linear
  interpolation).
- p: a paired permutation (randomisation) test of "the two models score alike": under that hypothesis which
  model gave which of a conversation's two answers is a coin flip, so the base and tuned answers of each
  conversation are swapped at random (`numpy.random.default_rng(seed + 1)`, one row of `integers(0, 2, n)` per
  permutation) and p is the share of permutations whose |statistic| reaches the observed one, counting the
  observed arrangement ((1 + hits) / (1 + permutations)). With 2**n <= PERMUTATIONS every arrangement is
  enumerated instead, and p is exact.
- The verdict: traffic only when the interval's lower bound is at least min_gain. When the interval holds
  min_gain on both sides the evidence cannot decide, and the verdict says so with how many conversations the
  interval would need at the observed spread; when n is so small that no arrangement of the answers could be
  significant at the gate's confidence (2 / 2**n > 1 - confidence), it says that instead of pretending.
numpy is part of the data extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING

from generator.textmetrics import BLEU, bleu_from_counts, per_answer

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RESAMPLES = 10_000
PERMUTATIONS = 10_000
SEED = 0
CHUNK = 1_000  # resamples drawn and scored at once (bounds the memory of one step at CHUNK x n x counts)


class Verdict(StrEnum):
    """What the evidence says about the gate."""

    PASSED = "passed"  # the interval's lower bound is at least min_gain
    BELOW = "below"  # the whole interval is below min_gain
    UNDECIDED = "undecided"  # the interval holds min_gain: more conversations are needed to tell
    TOO_FEW = "too few"  # no result on this many conversations could be significant at the gate's confidence


@dataclass(frozen=True)
class Evidence:
    """The paired comparison of one metric: what apply prints, the model's tags hold and compare reports."""

    metric: str
    n: int
    base: float  # the base model's figure on these conversations (per-answer metric: the mean of its scores)
    tuned: float
    difference: float  # the statistic on the observed answers: tuned minus base
    low: float
    high: float
    confidence: float
    p_value: float
    p_exact: bool
    min_gain: float
    verdict: Verdict
    needed: int | None  # conversations the interval would need to clear min_gain at the observed spread
    resamples: int = RESAMPLES
    seed: int = SEED

    @property
    def passed(self) -> bool:
        """Whether the gate lets the tuned model through."""
        return self.verdict is Verdict.PASSED

    def line(self) -> str:
        """`rougeL: n=200, tuned - base +0.0312, 95 % interval [+0.0180, +0.0441], p=0.0001`."""
        p = f"p={self.p_value:.4f}" + ("" if self.p_exact else f" ({PERMUTATIONS:,} permutations)")
        return (f"{self.metric}: n={self.n}, tuned - base {self.difference:+.4f}, {self.confidence:.0%} interval "
                f"[{self.low:+.4f}, {self.high:+.4f}], {p}")

    def why(self) -> str:
        """The verdict in words, with what the gate asked for."""
        bar = f"min_gain {self.min_gain:+.4f}"
        if self.verdict is Verdict.PASSED:
            return f"the interval's lower bound {self.low:+.4f} is at least {bar}"
        if self.verdict is Verdict.BELOW:
            return f"the whole interval is below {bar}: the tuned model does not reach it"
        if self.verdict is Verdict.TOO_FEW:
            return (f"{self.n} conversation(s) cannot decide: no result on so few could be significant at "
                    f"{self.confidence:.0%} (a paired test's smallest p is 2 / 2**n = {2 / 2 ** self.n:.3f}); "
                    f"evaluate on at least {minimum_n(self.confidence)} (evaluation.max_samples)")
        more = (f"about {self.needed} conversations would narrow it enough if the observed difference holds"
                if self.needed is not None else
                "the observed difference is not above min_gain, so more conversations would not clear it")
        return (f"n={self.n} cannot decide: the interval [{self.low:+.4f}, {self.high:+.4f}] holds {bar}; {more} "
                "(evaluation.max_samples)")

    def as_json(self) -> dict[str, object]:
        """The evidence as plain JSON values."""
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return out

    def tags(self, prefix: str) -> dict[str, str]:
        """The evidence as model tags under `prefix` (e.g. evaluation.gate): floats in full (repr)."""
        return {f"{prefix}.{key}": repr(value) if isinstance(value, float) else str(value)
                for key, value in self.as_json().items()}

    @classmethod
    def from_tags(cls, tags: dict[str, str], prefix: str) -> Evidence | None:
        """The evidence `tags` wrote under `prefix`, or None when a field is missing or not what it should be."""
        try:
            raw = {key: tags[f"{prefix}.{key}"] for key in FIELDS}
            floats = {key: float(raw[key]) for key in ("base", "tuned", "difference", "low", "high", "confidence",
                                                       "p_value", "min_gain")}
            if not all(math.isfinite(value) for value in floats.values()):
                return None
            needed = None if raw["needed"] == "None" else int(raw["needed"])
            return cls(raw["metric"], int(raw["n"]), verdict=Verdict(raw["verdict"]), needed=needed,
                       p_exact=raw["p_exact"] == "True", resamples=int(raw["resamples"]), seed=int(raw["seed"]),
                       **floats)
        except (KeyError, ValueError):
            return None


FIELDS = tuple(field.name for field in fields(Evidence))


def minimum_n(confidence: float) -> int:
    """The fewest conversations on which a paired test can be significant at `confidence`: 2 / 2**n <= 1 - c."""
    return max(2, math.ceil(1 + math.log2(1 / (1 - confidence))))


def _finite(name: str, values: NDArray[np.float64]) -> None:
    import numpy as np

    if not bool(np.isfinite(values).all()):
        raise ValueError(f"{name} holds a score that is not a finite number")


class _Statistic:
    """tuned minus base on a selection of conversations: mean of differences, or corpus BLEU difference."""

    def __init__(self, metric: str, base: NDArray[np.float64], tuned: NDArray[np.float64]):
        self.metric, self.base, self.tuned = metric, base, tuned
        self.corpus = not per_answer(metric)

    def figure(self, values: NDArray[np.float64]) -> float:
        """One model's figure on all the conversations."""
        if self.corpus:
            return bleu_from_counts(values.sum(axis=0).tolist(), BLEU[self.metric])
        return float(values.mean())

    def _bleu_rows(self, totals: NDArray[np.float64]) -> NDArray[np.float64]:
        import numpy as np

        return np.array([bleu_from_counts(row.tolist(), BLEU[self.metric]) for row in totals])

    def resampled(self, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """The statistic on each row of conversation indices (a bootstrap resample)."""
        if self.corpus:
            return self._bleu_rows(self.tuned[rows].sum(axis=1)) - self._bleu_rows(self.base[rows].sum(axis=1))
        means: NDArray[np.float64] = (self.tuned[rows] - self.base[rows]).mean(axis=1)
        return means

    def swapped(self, swaps: NDArray[np.int64]) -> NDArray[np.float64]:
        """The statistic with each row's marked conversations' answers swapped between the models."""
        import numpy as np

        if self.corpus:
            mask = swaps[:, :, None].astype(bool)
            tuned = self._bleu_rows(np.where(mask, self.base[None], self.tuned[None]).sum(axis=1))
            base = self._bleu_rows(np.where(mask, self.tuned[None], self.base[None]).sum(axis=1))
            return tuned - base
        means: NDArray[np.float64] = ((1 - 2 * swaps) * (self.tuned - self.base)[None, :]).mean(axis=1)
        return means


def _bootstrap(stat: _Statistic, n: int, seed: int, resamples: int) -> NDArray[np.float64]:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, resamples, CHUNK):
        out.append(stat.resampled(rng.integers(0, n, size=(min(CHUNK, resamples - start), n))))
    return np.concatenate(out)


def _permutation_p(stat: _Statistic, n: int, seed: int, observed: float) -> tuple[float, bool]:
    import numpy as np

    tolerance = 1e-12 * max(1.0, abs(observed))
    if 2 ** n <= PERMUTATIONS:  # every arrangement: an exact p
        codes = np.arange(2 ** n)
        hits = 0
        for start in range(0, len(codes), CHUNK):
            swaps = (codes[start:start + CHUNK, None] >> np.arange(n)[None, :]) & 1
            hits += int((np.abs(stat.swapped(swaps)) >= abs(observed) - tolerance).sum())
        return hits / 2 ** n, True
    rng = np.random.default_rng(seed + 1)
    hits = 0
    for start in range(0, PERMUTATIONS, CHUNK):
        swaps = rng.integers(0, 2, size=(min(CHUNK, PERMUTATIONS - start), n))
        hits += int((np.abs(stat.swapped(swaps)) >= abs(observed) - tolerance).sum())
    return (1 + hits) / (1 + PERMUTATIONS), False


def compare(metric: str, base: Sequence[float] | Sequence[Sequence[float]],
            tuned: Sequence[float] | Sequence[Sequence[float]], *, min_gain: float, confidence: float = 0.95,
            seed: int = SEED, resamples: int = RESAMPLES) -> Evidence:
    """The evidence on `metric` from per-conversation values of both models on the same conversations, in the
    same order: per-answer scores for the rouge family, `bleu_counts` rows for BLEU."""
    import numpy as np

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not math.isfinite(min_gain):
        raise ValueError(f"min_gain must be a finite number, got {min_gain}")
    base_values, tuned_values = np.asarray(base, dtype=float), np.asarray(tuned, dtype=float)
    if base_values.shape != tuned_values.shape or len(base_values) == 0:
        raise ValueError(f"{len(base_values)} base and {len(tuned_values)} tuned scores: the comparison is paired, "
                         "so both models must be scored on the same conversations")
    _finite(f"{metric} (base)", base_values)
    _finite(f"{metric} (tuned)", tuned_values)
    n = len(base_values)
    stat = _Statistic(metric, base_values, tuned_values)
    base_figure, tuned_figure = stat.figure(base_values), stat.figure(tuned_values)
    observed = tuned_figure - base_figure
    low, high = (float(q) for q in np.quantile(_bootstrap(stat, n, seed, resamples),
                                                [(1 - confidence) / 2, (1 + confidence) / 2]))
    p_value, exact = _permutation_p(stat, n, seed, observed)
    verdict, needed = _verdict(n, observed, low, high, min_gain, confidence)
    return Evidence(metric, n, base_figure, tuned_figure, observed, low, high, confidence, p_value, exact, min_gain,
                    verdict, needed, resamples, seed)


def _verdict(n: int, observed: float, low: float, high: float, min_gain: float,
             confidence: float) -> tuple[Verdict, int | None]:
    if n < minimum_n(confidence):
        return Verdict.TOO_FEW, None
    if low >= min_gain - 1e-12:
        return Verdict.PASSED, None
    if high < min_gain:
        return Verdict.BELOW, None
    if observed <= min_gain:
        return Verdict.UNDECIDED, None
    half = (high - low) / 2  # the interval narrows as 1 / sqrt(n)
    return Verdict.UNDECIDED, math.ceil(n * (half / (observed - min_gain)) ** 2)
