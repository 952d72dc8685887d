"""Rewrite the catalog from a live registry: label latest, then the version's published facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator import clock
from generator.catalog import ModelFacts, dump_models, load_models
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
        live = from_rest(registry, name, str(latest.version), properties, {"registry": registry, "date": today})
        if not live.shapes:
            notes.append(f"{name} {latest.version}: the registry publishes neither system metadata nor legacy "
                         "tags; its entry has no size lists")
        fresh[name] = live.facts
    merged = [fresh.pop(m.name, m) if m.registry == registry else m for m in known] + list(fresh.values())
    return dump_models(merged), notes
