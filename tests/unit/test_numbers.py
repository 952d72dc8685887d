"""Issue 24, class 1: numbers that decide money or a winner are finite and in range, or refused / unknown."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from generator.errors import InvalidInput, UsageError
from generator.prices import PriceBook, PriceUnavailable, cached_price, pick_meter, usable_price
from generator.runner.cost import CostReport, TagError, budget_lines, budget_verdict, endpoint_age
from generator.runner.explain import OverBudget, RunnerError
from generator.spec import load_spec
from tests.unit.test_cost import PAGE_2, FakePrices, fake_prices, item  # noqa: F401 - the fixture

TODAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize("old, new", [
    ("registered_model:", "budget:\n  max_usd: .nan\n\nregistered_model:"),
    ("learning_rate: 5.0e-6", "learning_rate: -.inf"),
])
def test_a_non_finite_number_in_a_spec_is_refused_where_it_is(project: Path, old: str, new: str) -> None:
    """Already so on main (the YAML reader refuses .nan and .inf); kept as the guard every later check relies on."""
    spec = project / "specs" / "phi4-ultrachat.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    with pytest.raises(InvalidInput) as refused:
        load_spec(spec, project)
    assert any("must be a finite number" in str(p) for p in refused.value.problems), refused.value.problems


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, 0.0, "4.00", True, None, 10**9])
def test_an_impossible_retail_price_is_no_price(value: object) -> None:
    assert usable_price(value) is None
    assert pick_meter([item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", value)], "dedicated") is None


def test_the_cheapest_usable_meter_wins_over_a_nan_one() -> None:
    items = [item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", math.nan), *PAGE_2]
    assert pick_meter(items, "dedicated")["retailPrice"] == 4.00


def test_an_api_answering_nan_gives_no_price_and_caches_nothing(fake_prices: FakePrices, tmp_path: Path,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.unit.test_cost as fake

    monkeypatch.setattr(fake, "PAGE_2", [item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", math.nan)])
    with pytest.raises(PriceUnavailable, match=r"whose retailPrice is no usable price, e.g. nan"):
        PriceBook(tmp_path, today=TODAY).price("Standard_NC24ads_A100_v4", "westeurope")
    assert not (tmp_path / "prices.json").exists()


@pytest.mark.parametrize("entry", [
    '{"westeurope/standard_nc24ads_a100_v4/dedicated": {"usd_per_hour": NaN, "sku": "s", "region": "r", '
    '"tier": "dedicated", "meter": "m", "product": "p", "read_on": "2026-11-25"}}',
    '{"westeurope/standard_nc24ads_a100_v4/dedicated": {"usd_per_hour": -4, "sku": "s", "region": "r", '
    '"tier": "dedicated", "meter": "m", "product": "p", "read_on": "2026-11-25"}}',
    '{"westeurope/standard_nc24ads_a100_v4/dedicated": {"usd_per_hour": 4, "surprise": 1}}',
    '{"westeurope/standard_nc24ads_a100_v4/dedicated": "4.00"}',
    '["not", "a", "mapping"]',
    '{"truncated',
])
def test_a_malformed_price_cache_is_no_price_never_a_crash(tmp_path: Path, entry: str) -> None:
    (tmp_path / "prices.json").write_text(entry)
    with pytest.raises(PriceUnavailable, match=r"^offline, and no price of it is cached"):
        PriceBook(tmp_path, online=False, today=TODAY).price("Standard_NC24ads_A100_v4", "westeurope")


def test_a_cache_entry_round_trips_and_only_usable_ones_do() -> None:
    good = {"sku": "s", "region": "r", "tier": "dedicated", "usd_per_hour": 4, "meter": "m", "product": "p",
            "read_on": "2026-11-25"}
    assert cached_price(good).usd_per_hour == 4.0
    assert cached_price({**good, "usd_per_hour": math.inf}) is None
    assert cached_price({**good, "read_on": 20261125}) is None


def _spec(budget: object) -> SimpleNamespace:
    return SimpleNamespace(data={"budget": {"max_usd": budget}}, file="specs/x.yaml")


@pytest.mark.parametrize("upper", [math.nan, math.inf, -5.0])
def test_a_non_finite_upper_estimate_never_passes_a_budget(upper: float) -> None:
    report = CostReport(upper_usd=upper)
    verdict = budget_verdict(_spec(100), report, checked=True)
    assert verdict is not None and verdict.refuses and verdict.verdict == "unknown"
    assert "cannot be held against it: nothing was created" in verdict.why
    assert OverBudget(verdict.why).exit_code == 1
    assert budget_lines(_spec(100), CostReport(upper_usd=upper))[0].endswith("apply refuses")


@pytest.mark.parametrize("budget", [math.nan, math.inf, 0, -1, "100"])
def test_a_budget_that_is_no_amount_is_refused(budget: object) -> None:
    with pytest.raises(UsageError, match=r"which is no amount of money") as refused:
        budget_verdict(_spec(budget), CostReport(upper_usd=10.0), checked=True)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("tags, why", [
    ({"azml-gen.created-at": "2026-11-25T08:00:00", "azml-gen.expires-after": "8h"}, "has no timezone"),
    ({"azml-gen.created-at": "2026-11-25T08:00:00+00:00", "azml-gen.expires-after": "9" * 30 + "d"},
     "is not a duration like 8h or 3d"),
    ({"azml-gen.created-at": "2026-11-25T08:00:00+00:00", "azml-gen.expires-after": "99999d"},
     "longer than ten years"),
    ({"azml-gen.created-at": "9999-12-31T08:00:00+00:00", "azml-gen.expires-after": "3000d"}, "beyond any date"),
    ({"azml-gen.created-at": "9999-12-31T08:00:00+00:00", "azml-gen.expires-after": "3d"}, "beyond any date"),
    ({"azml-gen.created-at": "soon", "azml-gen.expires-after": "3d"}, "is not a time"),
    ({"azml-gen.created-at": "2026-11-25T08:00:00+00:00", "azml-gen.expires-after": "8 hours"}, "not a duration"),
])
def test_odd_expiry_tags_are_a_tag_error_not_a_crash(tags: dict[str, str], why: str) -> None:
    with pytest.raises(TagError, match=why):
        endpoint_age(tags)


def test_endpoints_without_our_tags_are_not_ours() -> None:
    assert endpoint_age(None) is None and endpoint_age({"owner": "team-b"}) is None


def _row(job: str, eval_loss: float | None) -> "RunRow":
    from generator.runner.compare import RunRow

    return RunRow(job, "x", {}, final_train_loss=1.0, final_eval_loss=eval_loss, best_eval_loss=eval_loss,
                  best_eval_step=1)


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_a_diverged_point_never_wins_a_sweep(goal: str) -> None:
    from generator.runner.sweep import choose

    rows = [_row("p-nan", math.nan), _row("p-2", 2.0), _row("p-inf", -math.inf if goal == "minimize" else math.inf),
            _row("p-1", 1.0)]
    assert choose(rows, "eval_loss", goal).job == ("p-1" if goal == "minimize" else "p-2")


def test_when_every_point_diverged_nothing_is_selected() -> None:
    from generator.runner.sweep import choose

    with pytest.raises(RunnerError, match=r"every point's eval_loss is NaN or infinite .*nothing is selected"):
        choose([_row("a", math.nan), _row("b", math.inf)], "eval_loss", "minimize")


def test_a_tie_goes_to_the_first_point_and_is_reported() -> None:
    from generator.runner.sweep import choose, ties

    rows = [_row("a", 2.0), _row("b", 1.0), _row("c", 1.0)]
    best = choose(rows, "eval_loss", "minimize")
    assert best.job == "b" and ties(rows, best, "eval_loss") == ["c"]


def test_compare_json_of_a_diverged_run_is_valid_json() -> None:
    from generator.runner.compare import as_json

    document = json.dumps(as_json([_row("a", math.nan), _row("b", 1.0)]), allow_nan=False)
    runs = json.loads(document)["runs"]
    assert runs[0]["final_eval_loss"] is None and runs[0]["diverged"] is True and runs[1]["diverged"] is False


@pytest.mark.parametrize("rate", ["-1", "0", "0.0"])
def test_a_learning_rate_a_job_would_reject_is_refused_at_render(project: Path, rate: str) -> None:
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("learning_rate: 5.0e-6", f"learning_rate: {rate}", 1))
    with pytest.raises(InvalidInput) as refused:
        load_spec(spec, project)
    assert any("finetune.parameters.learning_rate: must be above 0" in str(p) for p in refused.value.problems)


def test_a_nan_evaluation_figure_never_passes_the_gate() -> None:
    from generator.runner.evaluation_figures import Row, from_tags, judge

    assert judge([Row("rougeL", 0.2, float("nan"))], "rougeL", 0.0) is not None
    assert judge([Row("rougeL", float("nan"), 0.3)], "rougeL", -1.0) is not None
    assert judge([Row("rougeL", 0.2, 0.3)], "rougeL", 0.05) is None
    tags = {"evaluation.base.job": "b", "evaluation.tuned.job": "t", "evaluation.base.rougeL": "nan",
            "evaluation.tuned.rougeL": "0.3"}
    assert from_tags(tags, ["rougeL"], {"base": "b", "tuned": "t"}) is None  # evaluated again, not trusted
