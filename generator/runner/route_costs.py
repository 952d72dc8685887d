"""Both routes for one spec, side by side: what plan prints and `plan --format json` carries about the pipeline and
the serverless route.

The serverless route is priced as Azure bills it: training tokens x epochs x the per-token training rate, and the
tuned model's serverless endpoint by the hour from deployment to deletion, called or not (sources in
generator/catalog/serverless.yml, rates in generator/serverless_prices.py). A figure no source gives is "unknown"
with the reason, never a guess. The pipeline route's figures come from generator/runner/cost.py, which calls this
module; for a serverless spec it prices the pipeline route on the spec's compute and deployment sections, when given.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from typing import Any

from generator import catalog, serverless
from generator.catalog.defaults import apply_model_defaults
from generator.estimate import HOURS_PER_MONTH, Tokens, training_tokens
from generator.prices import PriceBook
from generator.serverless_prices import Rates, ServerlessPrices
from generator.spec import Spec

BILLING = ("training tokens x epochs x the per-token rate, the endpoint by the hour, called or not "
           "(generator/catalog/serverless.yml price_lookup)")


def _money(value: float) -> str:
    return f"${value:,.2f}"


def on_serverless(spec: Spec) -> bool:
    """Whether the spec takes the serverless route."""
    return spec.sections.serverless


def token_prices(prices: PriceBook | None) -> ServerlessPrices | None:
    """The route's rate book beside a VM price book: the same cache folder, day and connection."""
    if prices is None:
        return None
    return ServerlessPrices(prices.cache_path.parent, online=prices.online, today=prices.today)


def pipeline_view(spec: Spec) -> tuple[Spec | None, str]:
    """A serverless spec as the pipeline route would run it (its hyperparameters, then the model's
    model_specific_defaults, on its compute and deployment), or None and why it cannot be priced."""
    data = spec.data
    missing = [name for name in ("compute", "deployment") if name not in data]
    if missing:
        return None, (f"the spec names no {' and no '.join(missing)} (the pipeline route runs and serves on them; add "
                      "them to price it)")
    view = copy.deepcopy(data)
    view["route"] = "pipeline"
    params = view["finetune"]["parameters"]
    if spec.model_facts is not None:
        params.update(apply_model_defaults(spec.model_facts, spec.interface, params).applied)
    return replace(spec, data=view), ""


@dataclass(frozen=True)
class PipelineFigures:
    """The pipeline route's money: training (low, high), the endpoint per hour, the upper estimate; `missing` says
    why a figure is unknown."""

    training_usd: tuple[float, float] | None = None
    endpoint_usd_per_hour: float | None = None
    upper_usd: float | None = None
    missing: str = ""
    training_hours: tuple[float, float] | None = None
    sizes: str = ""

    def summary(self) -> str:
        """One line of figures."""
        parts = [self.sizes] if self.sizes else []
        if self.training_hours is not None:
            low, high = self.training_hours
            parts.append(f"training {low:.1f}-{high:.1f} h")
        if self.training_usd is not None:
            parts.append(f"training {_money(self.training_usd[0])}-{_money(self.training_usd[1])}")
        if self.endpoint_usd_per_hour is not None:
            parts.append(f"endpoint {_money(self.endpoint_usd_per_hour)}/h while it runs")
        if self.upper_usd is not None:
            parts.append(f"upper estimate {_money(self.upper_usd)}")
        return ", ".join(parts) + (f"{'; ' if parts else ''}unknown: {self.missing}" if self.missing else "")

    def as_json(self) -> dict[str, Any]:
        """The figures for plan's JSON."""
        return {"training_hours": list(self.training_hours) if self.training_hours else None,
                "training_usd": list(self.training_usd) if self.training_usd else None,
                "endpoint_usd_per_hour": self.endpoint_usd_per_hour, "upper_usd": self.upper_usd,
                "unknown": self.missing or None}


