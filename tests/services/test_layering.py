"""The services sit below the API and the console: none of them imports either."""

from __future__ import annotations

import ast
from pathlib import Path

import server.services

UPPER = ("server.api", "server.console")


def _is_upper(name: str) -> bool:
    return any(name == u or name.startswith(u + ".") for u in UPPER)


def _imported(tree: ast.AST) -> set[str]:
    """Every module a parsed file imports, whether at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if not _is_upper(node.module):
                # `from server import api` names the package in the alias, not in the module.
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def upward_imports(package: Path) -> dict[str, list[str]]:
    """The modules under `package` that import server.api or server.console, with what they import."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        upward = sorted(n for n in _imported(ast.parse(path.read_text(encoding="utf-8"))) if _is_upper(n))
        if upward:
            found[str(path.relative_to(package))] = upward
    return found


def test_no_service_imports_the_api_or_the_console():
    """No module under server/services imports server.api or server.console (the layers point down)."""
    assert upward_imports(Path(server.services.__file__).parent) == {}


def test_the_check_sees_upward_imports(tmp_path):
    """The walk finds an upward import in any of its forms, also inside a function and a subpackage."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("from server.console.flags import LABELS\n")
    (tmp_path / "b.py").write_text("def f():\n    import server.api.serialize\n")
    (tmp_path / "sub" / "c.py").write_text("from server import console\n")
    (tmp_path / "d.py").write_text("from server.services import audit\nfrom server import geo\n")
    assert upward_imports(tmp_path) == {
        "a.py": ["server.console.flags"],
        "b.py": ["server.api.serialize"],
        "sub/c.py": ["server.console"],
    }
