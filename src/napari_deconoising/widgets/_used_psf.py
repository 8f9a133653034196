"""The PSF a widget run uses: a PSF layer, or the automatic PSF of the image layer (its file's
optics, typical optics, or a width estimated from its spectrum), with what the widget says
about it. Light: no training or prediction code is imported here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_deconoising.data.automatic_psf import automatic_psf as choose_automatic_psf
from napari_deconoising.io import AxesImage, read_optics
from napari_deconoising.psf.recipe import make_psf
from napari_deconoising.widgets._psf_text import layer_voxel_um, widths_text

if TYPE_CHECKING:
    from napari.layers import Image

#: The suffixes of the files whose optics a layer's source may record.
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class UsedPSF:
    """The PSF a run uses: its pixels, and what the widget says about it."""

    pixels: np.ndarray
    label: str
    text: str
    #: The voxel size (µm, Z first; None where unknown) the PSF was made for, when known.
    voxel_um: tuple[float | None, ...] | None = None
    #: What an automatic PSF was made from (empty for a PSF layer).
    made_from: str = ""


def layer_psf(layer: Image) -> UsedPSF:
    """The PSF in an image layer (read now, in the GUI thread), with its widths."""
    pixels = np.asarray(layer.data, dtype=np.float32)
    voxel_um = layer_voxel_um(layer)
    widths = widths_text(pixels, voxel_um, separator=", ")
    return UsedPSF(pixels, f"PSF layer '{layer.name}'", f"layer '{layer.name}': {widths}", voxel_um)


def automatic_psf(image: AxesImage) -> UsedPSF:
    """The PSF assumed for ``image`` (:func:`~napari_deconoising.data.automatic_psf.automatic_psf`:
    the file's optics, typical optics, or a width estimated from its spectrum), with what it was
    made from and its widths. A layer napari opened from an OME-TIFF gets the optics the file
    records; an image with several channels gets the first channel's PSF for all of them."""
    image = with_file_optics(image)
    choice = choose_automatic_psf(image)
    pixels = make_psf(choice.recipe)
    voxel_um = choice.recipe.voxel_um
    widths = widths_text(pixels, voxel_um, separator=", ")
    channels = f", for all {image.n_channels} channels" if image.n_channels > 1 else ""
    made_from = f"{choice.describe('layer')}{channels}"
    text = f"automatic: {made_from}; {widths}"
    return UsedPSF(pixels, "the automatic PSF", text, voxel_um, made_from)


def with_file_optics(image: AxesImage) -> AxesImage:
    """``image`` with the optics its TIFF file records (a layer napari opened from an OME-TIFF
    has its path, not its optics); as it is without a TIFF file or optics already."""
    path = image.path
    if image.optics is not None or path is None or path.suffix.lower() not in TIFF_SUFFIXES:
        return image
    return dataclasses.replace(image, optics=read_optics(path))
