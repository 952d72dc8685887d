"""What it will cost: the estimate on the shipped sample, the Retail Prices client against a local fake.

The fake answers in the documented response shape (Items, NextPageLink, retailPrice, unitOfMeasure,
meterName, productName, skuName, type, currencyCode; learn.microsoft.com/rest/api/cost-management/
retail-prices/azure-retail-prices). Its prices are invented for the tests and are not Azure's.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from generator.prices import PriceBook, PriceUnavailable, pick_meter, price_filter
from tests.conftest import REPO, write_held_out


def item(product: str, meter: str, price: float, sku: str = "Standard_NC24ads_A100_v4", **extra: Any) -> dict:
    """One price item as the API answers it (the figures are invented for the test)."""
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": "westeurope", "location": "EU West", "effectiveStartDate": "2024-01-01T00:00:00Z",
            "meterName": meter, "productName": product, "skuName": meter, "serviceName": "Virtual Machines",
            "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": "Consumption",
            "isPrimaryMeterRegion": True, "armSkuName": sku, **extra}


PAGE_1 = [item("Virtual Machines NCads A100 v4 Series Windows", "NC24ads A100 v4", 9.99),
          item("Virtual Machines NCads A100 v4 Series Windows", "NC24ads A100 v4 Spot", 8.88)]
PAGE_2 = [item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4 Spot", 1.11),
          item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", 4.00),
          item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", 3.00, type="DevTestConsumption")]


class FakePrices:
    """A Retail Prices API on 127.0.0.1: two pages for any filter, every query recorded."""

    def __init__(self) -> None:
        fake = self
        self.queries: list[dict[str, list[str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                """Page 1 links to page 2, which ends the list."""
                query = parse_qs(urlsplit(self.path).query)
                fake.queries.append(query)
                second = query.get("$skip") == ["100"]
                body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                        "Items": PAGE_2 if second else PAGE_1, "Count": 2,
                        "NextPageLink": None if second else f"{fake.url}?{urlsplit(self.path).query}&$skip=100"}
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/retail/prices"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def fake_prices(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePrices]:
    """The fake, set as the API the price book calls."""
    fake = FakePrices()
    monkeypatch.setenv("AZML_RETAIL_PRICES_URL", fake.url)
    yield fake
    fake.server.shutdown()


TODAY = dt.date(2026, 11, 25)


def test_the_filter_names_service_region_size_and_price_type_as_azure_spells_them() -> None:
    assert price_filter("standard_nc24ads_a100_v4", "WestEurope") == (
        "serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and "
        "armSkuName eq 'Standard_NC24ads_A100_v4' and priceType eq 'Consumption'")


def test_the_client_follows_pages_and_picks_the_linux_meter(fake_prices: FakePrices, tmp_path: Path) -> None:
    book = PriceBook(tmp_path, today=TODAY)
    dedicated = book.price("Standard_NC24ads_A100_v4", "westeurope")
    assert (dedicated.usd_per_hour, dedicated.product, dedicated.meter) == (
        4.00, "Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4")
    assert fake_prices.queries[0]["$filter"] == [price_filter("Standard_NC24ads_A100_v4", "westeurope")]
    assert len(fake_prices.queries) == 2  # both pages were read
    low = book.price("Standard_NC24ads_A100_v4", "westeurope", "low_priority")
    assert (low.usd_per_hour, low.meter) == (1.11, "NC24ads A100 v4 Spot")
    assert dedicated.source() == ("Azure Retail Prices API, Virtual Machines NCads A100 v4 Series / NC24ads A100 v4, "
                                  "read 2026-11-25")


def test_answers_are_cached_with_their_date_and_used_offline(fake_prices: FakePrices, tmp_path: Path) -> None:
    PriceBook(tmp_path, today=TODAY).price("Standard_NC24ads_A100_v4", "westeurope")
    asked = len(fake_prices.queries)
    again = PriceBook(tmp_path, today=TODAY).price("Standard_NC24ads_A100_v4", "westeurope")
    assert len(fake_prices.queries) == asked and again.read_on == "2026-11-25"  # the same day: from the cache
    offline = PriceBook(tmp_path, online=False, today=TODAY + dt.timedelta(days=30))
    assert offline.price("Standard_NC24ads_A100_v4", "westeurope").read_on == "2026-11-25"
    with pytest.raises(PriceUnavailable, match=r"^offline, and no price of it is cached"):
        offline.price("Standard_NC48ads_A100_v4", "westeurope")


def test_an_unreachable_api_is_said_and_the_last_answer_is_kept(monkeypatch: pytest.MonkeyPatch,
                                                                 fake_prices: FakePrices, tmp_path: Path) -> None:
    PriceBook(tmp_path, today=TODAY).price("Standard_NC24ads_A100_v4", "westeurope")
    monkeypatch.setenv("AZML_RETAIL_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")  # nothing listens
    later = PriceBook(tmp_path, today=TODAY + dt.timedelta(days=1))
    assert later.price("Standard_NC24ads_A100_v4", "westeurope").read_on == "2026-11-25"
    with pytest.raises(PriceUnavailable, match=r"^the Azure Retail Prices API could not be reached \("):
        later.price("Standard_NC48ads_A100_v4", "westeurope")


def test_no_linux_hourly_meter_is_no_price() -> None:
    assert pick_meter(PAGE_1, "dedicated") is None  # Windows only
    assert pick_meter([item("X Series", "X", 1.0, unitOfMeasure="1/Month")], "dedicated") is None


def test_plan_offline_estimates_tokens_and_time_on_the_shipped_sample(project: Path, cli) -> None:
    data = project / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        shutil.copy(REPO / "samples" / "ultrachat_mini" / f"{split}.jsonl", data / f"{split}.jsonl")
    write_held_out(data)  # the 51 test conversations whose prompt opens no training one
    spec = project / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("  max_samples: 200 ", "  max_samples: 50 ", 1))
    assert cli("render", root=project).exit_code == 0
    result = cli("plan", "specs/phi4-ultrachat.yaml", "--offline", root=project)
    assert result.exit_code == 0, result.stderr
    block = result.stdout.split("estimate (before anything runs; see README, What it will cost):\n")[1].splitlines()
    assert block[:3] == [
        "  training tokens  86,523 = 3 epoch(s) x 28,841 (320 conversations, 0 cut at max_seq_length 16384; "
        "estimated as characters / 4)",
        "  training time    29-74 min (4 x 14B parameters x tokens FLOPs (LoRA) + 2 x parameters x 15,444 evaluation "
        "tokens (forward only); 1 GPU(s) at 312 peak dense TFLOPS, 15%-35% utilisation; plus 0.25-0.75 h for model "
        "import, preprocessing and conversion; parameters offloaded (zero3.json): 960 micro-batches x 28.0 GB of "
        "weights per GPU host-to-GPU at 32 GB/s (gpus.yml), once per micro-batch overlapped with compute for the lower "
        "figure, and again in the backward pass beyond stage3_max_live_parameters 1,000,000,000, not overlapped, for "
        "the upper)",
        "  evaluation time  18-66 min on Standard_NC24ads_A100_v4 (25,600 generated tokens (2 models x 50 "
        "conversations x 256 new tokens at most), one conversation at a time: at least 6.2 min reading 2 bytes x 14B "
        "parameters per token at 1935 GB/s x 1 GPU(s), or 2 x parameters FLOPs per token at 312 TFLOPS and 15%-35% "
        "utilisation where slower; plus 0.1-0.5 h per job for loading the model and starting the compute)",
    ]
    # 320 conversations x 3 epochs at batch 1 = 960 micro-batches; each moves 2 bytes x 14e9 weights at 32 GB/s once
    # (0.875 s) at least, twice beyond the 1e9 live parameters at most: 14 and 27 min over the FLOPs' 1-2 min
    assert 960 * 28e9 / 32e9 / 60 + 15 == pytest.approx(29, abs=0.5)
    assert block[3] == "  prices           none: plan --offline does not connect, so the workspace's region is unknown"
    assert block[4] == "  memory (before anything runs; docs/cost.md, Will it fit):"
    assert block[5] == ("    host memory      26.1-78.2 GiB (28-84 GB) per node; Standard_NC24ads_A100_v4 has 220 GiB: "
                        "fits")
    assert block[6].startswith("                     assumptions: LoRA of Phi-4 (14B parameters) with ZeRO-3 from "
                               "zero3.json (optimizer and parameters offloaded to CPU) on 1 node(s) x 1 GPU(s): ")
    routes = block.index("routes (this spec both ways; docs/serverless.md):")  # last, both routes (test_route_costs)
    assert block[routes - 1].startswith("  evaluation env   model-evaluation/versions/24 (pinned as azureml-examples' ")


def test_recorded_tokenizer_counts_replace_the_estimate_while_the_file_is_unchanged(project: Path, cli) -> None:
    from generator.estimate import record_token_counts, training_tokens

    train = project / "train_sft.jsonl"
    shutil.copy(REPO / "samples" / "ultrachat_mini" / "train_sft.jsonl", train)
    record_token_counts(train, [300] * 320, "microsoft/phi-4")
    counted = training_tokens(train, 256, 2)
    assert (counted.total, counted.truncated, counted.method) == (
        2 * 256 * 320, 320, "tokenizer microsoft/phi-4 (recorded by data stats)")
    with open(train, "a") as handle:
        handle.write("\n")  # the file changed: the recorded counts no longer apply
    assert training_tokens(train, 256, 2).method == "estimated as characters / 4"


def test_the_nightly_workflow_example_loads_and_its_command_parses() -> None:
    import shlex

    import yaml as pyyaml

    from generator.cli import main

    workflow = pyyaml.safe_load((REPO / "examples" / "github-actions" / "destroy-expired-endpoints.yml").read_text())
    assert workflow[True]["schedule"] == [{"cron": "0 2 * * *"}]  # YAML 1.1 reads the key `on` as True
    step = next(s for s in workflow["jobs"]["destroy-expired"]["steps"] if s.get("name") == "Delete expired endpoints")
    words = shlex.split(step["run"])
    assert words[:2] == ["make", "destroy"]
    spec = words[2].removeprefix("SPEC=")
    runner_args = shlex.split(words[3].removeprefix("RUNNER_ARGS="))
    assert (REPO / spec).is_file() and runner_args == ["--expired", "--yes"]
    context = main.commands["destroy"].make_context("destroy", [spec, *runner_args])  # what make destroy runs
    assert context.params["expired"] and context.params["yes"]
    assert set(step["env"]) == {"AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"}
