"""The layout holds: imports point down the layers docs/architecture.md names, with no
circle, and no public function of studies/engine/ takes more than five parameters."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kerasnn", "studies")
STUDY_MODULES = ("overfitting", *(f"reproduce_00{n}" for n in range(5)))
# Top to bottom; a module imports only from its own group or from a lower layer.
LAYERS = [
    ["studies"],
    ["studies.api"],
    ["studies.run"],
    ["studies.replication"],
    ["studies.pipeline", "studies.reproduction"],
    ["studies.report"],
    ["studies.engine"],
    ["studies.cli", "studies.arguments"],
    ["studies.settings"],
    ["studies.machine", "studies.dataset_identity"],
    ["studies.errors"],
    ["studies.storage"],
    [f"studies.{name}" for name in STUDY_MODULES],
    ["studies.variants"],
    ["kerasnn"],
]
MOST_PARAMETERS = 5


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports() -> dict[str, set[str]]:
    """Each module's imports of the packages' modules, wherever in it they are made."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    whole = f"{node.module}.{alias.name}"
                    target = whole if whole in known else node.module
                    if target in known:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in known}
    return graph


def group(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "kerasnn":
        return "kerasnn"
    return ".".join(parts[:2])


def layer(module: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if group(module) in names)


def test_every_module_belongs_to_a_layer():
    assert [module for module in modules() if not any(group(module) in n for n in LAYERS)] == []


def test_no_import_runs_back_up_a_layer():
    upward = [
        f"{module} -> {target}"
        for module, targets in imports().items()
        for target in targets
        if group(module) != group(target) and layer(target) <= layer(module)
    ]
    assert upward == []


def test_the_imports_make_no_circle():
    graph = imports()
    done: set[str] = set()

    def circle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            found = circle_from(target, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    circles = [c for module in sorted(graph) if (c := circle_from(module, []))]
    assert circles == []


def test_no_public_engine_function_takes_more_than_five_parameters():
    crowded = []
    for path in sorted((ROOT / "studies" / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            arguments = node.args
            named = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            count = len(named) + bool(arguments.vararg) + bool(arguments.kwarg)
            count -= bool(named) and named[0].arg in ("self", "cls")
            if count > MOST_PARAMETERS:
                crowded.append(f"{path.name}::{node.name} ({count})")
    assert crowded == []
