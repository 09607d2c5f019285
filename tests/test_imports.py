"""The import graph among netcoach's modules has no cycle.

Every module is parsed with ``ast`` (nothing is imported), and every import
statement counts: module level and inside functions, absolute and relative.
``import netcoach.x`` / ``from netcoach.x import name`` is an edge to
netcoach/x/__init__.py unless ``name`` is itself a submodule (then the edge goes
to that submodule). A function-level import is still a dependency: hiding one in a
function only moves the cycle from import time to call time.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "netcoach"


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``package``."""
    mods = {}
    for f in sorted(package.rglob("*.py")):
        parts = f.relative_to(package.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _is_package(mods: dict[str, Path], name: str) -> bool:
    return mods[name].name == "__init__.py"


def imported_modules(name: str, tree: ast.AST, mods: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in ``tree``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                here = name.split(".") if _is_package(mods, name) else name.split(".")[:-1]
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            subs = {f"{target}.{a.name}" for a in node.names} & mods.keys()
            # ``from pkg import submodule`` depends on the submodule; any other name on pkg itself
            found |= subs if len(subs) == len(node.names) else subs | {target}
    return {m for m in found if m in mods and m != name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    mods = module_files(package)
    return {name: imported_modules(name, ast.parse(f.read_text(encoding="utf-8")), mods)
            for name, f in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_netcoach_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_graph_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("from ..c import thing\n")
    (pkg / "c.py").write_text("import pkg.sub\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.sub"}
    assert find_cycle(graph) == ["pkg.sub.b", "pkg.c", "pkg.sub", "pkg.sub.b"]


def test_find_cycle_is_none_for_a_dag():
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


LAYERS = ("config", "data", "models", "optim", "train", "api", "cli")  # docs/architecture.md


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """``a -> b`` for each import from a layer to a later one (against the documented direction)."""
    def layer(module: str) -> int | None:
        parts = module.split(".")
        return layers.index(parts[1]) if len(parts) > 1 and parts[1] in layers else None

    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                  if layer(a) is not None and layer(b) is not None and layer(b) > layer(a))


def test_layers_import_only_the_layers_before_them():
    assert upward_imports(import_graph()) == []


def test_upward_imports_names_an_edge_against_the_direction():
    graph = {"netcoach.optim.x": {"netcoach.train.y", "netcoach.models.z"}, "netcoach.train.y": {"netcoach.optim.x"}}
    assert upward_imports(graph) == ["netcoach.optim.x -> netcoach.train.y"]


# ----------------------------------------------------------------- Python version

MIN_PYTHON = (3, 11)  # tomllib is in the standard library from 3.11 on


def test_pyproject_and_readme_require_the_python_the_code_needs():
    import re
    import tomllib

    root = PACKAGE.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=%d.%d" % MIN_PYTHON
    versions = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert versions and min(tuple(map(int, v.split("."))) for v in versions) == MIN_PYTHON
    assert not [d for d in project["dependencies"] if d.startswith("tomli")]
    assert "Python ≥ %d.%d" % MIN_PYTHON in (root / "README.md").read_text(encoding="utf-8")


def test_modules_import_tomllib_directly_at_module_level():
    # One way to read TOML, with no fallback for interpreters pyproject excludes.
    users = {}
    for name, f in module_files(PACKAGE).items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in ("tomllib", "tomli") for n in names):
                    users.setdefault(name, []).append(node in tree.body and isinstance(node, ast.Import)
                                                      and [a.name for a in node.names] == ["tomllib"])
            if isinstance(node, ast.Attribute) and node.attr == "version_info":
                users.setdefault(name, []).append(False)
    assert {"netcoach.config.loader", "netcoach.report.records"} <= users.keys()
    assert all(all(ok) for ok in users.values()), users
