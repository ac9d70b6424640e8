"""The project's imports, read from its source with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` included). The record contract (``hpo_record``) is the ground floor and imports
none of the four parts around it; the app does not import the sweeper, nor the sweeper the app,
the analysis or the benchmarks; the analysis and the benchmarks import no other package's private
(``_name``) module; and no module of the project imports itself back through others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "hpo_record"
FOLDERS = ("hpo_app", "hydra_plugins", "analysis", "bench")
"""The four parts around the contract (``hydra_plugins`` holds the project's sweeper only)."""
SOURCES = (CONTRACT, *FOLDERS, "examples", "tests")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted: the module, or module.name for ``from module import name``
    line: int

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for folder in SOURCES for p in sorted((ROOT / folder).rglob("*.py"))}


MODULES = project_modules()


def imports_of(module: str, path: Path) -> Iterator[Import]:
    """Every import statement of the module, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)


ALL_IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def top(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def private(dotted: str) -> bool:
    """A dotted path with a private component (``_name``; dunders such as ``__future__`` are not)."""
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in dotted.split("."))


def imported_module(target: str) -> str | None:
    """The project module an import loads: ``a.b.c`` if it is one, else ``a.b`` (``from a.b import c``,
    ``c`` a name in it); None outside the project."""
    for candidate in (target, target.rpartition(".")[0]):
        if candidate in MODULES:
            return candidate
    return None


def of(*folders: str) -> list[Import]:
    return [imp for imp in ALL_IMPORTS if top(imp.module) in folders]


def test_the_reader_sees_every_part_and_nested_imports():
    assert {top(m) for m in MODULES} >= {CONTRACT, *FOLDERS}
    nested = [imp for imp in ALL_IMPORTS if imp.module == "analysis.find" and imp.target == "yaml"]
    assert nested, "the import inside analysis.find.storage_of() was not read"


def test_the_contract_imports_none_of_the_four():
    assert [imp.where for imp in of(CONTRACT) if top(imp.target) in FOLDERS] == []


def test_the_app_does_not_import_the_sweeper():
    assert [imp.where for imp in of("hpo_app") if top(imp.target) == "hydra_plugins"] == []


def test_the_sweeper_imports_nothing_of_the_app_the_analysis_or_the_benchmarks():
    assert [imp.where for imp in of("hydra_plugins") if top(imp.target) in ("hpo_app", "analysis", "bench")] == []


@pytest.mark.parametrize("folder", ["analysis", "bench"])
def test_no_private_module_of_another_package(folder):
    assert [imp.where for imp in of(folder) if top(imp.target) != folder and private(imp.target)] == []


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        target = imported_module(imp.target)
        if target is not None and target != imp.module:
            edges[imp.module].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_between_the_projects_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


MAX_LINES = 300


def test_no_module_of_the_four_parts_or_the_contract_is_over_300_lines():
    """One responsibility per file (issue #25): a module past this is two modules."""
    long = {name: n for name, path in MODULES.items() if name.split(".")[0] in (CONTRACT, *FOLDERS)
            and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
