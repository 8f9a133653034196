"""The layout CONTRIBUTING.md describes holds: packages import only from layers below them (so
there is no import cycle between packages), only ``widgets`` imports Qt or napari, and no module
imports another module's private names."""

import ast
from pathlib import Path

import napari_deconoising

PACKAGE = Path(napari_deconoising.__file__).parent
LAYERS = [
    {"errors", "_version", "_exports"},
    {"job_control"},
    {"io", "config"},
    {"psf"},
    {"model"},
    {"data", "evaluation"},
    {"training", "prediction"},
    {"compression", "export"},
    {"demo"},
    {"cli", "widgets", "__init__"},
]
UI_LIBRARIES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "pyqtgraph")


def layer_of(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def top_part(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def own_imports(path: Path) -> list[ast.ImportFrom]:
    return [
        n
        for n in imports(path)
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("napari_deconoising.")
    ]


def test_every_package_is_in_a_layer() -> None:
    parts = {top_part(p) for p in PACKAGE.rglob("*.py")}
    assert parts == set().union(*LAYERS)


def test_packages_import_only_from_lower_layers() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        here = top_part(path)
        for node in own_imports(path):
            there = node.module.split(".")[1]
            if there != here and layer_of(there) >= layer_of(here):
                upward.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {node.module}")
    assert upward == []


def test_only_the_widgets_import_qt_or_napari() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if top_part(path) == "widgets":
            continue
        for node in imports(path):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [f"{path}: {n}" for n in names if n and n.split(".")[0] in UI_LIBRARIES]
    assert found == []


def test_no_module_imports_private_names_of_another() -> None:
    private = [
        f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}"
        for path in PACKAGE.rglob("*.py")
        for node in own_imports(path)
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []
