"""The registry catalog: facts about registry models and VM sizes, each with its source.

The facts live in `models.yml`, `vm_sizes.yml`, `gpus.yml`, `model_sizes.yml`, `serverless.yml` and
`local_stand_in.yml` beside this module; this module is the only reader. Render's rules, the runner's pre-flight,
the local workspace's registry and the `catalog` commands all ask it. It never touches the network and never
imports azure-ai-ml.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).resolve().parent
MODELS_FILE = CATALOG_DIR / "models.yml"
SIZES_FILE = CATALOG_DIR / "vm_sizes.yml"
STAND_IN_FILE = CATALOG_DIR / "local_stand_in.yml"
GPUS_FILE = CATALOG_DIR / "gpus.yml"
MODEL_SIZES_FILE = CATALOG_DIR / "model_sizes.yml"
SERVERLESS_FILE = CATALOG_DIR / "serverless.yml"


@dataclass(frozen=True)
class SkuSpec:
    """A minimum SKU spec as the registry publishes it: "vCPUs|GPUs|memory GiB|disk GiB"."""

    vcpus: int
    gpus: int
    memory_gib: int
    disk_gib: int

    @classmethod
    def parse(cls, text: str | None) -> SkuSpec | None:
        """The spec in `text`, or None when there is none or it is not of that form."""
        parts = str(text or "").split("|")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            return None
        return cls(*(int(p) for p in parts))

    def __str__(self) -> str:
        return f"{self.vcpus} vCPUs, {self.gpus} GPU(s), {self.memory_gib} GiB memory, {self.disk_gib} GiB disk"

    def shortfalls(self, size: VmSize) -> list[str]:
        """What `size` lacks against this minimum (figures the catalog does not know are skipped)."""
        pairs = [("vCPUs", size.vcpus, self.vcpus), ("GPU(s)", size.gpus, self.gpus),
                 ("GiB memory", size.memory_gib, self.memory_gib), ("GiB disk", size.temp_disk_gib, self.disk_gib)]
        return [f"{have} {what} < {need}" for what, have, need in pairs if have is not None and have < need]


@dataclass(frozen=True)
class Stage:
    """Fine-tuning or inference of one model: dates, allowed sizes and minimum spec."""

    deprecation_date: dt.date | None = None
    retirement_date: dt.date | None = None
    computes: tuple[str, ...] = ()
    min_sku_spec: str | None = None

    def retired(self, today: dt.date) -> bool:
        """Whether the retirement date has come."""
        return self.retirement_date is not None and today >= self.retirement_date

    def allows(self, size: str) -> bool:
        """Whether `size` is on the list (case-insensitive, as Azure compares SKU names)."""
        return size.lower() in {c.lower() for c in self.computes}

    def as_dict(self) -> dict[str, Any]:
        """The stage as the catalog file stores it."""
        return {"deprecation_date": _iso(self.deprecation_date), "retirement_date": _iso(self.retirement_date),
                "computes": list(self.computes), "min_sku_spec": self.min_sku_spec}


@dataclass(frozen=True)
class ModelFacts:
    """What the registry publishes about one model's latest version."""

    registry: str
    name: str
    version: str
    archived: bool = False
    fine_tuning_tasks: tuple[str, ...] = ()
    inference_tasks: tuple[str, ...] = ()
    finetune: Stage = field(default_factory=Stage)
    inference: Stage = field(default_factory=Stage)
    text_context_window: int | None = None
    model_specific_defaults: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def status(self, today: dt.date) -> str:
        """live / deprecated on D / retired on D (for fine-tuning), or archived."""
        if self.finetune.retired(today):
            return f"retired on {self.finetune.retirement_date}" + (" (archived)" if self.archived else "")
        if self.archived:
            return "archived"
        if self.finetune.deprecation_date is not None:
            return f"deprecated on {self.finetune.deprecation_date}"
        return "live"

    def live(self, today: dt.date) -> bool:
        """Fine-tunable today: not archived and fine-tuning not retired."""
        return not self.archived and not self.finetune.retired(today)

    def source_text(self) -> str:
        """Where these facts come from, in one line."""
        src = self.source
        if "repository" in src:
            return f"{src['repository']} {src.get('path', '')} @{str(src.get('commit', ''))[:8]} ({src.get('date')})"
        return f"registry {src.get('registry')} ({src.get('date')})"

    def as_dict(self) -> dict[str, Any]:
        """The model as the catalog file stores it."""
        return {"registry": self.registry, "name": self.name, "version": self.version, "archived": self.archived,
                "tasks": {"fine_tuning": list(self.fine_tuning_tasks), "inference": list(self.inference_tasks)},
                "finetune": self.finetune.as_dict(), "inference": self.inference.as_dict(),
                "text_context_window": self.text_context_window,
                "model_specific_defaults": dict(self.model_specific_defaults), "source": dict(self.source)}


