"""`python -m generator new NAME --from SPEC`: a new experiment from an existing spec, with its own names.

Copying a spec by hand keeps the original's endpoint and registered model, so applying or destroying
one experiment would change the other's. This writes the copy with the experiment name, the endpoint
and the registered model derived from NAME, `run` back to 1, and everything else (comments too)
as it was; the compute is kept, since sharing a cluster with the same settings is fine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import yaml

from generator.diagnostics import Problem
from generator.errors import InvalidInput
from generator.paths import display_path
from generator.source import read_located

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # experiment.name in the schema: 64 characters at most
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a value YAML reads back as the same string, block or flow


def endpoint_name(name: str, limit: int = 32) -> str:
    """An endpoint name from an experiment name, as Azure accepts it: 3 to `limit` characters (32, or 25 when
    name_suffix: workspace adds 7), letters, digits and '-', starting with a letter, ending with a letter or digit.
    A name too long to keep whole is cut and given a short digest of the whole name, so two experiments that
    share a long prefix never share an endpoint."""
    base = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9-]", "-", name)).strip("-") or "x"
    base = base if base[:1].isalpha() else f"ep-{base}"
    if len(base) + 3 <= limit:
        return f"{base}-ep"
    digest = hashlib.sha256(name.lower().encode()).hexdigest()[:6]
    return f"{base[:limit - 10].rstrip('-')}-{digest}-ep"


def _scalar_spans(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """(start, end) character offsets of every scalar value in mappings of `text`, by path (block or flow style)."""
    spans: dict[tuple[str, ...], tuple[int, int]] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.ScalarNode):
            spans[path] = (node.start_mark.index, node.end_mark.index)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return spans


def _yaml_value(value: str | int) -> str:
    """`value` as a YAML scalar that reads back as this string or number (plain when it can be, else quoted)."""
    if isinstance(value, int):
        return str(value)
    plain = PLAIN.fullmatch(value) and yaml.safe_load(value) == value
    return value if plain else json.dumps(value)


def new_text(text: str, replacements: dict[tuple[str, ...], str | int]) -> str:
    """`text` with the scalars at each path replaced, everything else (comments, flow style) kept as it was."""
    spans = _scalar_spans(text)
    for path, value in sorted(((p, v) for p, v in replacements.items() if p in spans),
                              key=lambda item: spans[item[0]][0], reverse=True):
        start, end = spans[path]
        text = text[:start] + _yaml_value(value) + text[end:]
    return text


def _refuse(file: str, message: str) -> InvalidInput:
    return InvalidInput([Problem(file, 0, 0, "", message)])


def new_spec(root: Path, name: str, source: Path) -> Path:
    """Write specs/<name>.yaml from `source`, only once the written spec validates and renders alongside every
    other spec (its names Azure accepts and no other spec uses, case-insensitively); else raise InvalidInput
    with what is wrong, and write nothing."""
    file = display_path(source, root)
    if not NAME.fullmatch(name):
        raise _refuse(file, f"experiment names use letters, digits, '-' and '_', starting with a letter or digit, at "
                            f"most 64 characters; got {name!r}")
    target = root / "specs" / f"{name}.yaml"
    shown = display_path(target, root)
    taken = [p for p in target.parent.glob("*.y*ml") if p.stem.lower() == name.lower()] if target.parent.is_dir() \
        else []
    if target.exists() or taken:
        raise _refuse(shown, f"{display_path(taken[0] if taken else target, root)} exists already; choose another NAME")
    located = read_located(source, file)
    data = located.data if isinstance(located.data, dict) else {}
    model = str((data.get("foundation_model") or {}).get("name", "model"))
    suffix = (data.get("endpoint") or {}).get("name_suffix") if isinstance(data.get("endpoint"), dict) else None
    text = new_text(source.read_text(encoding="utf-8"), {
        ("experiment", "name"): name, ("experiment", "run"): 1,
        ("endpoint", "name"): endpoint_name(name, 25 if suffix == "workspace" else 32),
        ("registered_model", "name"): f"{model}-{name}"})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.new")
    tmp.write_text(text, encoding="utf-8")
    try:
        _check_renders(root, tmp, shown)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _check_renders(root: Path, written: Path, shown: str) -> None:
    """Refuse (InvalidInput, problems named after `shown`) unless the spec at `written` validates, shares no name
    with another spec, and renders."""
    from generator.render import render_spec
    from generator.spec import load_specs

    tmp_file = display_path(written, root)
    try:
        specs, _ = load_specs(root, [written], check_data=False)
        render_spec(specs[0])
    except InvalidInput as exc:
        problems = [dataclasses.replace(p, file=shown) if p.file == tmp_file else p for p in exc.problems]
        raise InvalidInput(problems, f"{shown} was not written: the copy would not render (fix the source spec, or "
                                     "choose another NAME)") from None
