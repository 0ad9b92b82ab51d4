"""The house's layout holds: no import cycle in functions/llmcache (deferred imports count, TYPE_CHECKING ones do
not), few modules flat at its top, and nothing below the doors imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "llmcache"
MAX_TOP_MODULES = 14


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ["llmcache", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(source: str, modules: set[str]) -> set[str]:
    """The package modules `source` imports anywhere (inside functions too), except under `if TYPE_CHECKING:`.
    `from a.b import c` is the module a.b.c when that is a module, else a.b. Importing a module is not counted
    as importing its parent package (Python initialises the parent first, whatever the order)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate in modules:
                    found.add(candidate)
                elif node.module in modules:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    modules = set(files)
    return {name: imported_modules(path.read_text(), modules) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = walk(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = walk(start)
            if cycle:
                return cycle
    return None


def test_given_the_package_when_its_imports_are_followed_then_no_module_comes_back_to_itself() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["llmcache.engine.core"]  # the walk found the package and its imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_given_a_deferred_import_that_closes_a_circle_when_checked_then_the_cycle_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from llmcache.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from llmcache.a import y\n")
    (tmp_path / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from llmcache.a import y\nfrom llmcache import b\n"
    )
    graph = import_graph(tmp_path)
    assert graph["llmcache.c"] == {"llmcache.b"}  # the TYPE_CHECKING import is not an edge
    assert find_cycle(graph) == ["llmcache.a", "llmcache.b", "llmcache.a"]


def test_given_the_package_top_when_counted_then_at_most_fourteen_modules_lie_flat() -> None:
    flat = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(flat) <= MAX_TOP_MODULES, flat


@pytest.mark.parametrize("door", ["llmcache.handler", "llmcache.asgi"])
def test_given_the_doors_when_the_rest_is_checked_then_nothing_below_imports_a_door(door: str) -> None:
    importers = sorted(name for name, targets in import_graph().items() if door in targets)
    assert importers == [] or all(name.startswith("llmcache.local") for name in importers), importers
