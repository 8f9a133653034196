"""Public names a package re-exports, loaded from its modules on first use.

A package ``__init__`` that imported every module it re-exports would make importing any one
module of the package import all of them (and could close import cycles). :func:`lazy_exports`
gives the package a module ``__getattr__`` and ``__dir__`` instead (PEP 562) that look a public
name up in the package's modules, in the order given.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def public_names(module: ModuleType) -> list[str]:
    """The names ``module`` defines for others: public functions, classes, constants and type
    aliases, not what it imports from other modules."""
    own = {module.__name__, None, "typing", "types"}
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", None) in own
        and value is not getattr(typing, name, None)
    ]


def lazy_exports(
    package: str, modules: str | Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name comes from the first of ``modules``
    (names relative to the package, or absolute ones; a string holds them separated by spaces,
    as for ``namedtuple``) that defines it."""
    modules = modules.split() if isinstance(modules, str) else list(modules)

    def load(module: str) -> ModuleType:
        return importlib.import_module(module if "." in module else f"{package}.{module}")

    def getattr_(name: str) -> Any:
        if not name.startswith("_"):
            for module in modules:
                home = load(module)
                if name in public_names(home):
                    value = getattr(home, name)
                    setattr(importlib.import_module(package), name, value)  # found once
                    return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        names = {name for module in modules for name in public_names(load(module))}
        return sorted(names | set(vars(importlib.import_module(package))))

    return getattr_, dir_
