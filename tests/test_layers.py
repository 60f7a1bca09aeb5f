"""The layers of the package, checked on the source: rules import nothing of the app or the
connectors, connectors only the neutral modules, the sandbox stays out of the run path, no
import cycles, and nothing imports the repository folders under their bare names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Where each layer's source lives in the repository, and its import name.
PACKAGES = {"cs_sync": ROOT / "cs_sync", "cs_sync.rules": ROOT / "rules"}
PACKAGES["cs_sync.connectors"] = ROOT / "connectors"
# Shared by the layers: error types, Salesforce ids, the history tables' shape, secrets, and
# the building blocks of typed settings (the one neutral module rules may use).
NEUTRAL = {
    "cs_sync.errors",
    "cs_sync.sfid",
    "cs_sync.history",
    "cs_sync.secrets",
    "cs_sync.settings",
}
# What `cs-sync run`, `plan` and `backfill` load: none of it may reach the sandbox.
RUN_PATH = ("cs_sync.commands.run", "cs_sync.commands.plan", "cs_sync.commands.backfill")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            if relative.parts[0] in ("rules", "connectors") and package == "cs_sync":
                continue  # the links that install rules/ and connectors/ inside cs_sync
            parts = [p for p in relative.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, top_level_only: bool) -> set[str]:
    """Modules of this project that `name` imports; with top_level_only, only the imports
    run when the module loads (not those inside functions or `if TYPE_CHECKING:`)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text("utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes: list[ast.AST] = list(tree.body) if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" not in test:
                nodes.extend(node.body + node.orelse)
            continue
        if isinstance(node, ast.Try) and top_level_only:
            nodes.extend(node.body)
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> str:
    for prefix in ("cs_sync.rules", "cs_sync.connectors", "cs_sync.sandbox"):
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return "neutral" if name in NEUTRAL else "app"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) == "cs_sync.rules"))
def test_rules_import_only_rules(name: str) -> None:
    outside = sorted(
        m for m in _imports(name, False) if _layer(m) != "cs_sync.rules" and m != "cs_sync.settings"
    )
    assert not outside, f"{name} imports {outside}; rules are pure and take their settings"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) == "cs_sync.connectors"))
def test_connectors_import_only_connectors_and_neutral_modules(name: str) -> None:
    outside = sorted(
        m for m in _imports(name, False) if _layer(m) not in ("cs_sync.connectors", "neutral")
    )
    assert not outside, f"{name} imports {outside}; give the connector its own settings"


@pytest.mark.parametrize("name", sorted(NEUTRAL))
def test_neutral_modules_import_only_each_other(name: str) -> None:
    assert _imports(name, False) <= NEUTRAL


def test_no_import_cycles() -> None:
    graph = {name: _imports(name, True) for name in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def _reached(start: str) -> set[str]:
    reached: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(_imports(name, False))
    return reached


@pytest.mark.parametrize("name", ["cs_sync.score", "cs_sync.plan", "cs_sync.kpis"])
def test_the_pure_middle_reaches_no_adapter(name: str) -> None:
    """Scoring reads the configuration (whose connector tables are plain settings) and
    nothing that talks to a system."""
    settings = {
        "cs_sync.connectors.settings",
        "cs_sync.connectors.usage_settings",
        "cs_sync.connectors.output_settings",
    }
    adapters = sorted(
        m for m in _reached(name) if _layer(m) == "cs_sync.connectors" and m not in settings
    )
    assert adapters == []


def test_run_path_never_reaches_the_sandbox() -> None:
    assert all(name in MODULES for name in RUN_PATH), "the run path's modules were renamed"
    reached = set().union(*(_reached(name) for name in RUN_PATH))
    assert not sorted(m for m in reached if _layer(m) == "cs_sync.sandbox")


def test_loading_the_run_commands_loads_no_sandbox_module() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in RUN_PATH)
        + "import cs_sync.cli\ncs_sync.cli.build_parser()\n"
        + "print(sorted(m for m in sys.modules if m.startswith('cs_sync.sandbox')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_nothing_imports_the_folders_under_their_bare_names() -> None:
    """`rules` and `connectors` exist as other projects' import names; ours are cs_sync.*."""
    bare = []
    for folder in ("cs_sync", "rules", "connectors", "tests", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(ROOT / "cs_sync" / "rules") or path.is_relative_to(
                ROOT / "cs_sync" / "connectors"
            ):
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and not node.level
                    else []
                )
                bare += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names
                    if n.split(".")[0] in ("rules", "connectors")
                ]
    assert not bare


def test_one_top_level_package_with_the_folders_inside() -> None:
    """The wheel holds cs_sync alone: rules/ and connectors/ go in as cs_sync.rules and
    cs_sync.connectors, through the links inside cs_sync/ (see the README's layout)."""
    import tomllib

    from setuptools import find_packages

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    found = find_packages(str(ROOT), include=include)
    assert {name.split(".")[0] for name in found} == {"cs_sync"}
    assert {"cs_sync.rules", "cs_sync.connectors"} <= set(found)
    for name in ("rules", "connectors"):
        link = ROOT / "cs_sync" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()
