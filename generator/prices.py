"""Hourly VM prices from the Azure Retail Prices API, cached with their date; never an invented price.

API: `GET https://prices.azure.com/api/retail/prices?$filter=…` — unauthenticated, OData `$filter` on
`serviceName`, `armRegionName`, `armSkuName`, `priceType`; answers `{"Items": [...], "NextPageLink": …}`
with `retailPrice`, `unitOfMeasure`, `meterName`, `productName`, `skuName`, `type`, `currencyCode` per item
(learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices). For a VM size in a region the
answer holds a Linux and a Windows product, each with a regular and a Spot / Low Priority meter: the Linux consumption
meter is the price of a dedicated node or deployment instance, the Spot / Low Priority meter that of a
low-priority node.

Azure ML compute clusters and managed online deployments run on these VM sizes; the estimate prices them
with the size's Linux consumption meter. That Azure ML adds no surcharge of its own on top is an assumption. Searched:
find_string "Machine Learning surcharge" and "There's no additional charge for Azure Machine" (no hits); search (code)
"Azure Machine Learning no additional charge compute pay only for the underlying virtual machines": MicrosoftDocs/
azure-docs machine-learning-faq.md (2016, classic Studio), preview/aml-services-pricing.md (2018, Workbench) and
concept-plan-manage-cost.md, whose excerpts do not state it (the full pages were not read). docs/facts.md lists it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import GeneratorError
from generator.files import write_atomically

RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
URL_VARIABLE = "AZML_RETAIL_PRICES_URL"  # another endpoint (the tests' fake)
CACHE_FILE = "prices.json"
TIMEOUT = 10.0
MAX_PAGES = 20
LOW_PRIORITY_WORDS = ("spot", "low priority")
MAX_USD_PER_HOUR = 1000.0  # far above any VM size's hourly price (the largest GPU sizes list under $150/h)


@dataclass(frozen=True)
class Price:
    """One hourly price: the meter it comes from and the day it was read."""

    sku: str
    region: str
    tier: str
    usd_per_hour: float
    meter: str
    product: str
    read_on: str

    def source(self) -> str:
        """Where the figure comes from, for the plan's line."""
        return f"Azure Retail Prices API, {self.product} / {self.meter}, read {self.read_on}"


class PriceUnavailable(GeneratorError):
    """No price can be given; the message says why (offline, no meter, an error of the API)."""


def usable_price(value: Any) -> float | None:
    """`value` as an hourly price in USD when it is one a VM size can have (a finite number above 0 and at most
    MAX_USD_PER_HOUR), else None: NaN, infinity, a negative, zero, a string or a boolean is no price."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0 < value <= MAX_USD_PER_HOUR else None


def cached_price(entry: Any) -> Price | None:
    """A price cache entry as a Price, or None when it is malformed (edited by hand, written by another version,
    or holding a price no VM size can have)."""
    names = set(Price.__dataclass_fields__)
    if not isinstance(entry, dict) or set(entry) != names or usable_price(entry.get("usd_per_hour")) is None:
        return None
    if not all(isinstance(entry[name], str) for name in names - {"usd_per_hour"}):
        return None
    return Price(**{**entry, "usd_per_hour": float(entry["usd_per_hour"])})


def price_filter(sku: str, region: str) -> str:
    """The OData filter for a VM size's consumption prices in a region.

    Filter values are case-sensitive since API version 2023-01-01-preview: the region as ARM spells it
    (lower case), the size as the catalog spells it (Standard_NC24ads_A100_v4).
    """
    from generator import catalog

    known = catalog.vm_size(sku)
    return (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region.lower()}' and "
            f"armSkuName eq '{known.name if known else sku}' and priceType eq 'Consumption'")


def fetch_items(sku: str, region: str, base_url: str | None = None) -> list[dict[str, Any]]:
    """Every item the API answers for a VM size's filter, following NextPageLink (at most MAX_PAGES pages)."""
    return fetch_filtered(price_filter(sku, region), base_url)


