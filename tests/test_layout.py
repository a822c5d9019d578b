"""The package's floors: every import goes down (or sideways within a floor), never up, no circles.

Floors, lowest first: common -> envs -> agents -> worldmodel -> train -> cli. Inside ``train/``
a kind's folder (``train/ram/`` ...) imports only ``train/``'s own files, never another kind.
Function-level imports count like top-level ones: a lazy import does not make a circle go away.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnnagents"
FLOORS = {"common": 0, "envs": 1, "agents": 2, "worldmodel": 3, "train": 4}
TOP = 5  # rnnagents/__init__.py, __main__.py and cli.py
KINDS = ("ram", "ppo", "worldmodel")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``rnnagents`` import in a file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from rnnagents.x import y` may import the module rnnagents.x.y
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "rnnagents"]


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        targets = {target for _, target in imported_modules(path) if target in MODULES}
        edges[name] = targets - {name}
    return edges


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], TOP) if len(parts) > 1 else TOP


def kind(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "train" and parts[2] in KINDS else None


def test_the_floors_are_the_package_folders():
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert folders == set(FLOORS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_goes_up_and_no_kind_imports_another(module):
    wrong = []
    for line, target in imported_modules(MODULES[module]):
        if target not in MODULES:
            continue
        if floor(target) > floor(module):
            wrong.append(f"{MODULES[module]}:{line} imports {target} from a higher floor")
        if kind(module) and kind(target) and kind(target) != kind(module):
            wrong.append(f"{MODULES[module]}:{line} imports {target}, another kind's folder")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    edges, state, path = graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                circle = path[path.index(target) :] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule cannot pass vacuously: a file importing a higher floor is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from rnnagents.train.loop import train_epochs\n")
    [(line, target)] = [i for i in imported_modules(bad) if i[1] == "rnnagents.train.loop"]
    assert line == 2 and floor(target) > floor("rnnagents.envs.render")
