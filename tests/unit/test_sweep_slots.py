"""Slots: a sweep's points start at most max_concurrent at a time, in the manifest's order, counting the
ones already running in the workspace. Threads are driven step by step; nothing depends on timing."""

from __future__ import annotations

import threading

import pytest

from generator.runner.explain import RunnerError
from generator.runner.sweep import Slots


class Starter:
    """A point's thread: acquire, then record that it started (or the error it got)."""

    def __init__(self, slots: Slots, point: str, started: list[str]):
        self.waited = threading.Event()  # set once it blocks, for whichever reason
        self.reasons: list[str] = []
        self.limited = threading.Event()  # set once only the limit holds it back
        self.done = threading.Event()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(slots, point, started), daemon=True)
        self.thread.start()

    def _waiting(self, reason: str) -> None:
        self.reasons.append(reason)
        if reason == "limit":
            self.limited.set()
        self.waited.set()

    def _run(self, slots: Slots, point: str, started: list[str]) -> None:
        try:
            slots.acquire(point, self._waiting)
            started.append(point)
        except RunnerError as exc:
            self.error = exc
        self.done.set()


def test_points_start_in_order_and_never_more_than_the_capacity() -> None:
    slots, started = Slots(["a", "b", "c", "d"], 2), []
    for point in ("d", "c", "b", "a"):  # plans end in any order
        slots.report(point, "create")
    starters = {p: Starter(slots, p, started) for p in ("d", "c", "b", "a")}
    assert starters["a"].done.wait(10) and starters["b"].done.wait(10)
    assert starters["c"].waited.wait(10) and starters["d"].waited.wait(10)
    assert started == ["a", "b"] or started == ["b", "a"]
    assert starters["c"].limited.wait(10)  # c is next: only the limit holds it back
    assert "limit" not in starters["d"].reasons  # d waits for its turn behind c
    slots.release("b")
    assert starters["c"].done.wait(10)
    assert not starters["d"].done.is_set() and started[-1] == "c"
    slots.release("a")
    assert starters["d"].done.wait(10)
    assert started[2:] == ["c", "d"]


def test_nothing_starts_before_every_point_has_reported() -> None:
    slots, started = Slots(["a", "b", "c"], 2), []
    slots.report("a", "create")
    first = Starter(slots, "a", started)
    assert first.waited.wait(10) and started == []  # b and c may be running already
    assert first.reasons == ["planning"]
    slots.report("b", "attach")
    slots.report("c", "attach")
    assert not first.done.is_set()  # two attached points fill both slots
    slots.release("c")
    assert first.done.wait(10) and started == ["a"]


def test_a_point_that_never_planned_frees_its_turn() -> None:
    slots, started = Slots(["a", "b"], 1), []
    slots.report("b", "create")
    waiting = Starter(slots, "b", started)
    assert waiting.waited.wait(10)
    slots.release("a")  # a's dependency failed: it reports nothing and is released by its step
    assert waiting.done.wait(10) and started == ["b"]


def test_closing_lets_no_waiting_point_start() -> None:
    slots, started = Slots(["a", "b"], 1), []
    slots.report("a", "attach")
    slots.report("b", "create")
    waiting = Starter(slots, "b", started)
    assert waiting.waited.wait(10)
    slots.close()
    assert waiting.done.wait(10)
    assert started == [] and isinstance(waiting.error, RunnerError)
    with pytest.raises(RunnerError, match="apply was interrupted"):
        slots.acquire("b")
