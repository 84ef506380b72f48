"""The package's layers (docs/layout.md): every module imports only its own layer and the ones below it,
function-local imports included, and the core (every layer but the studies) never imports the studies."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import laserrec

SRC = Path(laserrec.__file__).parents[1]

# Bottom to top. The package root (``laserrec/__init__.py``: ``laserrec.load``) is a use module; Python runs
# it before any submodule, so it imports nothing at module level, and ``laserrec.__version__`` counts as
# the base layer's.
LAYERS = {
    "base": (
        "laserrec.errors",
        "laserrec.config",
        "laserrec.device",
        "laserrec.distributed",
        "laserrec.allocator",
    ),
    "data": ("laserrec.data",),
    "llm": ("laserrec.llm",),
    "models": ("laserrec.models",),
    "evaluation": ("laserrec.evaluation",),
    "training": ("laserrec.training",),
    "inference": ("laserrec.inference",),
    "use": ("laserrec", "laserrec.__main__", "laserrec.cli", "laserrec.pipeline"),
    "studies": ("laserrec.studies",),
}
ORDER = list(LAYERS)
# The one import of the studies by the core: the ``laserrec`` command adds the study commands (their own
# Typer app) when one of them is run or the commands are listed, so that users reach them by the same
# names while a use command never loads them.
SEAMS = {("laserrec.cli.app", "laserrec.studies.cli")}


def layer_of(module: str) -> str | None:
    """The layer of a ``laserrec`` module: the longest prefix in ``LAYERS`` (the root only exactly)."""
    best, found = -1, None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            hit = module == prefix or (prefix != "laserrec" and module.startswith(prefix + "."))
            if hit and len(prefix) > best:
                best, found = len(prefix), layer
    return found


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, src: Path = SRC) -> bool:
    base = src.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(path: Path, src: Path = SRC) -> list[tuple[int, str, bool]]:
    """(line, laserrec module, at module level?) of every import in a file, function-local ones included.
    ``from laserrec.x import y`` counts as ``laserrec.x.y`` when that is a module; ``from laserrec import
    __version__`` as the base layer's ``laserrec.__version__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = []
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.append(sub if is_module(sub, src) or sub == "laserrec.__version__" else node.module)
        else:
            continue
        found += [(node.lineno, n, id(node) in top) for n in names if n.split(".")[0] == "laserrec"]
    return found


def upward_imports(src: Path = SRC) -> list[str]:
    """``file:line: module (layer) imports target (higher layer)`` for every import that breaks the order."""
    hits = []
    for path in sorted((src / "laserrec").rglob("*.py")):
        here = module_name(path, src)
        for line, target, _ in imported_modules(path, src):
            mine = layer_of(here)
            theirs = "base" if target == "laserrec.__version__" else layer_of(target)
            if ORDER.index(theirs) > ORDER.index(mine) and (here, target) not in SEAMS:
                hits.append(f"{path.relative_to(src)}:{line}: {here} ({mine}) imports {target} ({theirs})")
    return hits


def test_every_module_has_a_layer():
    modules = [module_name(p) for p in sorted((SRC / "laserrec").rglob("*.py"))]
    assert len(modules) > 100 and "laserrec.studies.cli" in modules
    assert [m for m in modules if layer_of(m) is None] == []


def test_each_module_imports_only_its_own_layer_and_the_ones_below():
    hits = upward_imports()
    assert not hits, "imports against the layers (docs/layout.md):\n" + "\n".join(hits)


def test_the_root_imports_nothing_at_module_level():
    imports = imported_modules(SRC / "laserrec" / "__init__.py")
    assert imports == [(imports[0][0], "laserrec.inference.recommender", False)]


def test_the_check_sees_a_function_local_import_against_the_layers(tmp_path):
    package = tmp_path / "laserrec"
    for folder in ("models", "training", "inference"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "inference" / "recommender.py").write_text("")
    (package / "models" / "base.py").write_text("from laserrec import __version__\n")
    (package / "training" / "runs.py").write_text(
        "from laserrec.models import base\n\ndef f():\n    from laserrec.inference.recommender import x\n"
    )
    assert imported_modules(package / "training" / "runs.py", tmp_path) == [
        (1, "laserrec.models.base", True),
        (4, "laserrec.inference.recommender", False),
    ]
    assert upward_imports(tmp_path) == [
        "laserrec/training/runs.py:4: laserrec.training.runs (training) imports "
        "laserrec.inference.recommender (inference)"
    ]


# Each layer imported bottom-up in one fresh interpreter: once a layer is imported, no module of a higher
# layer is loaded. This sees what the source scan cannot: an import built from a string at run time.
# (``laserrec.__main__`` runs the command when imported: it is left to the scan.)
IMPORT_BOTTOM_UP = """
import importlib, json, sys
layers, order = json.loads(sys.argv[1]), json.loads(sys.argv[2])
found = {}
for layer in order[:-1]:
    for name in (m for m, where in layers.items() if where == layer):
        importlib.import_module(name)
    higher = set(order[order.index(layer) + 1 :])
    found[layer] = sorted(m for m in sys.modules if layers.get(m) in higher and m != "laserrec")
print(json.dumps(found))
"""


def test_importing_each_layer_loads_nothing_above_it():
    modules = [module_name(p) for p in sorted((SRC / "laserrec").rglob("*.py"))]
    layers = {m: layer_of(m) for m in modules if m != "laserrec.__main__"}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_BOTTOM_UP, json.dumps(layers), json.dumps(ORDER)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    assert list(found) == ORDER[:-1] and layers["laserrec.cli.use"] == "use"
    assert found == {layer: [] for layer in ORDER[:-1]}


RUN_COMMANDS = """
import sys
from typer.testing import CliRunner
from laserrec import cli
config = CliRunner().invoke(cli.app, ["config", "sasrec"])
print(config.exit_code, sorted(m for m in sys.modules if m.startswith("laserrec.studies")))
listed = CliRunner().invoke(cli.app, ["--help"])
print(all(name in listed.stdout for name in ("experiment", "search-adapters", "plan", "bench")))
"""


def test_a_use_command_runs_without_the_studies_and_the_listing_shows_them():
    out = subprocess.run([sys.executable, "-c", RUN_COMMANDS], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["0 []", "True"]
