"""Plan prices both routes for one spec: the serverless route's tokens x epochs x the per-token rate and hosting by
the hour from the Retail Prices API (a local fake), "unknown" with the reason otherwise, the warnings before paying,
and both routes in plan's JSON.

The fake answers in the API's documented response shape (learn.microsoft.com/rest/api/cost-management/retail-prices/
azure-retail-prices). Its meter names and prices are invented for the tests: no source gives Phi-4's serverless
fine-tuning meters or prices (docs/facts.md).
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from generator import catalog
from generator.serverless import region_problem
from generator.serverless_prices import ServerlessPrices, pick, price_filter
from tests.conftest import REPO, write_held_out

PHI4 = catalog.serverless_model("azureml", "Phi-4")
TODAY = "2026-11-25"


def item(meter: str, price: float, unit: str, product: str = "Azure Phi Models", **extra: Any) -> dict[str, Any]:
    """One item as the API answers it (meter name and price invented for the test)."""
    return {"currencyCode": "USD", "retailPrice": price, "unitPrice": price, "armRegionName": "eastus2",
            "meterName": meter, "productName": product, "skuName": meter, "serviceName": "Foundry Models",
            "unitOfMeasure": unit, "type": "Consumption", **extra}


PHI_ITEMS = [item("Phi-4 Input Tokens", 0.000125, "1K"), item("Phi-4 Output Tokens", 0.0005, "1K"),
             item("Phi-4 FT Training Tokens", 0.004, "1K"), item("Phi-4 FT Hosting", 0.80, "1 Hour"),
             item("Phi-4-mini FT Training Tokens", 0.001, "1K"), item("Phi-4-mini FT Hosting", 0.30, "1 Hour")]


class FakeApi:
    """A Retail Prices API on 127.0.0.1 answering PHI_ITEMS to every filter; each query is recorded."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        fake = self
        self.items, self.queries = items, []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                """One page."""
                fake.queries.append(parse_qs(urlsplit(self.path).query))
                raw = json.dumps({"Items": fake.items, "NextPageLink": None, "Count": len(fake.items)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/retail/prices"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    fake = FakeApi(list(PHI_ITEMS))
    monkeypatch.setenv("AZML_RETAIL_PRICES_URL", fake.url)
    yield fake
    fake.server.shutdown()


def test_the_one_training_and_hosting_meter_of_the_model_is_taken_not_a_siblings() -> None:
    training = pick(PHI_ITEMS, PHI4, "eastus2", TODAY, hourly=False)
    hosting = pick(PHI_ITEMS, PHI4, "eastus2", TODAY, hourly=True)
    assert (training.meter, training.usd, training.per) == ("Phi-4 FT Training Tokens", 0.004, "1K tokens")
    assert training.usd_per_token() == pytest.approx(0.004 / 1000)
    assert (hosting.meter, hosting.usd, hosting.per) == ("Phi-4 FT Hosting", 0.80, "hour")


def test_no_meter_or_two_meters_is_unknown_with_what_the_api_answered() -> None:
    inference_only = PHI_ITEMS[:2]
    assert pick(inference_only, PHI4, "eastus2", TODAY, hourly=False) == (
        "the Azure Retail Prices API lists no training (per token) meter for Phi-4 in eastus2 (2 item(s) of Azure Phi "
        "Models; naming the model: Phi-4 Input Tokens; Phi-4 Output Tokens)")
    twice = PHI_ITEMS + [item("Phi-4 FT Training Tokens Global", 0.003, "1K")]
    assert pick(twice, PHI4, "eastus2", TODAY, hourly=False).startswith(
        "2 meters of Azure Phi Models could be Phi-4's training (per token) (Phi-4 FT Training Tokens; Phi-4 FT "
        "Training Tokens Global): which one bills is not known")
    monthly = [item("Phi-4 FT Hosting", 500.0, "1/Month")]
    assert pick(monthly, PHI4, "eastus2", TODAY, hourly=True).startswith("the Azure Retail Prices API lists no hosting")


def test_the_filter_names_the_service_product_and_region() -> None:
    assert price_filter(PHI4, "EastUS2") == ("serviceName eq 'Foundry Models' and productName eq 'Azure Phi Models' "
                                             "and armRegionName eq 'eastus2' and priceType eq 'Consumption'")


def test_rates_are_cached_with_their_date_and_read_offline(api: FakeApi, tmp_path: Path) -> None:
    rates = ServerlessPrices(tmp_path, today=TODAY).rates(PHI4, "eastus2")
    assert rates.training.source() == "Azure Retail Prices API, Azure Phi Models / Phi-4 FT Training Tokens, read " \
                                      "2026-11-25"
    ServerlessPrices(tmp_path, today=TODAY).rates(PHI4, "eastus2")
    assert len(api.queries) == 1  # the same day: from the cache
    offline = ServerlessPrices(tmp_path, online=False, today="2026-12-25").rates(PHI4, "eastus2")
    assert offline.hosting.usd == 0.80 and offline.hosting.read_on == TODAY
    unknown = ServerlessPrices(tmp_path, online=False, today="2026-12-25").rates(PHI4, "westus3")
    assert unknown.training is None and unknown.training_missing.startswith("offline, and no price of it is cached")


def test_an_answer_without_the_meter_is_cached_and_says_its_date(api: FakeApi, tmp_path: Path) -> None:
    api.items = PHI_ITEMS[:2]
    ServerlessPrices(tmp_path, today=TODAY).rates(PHI4, "eastus2")
    later = ServerlessPrices(tmp_path, online=False, today="2026-12-01").rates(PHI4, "eastus2")
    assert later.hosting is None and later.hosting_missing.endswith("(the API's answer of 2026-11-25)")


def test_an_unreachable_api_is_unknown_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZML_RETAIL_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")  # nothing listens
    rates = ServerlessPrices(tmp_path, today=TODAY).rates(PHI4, "eastus2")
    assert rates.training is None and rates.training_missing.startswith(
        "the Azure Retail Prices API could not be reached (")


def test_the_region_check_pre_flight_calls_with_the_live_region() -> None:
    assert region_problem("azureml", "Phi-4", "EastUS2") is None
    assert region_problem("azureml", "Phi-4", "swedencentral").startswith(
        "Phi-4 does not fine-tune serverless in swedencentral: a workspace in eastus2, eastus, northcentralus, "
        "southcentralus, westus, westus3 can (MicrosoftDocs/azure-ai-docs articles/ai-foundry/includes/"
        "region-availability-maas.md @0b6d261c")


@pytest.fixture
def both(tmp_path: Path, cli) -> Path:
    """A project with both examples, the shipped sample as their data, rendered."""
    (tmp_path / "specs").mkdir()
    for name in ("phi4-ultrachat.yaml", "phi4-ultrachat-serverless.yaml"):
        shutil.copy(REPO / "specs" / name, tmp_path / "specs" / name)
    data = tmp_path / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        shutil.copy(REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl", data / f"{split}.jsonl")
    write_held_out(data)  # the 51 test conversations whose prompt opens no training one
    spec = tmp_path / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  max_samples: 200 ", "  max_samples: 50 ", 1))
    assert cli("render", root=tmp_path).exit_code == 0
    return tmp_path


def _block(stdout: str) -> list[str]:
    return stdout.split("estimate (before anything runs; see README, What it will cost):\n")[1].splitlines()


def test_plan_offline_prices_the_serverless_route_from_cached_rates(both: Path, api: FakeApi, cli) -> None:
    from generator.prices import Price
    from generator.runner.cost import price_book

    ServerlessPrices(both / ".azml-cache", today=TODAY).rates(PHI4, "eastus2")  # a connected plan's look-up
    book = price_book(both, online=False)
    book._remember("eastus2/standard_nc24ads_a100_v4/dedicated", Price(
        "Standard_NC24ads_A100_v4", "eastus2", "dedicated", 4.0, "NC24ads A100 v4", "Virtual Machines NCads A100 v4 "
        "Series", TODAY))  # and the VM price it cached (invented)
    result = cli("plan", "specs/phi4-ultrachat-serverless.yaml", "--offline", root=both)
    assert result.exit_code == 0, result.stderr
    block = _block(result.stdout)
    assert block[2] == ("  training tokens  86,523 = 3 epoch(s) x 28,841 (320 conversations, none cut; estimated as "
                        "characters / 4)")
    # 86,523 tokens x $0.004 per 1K = $0.35; a day of hosting at $0.80/h = $19.20
    assert block[3] == ("  training cost    $0.35 (86,523 tokens at $0.00 per 1K tokens; Azure Retail Prices API, Azure "
                        "Phi Models / Phi-4 FT Training Tokens, read 2026-11-25)")
    assert block[4].startswith("  hosting          $0.80/h, $19.20/day, $584.00/month from deployment to deletion, "
                               "called or not (")
    assert block[5] == ("  upper estimate   $19.55: training plus the endpoint for one day (the spec sets no "
                        "endpoint.expires_after)")
    routes = block[block.index("routes (this spec both ways; docs/serverless.md):") + 1:]
    assert routes[0].startswith("  pipeline         trains on 1 x Standard_NC24ads_A100_v4, serves on 1 x "
                                "Standard_NC24ads_A100_v4, training 0.5-1.2 h, training $1.93-$4.93, endpoint $4.00/h "
                                "while it runs, upper estimate $100.93")
    assert routes[1].startswith("  serverless       this spec's route (above): 86,523 training tokens (3 epoch(s)), "
                                "training $0.35, hosting $0.80/h called or not, upper estimate $19.55")
    said = "\n".join(routes)
    for warning in ("hourly hosting cost whether or not calls are made", "no calls for 15 days is deleted",
                    "only one deployment is permitted for a custom model", "200,000 tokens and 1,000 requests"):
        assert warning in said


def test_plan_offline_says_unknown_and_why_without_a_price(both: Path, cli) -> None:
    result = cli("plan", "specs/phi4-ultrachat.yaml", "--offline", root=both)
    assert result.exit_code == 0, result.stderr
    routes = result.stdout.split("routes (this spec both ways; docs/serverless.md):\n")[1].splitlines()
    assert routes[1] == ("  serverless       fine-tunes in eastus2, eastus, northcentralus, southcentralus, westus, "
                         "westus3, 86,523 training tokens (3 epoch(s)), training and hosting unknown (plan --offline "
                         "does not connect, so the workspace's region is unknown)")


def test_plan_json_carries_both_routes_as_its_schema_says(both: Path, api: FakeApi) -> None:
    from generator.runner.cost import cost_report, price_book
    from generator.spec import load_spec

    spec = load_spec(both / "specs" / "phi4-ultrachat.yaml", both)
    report = cost_report(spec, region="eastus2", prices=price_book(both, online=True),
                         no_price="the workspace did not say its region")
    schema = json.loads((REPO / "docs" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator({**schema["properties"]["routes"], "$defs": schema["$defs"]}).validate(
        report.routes)
    serverless = report.routes["serverless"]
    assert report.routes["chosen"] == "pipeline"
    assert (serverless["training_tokens"], serverless["epochs"], serverless["hosting_usd_per_hour"]) == (
        86523, 3, 0.80)
    assert serverless["training_usd"] == pytest.approx(86523 * 0.004 / 1000)
    assert serverless["training_rate"]["meter"] == "Phi-4 FT Training Tokens"
    assert len(report.routes["before_paying"]) == 5 and all(w["source"] for w in report.routes["before_paying"])


def test_a_model_the_route_does_not_offer_is_said_beside_the_pipeline(both: Path, cli) -> None:
    spec = both / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("experiment:\n", "region: westeurope\n\nexperiment:\n", 1))
    assert cli("render", root=both).exit_code == 0
    result = cli("plan", "specs/phi4-ultrachat.yaml", "--offline", root=both)
    routes = result.stdout.split("routes (this spec both ways; docs/serverless.md):\n")[1].splitlines()
    assert routes[1].startswith("  serverless       not offered: Phi-4 does not fine-tune serverless in westeurope")

