"""The code's layering, as issues 20 and 34 set it: no import circle, small modules, only generator/cli exits, the
emulator apart from the local runtime, modules named by role."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "generator"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every import between our modules, function-local and TYPE_CHECKING ones included."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in modules and t not in (name, "generator"))
    return edges


def _circles(edges: dict[str, set[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_circle() -> None:
    modules = _modules()
    assert _circles(_imports(modules), set(modules)) == []


def test_no_top_level_package_imports_itself_round_a_circle() -> None:
    modules = _modules()
    top = {name: ".".join(name.split(".")[:2]) for name in modules}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, targets in _imports(modules).items():
        edges[top[name]].update(top[t] for t in targets if top[t] != top[name])
    assert _circles(edges, set(top.values())) == []


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in _modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_only_the_cli_package_exits() -> None:
    exits = []
    for name, path in _modules().items():
        if name.startswith(("generator.cli", "generator.evaldata")):  # evaldata: a component's own program, whose
            continue  # exit status is its Azure ML job's result (never imported for anything but its functions)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("sys", "ctx"):
                exits.append(f"{name}:{node.lineno}")
    assert exits == []


def test_the_exit_code_table_is_defined_once() -> None:
    from generator.errors import ExitCode

    assert [(c.name, int(c)) for c in ExitCode] == [("OK", 0), ("ERROR", 1), ("INVALID", 2), ("INTERRUPTED", 130)]
    defining = [str(p.relative_to(REPO)) for p in _modules().values()
                if "EXIT_INVALID = " in p.read_text(encoding="utf-8") or "EXIT_ERROR = " in p.read_text(encoding="utf-8")]
    assert defining == []


def _reached(edges: dict[str, set[str]], start: set[str]) -> set[str]:
    """Every module `start` imports, directly or through other modules of ours."""
    seen, todo = set(start), list(start)
    while todo:
        for other in edges.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _third_party(path: Path) -> set[str]:
    """Top-level names of the packages a module imports that are not ours (function-local imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found - {"generator"}


def test_the_emulator_imports_nothing_of_the_local_runtime_nor_torch() -> None:
    """generator/emulator/ is the service double the tests and the local target share: it runs no model, so neither
    it nor anything it imports reaches generator/local/ or the ML libraries of the local extra."""
    modules = _modules()
    reached = _reached(_imports(modules), {name for name in modules if name.startswith("generator.emulator")})
    assert sorted(name for name in reached if name.startswith("generator.local")) == []
    heavy = {"torch", "transformers", "peft", "tokenizers", "accelerate", "gguf"}
    assert {name: sorted(found) for name in sorted(reached) if (found := _third_party(modules[name]) & heavy)} == {}


def test_importing_the_emulator_loads_no_ml_library() -> None:
    code = ("import sys, generator.emulator.workspace, generator.emulator.connect\n"
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'generator.local') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "[]"


# Modules that share a name, each named by its own package's rule: generator/cli/ names a module by its command group
# (`data prepare|check|stats|sample`), generator/runner/steps/ by the manifest kind it plans and applies (a data asset).
SHARED_BY_RULE = {"data.py": ["generator/cli/data.py", "generator/runner/steps/data.py"]}


def test_no_two_modules_share_a_name() -> None:
    """A module's name says its role: two of one name in different packages mislead whoever searches for either."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            by_name[path.name].append(str(path.relative_to(REPO)))
    assert {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1} == SHARED_BY_RULE


def test_the_runner_and_the_commands_never_branch_on_the_local_target() -> None:
    """The target is a value the runner asks (generator/runner/targets.py): no comparison with "local", no
    `.local` / `.local_state` flag in generator/runner or generator/cli (the --target choices name it, as data)."""
    found = []
    for path in [*(PACKAGE / "runner").rglob("*.py"), *(PACKAGE / "cli").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            compared = isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Constant) and side.value == "local" for side in [node.left, *node.comparators])
            flag = isinstance(node, ast.Attribute) and node.attr in ("local", "local_state") and not (
                isinstance(node.value, ast.Name) and node.value.id == "local")  # cli/local.py's command group
            if compared or flag:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert found == []
