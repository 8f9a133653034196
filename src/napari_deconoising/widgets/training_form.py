"""The settings of the Train widget: main ones in view, the rest folded away.

Every range, choice and default is read from :class:`~napari_deconoising.config.TrainingConfig`
and :class:`~napari_deconoising.config.NetworkConfig`, except the budget, which is shorter here
than for the command line so that a first try is quick.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, SpinBox

from napari_deconoising.config.base import bounds
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.training import resolve_mode
from napari_deconoising.widgets._settings import setting_widget

_log = logging.getLogger(__name__)

DEFAULTS = TrainingConfig()
#: Budget of the widget in optimiser steps (at most the command line's default), when the budget
#: is in steps; by default it is in minutes, :data:`INTERACTIVE_MINUTES`.
INTERACTIVE_STEPS = min(DEFAULTS.steps or 500, 500)
INTERACTIVE_MINUTES = 5.0
STEPS, MINUTES = "steps", "minutes"
#: Smallest mask fraction the "mask 1 pixel in N" box offers (it sets the largest N).
MASK_RESOLUTION = 1e-4
#: Settings whose defaults differ between 2D and 3D training (see TrainingConfig.for_mode).
MODE_SETTINGS = (
    "patch_size",
    "patch_size_z",
    "batch_size",
    "design",
    "depth",
    "start_filters",
    "z_context",
)
#: The first of :data:`MODE_SETTINGS` are training settings, the rest network settings.
TRAINING_MODE_SETTINGS = 4
TRAIN, NET = TrainingConfig, NetworkConfig

#: The widgets made from declared settings (:func:`setting_widget`), in display order after the
#: budget (main: the budget and 2D / 3D, what a first try needs) and after the mask share
#: (advanced: folded away): (name, label, config, options of a spin box). Each is the attribute
#: of its setting's name.
MAIN_FIELDS: tuple[tuple[str, str, type, dict[str, Any]], ...] = (
    ("steps", "steps", TRAIN, {"value": INTERACTIVE_STEPS}),
    ("minutes", "minutes", TRAIN, {"value": INTERACTIVE_MINUTES, "step": 0.5, "resolution": 0.01}),
    ("mode", "2D / 3D", TRAIN, {}),
    ("patch_size_z", "Z patch size", TRAIN, {}),
)
ADVANCED_FIELDS: tuple[tuple[str, str, type, dict[str, Any]], ...] = (
    ("patch_size", "patch size", TRAIN, {"step": 16}),
    ("batch_size", "batch size", TRAIN, {}),
    ("learning_rate", "learning rate", TRAIN, {"step": 1e-5}),
    ("design", "design", TRAIN, {}),
    ("depth", "network depth", NET, {}),
    ("start_filters", "network width", NET, {"step": 4}),
    ("z_context", "planes seen (3D)", NET, {}),
    ("positivity_weight", "positivity weight", TRAIN, {"step": 0.1}),
    ("tv_weight", "TV weight", TRAIN, {"step": 0.001}),
    ("validation_fraction", "validation share", TRAIN, {"step": 0.05, "resolution": 0.01}),
    ("seed", "seed", TRAIN, {"none_value": -1}),
    ("neighbourhood", "replacement window", TRAIN, {}),
    ("validation_interval", "validate every (steps)", TRAIN, {}),
    ("output_scale", "output scale", TRAIN, {"step": 0.5, "resolution": 0.01}),
    ("convs_per_level", "convolutions per level", NET, {}),
    ("downsampling", "down-sampling", NET, {}),
    ("top_skip", "full-resolution skip", NET, {}),
    ("replacement", "blind-spot value", TRAIN, {}),
    ("blind_spot", "blind spot", TRAIN, {}),
    ("blind_spot_span", "blind-spot span", TRAIN, {"none_value": 0}),
    ("min_psf_coverage", "min. PSF coverage", TRAIN, {"step": 0.05, "resolution": 0.01}),
    ("augment", "rotate and flip patches", TRAIN, {}),
    ("device", "device", TRAIN, {}),
    ("precision", "precision", TRAIN, {}),
    ("cache_mb", "cache (MB)", TRAIN, {"step": 64.0}),
)
FIELDS = MAIN_FIELDS + ADVANCED_FIELDS
#: What the Train widget remembers from one napari session to the next (see
#: :meth:`TrainingSettings.remembered`): the budget and the advanced settings, except those that
#: follow 2D / 3D (:data:`MODE_SETTINGS`, which start from the mode's defaults).
REMEMBERED = (
    "budget",
    "minutes",
    "steps",
    "mask_every",
    *(name for name, *_ in ADVANCED_FIELDS if name not in MODE_SETTINGS),
)
#: The network settings in the form.
NETWORK = tuple(name for name, _, config, _ in FIELDS if config is NET)
#: What a continued model fixes.
ARCHITECTURE = (*NETWORK, "output_scale", "design")
#: Tooltips that say more than the setting's declared help (the others show that help).
TOOLTIPS = {
    "patch_size": "Side of the square training patches (pixels)",
    "mode": "For layers with Z: 3d trains on volumes with a 3D PSF, 2d plane by plane; "
    "auto: 3d when the PSF is 3D",
    "patch_size_z": "Planes per 3D training patch",
    "design": "joint: the network's output is the deconvolved image, fitted through the PSF "
    "(DecoNoising 2020); two-stage: the network denoises and Richardson-Lucy deconvolves its "
    "output (best in 3D)",
    "depth": "Number of poolings of the U-Net",
    "start_filters": "Channels at full resolution (doubled at each level)",
    "positivity_weight": "Penalty on deconvolved values below the camera offset",
    "tv_weight": "Total-variation smoothness penalty on the deconvolved image",
    "seed": "Random seed (-1: a new one each run)",
    "replacement": "What a masked pixel gets: a random other pixel of its window (N2V), or the "
    "median or mean of the others (N2V2)",
    "blind_spot": "auto: measure the image's noise before training and, where it is correlated "
    "along X or Y, also mask the neighbours along that axis (structN2V), or the square around "
    "the pixel where it is correlated along both everywhere in 8-bit or display-scaled data; "
    "pixel: one pixel; x, y, xy: always along them; box: always the square",
    "blind_spot_span": "Neighbours masked on either side along x / y, or the box's half-width "
    "(0: from the measured correlation length, at least 1)",
    "top_skip": "Keep the U-Net's full-resolution skip connection (N2V2 drops it)",
    "downsampling": "max: max-pooling; blur: anti-aliased max-blur-pooling (N2V2)",
    "min_psf_coverage": "Blind spots count in the loss only where at least this share of the PSF "
    "falls inside the patch (0: all); near a patch border the rest would be reflected "
    "content. Matters for wide (3D widefield) PSFs",
    "precision": "mixed: the network computes in bfloat16, about twice as fast where the "
    "hardware has it; auto: mixed on GPUs and on CPUs with native bfloat16",
    "cache_mb": "Layers larger than this (as float32) are not loaded for training: patches are "
    "read through a cache of this size (a dask or zarr layer stays on disk)",
}


def mode_defaults(mode: str) -> dict[str, Any]:
    """The defaults of :data:`MODE_SETTINGS` for ``"2d"`` or ``"3d"`` training."""
    config = TrainingConfig.for_mode(mode)
    values = {name: getattr(config, name) for name in MODE_SETTINGS[:TRAINING_MODE_SETTINGS]}
    network = {
        name: getattr(config.network, name) for name in MODE_SETTINGS[TRAINING_MODE_SETTINGS:]
    }
    return {**values, **network}


class TrainingSettings:
    """magicgui widgets for a :class:`TrainingConfig`: :attr:`main` and :attr:`advanced`.

    Each box is the attribute of its setting's name (``patch_size``, ``mode``...) and of
    ``budget`` and ``mask_every``."""

    def __init__(self) -> None:
        for name, label, config, options in FIELDS:
            widget = setting_widget(config, name, label, TOOLTIPS.get(name), **options)
            setattr(self, name, widget)
        self.budget = ComboBox(label="budget in", choices=(STEPS, MINUTES), value=MINUTES)
        smallest, largest = bounds(TRAIN, "mask_fraction").widget_range(MASK_RESOLUTION)
        self.mask_every = SpinBox(
            label="mask 1 pixel in",
            value=round(1 / DEFAULTS.mask_fraction),
            min=math.ceil(1 / largest),
            max=math.floor(1 / smallest),
            tooltip="Share of blind-spot pixels per patch (1/N)",
        )
        main = [getattr(self, name) for name, *_ in MAIN_FIELDS]
        advanced = [getattr(self, name) for name, *_ in ADVANCED_FIELDS]
        self.main = Container(widgets=[self.budget, *main])
        self.advanced = Container(widgets=[self.mask_every, *advanced])
        #: What a continued model fixes: shown (disabled) while continuing.
        self.architecture = tuple(getattr(self, name) for name in ARCHITECTURE)
        self._own_values: dict[str, Any] | None = None
        self._has_z = False
        self._defaults_for = "2d"  # the boxes start from the class defaults: the 2D ones
        self._defaults = {name: getattr(self, name).value for name in REMEMBERED}
        self.budget.changed.connect(self._show_budget)
        self._show_budget()
        self.follow_layer(None, [])

    def _show_budget(self, *_: object) -> None:
        self.steps.visible = self.budget.value == STEPS
        self.minutes.visible = self.budget.value == MINUTES

    @property
    def asked_mode(self) -> str:
        """The ``mode`` handed to the engine: the "2D / 3D" choice for a layer with Z, else
        ``"auto"``."""
        return self.mode.value if self._has_z else "auto"

    def follow_layer(self, image: AxesImage | None, psf_shapes: Sequence[tuple[int, ...]]) -> None:
        """Enable "2D / 3D" and "Z patch size" only for an ``image`` with a Z axis, and move the
        size settings to the defaults of the mode the engine will train in
        (:func:`~napari_deconoising.training.resolve_mode`, given the shapes of the PSFs; none
        for Noise2Void), unless the user changed them or a model is being continued. While the
        engine would refuse the combination (training then says why), nothing moves."""
        self._has_z = image is not None and image.has("Z")
        self.mode.enabled = self._has_z
        self.patch_size_z.enabled = self._has_z and self.mode.value != "2d"
        if image is None or self._own_values is not None:
            return
        # the mode depends on the PSFs' shapes only: stand-ins spare reading lazy layers here
        psfs = [np.broadcast_to(np.float32(1), shape) for shape in psf_shapes]
        try:
            target = resolve_mode(self.asked_mode, [image], psfs or None)
        except (ImageError, PSFError):
            return
        current = {name: getattr(self, name).value for name in MODE_SETTINGS}
        if current == mode_defaults(self._defaults_for):
            self.set_values(**mode_defaults(target))
        self._defaults_for = target

    def follow_model(self, model: Any, continuing: bool) -> None:
        """While ``continuing``, disable the architecture settings and show ``model``'s (a
        :class:`~napari_deconoising.model.bundle.DecoNoisingModel`; None: not known yet); afterwards
        give back the values the user had set."""
        if continuing:
            if self._own_values is None:
                self._own_values = {name: getattr(self, name).value for name in ARCHITECTURE}
            if model is not None:
                network = model.network.config
                shown = {name: getattr(network, name) for name in NETWORK}
                design = "two-stage" if model.two_stage else "joint"
                self.set_values(**shown, output_scale=float(model.output_scale), design=design)
        elif self._own_values is not None:
            self.set_values(**self._own_values)
            self._own_values = None
        for widget in self.architecture:
            widget.enabled = not continuing

    def config(self, n2v: bool = False) -> TrainingConfig:
        """The configuration in the widgets; raises ConfigError for invalid combinations."""
        values = {name: getattr(self, name).value for name, *_ in FIELDS}
        network = NetworkConfig(**{name: values.pop(name) for name in NETWORK})
        by_minutes = self.budget.value == MINUTES
        values.update(
            steps=None if by_minutes else values["steps"],
            minutes=values["minutes"] if by_minutes else None,
            seed=None if values["seed"] < 0 else values["seed"],
            blind_spot_span=values["blind_spot_span"] or None,
            neighbourhood=int(values["neighbourhood"]),
            mode=self.asked_mode,
        )
        return TrainingConfig(
            **values,
            network=network,
            mask_fraction=1 / self.mask_every.value,
            n2v=n2v,
        )

    def set_values(self, **values: object) -> None:
        """Set widgets by name (``steps=20``, ``start_filters=8``...), for scripts and tests.

        Without ``budget``, setting ``steps`` (or only ``minutes``) also picks that budget."""
        if "budget" not in values and ("steps" in values or "minutes" in values):
            values = {"budget": STEPS if "steps" in values else MINUTES, **values}
        for name, value in values.items():
            widget = getattr(self, name, None)
            if widget is None or not hasattr(widget, "value"):
                raise AttributeError(f"no training setting called {name!r}")
            widget.value = value

    def remembered(self) -> dict[str, Any]:
        """The :data:`REMEMBERED` settings that differ from their defaults, by name: the user's
        own (while a model is continued, not the architecture it fixes)."""
        own = self._own_values or {}
        values = {name: own.get(name, getattr(self, name).value) for name in REMEMBERED}
        return {name: value for name, value in values.items() if value != self._defaults[name]}

    def recall(self, values: Mapping[str, Any]) -> None:
        """Set the :data:`REMEMBERED` settings given in ``values`` (what :meth:`remembered`
        gave); other names, and values of the wrong kind or that a box refuses, are skipped
        (said at debug level)."""
        for name, value in values.items():
            if name not in REMEMBERED or not _same_kind(value, self._defaults[name]):
                _log.debug("ignoring the remembered training setting %s=%r", name, value)
                continue
            try:
                self._put(name, value)
            except (TypeError, ValueError) as err:
                _log.debug("ignoring the remembered training setting %s=%r: %s", name, value, err)

    def reset(self) -> None:
        """Put the :data:`REMEMBERED` settings back to their defaults, and those of
        :data:`MODE_SETTINGS` to the defaults of the mode they follow."""
        for name, value in {**self._defaults, **mode_defaults(self._defaults_for)}.items():
            self._put(name, value)

    def _put(self, name: str, value: Any) -> None:
        """Set setting ``name``; while a model is continued, an architecture setting keeps
        showing the model's value and gets ``value`` when continuing ends."""
        if self._own_values is not None and name in self._own_values:
            self._own_values[name] = value
        else:
            getattr(self, name).value = value


def _same_kind(value: Any, default: Any) -> bool:
    """Whether ``value`` (read from a file) may stand where ``default`` does: the same type, an
    integer for a float, never a yes/no for a number, nor an infinite or NaN float."""
    if isinstance(default, float) and not isinstance(value, bool):
        return isinstance(value, int | float) and math.isfinite(value)
    return type(value) is type(default)
