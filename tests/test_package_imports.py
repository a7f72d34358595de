"""The package's import structure: library code never imports the command line, and the
top-level imports of sandmle's modules form no circle (read from the source with ast)."""
from __future__ import annotations

import ast
from pathlib import Path

import sandmle

PACKAGE = Path(sandmle.__file__).parent
ENTRY_POINTS = {"sandmle.__main__"}          # `python -m sandmle` runs the CLI


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under `package` (packages by their __init__)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _top_level(body: list[ast.stmt]):
    """Import statements run when the module is imported (not in functions, not TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _top_level(block)


def imported(name: str, path: Path, known: dict[str, Path], top_level_only: bool) -> set[str]:
    """The modules of `known` that module `name` imports (the deepest module each import names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = _top_level(tree.body) if top_level_only else (
        n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
    targets = []
    for node in nodes:
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        targets += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    out = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def cli_imports(known: dict[str, Path]) -> list[str]:
    """'module -> cli module' for every import (at any depth) of the CLI from library code."""
    cli = f"{next(iter(known)).split('.')[0]}.cli"
    bad = []
    for name, path in known.items():
        if name == cli or name.startswith(cli + ".") or name in ENTRY_POINTS:
            continue
        bad += [f"{name} -> {t}" for t in sorted(imported(name, path, known, top_level_only=False))
                if t == cli or t.startswith(cli + ".")]
    return bad


def import_cycles(known: dict[str, Path]) -> list[list[str]]:
    return cycles({name: imported(name, path, known, top_level_only=True) for name, path in known.items()})


def test_library_code_never_imports_the_cli():
    assert cli_imports(modules(PACKAGE)) == []


def test_top_level_imports_form_no_circle():
    assert import_cycles(modules(PACKAGE)) == []


def test_the_checks_find_a_circle_and_a_cli_import(tmp_path):
    root = tmp_path / "pkg"
    for folder in (root, root / "cli", root / "lib"):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    (root / "cli" / "main.py").write_text("from pkg.lib import a\n")
    (root / "lib" / "a.py").write_text("from . import b\n\ndef f():\n    from pkg.cli.main import x\n")
    (root / "lib" / "b.py").write_text("import pkg.lib.c\n")
    (root / "lib" / "c.py").write_text("try:\n    from pkg.lib.a import f\nexcept ImportError:\n    pass\n")
    (root / "lib" / "d.py").write_text("def g():\n    from pkg.lib import a\n")   # lazy: no circle
    known = modules(root)
    assert cli_imports(known) == ["pkg.lib.a -> pkg.cli.main"]
    assert import_cycles(known) == [["pkg.lib.a", "pkg.lib.b", "pkg.lib.c"]]
