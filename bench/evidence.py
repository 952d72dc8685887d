"""Print what the gate's evidence costs: the paired bootstrap interval and the permutation p of
generator/evidence.py (10,000 resamples each) for n held-out conversations, on rougeL (per-answer scores) and on
bleu_4 (a corpus metric: every resample recomputes BLEU from summed n-gram counts).

Figures only, no assertions. Run: `.venv/bin/python bench/evidence.py`; `--smoke` runs the smallest n once (the
test suite checks that the script still runs).
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator import evidence  # noqa: E402

SIZES = (60,) if "--smoke" in sys.argv else (12, 60, 200, 1_000, 5_000)
BLEU_ORDER = 4


def rouge_scores(n: int, shift: float, rng: random.Random) -> list[float]:
    """Per-answer scores in 0..1 around 0.2 (the demo's rougeL), moved by `shift`."""
    return [min(1.0, max(0.0, rng.gauss(0.2 + shift, 0.08))) for _ in range(n)]


def bleu_rows(n: int, extra: int, rng: random.Random) -> list[list[int]]:
    """generator/textmetrics.py bleu_counts rows (matches and possible n-grams per order, then hypothesis and
    reference lengths) of answers about 60 tokens long; `extra` adds matches."""
    rows = []
    for _ in range(n):
        length = rng.randint(40, 80)
        possible = [max(0, length - k) for k in range(BLEU_ORDER)]
        matches = [min(p, rng.randint(0, p // (2 + 2 * k)) + extra) for k, p in enumerate(possible)]
        rows.append([*matches, *possible, length, rng.randint(40, 80)])
    return rows


def timed(metric: str, base: list[float] | list[list[int]], tuned: list[float] | list[list[int]]) -> str:
    """One comparison: its wall time, the peak of the memory it allocated, and what it found."""
    tracemalloc.start()
    start = time.perf_counter()
    found = evidence.compare(metric, base, tuned, min_gain=0.0)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (f"{seconds:6.2f} s, peak {peak / 2**20:6.1f} MiB; difference {found.difference:+.4f} "
            f"[{found.low:+.4f}, {found.high:+.4f}] p={found.p_value:.4f} {'exact' if found.p_exact else 'sampled'}, "
            f"{found.verdict}")


def main() -> None:
    """Print one line per metric and n."""
    import numpy  # noqa: F401  (imported once here, so that no line's time includes the import)

    for n in SIZES:
        rng = random.Random(n)
        print(f"rougeL n={n:>5}: {timed('rougeL', rouge_scores(n, 0.0, rng), rouge_scores(n, 0.02, rng))}")
        print(f"bleu_4 n={n:>5}: {timed('bleu_4', bleu_rows(n, 0, rng), bleu_rows(n, 1, rng))}")


if __name__ == "__main__":
    main()
