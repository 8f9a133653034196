"""Count the places in a package that branch on 2D vs 3D (a maintenance figure: CONTRIBUTING.md).

A place is an ``if``/``elif``, conditional expression, ``while``, comprehension filter or ``match``
whose condition tells 2D from 3D: a dimension count (``ndim``, ``len(x.shape)``, ``spatial_dims``,
``dims``...) compared with the number 2 or 3, a comparison with the strings "2d"/"3d", or a 3D flag
(``is_3d``, ``volumetric``, any name ending in ``_3d``). A membership test such as
``ndim in (2, 3)`` treats both alike and does not count; nor does ``len(shape) == ndim``.

Usage: python scripts/dimension_branches.py [SRC_DIR] [--list]
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

DIMENSION_COUNT = re.compile(r"(^|_)(ndim|spatial_dims|spatial_ndim|dims)$", re.IGNORECASE)
THREE_D_FLAG = re.compile(r"(^|_)(is_3d|volumetric)$|_3d$", re.IGNORECASE)
DIMENSION_STRINGS = {"2d", "3d"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {
        "_squeezed_ndim",
        "spatial_ndim",
    }:
        return "ndim"
    return ""


def _is_dimension_count(node: ast.AST) -> bool:
    if DIMENSION_COUNT.search(_name(node)):
        return True
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "len"
        and bool(node.args)
        and isinstance(node.args[0], ast.Attribute)
        and node.args[0].attr == "shape"
    )


def _is_two_or_three(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant) and node.value in (2, 3) and not isinstance(node.value, bool)
    )


def _tells_2d_from_3d(compare: ast.Compare) -> bool:
    operands = [compare.left, *compare.comparators]
    for op, left, right in zip(compare.ops, operands, operands[1:], strict=False):
        if isinstance(op, (ast.In, ast.NotIn)):
            continue
        pair = (left, right)
        if any(_is_dimension_count(a) and _is_two_or_three(b) for a, b in (pair, pair[::-1])):
            return True
        if any(
            isinstance(a, ast.Constant) and str(a.value).lower() in DIMENSION_STRINGS for a in pair
        ):
            return True
    return False


def _asks_dimension(node: ast.AST) -> bool:
    """True when a condition tells 2D from 3D."""
    for child in ast.walk(node):
        if isinstance(child, ast.Compare) and _tells_2d_from_3d(child):
            return True
        if isinstance(child, (ast.Name, ast.Attribute, ast.Call)) and THREE_D_FLAG.search(
            _name(child) or getattr(getattr(child, "func", None), "id", "")
        ):
            return True
    return False


def _conditions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp, ast.While)):
            yield node, node.test
        elif isinstance(node, ast.comprehension):
            for test in node.ifs:
                yield test, test
        elif isinstance(node, ast.Match):
            yield node, node.subject


def dimension_branches(src: Path) -> list[str]:
    """``path:line`` of every place under ``src`` that branches on 2D vs 3D."""
    places = []
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, test in _conditions(tree):
            if _asks_dimension(test):
                places.append(f"{path}:{node.lineno}")
    return places


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("--")]
    src = Path(args[0] if args else "src/napari_deconoising")
    places = dimension_branches(src)
    if "--list" in argv:
        print("\n".join(places))
    print(f"dimension_branches: {len(places)}")


if __name__ == "__main__":
    main(sys.argv[1:])