@dataclass
class ServerlessFigures:
    """The serverless route's figures for a spec; every None has its reason in the matching `*_missing`."""

    model: str
    regions: tuple[str, ...]
    region: str | None
    not_offered: str = ""
    tokens: Tokens | None = None
    tokens_missing: str = ""
    rates: Rates | None = None
    rates_missing: str = ""
    endpoint_hours: tuple[float, str] = (24.0, "")

    @property
    def training_usd(self) -> float | None:
        """Training tokens x epochs x the per-token rate, when both are known."""
        rate = self.rates.training if self.rates else None
        return self.tokens.total * rate.usd_per_token() if self.tokens and rate else None

    @property
    def hosting_usd_per_hour(self) -> float | None:
        """The tuned model's endpoint per hour, when known."""
        return self.rates.hosting.usd if self.rates and self.rates.hosting else None

    def training_missing(self) -> str:
        """Why training cannot be priced ("" when it can)."""
        if self.not_offered:
            return self.not_offered
        if self.tokens is None:
            return self.tokens_missing
        return "" if self.training_usd is not None else (self.rates.training_missing if self.rates
                                                         else self.rates_missing)

    def hosting_missing(self) -> str:
        """Why hosting cannot be priced ("" when it can)."""
        if self.not_offered or self.hosting_usd_per_hour is not None:
            return self.not_offered
        return self.rates.hosting_missing if self.rates else self.rates_missing

    @property
    def upper_usd(self) -> float | None:
        """Training plus the endpoint for its hours (endpoint.expires_after, else a day), when both are known."""
        if self.training_usd is None or self.hosting_usd_per_hour is None:
            return None
        return self.training_usd + self.hosting_usd_per_hour * self.endpoint_hours[0]

    def no_upper(self) -> str:
        """Why there is no upper estimate ("" when there is one)."""
        return "" if self.upper_usd is not None else (self.training_missing() or self.hosting_missing())

    def lines(self) -> list[str]:
        """The route's estimate lines, as plan prints them for a serverless spec."""
        lines = [f"  route            serverless: a type: finetuning job with no compute, then a serverless endpoint "
                 f"(no GPU quota); billed as {BILLING}"]
        where = f"; the spec expects {self.region}" if self.region else "; the workspace's region decides"
        lines.append(f"  regions          {self.model} fine-tunes serverless in {', '.join(self.regions) or 'none'}"
                     f"{where}")
        if self.tokens is not None:
            lines.append(f"  training tokens  {self.tokens.total:,} = {self.tokens.epochs} epoch(s) x "
                         f"{self.tokens.per_epoch:,} ({self.tokens.conversations:,} conversations, none cut; "
                         f"{self.tokens.method})")
        training, hosting = self.training_usd, self.hosting_usd_per_hour
        if training is not None and self.rates and self.rates.training and self.tokens:
            rate = self.rates.training
            lines.append(f"  training cost    {_money(training)} ({self.tokens.total:,} tokens at {_money(rate.usd)} "
                         f"per {rate.per}; {rate.source()})")
        else:
            lines.append(f"  training cost    unknown: {self.training_missing()}")
        if hosting is not None and self.rates and self.rates.hosting:
            lines.append(f"  hosting          {_money(hosting)}/h, {_money(hosting * 24)}/day, "
                         f"{_money(hosting * HOURS_PER_MONTH)}/month from deployment to deletion, called or not "
                         f"({self.rates.hosting.source()})")
        else:
            lines.append(f"  hosting          unknown: {self.hosting_missing()}")
        if self.upper_usd is not None:
            lines.append(f"  upper estimate   {_money(self.upper_usd)}: training plus the endpoint "
                         f"{self.endpoint_hours[1]}")
        return lines

    def summary(self) -> str:
        """One line of figures, for the comparison."""
        if self.not_offered:
            return f"not offered: {self.not_offered}"
        parts = [] if self.region else [f"fine-tunes in {', '.join(self.regions)}"]
        if self.tokens is not None:
            parts.append(f"{self.tokens.total:,} training tokens ({self.tokens.epochs} epoch(s))")
        training, hosting = self.training_missing(), self.hosting_missing()
        if training and training == hosting:
            parts.append(f"training and hosting unknown ({training})")
        else:
            parts.append(f"training {_money(self.training_usd)}" if self.training_usd is not None
                         else f"training unknown ({training})")
            parts.append(f"hosting {_money(self.hosting_usd_per_hour)}/h called or not"
                         if self.hosting_usd_per_hour is not None else f"hosting unknown ({hosting})")
        if self.upper_usd is not None:
            parts.append(f"upper estimate {_money(self.upper_usd)}")
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """The figures for plan's JSON."""
        rates = self.rates
        return {"offered": not self.not_offered, "regions": list(self.regions), "region": self.region,
                "training_tokens": self.tokens.total if self.tokens else None,
                "epochs": self.tokens.epochs if self.tokens else None,
                "training_rate": asdict(rates.training) if rates and rates.training else None,
                "training_usd": self.training_usd,
                "hosting_rate": asdict(rates.hosting) if rates and rates.hosting else None,
                "hosting_usd_per_hour": self.hosting_usd_per_hour, "upper_usd": self.upper_usd,
                "unknown": [reason for reason in dict.fromkeys((self.training_missing(), self.hosting_missing()))
                            if reason]}