@dataclass(frozen=True)
class VmSize:
    """One VM size: its figures, quota family and retirement, with the page they come from."""

    name: str
    vcpus: int | None
    gpus: int | None
    gpu: str | None
    memory_gib: int | None
    temp_disk_gib: int | None
    quota_family: str
    retired: dt.date | None
    source: str
    retirement_source: str | None = None
    skip_reservation: bool | None = None
    sku_list: str | None = None
    retirement_extensions: tuple[tuple[tuple[str, ...], dt.date], ...] = ()

    def is_retired(self, today: dt.date) -> bool:
        """Whether the size's retirement date has come."""
        return self.retired is not None and today >= self.retired

    def still_runs_in(self, today: dt.date) -> list[str]:
        """Where a retired size still runs today, by its notice's regional extensions ("US Gov Virginia and US Gov
        Arizona until 2026-06-30")."""
        return [f"{' and '.join(regions)} until {until}" for regions, until in self.retirement_extensions
                if today <= until]


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _stage(raw: dict[str, Any] | None) -> Stage:
    raw = raw or {}
    return Stage(_date(raw.get("deprecation_date")), _date(raw.get("retirement_date")),
                 tuple(raw.get("computes") or ()), raw.get("min_sku_spec"))


def model_from_dict(raw: dict[str, Any]) -> ModelFacts:
    """A catalog entry as ModelFacts."""
    tasks = raw.get("tasks") or {}
    return ModelFacts(registry=raw["registry"], name=raw["name"], version=str(raw["version"]),
                      archived=bool(raw.get("archived")), fine_tuning_tasks=tuple(tasks.get("fine_tuning") or ()),
                      inference_tasks=tuple(tasks.get("inference") or ()), finetune=_stage(raw.get("finetune")),
                      inference=_stage(raw.get("inference")), text_context_window=raw.get("text_context_window"),
                      model_specific_defaults=dict(raw.get("model_specific_defaults") or {}),
                      source=dict(raw.get("source") or {}))


def load_models(path: Path = MODELS_FILE) -> list[ModelFacts]:
    """Every model in the catalog file at `path`."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [model_from_dict(entry) for entry in raw.get("models") or []]


MODELS_HEADER = """\
# The registry catalog: what the azureml registry publishes about chat-completion fine-tunable
# models, one entry per model (its latest version). Read by render, pre-flight, the local
# workspace and `python -m generator catalog models`; rewritten by `python -m generator catalog
# refresh`, which reads the live registry. Every entry names its source: a file of the public
# Azure/azureml-assets repository at a commit (from which the registry publishes), or
# "registry <name>" with the date of a refresh. Dates are ISO dates (UTC).
# min_sku_spec is "vCPUs|GPUs|memory GiB|disk GiB", as published. model_specific_defaults are kept
# as published (strings stay strings).
"""


def dump_models(models: Iterable[ModelFacts]) -> str:
    """The catalog file's text for `models`: sorted by registry and name, byte-for-byte deterministic."""
    entries = [m.as_dict() for m in sorted(models, key=lambda m: (m.registry, m.name.lower()))]
    return MODELS_HEADER + yaml.safe_dump({"models": entries}, sort_keys=False, width=120, allow_unicode=True)


