"""The settings of the Train widget: main ones in view, the rest folded away.

Every default is read from :class:`~napari_deconoising.config.TrainingConfig`, except the
budget, which is shorter here than for the command line so that a first try is quick.
"""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox

from ..config import DEVICES, NetworkConfig, TrainingConfig

DEFAULTS = TrainingConfig()
#: Default budget of the widget, in optimiser steps (the command line's default is longer).
INTERACTIVE_STEPS = min(DEFAULTS.steps or 500, 500)
INTERACTIVE_MINUTES = 5.0
STEPS, MINUTES = "steps", "minutes"


class TrainingSettings:
    """magicgui widgets for a :class:`TrainingConfig`: :attr:`main` and :attr:`advanced`."""

    def __init__(self) -> None:
        d, net = DEFAULTS, DEFAULTS.network
        self.budget = ComboBox(label="budget in", choices=(STEPS, MINUTES), value=STEPS)
        self.steps = SpinBox(label="steps", value=INTERACTIVE_STEPS, min=1, max=10_000_000)
        self.minutes = FloatSpinBox(
            label="minutes", value=INTERACTIVE_MINUTES, min=0.01, max=100_000.0, step=0.5
        )
        self.patch_size = SpinBox(
            label="patch size",
            value=d.patch_size,
            min=16,
            max=1024,
            step=16,
            tooltip="Side of the square training patches (pixels)",
        )
        self.batch_size = SpinBox(label="batch size", value=d.batch_size, min=1, max=1024)
        self.learning_rate = FloatSpinBox(
            label="learning rate", value=d.learning_rate, min=1e-5, max=1.0, step=1e-5
        )
        self.depth = SpinBox(
            label="network depth",
            value=net.depth,
            min=1,
            max=5,
            tooltip="Number of poolings of the U-Net",
        )
        self.start_filters = SpinBox(
            label="network width",
            value=net.start_filters,
            min=4,
            max=256,
            step=4,
            tooltip="Channels at full resolution (doubled at each level)",
        )
        self.positivity_weight = FloatSpinBox(
            label="positivity weight",
            value=d.positivity_weight,
            min=0.0,
            max=1000.0,
            step=0.1,
            tooltip="Penalty on deconvolved values below the camera offset",
        )
        self.tv_weight = FloatSpinBox(
            label="TV weight",
            value=d.tv_weight,
            min=0.0,
            max=1000.0,
            step=0.001,
            tooltip="Total-variation smoothness penalty on the deconvolved image",
        )
        self.validation_fraction = FloatSpinBox(
            label="validation share",
            value=d.validation_fraction,
            min=0.0,
            max=0.49,
            step=0.05,
        )
        self.seed = SpinBox(
            label="seed",
            value=-1 if d.seed is None else d.seed,
            min=-1,
            max=2**31 - 1,
            tooltip="Random seed (-1: a new one each run)",
        )
        self.main = Container(
            widgets=[
                self.budget,
                self.steps,
                self.minutes,
                self.patch_size,
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
        self.mask_every = SpinBox(
            label="mask 1 pixel in",
            value=round(1 / d.mask_fraction),
            min=4,
            max=10_000,
            tooltip="Share of blind-spot pixels per patch (1/N)",
        )
        self.neighbourhood = ComboBox(
            label="replacement window", choices=(3, 5, 7, 9), value=d.neighbourhood
        )
        self.validation_interval = SpinBox(
            label="validate every (steps)", value=d.validation_interval, min=1, max=1_000_000
        )
        self.output_scale = FloatSpinBox(
            label="output scale", value=d.output_scale, min=0.01, max=1000.0, step=0.5
        )
        self.convs_per_level = SpinBox(
            label="convolutions per level", value=net.convs_per_level, min=1, max=4
        )
        self.augment = CheckBox(label="rotate and flip patches", value=d.augment)
        self.device = ComboBox(label="device", choices=DEVICES, value=d.device)
        self.advanced = Container(
            widgets=[
                self.mask_every,
                self.neighbourhood,
                self.validation_interval,
                self.output_scale,
                self.convs_per_level,
                self.augment,
                self.device,
            ],
        )
        self.budget.changed.connect(self._show_budget)
        self._show_budget()

    def _show_budget(self, *_: object) -> None:
        self.steps.visible = self.budget.value == STEPS
        self.minutes.visible = self.budget.value == MINUTES

    def config(self, n2v: bool = False) -> TrainingConfig:
        """The configuration in the widgets; raises ConfigError for invalid combinations."""
        by_minutes = self.budget.value == MINUTES
        network = NetworkConfig(
            depth=self.depth.value,
            start_filters=self.start_filters.value,
            convs_per_level=self.convs_per_level.value,
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
            validation_fraction=self.validation_fraction.value,
            validation_interval=self.validation_interval.value,
            output_scale=self.output_scale.value,
            seed=None if self.seed.value < 0 else self.seed.value,
            device=self.device.value,
            n2v=n2v,
            augment=self.augment.value,
        )

    def set_values(self, **values: object) -> None:
        """Set widgets by name (``steps=20``, ``start_filters=8``...), for scripts and tests."""
        for name, value in values.items():
            widget = getattr(self, name, None)
            if widget is None or not hasattr(widget, "value"):
                raise AttributeError(f"no training setting called {name!r}")
            widget.value = value
