"""The house's rules, read off the code: imports point down the layers, no circle, the chapter's
Learner short and standing on the core alone, every imported package declared.

The layers, bottom to top (docs/ARCHITECTURE.md draws them): a module may import from its own
layer and the layers below, never from one above.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import tomllib

SRC = Path(__file__).resolve().parents[1] / "src" / "mnist_sgd"
LAYERS = [
    ("errors", "files", "lazy", "i18n"),
    ("datasets",),
    ("core",),
    ("callbacks",),
    ("config",),
    ("predict",),
    ("pictures",),
    ("runs",),
    ("verbs", "web"),
    ("cli",),
    ("book", "foundation", "__init__", "__main__"),
]
# Imported only inside a running Jupyter kernel, which brings it (callbacks/progress.py).
UNDECLARED_OK = {"IPython"}


def modules() -> dict[str, Path]:
    """Dotted names below ``mnist_sgd`` (``core.learner``; ``__init__`` for the package)."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports, at any depth (TYPE_CHECKING and lazy ones too)."""
    package = name.split(".") if path.name == "__init__.py" and name != "__init__" else []
    package = package or name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                base = ["mnist_sgd", *package[: len(package) - node.level + 1]]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            if not target.startswith("mnist_sgd."):
                continue
            target = target.removeprefix("mnist_sgd.")
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def layer(name: str) -> int:
    top = name.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


GRAPH = {name: imports(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_has_a_layer() -> None:
    for name in GRAPH:
        layer(name)  # StopIteration names a module that no layer holds


def test_no_import_runs_back_up_a_layer() -> None:
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(name)
    )
    assert upward == []


def test_no_import_circle() -> None:
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        seen[name] = 1
        for target in sorted(GRAPH[name]):
            if seen.get(target) == 1:
                pytest.fail("import circle: " + " -> ".join([*path, name, target]))
            if target not in seen:
                visit(target, [*path, name])
        seen[name] = 2

    for name in sorted(GRAPH):
        if name not in seen:
            visit(name, [])


def test_the_learner_reads_beside_the_chapter() -> None:
    """At most 200 lines, standing on the chapter's core alone (and the one-line errors)."""
    assert len((SRC / "core" / "learner.py").read_text().splitlines()) <= 200
    assert {layer(t) for t in GRAPH["core.learner"]} <= {layer("errors"), layer("core")}


def test_every_imported_package_is_declared() -> None:
    project = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["web"], *extras["notebook"]]
    declared = {w.split(";")[0].split(">")[0].split("=")[0].strip().lower() for w in wanted}
    declared |= {"pil"}  # pillow's import name
    declared.add("multipart")  # python-multipart's
    used = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    third_party = {m for m in used if m not in sys.stdlib_module_names and m != "mnist_sgd"}
    assert sorted(m for m in third_party - UNDECLARED_OK if m.lower() not in declared) == []