def fetch_filtered(odata_filter: str, base_url: str | None = None) -> list[dict[str, Any]]:
    """Every item the API answers for `odata_filter`, following NextPageLink (at most MAX_PAGES pages)."""
    url: str | None = (base_url or os.environ.get(URL_VARIABLE) or RETAIL_PRICES_URL) + "?" + urllib.parse.urlencode(
        {"$filter": odata_filter})
    items: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if not url:
            return items
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                page = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PriceUnavailable(f"the Azure Retail Prices API answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PriceUnavailable(f"the Azure Retail Prices API could not be reached ({reason})") from None
        except ValueError:
            raise PriceUnavailable("the Azure Retail Prices API answered something that is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("Items") or [], list) \
                or not isinstance(page.get("NextPageLink") or "", str):
            raise PriceUnavailable("the Azure Retail Prices API answered JSON without the documented shape "
                                   "({Items: [...], NextPageLink: ...}); try again later")
        items += [item for item in page.get("Items") or [] if isinstance(item, dict)]
        url = page.get("NextPageLink")
    return items


def pick_meter(items: list[dict[str, Any]], tier: str) -> dict[str, Any] | None:
    """The Linux hourly consumption meter: Spot / Low Priority for a low-priority tier, the regular one else. When
    several match (a Spot and a Low Priority meter), the cheaper is taken, so the figure may be low: which of the two
    bills an Azure ML low-priority node is not known. Searched: search (code) "Azure Machine Learning low priority VM
    pricing spot meter compute cluster billing"; the Azure ML pages found (how-to-create-attach-compute-cluster,
    concept-plan-manage-cost) describe low-priority VMs without naming a meter."""
    def low_priority(item: dict[str, Any]) -> bool:
        text = f"{item.get('meterName', '')} {item.get('skuName', '')}".lower()
        return any(word in text for word in LOW_PRIORITY_WORDS)

    wanted = [item for item in items
              if usable_price(item.get("retailPrice")) is not None
              and item.get("type") == "Consumption" and "windows" not in str(item.get("productName", "")).lower()
              and str(item.get("unitOfMeasure", "")).lower() == "1 hour"
              and item.get("currencyCode", "USD") == "USD"
              and low_priority(item) == (tier == "low_priority")]
    return min(wanted, key=lambda item: float(item["retailPrice"])) if wanted else None


class PriceBook:
    """Prices by (size, region, tier): from the cache file when it has them, else from the API (then cached)."""

    def __init__(self, cache_dir: Path, *, online: bool = True, today: dt.date | None = None):
        self.cache_path = cache_dir / CACHE_FILE
        self.online = online
        self.today = (today or dt.date.today()).isoformat()

    def _cache(self) -> dict[str, Any]:
        """The cache file's entries; an unreadable or malformed file counts as empty (it is rewritten whole by the
        next answer), and json's NaN and Infinity are refused rather than read as prices."""
        def no_constant(name: str) -> Any:
            raise ValueError(f"{name} is not a price")

        try:
            cache = json.loads(self.cache_path.read_text(encoding="utf-8"), parse_constant=no_constant)
        except (OSError, ValueError, RecursionError):
            return {}
        return cache if isinstance(cache, dict) else {}

    def _remember(self, key: str, price: Price) -> None:
        cache = self._cache()
        cache[key] = price.__dict__
        cache = {k: v for k, v in cache.items() if cached_price(v) is not None}
        write_atomically(self.cache_path, json.dumps(cache, indent=1, sort_keys=True, allow_nan=False))

    def price(self, sku: str, region: str, tier: str = "dedicated") -> Price:
        """The hourly price, or PriceUnavailable saying why there is none."""
        key = f"{region.lower()}/{sku.lower()}/{tier}"
        cached = cached_price(self._cache().get(key))
        if cached is not None and (not self.online or cached.read_on == self.today):
            return cached
        if not self.online:
            raise PriceUnavailable("offline, and no price of it is cached (a `plan` with a connection caches it)")
        try:
            items = fetch_items(sku, region)
        except PriceUnavailable:
            if cached is not None:
                return cached  # the last answer, with its date
            raise
        meter = pick_meter(items, tier)
        if meter is None:
            odd = [item.get("retailPrice") for item in items if usable_price(item.get("retailPrice")) is None]
            why = (f" (it answered {len(odd)} item(s) whose retailPrice is no usable price, e.g. {odd[0]!r}; the price "
                   "is unknown until it answers a finite price above 0)") if odd else ""
            raise PriceUnavailable(f"the Azure Retail Prices API lists no Linux {tier.replace('_', ' ')} hourly meter "
                                   f"for {sku} in {region}{why}")
        price = Price(sku=sku, region=region.lower(), tier=tier, usd_per_hour=float(meter["retailPrice"]),
                      meter=str(meter.get("meterName", "")), product=str(meter.get("productName", "")),
                      read_on=self.today)
        self._remember(key, price)
        return price
