"""The registry's two ways of publishing a model's facts, to and from the catalog's ModelFacts.

- System metadata (the registry's form since the 2026-06-16 migration; Azure/azureml-assets
  `assets/models/system/*/spec.yaml` @4b41f8cc): `system_metadata.supportedComputes.finetuneComputes`,
  `.SKU.finetuneMinSkuSpec`, `.deprecation.finetuneRetirementDate` (ISO timestamps), `.tasks`,
  `.textContextWindow`; `model_specific_defaults` stays a tag.
- Legacy tags (the same files before the migration, @1aa6cc49, and what the seed notebook reads):
  `finetune_compute_allow_list` / `inference_compute_allow_list` as Python-literal strings,
  `FinetuneRetirementDate` & co. as dates, `finetune-min-sku-spec` & co. as properties.

`from_rest` reads either or both (system metadata wins where both speak) and says which it found;
`to_rest` writes one of them, for the local workspace's registry.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.catalog import ModelFacts, Stage, _date

SYSTEM_METADATA = "system metadata"
LEGACY_TAGS = "legacy tags"
SHAPES = (SYSTEM_METADATA, LEGACY_TAGS)

_LEGACY_DATES = {("finetune", "deprecation"): "FinetuneDeprecationDate",
                 ("finetune", "retirement"): "FinetuneRetirementDate",
                 ("inference", "deprecation"): "InferenceDeprecationDate",
                 ("inference", "retirement"): "InferenceRetirementDate"}


@dataclass(frozen=True)
class LiveFacts:
    """What a live registry answer said, and in which shapes it said it."""

    facts: ModelFacts
    shapes: tuple[str, ...]

    @property
    def has_size_lists(self) -> bool:
        """Whether any shape published a fine-tune or inference size list."""
        return bool(self.facts.finetune.computes or self.facts.inference.computes)


def parse_tag_value(value: Any) -> Any:
    """A tag as published (a string holding a Python or JSON literal) as a value; other strings as they are."""
    if not isinstance(value, str):
        return value
    for parse in (ast.literal_eval, json.loads):
        try:
            return parse(value)
        except (ValueError, SyntaxError, TypeError):
            continue
    return value


def _list(value: Any) -> tuple[str, ...]:
    parsed = parse_tag_value(value)
    if isinstance(parsed, str):
        parsed = [part.strip() for part in parsed.strip("[]").split(",")]
    return tuple(str(v).strip() for v in parsed or () if str(v).strip())


def _stage_from(metadata: Mapping[str, Any], tags: Mapping[str, Any], properties: Mapping[str, Any],
                stage: str) -> tuple[Stage, set[str]]:
    found: set[str] = set()
    computes: tuple[str, ...] = ()
    minimum = None
    dates: dict[str, Any] = {}
    supported = (metadata.get("supportedComputes") or {}).get(f"{stage}Computes")
    sku = metadata.get("SKU") or {}
    deprecation = metadata.get("deprecation") or {}
    if supported:
        computes, found = _list(supported), found | {SYSTEM_METADATA}
    elif tags.get(f"{stage}_compute_allow_list"):
        computes, found = _list(tags[f"{stage}_compute_allow_list"]), found | {LEGACY_TAGS}
    if sku.get(f"{stage}MinSkuSpec"):
        minimum, found = str(sku[f"{stage}MinSkuSpec"]), found | {SYSTEM_METADATA}
    elif properties.get(f"{stage}-min-sku-spec"):
        minimum, found = str(properties[f"{stage}-min-sku-spec"]), found | {LEGACY_TAGS}
    for kind in ("deprecation", "retirement"):
        key = f"{stage}{kind.capitalize()}Date"
        if deprecation.get(key):
            dates[kind], found = deprecation[key], found | {SYSTEM_METADATA}
        elif tags.get(_LEGACY_DATES[(stage, kind)]):
            dates[kind], found = tags[_LEGACY_DATES[(stage, kind)]], found | {LEGACY_TAGS}
    return Stage(_date(dates.get("deprecation")), _date(dates.get("retirement")), computes, minimum), found


def from_rest(registry: str, name: str, version: str, body_properties: Mapping[str, Any],
              source: dict[str, str]) -> LiveFacts:
    """Facts from a registry model version's REST `properties` (tags, properties, system metadata)."""
    tags = body_properties.get("tags") or {}
    properties = body_properties.get("properties") or {}
    metadata = body_properties.get("system_metadata") or body_properties.get("systemMetadata") or {}
    finetune, found_ft = _stage_from(metadata, tags, properties, "finetune")
    inference, found_inf = _stage_from(metadata, tags, properties, "inference")
    tasks = metadata.get("tasks") or {}
    fine_tuning_tasks = tuple(tasks.get("fineTuningTasks") or _list(properties.get("finetuning-tasks") or ()))
    defaults = parse_tag_value(tags.get("model_specific_defaults")) or {}
    facts = ModelFacts(registry=registry, name=name, version=str(version),
                       archived=bool(body_properties.get("isArchived")), fine_tuning_tasks=fine_tuning_tasks,
                       inference_tasks=tuple(tasks.get("inferenceTasks") or ()), finetune=finetune,
                       inference=inference, text_context_window=metadata.get("textContextWindow"),
                       model_specific_defaults=dict(defaults) if isinstance(defaults, dict) else {}, source=source)
    shapes = tuple(shape for shape in SHAPES if shape in found_ft | found_inf)
    return LiveFacts(facts, shapes)