def _epochs(spec: Spec) -> int | None:
    """The epochs the route would train: finetune.parameters' (after the model's defaults on the pipeline route),
    else the component's default on the pipeline route; None for a serverless spec that sets none."""
    params = spec.sections.parameters
    if "num_train_epochs" in params:
        return int(params["num_train_epochs"])
    default = None if on_serverless(spec) else spec.interface.default("num_train_epochs")
    return int(default) if default is not None else None


def serverless_figures(spec: Spec, region: str | None, book: ServerlessPrices | None, no_price: str,
                       endpoint_hours: tuple[float, str]) -> ServerlessFigures:
    """The serverless route's figures for `spec` (its own route, or the alternative to its pipeline)."""
    typed, route = spec.sections, catalog.serverless_route()
    model = typed.foundation_model
    row = catalog.serverless_model(model.registry, model.name)
    region = region or typed.region
    figures = ServerlessFigures(model.name, row.finetune_regions if row else (), region,
                                endpoint_hours=endpoint_hours)
    figures.not_offered = (serverless.model_problem(model.registry, model.name)
                           or (serverless.region_problem(model.registry, model.name, region) if region else None)
                           or ("a sweep has no serverless equivalent yet" if typed.sweep else ""))
    epochs = _epochs(spec)
    train_file = spec.root / typed.data.dir / f"{typed.data.train_split}.jsonl"
    if epochs is None:
        figures.tokens_missing = f"num_train_epochs is not set, and {route.default_epochs_source}"
    elif not train_file.is_file():
        figures.tokens_missing = f"no prepared train data ({typed.data.dir}/{train_file.name}): run `make data`"
    else:
        figures.tokens = training_tokens(train_file, -1, epochs)
    if row is None or figures.not_offered:
        figures.rates_missing = figures.not_offered
    elif book is None or region is None:
        figures.rates_missing = no_price
    else:
        figures.rates = book.rates(row, region)
    return figures


def comparison(spec: Spec, pipeline: PipelineFigures, figures: ServerlessFigures) -> tuple[list[str], dict[str, Any]]:
    """The lines plan prints after its estimate, comparing both routes for this spec, and the same as JSON."""
    chosen = "serverless" if on_serverless(spec) else "pipeline"
    mine = {"pipeline": "", "serverless": ""}
    mine[chosen] = "this spec's route (above): "
    warnings = serverless.warnings_before_paying()
    lines = ["routes (this spec both ways; docs/serverless.md):",
             f"  pipeline         {mine['pipeline']}{pipeline.summary()}",
             f"  serverless       {mine['serverless']}{figures.summary()}"]
    lines += [f"  before paying    serverless: {text} ({source})" for text, source in warnings]
    document = {"chosen": chosen, "pipeline": pipeline.as_json(), "serverless": figures.as_json(),
                "before_paying": [{"text": text, "source": source} for text, source in warnings]}
    return lines, document
