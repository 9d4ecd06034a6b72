# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The house has floors, and imports only go down.

Every module of the project is walked with `ast` (deferred imports inside functions included) and placed on a floor:

    0  the processor (`processing`, `processing.processing_llama_omni`, `processing.audio_llama_omni`) and the
       model configs
    1  the model (`modeling_llama_omni`)
    2  offline assets and the embedded default (`offline_assets`)
    3  the data builder (`processing.instructs2s`) | the inference runtime (`inference`)
    4  trainers (`trainers`) | evaluation (`evaluation`)
    5  hub cards (`hub_cards`)
    6  the `llama-omni` command (`llama_omni_cli`) | the Space (`space`) | benchmarks (`benchmarks`)

A module may import its own floor's package and any floor below; never a floor above, and never a neighbour on the
same floor (the data builder and the runtime do not know each other, nor do trainers and evaluation). No import
circle between files, nor between packages (a subpackage counts as a package).
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("processing", "modeling_llama_omni", "offline_assets", "inference", "trainers", "evaluation", "hub_cards",
            "llama_omni_cli", "space", "benchmarks")

# The floor of each module prefix; the longest matching prefix wins.
FLOORS = {
    "processing": 0,
    "processing.processing_llama_omni": 0,
    "processing.audio_llama_omni": 0,
    "modeling_llama_omni.configuration_llama_omni": 0,
    "modeling_llama_omni.configuration_unit_vocoder": 0,
    "modeling_llama_omni": 1,
    "offline_assets": 2,
    "processing.instructs2s": 3,
    "inference": 3,
    "trainers": 4,
    "evaluation": 4,
    "hub_cards": 5,
    "llama_omni_cli": 6,
    "space": 6,
    "benchmarks": 6,
}
# Modules of `processing` other than these belong to the data builder subpackage.
PROCESSOR_MODULES = {"processing", "processing.processing_llama_omni", "processing.audio_llama_omni"}

# One-release deprecation aliases of public entry points that moved up a floor: each only re-exports its new home
# (with a FutureWarning), and is removed in the next release.
DEPRECATED_ALIASES = {"modeling_llama_omni.embedded": "offline_assets.embedded"}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, pathlib.Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            modules[module_name(path)] = path
    return modules


MODULES = project_modules()


def is_package(name: str) -> bool:
    path = MODULES.get(name)
    return path is not None and path.name == "__init__.py"


def package_of(name: str) -> str:
    """The package a module belongs to (a package's `__init__` belongs to the package itself)."""
    return name if is_package(name) or "." not in name else name.rpartition(".")[0]


def floor_of(name: str) -> int:
    matches = [prefix for prefix in FLOORS if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        raise KeyError(name)
    return FLOORS[max(matches, key=len)]


def imports_of(name: str, source: str | None = None) -> set[str]:
    """The project modules `name` imports anywhere in its body (resolved to modules where they are modules); the
    module's file is read unless its `source` is given."""
    path = MODULES.get(name)
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    here = name if is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        if target.split(".")[0] not in PACKAGES:
            return
        # the deepest project module that the dotted name names
        parts = target.split(".")
        while parts and ".".join(parts) not in MODULES:
            parts.pop()
        if parts:
            found.add(".".join(parts))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    found.discard(name)
    return found


EDGES = {name: imports_of(name) for name in MODULES if name not in DEPRECATED_ALIASES}


def test_every_module_has_a_floor():
    unplaced = []
    for name in MODULES:
        if name.startswith("processing") and name not in PROCESSOR_MODULES and not name.startswith(
            "processing.instructs2s"
        ):
            unplaced.append(f"{name}: processing/ holds the processor module and the data builder subpackage only")
        else:
            try:
                floor_of(name)
            except KeyError:
                unplaced.append(name)
    assert not unplaced, "modules without a floor:\n" + "\n".join(unplaced)


def test_imports_only_go_down():
    wrong = []
    for name, targets in EDGES.items():
        for target in targets:
            same_package = name.split(".")[0] == target.split(".")[0]
            here, there = floor_of(name), floor_of(target)
            if there > here:
                wrong.append(f"{name} (floor {here}) imports {target} (floor {there}): upward")
            elif there == here and not same_package and here != 0:
                wrong.append(f"{name} imports {target}: a neighbour on the same floor {here}")
            elif there == here == 0 and not same_package:
                wrong.append(f"{name} imports {target}: the processor and the model configs do not know each other")
    assert not wrong, "\n".join(sorted(wrong))


def test_model_imports_only_the_processor_module_of_our_code():
    outside = {
        f"{name} -> {target}"
        for name, targets in EDGES.items()
        if name.startswith("modeling_llama_omni")
        for target in targets
        if not target.startswith("modeling_llama_omni") and target not in PROCESSOR_MODULES
    }
    assert not outside, sorted(outside)
    processor = {f"{name} -> {target}" for name in PROCESSOR_MODULES for target in EDGES[name]
                 if target not in PROCESSOR_MODULES}
    assert not processor, sorted(processor)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circle_between_files():
    cycle = _find_cycle(EDGES)
    assert cycle is None, " -> ".join(cycle)


def test_no_import_circle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for name, targets in EDGES.items():
        for target in targets:
            a, b = package_of(name), package_of(target)
            if a != b:
                graph[a].add(b)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("alias,home", sorted(DEPRECATED_ALIASES.items()))
def test_deprecated_aliases_only_re_export(alias, home):
    tree = ast.parse(MODULES[alias].read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported == {home}, imported
    assert "FutureWarning" in MODULES[alias].read_text(encoding="utf-8")
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert not defined, [node.name for node in defined]


def _stream_loops(tree: ast.AST) -> list[int]:
    """Lines of loops over a `.stream(...)` call, directly or through a name it was assigned to."""
    streams = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "stream"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            loop = node.iter
            direct = isinstance(loop, ast.Call) and isinstance(loop.func, ast.Attribute) and loop.func.attr == "stream"
            if direct or (isinstance(loop, ast.Name) and loop.id in streams):
                lines.append(getattr(node, "lineno", loop.lineno))
    return lines


def test_the_answer_loop_exists_once():
    """Only the inference runtime drains `model.stream()` and times it; everyone else calls the runtime."""
    loops = [
        f"{name}:{line}"
        for name, path in MODULES.items()
        if not name.startswith(("inference", "modeling_llama_omni"))
        for line in _stream_loops(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not loops, loops
    caught = "def f(model):\n    stream = model.stream(p)\n    for text, audio in stream:\n        pass\n"
    assert _stream_loops(ast.parse(caught)) == [3]


def test_the_walk_sees_deferred_and_relative_imports():
    """A function-level import of a higher floor is an edge, and relative imports resolve to their modules."""
    source = "from .streaming_llama_omni import AudioStreamer\n\ndef f():\n    from inference.runtime import answer\n"
    found = imports_of("modeling_llama_omni.probe", source)
    assert found == {"modeling_llama_omni.streaming_llama_omni", "inference.runtime"}
    assert floor_of("inference.runtime") > floor_of("modeling_llama_omni.probe")
