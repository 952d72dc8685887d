"""Rewrite the catalog from a live registry: label latest, then the version's published facts."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from generator import clock
from generator.catalog import ModelFacts, SkuSpec, dump_models, load_models
from generator.catalog.rest import from_rest
from generator.runner.compat import registry_model_properties


def refresh(client: Any, registry: str, names: list[str], path: Path) -> tuple[str, list[str]]:
    """The catalog file's new text with `names` (default: the registry's models in it) read live, and notes."""
    known = load_models(path) if path.is_file() else []
    wanted = names or [m.name for m in known if m.registry == registry]
    today = clock.today().isoformat()
    fresh: dict[str, ModelFacts] = {}
    notes = []
    for name in wanted:
        try:
            latest = client.models.get(name, label="latest")
        except Exception as exc:  # ValidationException: no version listed (archived); ResourceNotFound: unknown
            kept = " (kept the catalog's entry)" if any(m.name == name for m in known) else ""
            notes.append(f"{name}: registry {registry} lists no active version: {exc}{kept}")
            continue
        properties = registry_model_properties(client, name, str(latest.version))
        kept = " (kept the catalog's entry)" if any(m.name == name for m in known) else " (not added)"
        try:
            live = from_rest(registry, name, str(latest.version), properties, {"registry": registry, "date": today})
        except (ValueError, TypeError, AttributeError) as exc:  # a date that is no date, a list that is no list
            notes.append(f"{name}: registry {registry} answered facts that cannot be read ({exc}){kept}")
            continue
        wrong = malformed(live.facts)
        if (properties.get("tags") or {}).get("model_specific_defaults") and not live.facts.model_specific_defaults:
            wrong.append("its model_specific_defaults tag is not a mapping of plain values")
        if wrong:
            notes.append(f"{name} {latest.version}: registry {registry} answered malformed facts ({'; '.join(wrong)})"
                         f"{kept}; nothing malformed is written into the catalog")
            continue
        if not live.shapes:
            notes.append(f"{name} {latest.version}: the registry publishes neither system metadata nor legacy "
                         "tags; its entry has no size lists")
        fresh[name] = live.facts
    merged = [fresh.pop(m.name, m) if m.registry == registry else m for m in known] + list(fresh.values())
    return dump_models(merged), notes


VERSION = re.compile(r"[1-9][0-9]{0,5}")
SIZE = re.compile(r"Standard_[A-Za-z0-9_]{1,60}")


def malformed(facts: ModelFacts) -> list[str]:
    """What in a live answer is not what the catalog can hold (empty when it all is): a version that is no
    positive integer, a size that is no Azure VM size name, a minimum spec that is not vCPUs|GPUs|GiB|GiB, a
    context window that is no positive integer, a default that is NaN or infinite."""
    wrong = []
    if not VERSION.fullmatch(facts.version):
        wrong.append(f"version {facts.version!r} is not a positive integer")
    for stage in ("finetune", "inference"):
        info = getattr(facts, stage)
        odd = [c for c in info.computes if not SIZE.fullmatch(c)]
        if odd:
            wrong.append(f"{stage} size {odd[0]!r} is not an Azure VM size name")
        if info.min_sku_spec is not None and SkuSpec.parse(info.min_sku_spec) is None:
            wrong.append(f"{stage} minimum spec {info.min_sku_spec!r} is not vCPUs|GPUs|memory|disk")
    window = facts.text_context_window
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
        wrong.append(f"textContextWindow {window!r} is not a positive integer")
    for key, value in facts.model_specific_defaults.items():
        if not isinstance(key, str) or (isinstance(value, float) and not math.isfinite(value)) or \
                not isinstance(value, (str, int, float, bool)):
            wrong.append(f"model_specific_defaults {key!r}: {value!r} is not a plain value")
    return wrong
