"""Which deployments an apply keeps, retires or deletes, and what live traffic it sets: pure functions of what the
endpoint holds (the e2e tests drive the same cases through the emulator)."""

from __future__ import annotations

import pytest

from generator.runner.experiment import Resource
from generator.runner.serving import Deployed, Serving, from_plain, model_ref
from generator.runner.steps.traffic import _desired, _retired


def _serving(live: dict[str, int], mirror: dict[str, int] | None = None, previous: str | None = None,
             *names: str) -> Serving:
    every = sorted({*live, *(mirror or {}), *names})
    return Serving({n: Deployed(n, f"m:{i}", "Standard_NC24ads_A100_v4", 1, "Succeeded") for i, n in enumerate(every)},
                   {k: v for k, v in live.items() if v}, {k: v for k, v in (mirror or {}).items() if v}, previous)


@pytest.mark.parametrize("live, mirror, previous, others, keep, keep_previous, doomed", [
    ({"demo-v1": 100}, {}, None, ["demo-v2"], ["demo-v3"], False, ["demo-v2"]),  # a refused green left at 0 %
    ({"demo-v2": 100}, {}, "demo-v1", ["demo-v1"], ["demo-v2"], False, ["demo-v1"]),  # keep_previous true -> false
    ({"demo-v2": 100}, {}, "demo-v1", ["demo-v1"], ["demo-v2"], True, []),  # kept on purpose
    ({"demo-v2": 100}, {}, "demo-v1", ["demo-v1", "demo-v0"], ["demo-v2"], True, ["demo-v0"]),  # only the last kept
    ({"demo-v1": 90, "demo-v2": 10}, {}, None, [], ["demo-v2"], False, []),  # serving: retired by rollout, not here
    ({"demo-v1": 100}, {"demo-v2": 10}, None, [], ["demo-v3"], False, []),  # mirrored: it gets traffic
    ({}, {}, None, ["demo"], ["demo"], False, []),  # the spec's own deployment, even at 0 %
])
def test_leftovers_are_the_unnamed_deployments_that_serve_nothing(live: dict[str, int], mirror: dict[str, int],
                                                                  previous: str | None, others: list[str],
                                                                  keep: list[str], keep_previous: bool,
                                                                  doomed: list[str]) -> None:
    serving = _serving(live, mirror, previous, *others)
    assert serving.leftovers(keep, keep_previous) == doomed
    assert from_plain(serving.plain()) == serving  # what a plan records reads back as the same value


def _traffic(shares: dict[str, int]) -> Resource:
    return Resource("traffic", "traffic", "ep", ["smoke-test"], "", extra={"traffic": shares})


@pytest.mark.parametrize("live, mirror, shares, desired, retired", [
    ({"demo-v2": 100}, {}, {"demo": 100}, {"demo-v2": 0, "demo": 100}, ["demo-v2"]),  # rollout removed: never 200 %
    ({"demo": 100}, {}, {"demo": 100}, {"demo": 100}, []),
    ({"demo": 100, "old": 0}, {"x": 10}, {"demo": 100}, {"demo": 100, "old": 0}, ["x"]),
    ({}, {}, {"demo": 0}, {"demo": 0}, []),
])
def test_traffic_is_set_whole_and_sums_to_0_or_100(live: dict[str, int], mirror: dict[str, int],
                                                    shares: dict[str, int], desired: dict[str, int],
                                                    retired: list[str]) -> None:
    got = _desired(_traffic(shares), live)
    assert got == desired and sum(got.values()) in (0, 100)
    assert _retired(_traffic(shares), live, mirror) == retired


@pytest.mark.parametrize("value, ref", [
    ("azureml:Phi-4-ultrachat-200k:2", "Phi-4-ultrachat-200k:2"),
    ("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/models/M/versions/3",
     "M:3"),
])
def test_a_deployments_model_reads_as_name_and_version(value: str, ref: str) -> None:
    assert model_ref(value) == ref


def test_who_serves_is_said_in_one_line() -> None:
    serving = _serving({"demo-v1": 90, "demo-v2": 10}, {"demo-v3": 20})
    assert serving.serving_text() == "demo-v1 serves m:0 with 90 %; demo-v2 serves m:1 with 10 %; demo-v3 gets 20 % " \
                                     "mirrored"
    assert _serving({}).serving_text() == "no deployment serves live traffic"
    assert serving.describe("demo-v3") == "demo-v3 (m:2, 1 x Standard_NC24ads_A100_v4, live 0 %, mirror 20 %)"
