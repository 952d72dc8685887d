"""A registry model's `model_specific_defaults`, applied at render to the parameters the spec leaves unset.

The seed notebook merges them into the job's parameters on the client with
`finetune_parameters.update(model_specific_defaults)`, so the model's values replace the user's.
Here the user's own values win, and every value taken from the model is recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.catalog import ModelFacts
from generator.catalog.checks import MODEL_FIELD, Finding
from generator.component import BOOL_STRING, MANAGED_INPUTS, ComponentInterface, check_value
from generator.diagnostics import ERROR, WARNING

RANGE_KEYS = {"learning_rate_min": "learning_rate", "learning_rate_max": "learning_rate"}


@dataclass
class ModelDefaults:
    """What the model's defaults did to a spec's parameters."""

    applied: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _coerce(kind: str, value: Any) -> Any:
    """A published tag value (often a string) as the spec would write it for an input of `kind`."""
    if kind in ("integer", "number") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if kind == "integer" and number.is_integer() else number
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == BOOL_STRING and isinstance(value, str):
        return value.lower()
    return value


def apply_model_defaults(facts: ModelFacts, interface: ComponentInterface,
                         params: Mapping[str, Any]) -> ModelDefaults:
    """Fill the parameters `params` leaves unset from the model's defaults; say what was used and kept."""
    result = ModelDefaults()
    for name, published in facts.model_specific_defaults.items():
        spec_input = interface.inputs.get(name)
        if name in RANGE_KEYS or spec_input is None or name in MANAGED_INPUTS:
            if name not in RANGE_KEYS:
                result.ignored.append(name)
            continue
        if name in params:
            result.kept[name] = published
            continue
        value = _coerce(spec_input.type, published)
        problem = check_value(spec_input, value)
        if problem:
            result.findings.append(Finding(MODEL_FIELD, f"{facts.name}'s model_specific_defaults {name}="
                                                        f"{published!r} does not fit {interface.name} "
                                                        f"{interface.version}: {problem}; set {name} in "
                                                        "finetune.parameters", ERROR))
            continue
        result.applied[name] = value
    result.findings += range_findings(facts, {**result.applied, **params})
    return result


def range_findings(facts: ModelFacts, params: Mapping[str, Any]) -> list[Finding]:
    """A warning when the learning rate is outside the model's published learning_rate_min/max."""
    findings: list[Finding] = []
    low = facts.model_specific_defaults.get("learning_rate_min")
    high = facts.model_specific_defaults.get("learning_rate_max")
    rate = params.get("learning_rate")
    if rate is None or (low is None and high is None):
        return findings
    try:
        low_f, high_f = (float(low) if low is not None else None), (float(high) if high is not None else None)
    except (TypeError, ValueError):
        return findings
    if (low_f is not None and rate < low_f) or (high_f is not None and rate > high_f):
        findings.append(Finding(("finetune", "parameters", "learning_rate"),
                                f"learning_rate {rate:g} is outside {facts.name}'s recommended range "
                                f"{low}..{high} (model_specific_defaults learning_rate_min/max)", WARNING))
    return findings
