"""Layer 1 of spec validation: the JSON Schema in specs/spec.schema.json, with readable messages."""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jsonschema

from generator.diagnostics import Problem, number_hint
from generator.paths import SCHEMA_PATH
from generator.source import Located

# finetune.parameters mirrors the component interface for editors; rules.py checks it against the interface itself.
COMPONENT_CHECKED = ("finetune", "parameters")
_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "empty"}


@lru_cache(maxsize=1)
def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (the same file editors use for completion)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def _type_message(expected: Any, value: Any) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    hint = number_hint(value) if {"number", "integer"} & set(kinds) else ""
    return f"must be {' or '.join(_TYPE_NAMES.get(str(k), str(k)) for k in kinds)}, got {_describe(value)}{hint}"


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(choices)}"


def _enum_message(choices: list[Any], value: Any) -> str:
    names = [str(choice) for choice in choices]
    message = f"must be one of {', '.join(names)}, got {_describe(value)}"
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6) if isinstance(value, str) else []
    return message + (f"; did you mean '{close[0]}'?" if close else "")


def _problems_for(error: jsonschema.ValidationError, located: Located) -> list[Problem]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.instance  # the spec's value where validation failed: any JSON value
    kind = str(error.validator)
    expected: Any = error.validator_value  # the keyword's own value: a type name, a list, a number, a pattern…
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        return [located.problem(path + (k,), f"unknown field '{k}'{_suggest(k, allowed)}", key=True) for k in extra]
    if kind == "required":
        names = [name for name in expected if name not in value]
        return [located.problem(path + (name,), "required field is missing") for name in names]
    messages: dict[str, Callable[[], str]] = {
        "type": lambda: _type_message(expected, value),
        "enum": lambda: _enum_message(expected, value),
        "minimum": lambda: f"must be at least {expected}, got {_describe(value)}",
        "maximum": lambda: f"must be at most {expected}, got {_describe(value)}",
        "exclusiveMinimum": lambda: f"must be greater than {expected}, got {_describe(value)}",
        "exclusiveMaximum": lambda: f"must be less than {expected}, got {_describe(value)}",
        "minLength": lambda: "must not be empty" if expected == 1
        else f"must be at least {expected} characters long",
        "maxLength": lambda: f"must be at most {expected} characters long, got {len(value)}",
        "pattern": lambda: f"{schema.get('patternErrorMessage', 'does not match ' + expected)}, "
                           f"got {_describe(value)}",
        "minItems": lambda: f"must have at least {expected} item(s)",
        "minProperties": lambda: f"must have at least {expected} "
                                 f"entr{'y' if expected == 1 else 'ies'}",
        "uniqueItems": lambda: "lists a value more than once",
    }
    message = messages.get(kind, lambda: str(error.message))()
    return [located.problem(path, message)]


def _full_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    """JSON Schema `pattern`, but over the whole string: Python's `$` also matches before a final newline, so
    "my-exp\\n" would pass `^[a-z-]+$` and then fail in Azure."""
    if isinstance(instance, str) and not re.fullmatch(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _full_pattern})


@lru_cache(maxsize=1)
def _validator() -> Any:
    """One validator for every spec: building it resolves the schema's references each time."""
    return _Validator(spec_schema())


def check_schema(located: Located) -> list[Problem]:
    """Every JSON Schema violation in the spec, each located at its field."""
    validator = _validator()
    problems: list[Problem] = []
    for error in validator.iter_errors(located.data):
        if tuple(error.absolute_path)[:2] == COMPONENT_CHECKED:
            continue  # the component layer reports these, with the interface's own words (MANAGED_INPUTS, files)
        problems.extend(_problems_for(error, located))
    return sorted(set(problems))


def apply_defaults(data: Any, schema: dict[str, Any] | None = None) -> Any:
    """A copy of `data` with every schema default filled in where a field is absent."""
    schema = spec_schema() if schema is None else schema
    data = copy.deepcopy(data)
    _fill(data, schema)
    return data


def _fill(data: Any, schema: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in data and "default" in sub:
                data[key] = copy.deepcopy(sub["default"])
            if key in data:
                _fill(data[key], sub)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            _fill(item, schema["items"])


def parameters_schema(interface: Any) -> dict[str, Any]:
    """The JSON Schema of `finetune.parameters`, generated from the pinned component interface (the one source):
    names, types, enums, minimums and descriptions, so editors complete and check the block people edit most.
    Defaults go in the descriptions only: a `default` keyword would make apply_defaults set every input."""
    from generator.component import BOOL_STRING, FILE_TYPES, MANAGED_INPUTS

    properties: dict[str, Any] = {}
    for name, spec in interface.inputs.items():
        if name in MANAGED_INPUTS or spec.type not in {BOOL_STRING, "string", "integer", "number"} | FILE_TYPES:
            continue
        entry: dict[str, Any]
        if spec.type == BOOL_STRING:
            entry = {"type": ["boolean", "string"], "enum": [True, False, "true", "false"]}
        elif spec.type == "string":
            entry = {"type": ["string", "integer"]}
            if spec.enum:
                entry["enum"] = [int(v) if v.isdigit() else v for v in spec.enum] + [v for v in spec.enum
                                                                                     if v.isdigit()]
        elif spec.type in FILE_TYPES:
            entry = {"type": "string"}
        else:
            entry = {"type": spec.type}
        if spec.min is not None:
            entry["minimum"] = spec.min
        text = spec.description or ""
        if spec.default is not None:
            text = f"{text} (component default: {spec.default})".strip()
        entry["description"] = text
        properties[name] = entry
    return {"type": "object", "default": {},
            "description": f"Inputs of {interface.name} {interface.version} (generated from "
                           f"generator/components/{interface.name}-{interface.version}.yml by `python -m generator "
                           "schema`). Booleans become the component's \"true\"/\"false\" strings; parameters left "
                           "unset take the registry model's model_specific_defaults, then the component's defaults.",
            "properties": properties, "additionalProperties": False}


def schema_text(interface: Any) -> str:
    """specs/spec.schema.json with its finetune.parameters generated from `interface`, as the file is written."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["properties"]["finetune"]["properties"]["parameters"] = parameters_schema(interface)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
