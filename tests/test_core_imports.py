"""No module of the core imports a first-party plugin: features of plugins reach
the core through hooks (transports, credential providers, signature handlers,
commands, API calls), never by module name.  The scan reads every module under
core/ (import statements and ``importlib.import_module``/``__import__`` calls
with a literal name), so an import hidden in a function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core"


def first_party_packages() -> set[str]:
    """The import names of the first-party plugins (plugins/<name>/skopeo_<name>)."""
    found = {p.name for p in REPO.glob("plugins/*/skopeo_*") if (p / "__init__.py").exists()}
    assert {"skopeo_docker", "skopeo_gpg", "skopeo_sigstore", "skopeo_oci"} <= found
    return found


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in *tree*, dynamic ones with a literal name included."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names.append((node.lineno, node.args[0].value))
    return names


def offending_imports(root: Path, packages: set[str]) -> list[str]:
    """``path:line: module`` for each import of one of *packages* under *root*."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for line, module in imported_names(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in packages:
                found.append(f"{path.relative_to(root)}:{line}: {module}")
    return found


def test_core_imports_no_first_party_plugin() -> None:
    assert offending_imports(CORE, first_party_packages()) == []


def test_the_scan_finds_each_kind_of_import(tmp_path: Path) -> None:
    """The scan itself: a static, a from- and a dynamic import are each reported."""
    (tmp_path / "a.py").write_text("import skopeo_docker.login\n")
    (tmp_path / "b.py").write_text("def f():\n    from skopeo_gpg.standalone import standalone_sign\n")
    (tmp_path / "c.py").write_text("import importlib\nm = importlib.import_module('skopeo_sigstore.keys')\n")
    (tmp_path / "d.py").write_text("from . import plugins\nimport skopeo.auth\n")
    packages = {"skopeo_docker", "skopeo_gpg", "skopeo_sigstore"}
    found = [entry.rsplit(": ", 1)[1] for entry in offending_imports(tmp_path, packages)]
    assert found == ["skopeo_docker.login", "skopeo_gpg.standalone", "skopeo_sigstore.keys"]

