"""Read a YAML file into plain Python data while remembering the line and column of every node."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.diagnostics import Problem, format_path
from generator.errors import InvalidInput

# Bounds every document read through here obeys (specs, generated files, catalog): a few-hundred-byte file of
# nested aliases must not expand into gigabytes, and no value may be deeper, longer or larger than a spec needs.
MAX_BYTES = 1 << 20
MAX_VALUES = 100_000
MAX_DEPTH = 50
MAX_INT_DIGITS = 30


class _TooBig(Exception):
    """Raised by the builder when a bound is exceeded; becomes one located problem."""

    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node, self.message = node, message

Path_ = tuple[Any, ...]


@dataclass
class Located:
    """YAML data plus the 1-based (line, column) of each value and of each mapping key."""

    file: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of `path` (its key when `key`), else of its nearest ancestor that exists."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False, severity: str = "error") -> Problem:
        """A Problem located at `path` in this file."""
        line, col = self.where(path, key=key)
        return Problem(self.file, line, col, format_path(path), message, severity)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, located: Located):
        self.located = located
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []
        self.values = 0

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _TooBig(node, f"the document expands to more than {MAX_VALUES} values (nested YAML aliases?)")
        if len(path) > MAX_DEPTH:
            raise _TooBig(node, f"values are nested more than {MAX_DEPTH} levels deep")
        self.located.values[path] = _pos(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag == "tag:yaml.org,2002:int" and len(str(node.value).lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
            self.problems.append(self.located.problem(path, f"an integer of {len(str(node.value))} digits; no "
                                                            "field takes one that long"))
            return None
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(self.located.problem(path, f"must be a finite number, got {node.value}"))
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.constructor.construct_object(key_node, deep=True)
            line, col = _pos(key_node)
            if not isinstance(key, str):
                self.problems.append(Problem(self.located.file, line, col, format_path(path),
                                             f"keys must be strings, got {key!r}"))
                continue
            if key in result:
                first = self.located.keys[path + (key,)]
                self.problems.append(Problem(self.located.file, line, col, format_path(path + (key,)),
                                             f"duplicate key (first defined at line {first[0]}); remove one"))
                continue
            self.located.keys[path + (key,)] = (line, col)
            result[key] = self.build(value_node, path + (key,))
        return result


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth of `text`: each level needs an opening bracket, an indicator or at least
    one more column of indentation."""
    indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    return sum(text.count(c) for c in "[{-?") + indent + 1


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree of `text`: libyaml's parser where it is built and the nesting is shallow enough for its
    recursion (about 30 times faster than the pure-Python one, which render of many specs waits on); the pure-Python
    parser for deep nesting and for every error, so messages and the RecursionError guard stay the same."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None and _depth_bound(text) <= 1000:
        try:
            return yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load_located(text: str, file: str) -> Located:
    """Parse `text` (the content of `file`) into a Located; raise InvalidInput on bad YAML."""
    located = Located(file=file, data=None)
    if len(text) > MAX_BYTES:
        raise InvalidInput([Problem(file, 0, 0, "", f"the file is {len(text)} characters long; a spec or generated "
                                                    f"file is at most {MAX_BYTES}")])
    try:
        node = _compose(text)
    except RecursionError:
        raise InvalidInput([Problem(file, 0, 0, "", f"values are nested more than {MAX_DEPTH} levels deep")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise InvalidInput([Problem(file, line, col, "", f"invalid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(file, 0, 0, "", f"invalid YAML: {exc}")]) from None
    if node is None:
        raise InvalidInput([Problem(file, 1, 1, "", "the file is empty; start from specs/phi4-ultrachat.yaml")])
    builder = _Builder(located)
    try:
        located.data = builder.build(node, ())
    except _TooBig as exc:
        line, col = _pos(exc.node)
        raise InvalidInput([Problem(file, line, col, "", exc.message)]) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InvalidInput([Problem(file, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, "",
                                    f"invalid YAML: {exc.problem}")]) from None
    if builder.problems:
        raise InvalidInput(builder.problems)
    return located


def read_located(path: Path, file: str) -> Located:
    """Read and parse the YAML file at `path`, naming it `file` in problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput([Problem(file, 0, 0, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem(file, 0, 0, "", f"cannot read: {exc}")]) from None
    return load_located(text, file)
