"""The serverless route's prices from the Azure Retail Prices API: training per token, hosting per hour.

Queried live (generator/prices.py fetch_filtered), cached with the day they were read in
.azml-cache/serverless-prices.json, and never invented: no Microsoft page names the meters of serverless
fine-tuning, so the look-up is a stated rule over the API's documented fields (productName, skuName, meterName,
unitOfMeasure, retailPrice, type; generator/catalog/serverless.yml `price_lookup` says which words and why). A
meter is used only when exactly one item matches; otherwise the price is unknown, and the reason names what the API
answered. An answer is cached whether it found a price or not, so an offline plan says what the last look-up found.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generator import catalog
from generator.catalog import ServerlessModel
from generator.files import write_atomically
from generator.prices import PriceUnavailable, fetch_filtered, usable_price

CACHE_FILE = "serverless-prices.json"
_TOKEN_UNIT = re.compile(r"^1\s*([KM])(\s*tokens?)?$", re.I)
_HOUR_UNIT = re.compile(r"^1\s*/?\s*hours?$", re.I)
TOKENS_PER = {"K": 1_000, "M": 1_000_000}


@dataclass(frozen=True)
class Rate:
    """One price of the route: US dollars per `per` (1K tokens, 1M tokens or hour), from which meter, read when."""

    usd: float
    per: str
    meter: str
    product: str
    region: str
    read_on: str

    def source(self) -> str:
        """Where the figure comes from, for plan's line."""
        return f"Azure Retail Prices API, {self.product} / {self.meter}, read {self.read_on}"

    def usd_per_token(self) -> float:
        """The price of one token (of a rate per 1K or 1M tokens)."""
        return self.usd / TOKENS_PER[self.per[1]]


@dataclass(frozen=True)
class Rates:
    """Training and hosting rates of one model in one region; a rate that is None has its reason beside it."""

    training: Rate | None
    hosting: Rate | None
    training_missing: str = ""
    hosting_missing: str = ""


def _text(item: dict[str, Any]) -> str:
    """productName, skuName and meterName, lower case, '-' and '_' as spaces, padded for whole-word matching."""
    words = " ".join(str(item.get(key, "")) for key in ("productName", "skuName", "meterName")).lower()
    return f" {' '.join(re.sub(r'[-_]', ' ', words).split())} "


def _names_model(text: str, meters: dict[str, Any]) -> bool:
    return f" {meters['stem']} " in text and not any(f" {other} " in text for other in meters.get("siblings", ()))


def _unit(item: dict[str, Any], hourly: bool) -> str | None:
    """The unit as plan prints it (1K tokens, 1M tokens, hour), or None when it is not the wanted kind."""
    unit = str(item.get("unitOfMeasure", "")).strip()
    if hourly:
        return "hour" if _HOUR_UNIT.match(unit) else None
    match = _TOKEN_UNIT.match(unit)
    return f"1{match.group(1).upper()} tokens" if match else None


def pick(items: list[dict[str, Any]], model: ServerlessModel, region: str, today: str, *,
         hourly: bool) -> Rate | str:
    """The one meter of `items` that prices `model`'s training (or hosting), or why there is none."""
    lookup = catalog.serverless_route().price_lookup
    meters = model.price_meters
    words = lookup["hosting_words"] if hourly else lookup["training_words"]
    what = "hosting (per hour)" if hourly else "training (per token)"
    naming = [item for item in items if _names_model(_text(item), meters)]
    found = [item for item in naming
             if any(f" {word} " in _text(item) for word in words) and _unit(item, hourly) is not None
             and item.get("type", "Consumption") == "Consumption" and item.get("currencyCode", "USD") == "USD"
             and usable_price(item.get("retailPrice")) is not None]
    if len(found) == 1:
        item = found[0]
        return Rate(float(item["retailPrice"]), str(_unit(item, hourly)), str(item.get("meterName", "")),
                    str(item.get("productName", "")), region, today)
    shown = "; ".join(sorted({str(item.get("meterName", "")) for item in (found or naming)})[:6])
    if found:
        return f"{len(found)} meters of {meters['product']} could be {model.name}'s {what} ({shown}): which one " \
               "bills is not known"
    return (f"the Azure Retail Prices API lists no {what} meter for {model.name} in {region} "
            f"({len(items)} item(s) of {meters['product']}; naming the model: {shown or 'none'})")


def price_filter(model: ServerlessModel, region: str) -> str:
    """The OData filter for the model's product in a region (values as the API spells them: case-sensitive)."""
    service = catalog.serverless_route().price_lookup["service_name"]
    return (f"serviceName eq '{service}' and productName eq '{model.price_meters['product']}' and "
            f"armRegionName eq '{region.lower()}' and priceType eq 'Consumption'")


def _dated(rates: Rates, read_on: str) -> Rates:
    """Cached rates, their reasons saying which day's answer they are (a found rate carries its own date)."""
    def when(reason: str) -> str:
        return f"{reason} (the API's answer of {read_on})" if reason else ""

    return Rates(rates.training, rates.hosting, when(rates.training_missing), when(rates.hosting_missing))


class ServerlessPrices:
    """The route's rates by (region, model): from the cache when read today (or offline), else from the API."""

    def __init__(self, cache_dir: Path, *, online: bool = True, today: str | None = None):
        self.cache_path = cache_dir / CACHE_FILE
        self.online = online
        self.today = today or dt.date.today().isoformat()

    def _cache(self) -> dict[str, Any]:
        try:
            cache = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        return cache if isinstance(cache, dict) else {}

    def _cached(self, key: str) -> tuple[Rates, str] | None:
        """The cached rates and the day they were read, or None when absent or malformed."""
        entry = self._cache().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            training, hosting = (Rate(**entry[name]) if entry.get(name) else None for name in ("training", "hosting"))
            rates = Rates(training, hosting, str(entry.get("training_missing", "")),
                          str(entry.get("hosting_missing", "")))
        except (AttributeError, TypeError, KeyError):
            return None
        if any(rate is not None and usable_price(rate.usd) is None for rate in (rates.training, rates.hosting)):
            return None
        return rates, str(entry.get("read_on", ""))

    def rates(self, model: ServerlessModel, region: str) -> Rates:
        """The training and hosting rates of `model` in `region`, each with the reason when unknown."""
        key = f"{region.lower()}/{model.registry}/{model.name}"
        cached = self._cached(key)
        if cached is not None and (not self.online or cached[1] == self.today):
            return _dated(*cached)
        if not self.online:
            why = "offline, and no price of it is cached (a `plan` with a connection caches it)"
            return Rates(None, None, why, why)
        try:
            items = fetch_filtered(price_filter(model, region))
        except PriceUnavailable as exc:
            if cached is not None:
                return _dated(*cached)  # the last answer, with its date
            return Rates(None, None, str(exc), str(exc))
        training = pick(items, model, region.lower(), self.today, hourly=False)
        hosting = pick(items, model, region.lower(), self.today, hourly=True)
        rates = Rates(training if isinstance(training, Rate) else None, hosting if isinstance(hosting, Rate) else None,
                      training if isinstance(training, str) else "", hosting if isinstance(hosting, str) else "")
        cache = self._cache()
        cache[key] = {"read_on": self.today, "training": asdict(rates.training) if rates.training else None,
                      "hosting": asdict(rates.hosting) if rates.hosting else None,
                      "training_missing": rates.training_missing, "hosting_missing": rates.hosting_missing}
        write_atomically(self.cache_path, json.dumps(cache, indent=1, sort_keys=True, allow_nan=False))
        return rates
