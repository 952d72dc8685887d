"""Spread independent work over this machine's cores: loading and rendering many specs (`render`, `check`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

PARALLEL_FROM = 100  # below this many items, starting worker processes costs more than it saves (bench/render.py)


def map_over_cores(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`[function(item) for item in items]`, in that order, computed by one forked process per core when there are
    many items. `function` must be a module-level function (or a partial of one) and its results picklable."""
    cores = os.cpu_count() or 1
    if len(items) < PARALLEL_FROM or cores < 2:
        return [function(item) for item in items]
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")  # the children inherit the loaded schema and templates
    except ValueError:  # a platform without fork
        return [function(item) for item in items]
    workers = min(cores, 8)
    with context.Pool(workers) as pool:
        return pool.map(function, items, chunksize=max(1, len(items) // (workers * 4)))