@lru_cache(maxsize=1)
def _default_models() -> tuple[ModelFacts, ...]:
    return tuple(load_models(MODELS_FILE))


def models() -> tuple[ModelFacts, ...]:
    """Every model of the project's catalog."""
    return _default_models()


def model(registry: str, name: str) -> ModelFacts | None:
    """The catalog's facts about `name` in `registry` (exact name, as the registry spells it), or None."""
    return next((m for m in models() if m.registry == registry and m.name == name), None)


def live_models(today: dt.date, task: str = "chat-completion", registry: str | None = None) -> list[ModelFacts]:
    """Models fine-tunable today for `task`."""
    return [m for m in models() if m.live(today) and task in m.fine_tuning_tasks
            and (registry is None or m.registry == registry)]


@lru_cache(maxsize=1)
def _sizes() -> dict[str, VmSize]:
    raw = yaml.safe_load(SIZES_FILE.read_text(encoding="utf-8")) or {}
    sizes = {}
    for row in raw.get("sizes") or []:
        size = VmSize(name=row["name"], vcpus=row.get("vcpus"), gpus=row.get("gpus"), gpu=row.get("gpu"),
                      memory_gib=row.get("memory_gib"), temp_disk_gib=row.get("temp_disk_gib"),
                      quota_family=row["quota_family"], retired=_date(row.get("retired")), source=row["source"],
                      retirement_source=row.get("retirement_source"), skip_reservation=row.get("skip_reservation"),
                      sku_list=row.get("sku_list"),
                      retirement_extensions=tuple((tuple(e["regions"]), dt.date.fromisoformat(str(e["until"])[:10]))
                                                  for e in row.get("retirement_extensions") or ()))
        sizes[size.name.lower()] = size
    return sizes


def vm_sizes() -> list[VmSize]:
    """Every VM size the catalog knows."""
    return list(_sizes().values())


def vm_size(name: str) -> VmSize | None:
    """The catalog's facts about VM size `name` (case-insensitive), or None."""
    return _sizes().get(name.lower())


def suggest_sizes(name: str) -> list[str]:
    """Known size names close to `name` (for "did you mean")."""
    names = {s.name.lower(): s.name for s in vm_sizes()}
    return [names[n] for n in difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.8)]


@dataclass(frozen=True)
class Gpu:
    """One GPU's figures (gpus.yml); None is a figure no source was read for."""

    name: str
    dense_tflops: float | None
    memory_gbps: float | None
    memory_gb: float | None
    pcie_gbps: float | None
    sources: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _gpus() -> dict[str, Gpu]:
    raw = yaml.safe_load(GPUS_FILE.read_text(encoding="utf-8")) or {}

    def number(value: Any) -> float | None:
        return float(value) if value not in (None, "") else None

    return {row["gpu"]: Gpu(row["gpu"], number(row.get("dense_tflops")), number(row.get("memory_gbps")),
                            number(row.get("memory_gb")), number(row.get("pcie_gbps")),
                            {k: str(v) for k, v in row.items() if k == "source" or k.endswith("_source")})
            for row in raw.get("gpus") or []}


def gpu(name: str | None) -> Gpu | None:
    """The figures of GPU `name` (vm_sizes.yml's `gpu` column), or None when gpus.yml has no row for it."""
    return _gpus().get(name or "")


@dataclass(frozen=True)
class ModelSize:
    """A model's parameter count (model_sizes.yml): all of them (what memory holds) and those one token passes
    through (`active`, for a mixture of experts: what compute and decoding read)."""

    name: str
    parameters: float
    active: float
    source: str


@lru_cache(maxsize=1)
def _model_sizes() -> dict[str, ModelSize]:
    raw = yaml.safe_load(MODEL_SIZES_FILE.read_text(encoding="utf-8")) or {}
    return {row["name"]: ModelSize(row["name"], float(row["parameters"]),
                                   float(row.get("active") or row["parameters"]), str(row["source"]))
            for row in raw.get("models") or []}


