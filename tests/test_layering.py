"""The package's layers: models never import the training code (builders receive what they need instead)."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import laserrec.models

MODELS_DIR = Path(laserrec.models.__file__).parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, function-local ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_module_under_models_imports_training():
    hits = [
        f"{path.relative_to(MODELS_DIR.parents[1])}:{line}: {module}"
        for path in sorted(MODELS_DIR.rglob("*.py"))
        for line, module in imported_modules(path)
        if module == "laserrec.training" or module.startswith("laserrec.training.")
    ]
    assert not hits, "models/ imports the training code:\n" + "\n".join(hits)


def test_the_check_sees_a_function_local_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from laserrec.training.runs import load_frozen_cf\n")
    assert imported_modules(source) == [(2, "laserrec.training.runs")]


def test_every_models_module_imports_without_pulling_in_training():
    names = [m.name for m in pkgutil.walk_packages(laserrec.models.__path__, "laserrec.models.")]
    assert "laserrec.models.laser.registry" in names and "laserrec.models.prompt" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('laserrec.training')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    importlib.import_module("laserrec.models.registry").get_spec("laser")  # the lazy LLM registrations load
