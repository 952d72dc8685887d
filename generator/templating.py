"""The Jinja2 environment: strict, and every `{{ value }}` passes through one safe serializer.

YAML templates (`*.yml.j2`) finalize each expression as a YAML scalar: plain when that reads
back as the same string, else double-quoted with escapes, always on one line. JSON templates
(`*.json.j2`) finalize as JSON. So no spec value can add keys, break the document, or be
evaluated as a template.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.paths import TEMPLATES_DIR

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$")
_QUOTABLE = re.compile(r'^[ !#-\[\]-~]*\Z')


def yaml_scalar(value: Any) -> str:
    """`value` as a one-line YAML scalar that loads back as exactly `value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        return _yaml_float(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return _yaml_string(value)
    raise TypeError(f"a template may only print scalars, got {type(value).__name__}: {value!r}")


@lru_cache(maxsize=1024)
def _yaml_float(value: float) -> str:
    return yaml.safe_dump(value).split("\n", 1)[0]


@lru_cache(maxsize=8192)
def _yaml_string(value: str) -> str:
    if _PLAIN.match(value) and yaml.load(value, Loader=_LOADER) == value:
        return value
    if _QUOTABLE.match(value):  # what PyYAML's double-quoted style writes unchanged, without running its emitter
        return f'"{value}"'
    return yaml.dump(value, Dumper=yaml.SafeDumper, default_style='"', width=math.inf, allow_unicode=True).rstrip("\n")


def json_value(value: Any) -> str:
    """`value` as indented JSON with stable key order (as given)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@lru_cache(maxsize=4)
def environment(templates_dir: Path = TEMPLATES_DIR, kind: str = "yaml") -> jinja2.Environment:
    """A strict Jinja2 environment whose every expression is serialized as `kind` (yaml or json)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        finalize=yaml_scalar if kind == "yaml" else json_value,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, context: dict[str, Any], templates_dir: Path = TEMPLATES_DIR) -> str:
    """Render template `name`, choosing the serializer from its extension."""
    kind = "json" if name.endswith(".json.j2") else "yaml"
    return environment(templates_dir, kind).get_template(name).render(context)
