"""Public names a package re-exports, loaded from their home module on first use.

A package ``__init__`` that imported every module it re-exports would make importing any one
module of the package import all of them (and could close import cycles). ``lazy_exports`` gives
the package a module ``__getattr__`` and ``__dir__`` instead (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, homes: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``homes`` comes from its module."""

    def getattr_(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    def dir_() -> list[str]:
        return sorted(set(homes) | set(vars(importlib.import_module(package))))

    return getattr_, dir_
