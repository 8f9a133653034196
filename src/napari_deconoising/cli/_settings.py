"""Options read from the engine's declared settings: choices, ranges and defaults come from
:mod:`napari_deconoising.config.settings`, never written down again here."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from napari_deconoising.config.base import bounds


@cache
def defaults(config: type) -> Any:
    """The default instance of a config class."""
    return config()


def add_setting(
    parser: argparse._ActionsContainer,
    flag: str,
    config: type,
    name: str,
    *,
    help: str | None = None,
    kind: Callable[[str], Any] | None = None,
    show_default: bool = True,
) -> None:
    """Add option ``flag`` for setting ``name`` of ``config`` (stored as ``args.<name>``).

    The option's choices, the range in its help and its default shown in the help are the
    config's; the parsed value is None unless given, so the config's own default applies.
    """
    declared = bounds(config, name)
    default = getattr(defaults(config), name)
    choices = declared.choices
    notes = [] if choices else [declared.describe()]
    if show_default and default is not None:
        notes.append(f"default {default}")
    text = help or declared.help or name.replace("_", " ")
    parser.add_argument(
        flag,
        dest=name,
        metavar=None if choices else flag.lstrip("-").replace("-", "_").upper(),
        type=kind or _kind(choices, default, _annotation(config, name)),
        choices=choices,
        default=None,
        help=f"{text} ({'; '.join(notes)})".replace("%", "%%") if notes else text,
    )


def add_settings(
    parser: argparse._ActionsContainer,
    config: type,
    names: Iterable[str],
    helps: Mapping[str, str] | None = None,
) -> None:
    """Add option ``--name-with-dashes`` for each setting of ``names`` of ``config``, in order
    (see :func:`add_setting`); ``helps`` gives the help of those whose declared one is not used."""
    for name in names:
        flag = "--" + name.replace("_", "-")
        add_setting(parser, flag, config, name, help=(helps or {}).get(name))


def _kind(choices: Sequence[Any] | None, default: Any, annotation: str) -> Callable[[str], Any]:
    """How to parse a setting: a float setting whose default is a whole number takes floats."""
    if annotation.startswith("float"):
        return float
    example = choices[0] if choices else default
    if example is None:
        raise TypeError("give the type of a setting without choices or default")
    return type(example)


def _annotation(config: type, name: str) -> str:
    """The declared type of setting ``name`` of ``config``, as written."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    return field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")


def given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The settings among ``names`` that were given on the command line."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}
