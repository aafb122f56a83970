"""The layering of the package: no module imports from a layer above its own."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "layergan"
# Lowest first. A module belongs to the longest prefix that names it.
LAYERS = {
    "layergan": 1, "layergan.errors": 1, "layergan.io": 1, "layergan.compat": 1, "layergan.checkpoint": 1,
    "layergan.classes": 2, "layergan.viz": 2,
    "layergan.data": 3,
    "layergan.models": 4,
    "layergan.methods": 5,
    "layergan.training": 6,
    "layergan.evaluation": 7, "layergan.translate": 7,
    "layergan.pipeline": 8, "layergan.studio": 8,
    "layergan.cli": 9, "layergan.__main__": 9,
}


def layer_of(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return LAYERS[".".join(parts[:n])]
    raise AssertionError(f"{module} is in no layer; add it to LAYERS")


def module_name(path: Path) -> str:
    parts = ["layergan", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every layergan module that `path` imports, with the line (imports inside functions count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "layergan"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "layergan":
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            # `from layergan.data import voc` imports the submodule layergan.data.voc
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert SOURCES
    for path in SOURCES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_upward(path):
    own = layer_of(module_name(path))
    upward = [f"{path.relative_to(PACKAGE)}:{line} imports {name} (layer {layer_of(name)} > {own})"
              for line, name in imported_modules(path) if layer_of(name) > own]
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    """The test above must be able to fail: a models module importing training is caught."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from layergan.training.trainer import Trainer\n")
    assert [layer_of(name) for _, name in imported_modules(fake)] == [6]
    assert layer_of("layergan.models.generators") == 4
