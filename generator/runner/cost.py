"""Money before, during and after: plan's estimate block, the budget check, and endpoints' age and expiry.

The figures come from generator/estimate.py (tokens, hours) and generator/prices.py (hourly prices);
this module turns them into the lines plan prints, the upper estimate a budget is held against, and
what status and `destroy --expired` say about a running endpoint. The serverless route's figures, and both
routes side by side, come from generator/runner/route_costs.py.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import clock
from generator.errors import UsageError
from generator.estimate import HOURS_PER_MONTH, Estimate, estimate
from generator.prices import Price, PriceBook, PriceUnavailable
from generator.runner import route_costs
from generator.runner.plan import Budget

if TYPE_CHECKING:
    from generator.runner.offline import Observer
    from generator.spec import Spec

EXPIRES_TAG = "azml-gen.expires-after"
CREATED_TAG = "azml-gen.created-at"
DEFAULT_ENDPOINT_HOURS = 24.0  # what the upper estimate counts for an endpoint without endpoint.expires_after
PRICE_CACHE_DIR = ".azml-cache"


@dataclass
class CostReport:
    """Plan's estimate block and the upper estimate in USD (None, with the reason, when it cannot be made); beside
    them both routes for the same spec (`route_lines`, and `routes` for plan's JSON)."""

    lines: list[str] = field(default_factory=list)
    upper_usd: float | None = None
    no_upper: str = ""
    endpoint_price: Price | None = None
    training_usd: tuple[float, float] | None = None
    training_hours: tuple[float, float] | None = None
    sizes: str = ""  # where the pipeline route trains and serves, for the comparison
    route_lines: list[str] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _span(low: float, high: float) -> str:
    """A range of hours, in minutes when it is under two hours."""
    if high < 2:
        return f"{low * 60:.0f}-{high * 60:.0f} min"
    return f"{low:.1f}-{high:.1f} h"


def price_book(root: Path, online: bool) -> PriceBook:
    """The project's price book: answers cached in .azml-cache/prices.json with the day they were read."""
    return PriceBook(root / PRICE_CACHE_DIR, online=online, today=clock.today())


def endpoint_hours(spec: Spec) -> tuple[float, str]:
    """Hours the upper estimate counts for the endpoint, and why that many."""
    expires = spec.sections.endpoint.expires_after
    if expires:
        return clock.parse_duration(expires).total_seconds() / 3600, f"until endpoint.expires_after {expires}"
    return DEFAULT_ENDPOINT_HOURS, "for one day (the spec sets no endpoint.expires_after)"


def cost_report(spec: Spec, *, region: str | None, prices: PriceBook | None, no_price: str = "",
                calibration_source: Any = None) -> CostReport:
    """Tokens, hours and money for `spec` on its route, and both routes side by side (generator/runner/
    route_costs.py); `prices` None (with `no_price` saying why) gives hours and tokens only."""
    book = route_costs.token_prices(prices)
    hours = endpoint_hours(spec)
    serverless = route_costs.serverless_figures(spec, region, book, no_price, hours)
    if route_costs.on_serverless(spec):
        report = CostReport(lines=["estimate (before anything runs; see README, What it will cost):",
                                   *serverless.lines()], upper_usd=serverless.upper_usd,
                            no_upper=serverless.no_upper())
        view, why = route_costs.pipeline_view(spec)
        other = pipeline_report(view, region=region, prices=prices, no_price=no_price) if view else None
        pipeline = route_costs.PipelineFigures(missing=why) if other is None else _figures(other)
    else:
        report = pipeline_report(spec, region=region, prices=prices, no_price=no_price,
                                 calibration_source=calibration_source)
        pipeline = _figures(report)
    report.route_lines, report.routes = route_costs.comparison(spec, pipeline, serverless)
    return report


def _figures(report: CostReport) -> route_costs.PipelineFigures:
    """The pipeline route's money from its report, for the comparison."""
    per_hour = report.endpoint_price.usd_per_hour if report.endpoint_price else None
    return route_costs.PipelineFigures(report.training_usd, per_hour, report.upper_usd, report.no_upper,
                                       report.training_hours, report.sizes)


def pipeline_report(spec: Spec, *, region: str | None, prices: PriceBook | None, no_price: str = "",
                    calibration_source: Any = None) -> CostReport:
    """Tokens, hours and money for `spec` on the pipeline route; `prices` None (with `no_price` saying why) gives
    hours only."""
    figures: Estimate = estimate(spec, calibration_source)
    report = CostReport(lines=["estimate (before anything runs; see README, What it will cost):"],
                        sizes=f"trains on {figures.train_nodes} x {figures.compute_size}, serves on "
                              f"{figures.deployment_instances} x {figures.deployment_size}")
    add = report.lines.append
    tokens, hours = figures.tokens, figures.hours
    report.training_hours = (hours.low, hours.high) if hours is not None else None
    if figures.sweep:
        add(f"  sweep            {figures.sweep}")
    if tokens is not None:
        cut = f"{tokens.truncated:,} cut at max_seq_length {tokens.max_seq_length}" if tokens.max_seq_length > 0 \
            else "none cut"
        add(f"  training tokens  {tokens.total:,} = {tokens.epochs} epoch(s) x {tokens.per_epoch:,} "
            f"({tokens.conversations:,} conversations, {cut}; {tokens.method})")
    if hours is not None:
        add(f"  training time    {_span(hours.low, hours.high)} ({hours.assumptions})")
    for reason in figures.missing:
        add(f"  training time    cannot be estimated: {reason}")
    for note in figures.notes:
        add(f"  training time    not calibrated: {note}")
    evaluation = figures.evaluation
    if evaluation is not None and evaluation.hours is not None:
        add(f"  evaluation time  {_span(evaluation.hours.low, evaluation.hours.high)} on {evaluation.size} "
            f"({evaluation.hours.assumptions})")
    elif evaluation is not None:
        add(f"  evaluation time  cannot be estimated: {evaluation.missing}")
    assert spec.sections.compute is not None, "the pipeline route trains on its compute"
    tier = spec.sections.compute.tier
    train_price = deploy_price = None
    if prices is None or region is None:
        add(f"  prices           none: {no_price}")
        report.no_upper = f"no price is known ({no_price})"
        return report
    try:
        train_price = prices.price(figures.compute_size, region, tier)
        deploy_price = prices.price(figures.deployment_size, region, "dedicated")
    except PriceUnavailable as exc:
        add(f"  prices           none for {region}: {exc}")
        report.no_upper = f"no price is known ({exc})"
        return report
    report.endpoint_price = deploy_price
    per_hour = deploy_price.usd_per_hour * figures.deployment_instances
    if hours is not None:
        low, high = (h * train_price.usd_per_hour * figures.train_nodes for h in (hours.low, hours.high))
        report.training_usd = (low, high)
        add(f"  training cost    {_money(low)}-{_money(high)} ({figures.compute_size} x {figures.train_nodes} "
            f"node(s) at {_money(train_price.usd_per_hour)}/h; {train_price.source()})")
    evaluation_upper = 0.0
    if evaluation is not None:
        try:
            eval_price = prices.price(evaluation.size, region, evaluation.tier)
        except PriceUnavailable as exc:
            add(f"  evaluation cost  unknown: {exc}")
            report.no_upper = f"no price for the evaluation's {evaluation.size} ({exc})"
            return report
        if evaluation.hours is None:
            report.no_upper = f"the evaluation time cannot be estimated ({evaluation.missing})"
        else:
            evaluation_upper = evaluation.hours.high * eval_price.usd_per_hour
            add(f"  evaluation cost  {_money(evaluation.hours.low * eval_price.usd_per_hour)}-"
                f"{_money(evaluation_upper)} ({evaluation.size} at {_money(eval_price.usd_per_hour)}/h; "
                f"{eval_price.source()})")
    add(f"  endpoint         {_money(per_hour)}/h, {_money(per_hour * 24)}/day, {_money(per_hour * HOURS_PER_MONTH)}"
        f"/month while it runs ({figures.deployment_size} x {figures.deployment_instances}; {deploy_price.source()})")
    if hours is None:
        report.no_upper = "the training time cannot be estimated"
        return report
    if report.no_upper:
        return report
    ep_hours, why = endpoint_hours(spec)
    upper = hours.high * train_price.usd_per_hour * figures.train_nodes + per_hour * ep_hours + evaluation_upper
    if not math.isfinite(upper) or upper < 0:
        report.no_upper = f"the upper estimate came out as {upper}, which is no amount of money"
        add(f"  upper estimate   unknown: {report.no_upper}")
        return report
    report.upper_usd = upper
    evaluated = ", the evaluation at its upper bound" if evaluation is not None else ""
    add(f"  upper estimate   {_money(report.upper_usd)}: training at its upper bound{evaluated}, plus the endpoint "
        f"{why}")
    return report


def _plan_notes(spec: Spec) -> list[str]:
    """What plan says beside the money: the memory block (generator/startup.py) and the evaluation environment's
    risk."""
    from generator import evaluation_jobs
    from generator.startup import fit_lines, model_type_note

    notes = [f"  {line}" for line in fit_lines(spec)]
    if model_type_note(spec):
        notes.append(f"  model type       {model_type_note(spec)}")
    if spec.sections.evaluation is not None:
        notes.append(f"  evaluation env   {evaluation_jobs.ENVIRONMENT_RISK}")
    return notes


def _budget(spec: Spec) -> float | None:
    """budget.max_usd, refused when it is no amount (validation refuses NaN and infinity; this guards the rest)."""
    budget = (spec.data.get("budget") or {}).get("max_usd")
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget <= 0:
        raise UsageError(f"budget.max_usd in {spec.file} is {budget!r}, which is no amount of money: give a number "
                         "of US dollars above 0")
    return float(budget)


def _usable_upper(report: CostReport) -> float | None:
    """The upper estimate when it is a finite amount; else None, with why in report.no_upper."""
    upper = report.upper_usd
    if upper is not None and (not math.isfinite(upper) or upper < 0):
        report.no_upper = report.no_upper or f"the upper estimate came out as {upper}, which is no amount of money"
        return None
    return upper


def budget_lines(spec: Spec, report: CostReport) -> list[str]:
    """The budget line plan prints (none without budget.max_usd)."""
    verdict = budget_verdict(spec, report, checked=False)
    if verdict is None:
        return []
    if verdict.upper_usd is None:
        return [f"  budget           max_usd {_money(verdict.max_usd)}: no upper estimate ({report.no_upper}); apply "
                "refuses"]
    said = "within it" if verdict.verdict == "within" else "OVER it: apply refuses"
    return [f"  budget           upper estimate {_money(verdict.upper_usd)} against max_usd {_money(verdict.max_usd)}: "
            f"{said}"]


def budget_verdict(spec: Spec, report: CostReport, checked: bool) -> Budget | None:
    """The spec's budget against the upper estimate (None without budget.max_usd): over it, or no estimate at all (an
    unknown or non-finite figure never passes the comparison), apply refuses when `checked` (OverBudget, with `why`)."""
    budget = _budget(spec)
    if budget is None:
        return None
    upper = _usable_upper(report)
    if upper is None:
        return Budget(budget, None, "unknown", checked, f"budget.max_usd is {_money(budget)} in {spec.file}, and "
                      f"{report.no_upper}, so the cost cannot be held against it: nothing was created. Pass "
                      "--over-budget to apply anyway.")
    if not upper <= budget:
        return Budget(budget, upper, "over", checked, f"the upper estimate {_money(upper)} exceeds budget.max_usd "
                      f"{_money(budget)} in {spec.file}: nothing was created. Lower the data share, the epochs or "
                      "endpoint.expires_after, raise the budget, or pass --over-budget.")
    return Budget(budget, upper, "within", checked, "")


@dataclass(frozen=True)
class EndpointAge:
    """How long an endpoint tagged by this tool has run, when it expires, and whether it has."""

    created: dt.datetime
    expires: dt.datetime | None
    now: dt.datetime

    @property
    def age_hours(self) -> float:
        """Hours since it was created."""
        return (self.now - self.created).total_seconds() / 3600

    @property
    def expired(self) -> bool:
        """Whether its expiry has passed."""
        return self.expires is not None and self.now >= self.expires


class TagError(ValueError):
    """An endpoint carries this tool's tags, but their values cannot be read (the message says which and why)."""


MAX_EXPIRY = dt.timedelta(days=3660)  # ten years: beyond it an expiry tag is a typo, not a plan


def endpoint_age(tags: dict[str, str] | None) -> EndpointAge | None:
    """Age and expiry from the tags apply wrote; None for an endpoint this tool did not create. TagError when the
    tags are ours but malformed (edited by hand or by another tool: a date without a timezone, a duration that
    is no duration or one beyond any date), so that a caller reports that endpoint and goes on with the others."""
    tags = tags if isinstance(tags, dict) else {}
    if CREATED_TAG not in tags:
        return None
    raw = tags[CREATED_TAG]
    try:
        created = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise TagError(f"tag {CREATED_TAG}={raw!r} is not a time like 2026-11-25T08:00:00+00:00") from None
    if created.tzinfo is None:
        raise TagError(f"tag {CREATED_TAG}={raw!r} has no timezone, so its age is unknown (apply writes UTC, "
                       "e.g. 2026-11-25T08:00:00+00:00)")
    expires = None
    if tags.get(EXPIRES_TAG):
        try:
            after = clock.parse_duration(tags[EXPIRES_TAG])
        except (ValueError, OverflowError):
            raise TagError(f"tag {EXPIRES_TAG}={tags[EXPIRES_TAG]!r} is not a duration like 8h or 3d") from None
        if after > MAX_EXPIRY:
            raise TagError(f"tag {EXPIRES_TAG}={tags[EXPIRES_TAG]!r} is longer than ten years")
        try:
            expires = created + after
        except OverflowError:
            raise TagError(f"tags {CREATED_TAG}={raw!r} and {EXPIRES_TAG}={tags[EXPIRES_TAG]!r} give an expiry "
                           "beyond any date") from None
    return EndpointAge(created, expires, clock.now())


def describe_age(age: EndpointAge, per_hour: float | None) -> str:
    """`up 5.0 h, expires 2026-11-25 20:00 UTC (in 3.0 h), about $18.35 so far` (money only with a price)."""
    when = "no expiry (set endpoint.expires_after)"
    if age.expires is not None:
        delta = (age.expires - age.now).total_seconds() / 3600
        when = (f"expired {age.expires:%Y-%m-%d %H:%M} UTC ({-delta:.1f} h ago)" if delta <= 0
                else f"expires {age.expires:%Y-%m-%d %H:%M} UTC (in {delta:.1f} h)")
    spent = f", about {_money(age.age_hours * per_hour)} so far" if per_hour is not None else ""
    return f"up {age.age_hours:.1f} h, {when}{spent}"


def now_tag() -> str:
    """The created-at tag's value for an endpoint created now (UTC, seconds)."""
    return clock.now().astimezone(dt.UTC).replace(microsecond=0).isoformat()


def session_costs(session: Observer) -> CostReport:
    """The cost report for the session's experiment: prices for the workspace's region (none where the target bills
    nothing; offline, those cached for the spec's region), calibrated by the experiment's latest finished run."""
    from generator.runner.metrics import calibration

    spec = session.experiment.loaded

    def earlier_run(tokens_per_epoch: int) -> Any:
        return calibration(session, tokens_per_epoch)

    if not session.target.bills:
        return cost_report(spec, region=None, prices=None, calibration_source=earlier_run,
                           no_price=session.target.no_price)
    return cost_report(spec, region=session.region, prices=price_book(session.root, online=not session.offline),
                       no_price=session.no_price, calibration_source=earlier_run)


def estimate_block(spec: Spec, report: CostReport) -> list[str]:
    """The estimate lines, the budget line, then (on the pipeline route) the memory block and the evaluation
    environment's risk, and last both routes side by side."""
    notes = [] if route_costs.on_serverless(spec) else _plan_notes(spec)
    return report.lines + budget_lines(spec, report) + notes + report.route_lines