def model_size(name: str) -> ModelSize | None:
    """The parameter counts of registry model `name`, or None when model_sizes.yml has no row for it."""
    return _model_sizes().get(name)


@dataclass(frozen=True)
class StandIn:
    """The small real model the local target serves in place of any registry model, with the source of each fact."""

    name: str
    package: str
    version: str
    file: str
    file_sha256: str
    license: str
    architecture: str
    parameters: float
    context_window: int
    source: str
    sources: dict[str, str] = field(default_factory=dict)

    def stands_in_line(self, model_name: str) -> str:
        """The one line local plan/apply and `catalog models` print about the stand-in."""
        return (f"{model_name} is stood in for by {self.name} on this machine ({self.package} {self.version}, "
                f"{self.license}, {self.parameters / 1e6:.1f}M parameters, context window {self.context_window})")


@lru_cache(maxsize=1)
def local_stand_in() -> StandIn:
    """The local target's stand-in model (generator/catalog/local_stand_in.yml)."""
    raw = yaml.safe_load(STAND_IN_FILE.read_text(encoding="utf-8"))["stand_in"]
    return StandIn(name=raw["name"], package=raw["package"], version=str(raw["version"]), file=raw["file"],
                   file_sha256=raw["file_sha256"], license=raw["license"], architecture=raw["architecture"],
                   parameters=float(raw["parameters"]), context_window=int(raw["context_window"]),
                   source=raw["source"], sources={k.removesuffix("_source"): v for k, v in raw.items()
                                                  if k.endswith("_source")})


@dataclass(frozen=True)
class ServerlessModel:
    """A registry model the serverless route fine-tunes (serverless.yml): where (`source`), whether a marketplace
    subscription comes first (`subscription_source`), and how its prices are told apart in the Retail Prices API."""

    registry: str
    name: str
    finetune_regions: tuple[str, ...]
    marketplace_subscription: bool
    source: str
    subscription_source: str
    price_meters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerlessRoute:
    """Everything serverless.yml says about the route: its models, those it refuses, the hyperparameters it takes,
    the pipeline parameters it refuses (name -> (why, source)), the warnings before paying and the price look-up."""

    models: tuple[ServerlessModel, ...]
    not_offered: tuple[str, ...]
    not_offered_source: str
    hyperparameters: dict[str, str]
    hyperparameters_source: str
    default_epochs_source: str
    refused: dict[str, tuple[str, str]]
    warnings: tuple[tuple[str, str], ...]
    price_lookup: dict[str, Any]


@lru_cache(maxsize=1)
def serverless_route() -> ServerlessRoute:
    """The serverless route's facts (generator/catalog/serverless.yml)."""
    raw = yaml.safe_load(SERVERLESS_FILE.read_text(encoding="utf-8"))
    models = tuple(ServerlessModel(m["registry"], m["name"], tuple(m["finetune_regions"]),
                                   bool(m["marketplace_subscription"]), str(m["source"]),
                                   str(m["subscription_source"]), dict(m["price_meters"]))
                   for m in raw["models"])
    refused = {name: (str(group["why"]), str(group["source"])) for group in raw["refused_parameters"]
               for name in group["names"]}
    return ServerlessRoute(models, tuple(raw["not_offered"]["models"]), str(raw["not_offered"]["source"]),
                           dict(raw["hyperparameters"]["names"]), str(raw["hyperparameters"]["source"]),
                           str(raw["hyperparameters"]["default_epochs_source"]), refused,
                           tuple((str(w["text"]), str(w["source"])) for w in raw["warnings"]),
                           dict(raw["price_lookup"]))


def serverless_model(registry: str, name: str) -> ServerlessModel | None:
    """The serverless route's facts about `name` in `registry`, or None when serverless.yml has no row for it."""
    return next((m for m in serverless_route().models if (m.registry, m.name) == (registry, name)), None)
