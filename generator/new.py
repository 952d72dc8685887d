"""`python -m generator new NAME --from SPEC`: a new experiment from an existing spec, with its own names.

Copying a spec by hand keeps the original's endpoint and registered model, so applying or destroying
one experiment would change the other's. This writes the copy with the experiment name, the endpoint
and the registered model derived from NAME, `run` back to 1, and everything else (comments too)
as it was; the compute is kept, since sharing a cluster with the same settings is fine.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.diagnostics import Problem
from generator.errors import InvalidInput
from generator.paths import display_path
from generator.source import Located, read_located

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,250}")


def endpoint_name(name: str) -> str:
    """An endpoint name from an experiment name: 3-32 characters, starts with a letter, no trailing '-'."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", name)
    base = base if base[:1].isalpha() else f"ep-{base}"
    return (base[:29].rstrip("-") + "-ep")[:32]


def _replace(lines: list[str], located: Located, path: tuple[str, ...], value: str) -> None:
    """Put `value` in place of the scalar at `path`, keeping the rest of its line (a trailing comment)."""
    line, col = located.values[path]
    text = lines[line - 1]
    rest = text[col - 1:]
    old = rest.split("#", 1)[0].rstrip()
    lines[line - 1] = text[:col - 1] + value + rest[len(old):]


def new_spec(root: Path, name: str, source: Path) -> Path:
    """Write specs/<name>.yaml from `source`; raise InvalidInput when the name or the target is wrong."""
    file = display_path(source, root)
    if not NAME.fullmatch(name):
        raise InvalidInput([Problem(file, 0, 0, "", f"experiment names use letters, digits, '-' and '_', starting "
                                                     f"with a letter or digit; got {name!r}")])
    target = root / "specs" / f"{name}.yaml"
    if target.exists():
        raise InvalidInput([Problem(display_path(target, root), 0, 0, "", f"{display_path(target, root)} exists "
                                                                          "already; choose another NAME")])
    located = read_located(source, file)
    data = located.data if isinstance(located.data, dict) else {}
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    model = str((data.get("foundation_model") or {}).get("name", "model"))
    for path, value in [(("experiment", "name"), name), (("experiment", "run"), "1"),
                        (("endpoint", "name"), endpoint_name(name)),
                        (("registered_model", "name"), f"{model}-{name}")]:
        if path in located.values:
            _replace(lines, located, path, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(target)
    return target
