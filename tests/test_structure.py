"""The package's shape: no import circle among its modules (counting the
imports inside functions too), and no function that takes more than a
handful of positional arguments."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastdigits"
if not PACKAGE.is_dir():  # an installed copy: its own source files
    import fastdigits

    PACKAGE = Path(fastdigits.__file__).parent

#: At most this many positional parameters (self and cls not counted).
MAX_POSITIONAL = 10


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The modules of ``package`` that ``path`` imports, at any depth of its
    code (not under ``if TYPE_CHECKING:``)."""
    name = _module_name(path, package)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    for block in ast.walk(tree):  # imports for type checkers only are no imports at run time
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c.split(".")[0] == package.name)
    return found


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    files = {_module_name(p, package): p for p in package.rglob("*.py") if "_compiled" not in p.parts}
    return {name: {t for t in _imports(path, package) if t in files and t != name} for name, path in files.items()}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, or None (every edge counts, also a submodule's
    import of its own package's ``__init__``)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_finds_relative_lazy_and_nested_imports_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "toypkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import b\n"
                                      "def g():\n    from ..a import f\n")
    graph = _graph(pkg)
    assert graph["toypkg.a"] >= {"toypkg.b"} and "toypkg.sub.c" in graph["toypkg.b"]
    assert graph["toypkg.sub.c"] == {"toypkg.a"}  # the TYPE_CHECKING import of b not counted
    assert _cycle(graph) == ["toypkg.a", "toypkg.b", "toypkg.sub.c", "toypkg.a"]


@pytest.mark.parametrize("path", sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                                        if "_compiled" not in p.parts))
def test_no_function_takes_many_positional_arguments(path):
    tree = ast.parse((PACKAGE / path).read_text())
    wide = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
            if len(positional) > MAX_POSITIONAL:
                wide.append(f"{node.name} (line {node.lineno}): {len(positional)}")
    assert not wide, f"{path}: functions with more than {MAX_POSITIONAL} positional parameters: {', '.join(wide)}"
