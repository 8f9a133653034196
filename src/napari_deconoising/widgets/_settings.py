"""Spin boxes, dropdowns and check boxes built from the settings the engine declares.

Ranges, choices, defaults and help come from :func:`napari_deconoising.config.bounds` and the
config classes' defaults: the widgets write no limit or default down again.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, SpinBox

from napari_deconoising.config.base import bounds


def default_of(config: type, name: str) -> Any:
    """The default value of setting ``name`` of ``config``."""
    return getattr(config(), name)


def setting_box(
    config: type,
    name: str,
    label: str,
    *,
    value: Any = None,
    step: float | None = None,
    resolution: float | None = None,
    none_value: int | None = None,
    tooltip: str | None = None,
) -> SpinBox | FloatSpinBox:
    """A spin box for setting ``name`` of ``config``.

    The range is the declared one, an open end moved inwards by ``resolution`` (else ``step``,
    else 1). The value is ``value``, else the config's default. A float value gives a
    :class:`FloatSpinBox`, an int one a :class:`SpinBox`. With ``none_value``, that value
    (below the range) stands for None. The tooltip defaults to the setting's help.
    """
    declared = bounds(config, name)
    if value is None:
        value = default_of(config, name)
        if value is None:
            value = none_value
    low, high = declared.widget_range(resolution or step or 1)
    if none_value is not None:
        low = none_value
    options: dict[str, Any] = {
        "label": label,
        "value": value,
        "tooltip": tooltip or _help(declared.help),
    }
    if step is not None:
        options["step"] = step
    if isinstance(value, float):
        return FloatSpinBox(min=low, max=high, **options)
    return SpinBox(min=int(low), max=int(high), **options)


def choice_box(config: type, name: str, label: str, tooltip: str | None = None) -> ComboBox:
    """A dropdown of the declared choices of setting ``name``, on the config's default."""
    declared = bounds(config, name)
    if declared.choices is None:
        raise ValueError(f"{config.__name__}.{name} declares no choices")
    return ComboBox(
        label=label,
        choices=declared.choices,
        value=default_of(config, name),
        tooltip=tooltip or _help(declared.help),
    )


def check_box(config: type, name: str, label: str, tooltip: str | None = None) -> CheckBox:
    """A check box for the yes/no setting ``name``, on the config's default."""
    tooltip = tooltip or _help(bounds(config, name).help)
    return CheckBox(label=label, value=default_of(config, name), tooltip=tooltip)


def setting_widget(
    config: type, name: str, label: str, tooltip: str | None = None, **options: Any
) -> CheckBox | ComboBox | SpinBox | FloatSpinBox:
    """The widget for setting ``name`` of ``config``: a check box for a yes/no setting, a
    dropdown (:func:`choice_box`) for one that declares choices, else a spin box
    (:func:`setting_box`, given ``options``)."""
    if isinstance(default_of(config, name), bool):
        return check_box(config, name, label, tooltip)
    if bounds(config, name).choices is not None:
        return choice_box(config, name, label, tooltip)
    return setting_box(config, name, label, tooltip=tooltip, **options)


def _help(text: str) -> str | None:
    return text[:1].upper() + text[1:] if text else None
