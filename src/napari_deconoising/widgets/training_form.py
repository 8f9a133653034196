"""The settings of the Train widget: main ones in view, the rest folded away.

Every range, choice and default is read from :class:`~napari_deconoising.config.TrainingConfig`
and :class:`~napari_deconoising.config.NetworkConfig`, except the budget, which is shorter here
than for the command line so that a first try is quick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, SpinBox

from napari_deconoising.config.settings import NetworkConfig, TrainingConfig, bounds
from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.training import resolve_mode
from napari_deconoising.widgets._settings import choice_box, setting_box

DEFAULTS = TrainingConfig()
#: Default budget of the widget, in optimiser steps (at most the command line's default).
INTERACTIVE_STEPS = min(DEFAULTS.steps or 500, 500)
INTERACTIVE_MINUTES = 5.0
STEPS, MINUTES = "steps", "minutes"
#: Smallest mask fraction the "mask 1 pixel in N" box offers (it sets the largest N).
MASK_RESOLUTION = 1e-4
#: Settings whose defaults differ between 2D and 3D training (see TrainingConfig.for_mode).
MODE_SETTINGS = ("patch_size", "patch_size_z", "batch_size", "depth", "start_filters")


def mode_defaults(mode: str) -> dict[str, Any]:
    """The defaults of :data:`MODE_SETTINGS` for ``"2d"`` or ``"3d"`` training."""
    config = TrainingConfig.for_mode(mode)
    values = {name: getattr(config, name) for name in MODE_SETTINGS[:3]}
    return {**values, "depth": config.network.depth, "start_filters": config.network.start_filters}


class TrainingSettings:
    """magicgui widgets for a :class:`TrainingConfig`: :attr:`main` and :attr:`advanced`."""

    def __init__(self) -> None:
        d, t, n = DEFAULTS, TrainingConfig, NetworkConfig
        self.budget = ComboBox(label="budget in", choices=(STEPS, MINUTES), value=STEPS)
        self.steps = setting_box(t, "steps", "steps", value=INTERACTIVE_STEPS)
        self.minutes = setting_box(
            t, "minutes", "minutes", value=INTERACTIVE_MINUTES, step=0.5, resolution=0.01
        )
        self.patch_size = setting_box(
            t,
            "patch_size",
            "patch size",
            step=16,
            tooltip="Side of the square training patches (pixels)",
        )
        self.mode = choice_box(
            t,
            "mode",
            "2D / 3D",
            tooltip="For layers with Z: 3d trains on volumes with a 3D PSF, 2d plane by plane; "
            "auto: 3d when the PSF is 3D",
        )
        self.patch_size_z = setting_box(
            t, "patch_size_z", "Z patch size", tooltip="Planes per 3D training patch"
        )
        self.batch_size = setting_box(t, "batch_size", "batch size")
        self.learning_rate = setting_box(t, "learning_rate", "learning rate", step=1e-5)
        self.depth = setting_box(
            n, "depth", "network depth", tooltip="Number of poolings of the U-Net"
        )
        self.start_filters = setting_box(
            n,
            "start_filters",
            "network width",
            step=4,
            tooltip="Channels at full resolution (doubled at each level)",
        )
        self.positivity_weight = setting_box(
            t,
            "positivity_weight",
            "positivity weight",
            step=0.1,
            tooltip="Penalty on deconvolved values below the camera offset",
        )
        self.tv_weight = setting_box(
            t,
            "tv_weight",
            "TV weight",
            step=0.001,
            tooltip="Total-variation smoothness penalty on the deconvolved image",
        )
        self.validation_fraction = setting_box(
            t, "validation_fraction", "validation share", step=0.05, resolution=0.01
        )
        self.seed = setting_box(
            t, "seed", "seed", none_value=-1, tooltip="Random seed (-1: a new one each run)"
        )
        self.main = Container(
            widgets=[
                self.budget,
                self.steps,
                self.minutes,
                self.mode,
                self.patch_size,
                self.patch_size_z,
                self.batch_size,
                self.learning_rate,
                self.depth,
                self.start_filters,
                self.positivity_weight,
                self.tv_weight,
                self.validation_fraction,
                self.seed,
            ],
        )
        fraction = bounds(t, "mask_fraction")
        smallest, largest = fraction.widget_range(MASK_RESOLUTION)
        self.mask_every = SpinBox(
            label="mask 1 pixel in",
            value=round(1 / d.mask_fraction),
            min=math.ceil(1 / largest),
            max=math.floor(1 / smallest),
            tooltip="Share of blind-spot pixels per patch (1/N)",
        )
        self.neighbourhood = choice_box(t, "neighbourhood", "replacement window")
        self.validation_interval = setting_box(t, "validation_interval", "validate every (steps)")
        self.output_scale = setting_box(
            t, "output_scale", "output scale", step=0.5, resolution=0.01
        )
        self.convs_per_level = setting_box(n, "convs_per_level", "convolutions per level")
        self.augment = CheckBox(label="rotate and flip patches", value=d.augment)
        self.replacement = choice_box(
            t,
            "replacement",
            "blind-spot value",
            tooltip="What a masked pixel gets: a random other pixel of its window (N2V), or the "
            "median or mean of the others (N2V2)",
        )
        self.downsampling = choice_box(
            n,
            "downsampling",
            "down-sampling",
            tooltip="max: max-pooling; blur: anti-aliased max-blur-pooling (N2V2)",
        )
        self.top_skip = CheckBox(
            label="full-resolution skip",
            value=d.network.top_skip,
            tooltip="Keep the U-Net's full-resolution skip connection (N2V2 drops it)",
        )
        self.min_psf_coverage = setting_box(
            t,
            "min_psf_coverage",
            "min. PSF coverage",
            step=0.05,
            resolution=0.01,
            tooltip="Blind spots count in the loss only where at least this share of the PSF "
            "falls inside the patch (0: all); near a patch border the rest would be reflected "
            "content. Matters for wide (3D widefield) PSFs",
        )
        self.device = choice_box(t, "device", "device")
        self.precision = choice_box(
            t,
            "precision",
            "precision",
            tooltip="mixed: the network computes in bfloat16, about twice as fast where the "
            "hardware has it; auto: mixed on GPUs and on CPUs with native bfloat16",
        )
        self.cache_mb = setting_box(
            t,
            "cache_mb",
            "cache (MB)",
            step=64.0,
            tooltip="Layers larger than this (as float32) are not loaded for training: patches are "
            "read through a cache of this size (a dask or zarr layer stays on disk)",
        )
        self.advanced = Container(
            widgets=[
                self.mask_every,
                self.neighbourhood,
                self.validation_interval,
                self.output_scale,
                self.convs_per_level,
                self.downsampling,
                self.top_skip,
                self.replacement,
                self.min_psf_coverage,
                self.augment,
                self.device,
                self.precision,
                self.cache_mb,
            ],
        )
        #: What a continued model fixes: shown (disabled) while continuing.
        self.architecture = (
            self.depth,
            self.start_filters,
            self.convs_per_level,
            self.downsampling,
            self.top_skip,
            self.output_scale,
        )
        self._own_values: dict[str, Any] | None = None
        self._has_z = False
        self._defaults_for = "2d"  # the boxes start from the class defaults: the 2D ones
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
        names = (
            "depth",
            "start_filters",
            "convs_per_level",
            "downsampling",
            "top_skip",
            "output_scale",
        )
        if continuing:
            if self._own_values is None:
                self._own_values = {name: getattr(self, name).value for name in names}
            if model is not None:
                network = model.network.config
                self.depth.value = network.depth
                self.start_filters.value = network.start_filters
                self.convs_per_level.value = network.convs_per_level
                self.downsampling.value = network.downsampling
                self.top_skip.value = network.top_skip
                self.output_scale.value = float(model.output_scale)
        elif self._own_values is not None:
            self.set_values(**self._own_values)
            self._own_values = None
        for widget in self.architecture:
            widget.enabled = not continuing

    def config(self, n2v: bool = False) -> TrainingConfig:
        """The configuration in the widgets; raises ConfigError for invalid combinations."""
        by_minutes = self.budget.value == MINUTES
        network = NetworkConfig(
            depth=self.depth.value,
            start_filters=self.start_filters.value,
            convs_per_level=self.convs_per_level.value,
            downsampling=self.downsampling.value,
            top_skip=bool(self.top_skip.value),
        )
        return TrainingConfig(
            steps=None if by_minutes else self.steps.value,
            minutes=self.minutes.value if by_minutes else None,
            patch_size=self.patch_size.value,
            batch_size=self.batch_size.value,
            learning_rate=self.learning_rate.value,
            network=network,
            positivity_weight=self.positivity_weight.value,
            tv_weight=self.tv_weight.value,
            mask_fraction=1 / self.mask_every.value,
            neighbourhood=int(self.neighbourhood.value),
            replacement=self.replacement.value,
            validation_fraction=self.validation_fraction.value,
            validation_interval=self.validation_interval.value,
            output_scale=self.output_scale.value,
            seed=None if self.seed.value < 0 else self.seed.value,
            device=self.device.value,
            precision=self.precision.value,
            n2v=n2v,
            augment=self.augment.value,
            mode=self.asked_mode,
            patch_size_z=self.patch_size_z.value,
            min_psf_coverage=self.min_psf_coverage.value,
            cache_mb=self.cache_mb.value,
        )

    def set_values(self, **values: object) -> None:
        """Set widgets by name (``steps=20``, ``start_filters=8``...), for scripts and tests."""
        for name, value in values.items():
            widget = getattr(self, name, None)
            if widget is None or not hasattr(widget, "value"):
                raise AttributeError(f"no training setting called {name!r}")
            widget.value = value
