"""One PSF dropdown per channel in the Train widget, shown when the image has several."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container

from napari_deconoising.errors import PSFError
from napari_deconoising.widgets._common import LayerChoices, same_layer

if TYPE_CHECKING:
    from napari.layers import Image


class ChannelPSFs:
    """Dropdowns "PSF channel 0", "PSF channel 1"... placed in ``container`` after ``main``.

    They are shown while the image has two or more channels; each takes the layer chosen in
    ``main`` whenever that changes, and can then be set on its own. Dropdowns are made as
    needed (``on_new`` is called with each, e.g. to lock it while work runs) and hidden, not
    removed, when the image has fewer channels.
    """

    def __init__(
        self,
        layers: LayerChoices,
        container: Container,
        main: ComboBox,
        on_new: Callable[[ComboBox], None] = lambda combo: None,
    ):
        self._layers, self._container, self.main, self._on_new = layers, container, main, on_new
        self.combos: list[ComboBox] = []
        self.n_channels = 1
        main.changed.connect(self._follow_main)

    @property
    def active(self) -> list[ComboBox]:
        """The dropdowns in use: one per channel, or none for a single channel."""
        return self.combos[: self.n_channels] if self.n_channels > 1 else []

    def show(self, n_channels: int) -> None:
        """Offer one dropdown per channel (none for a single channel)."""
        self.n_channels = n_channels
        while n_channels > 1 and len(self.combos) < n_channels:
            self._add()
        for index, combo in enumerate(self.combos):
            combo.visible = index < n_channels and n_channels > 1

    def set_enabled(self, enabled: bool) -> None:
        """Enable or disable every dropdown (disabled in Noise2Void mode)."""
        for combo in self.combos:
            combo.enabled = enabled

    def chosen(self, image: Image) -> list[Image] | None:
        """The PSF layer of each channel, or None for a single channel; :class:`PSFError` if a
        channel has none or uses the image itself."""
        combos = self.active
        if not combos:
            return None
        layers = [combo.value for combo in combos]
        for channel, layer in enumerate(layers):
            if layer is None:
                raise PSFError(f"choose a PSF layer for channel {channel}")
            if same_layer(layer, image):
                raise PSFError(f"the PSF of channel {channel} is the image itself ('{image.name}')")
        return layers

    def in_use(self) -> list[Image | None]:
        """The PSF layer chosen for each channel (that of ``main`` for a single channel)."""
        combos = self.active
        return [combo.value for combo in combos] if combos else [self.main.value]

    def training_psfs(self, image: Image, n_channels: int, optional: bool) -> list[tuple[str, Any]]:
        """(label, pixels) of the PSF layer of each channel (one for a single channel); none
        when ``optional`` (a continued model's PSFs) and no PSF layer is chosen. Raises a
        :class:`PSFError` for a missing PSF or one that is the image itself."""
        if n_channels > 1:
            self.show(n_channels)
            if optional and all(combo.value is None for combo in self.active):
                return []
            return [
                (f"PSF layer '{psf.name}' (channel {channel})", psf.data)
                for channel, psf in enumerate(self.chosen(image))
            ]
        psf = self.main.value
        if psf is None and optional:
            return []
        if psf is None:
            raise PSFError(
                "choose a PSF layer (make one with the PSF widget), or train in Noise2Void mode"
            )
        if same_layer(psf, image):
            raise PSFError(f"the PSF layer and the image are the same layer ('{image.name}')")
        return [(f"PSF layer '{psf.name}'", psf.data)]

    def _add(self) -> None:
        index = len(self.combos)
        combo = self._layers.combo(
            f"PSF channel {index}",
            optional=True,
            tooltip=f"The PSF of channel {index} (set to the PSF above whenever that changes)",
        )
        combo.value = self.main.value
        position = self._container.index(self.combos[-1] if self.combos else self.main) + 1
        self._container.insert(position, combo)
        self.combos.append(combo)
        self._on_new(combo)

    def _follow_main(self, *_: Any) -> None:
        for combo in self.combos:
            combo.value = self.main.value