def _timestamp(day: Any) -> str | None:
    return f"{day.isoformat()}T00:00:00.000000Z" if day else None


def to_rest(facts: ModelFacts, shape: str) -> dict[str, Any]:
    """The `tags`, `properties` and `system_metadata` a registry in `shape` would publish for `facts`."""
    tags: dict[str, str] = {}
    if facts.model_specific_defaults:
        tags["model_specific_defaults"] = str(dict(facts.model_specific_defaults))
    properties: dict[str, str] = {}
    metadata: dict[str, Any] = {}
    if shape == SYSTEM_METADATA:
        metadata = {
            "tasks": {"fineTuningTasks": list(facts.fine_tuning_tasks), "inferenceTasks": list(facts.inference_tasks)},
            "SKU": {f"{stage}MinSkuSpec": getattr(facts, stage).min_sku_spec for stage in ("finetune", "inference")
                    if getattr(facts, stage).min_sku_spec},
            "supportedComputes": {f"{stage}Computes": list(getattr(facts, stage).computes)
                                  for stage in ("finetune", "inference") if getattr(facts, stage).computes},
            "deprecation": {f"{stage}{kind.capitalize()}Date":
                            _timestamp(getattr(getattr(facts, stage), f"{kind}_date"))
                            for stage in ("finetune", "inference") for kind in ("deprecation", "retirement")
                            if getattr(getattr(facts, stage), f"{kind}_date")},
        }
        if facts.text_context_window:
            metadata["textContextWindow"] = facts.text_context_window
    elif shape == LEGACY_TAGS:
        for stage in ("finetune", "inference"):
            info = getattr(facts, stage)
            if info.computes:
                tags[f"{stage}_compute_allow_list"] = str(list(info.computes))
            if info.min_sku_spec:
                properties[f"{stage}-min-sku-spec"] = info.min_sku_spec
            for kind in ("deprecation", "retirement"):
                day = getattr(info, f"{kind}_date")
                if day:
                    tags[_LEGACY_DATES[(stage, kind)]] = day.isoformat()
        if facts.fine_tuning_tasks:
            properties["finetuning-tasks"] = ", ".join(facts.fine_tuning_tasks)
    else:
        raise ValueError(f"unknown registry shape {shape!r}; one of {', '.join(SHAPES)}")
    return {"tags": tags, "properties": properties, "system_metadata": metadata or None}
