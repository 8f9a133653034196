"""Measured PSFs (bead images and stacks): the camera background, the noise, and where the bead is.

The border of an image means every border row and column of its last two (lateral) axes, for
any number of leading axes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_deconoising.errors import PSFError

#: A bead stack's (lightly smoothed) peak must stand this many noise deviations (of the raw
#: stack's border) above the border's level; a measured PSF keeps the connected region where
#: the smoothed stack stands ``SUPPORT_NOISE`` of its own border deviations above that level.
PEAK_PROMINENCE = 3.0
SUPPORT_NOISE = 4.0
#: The light smoothing (sigma in voxels) that keeps noise from deciding where the bead is.
SMOOTHING_SIGMA = 1.0


def remove_background(image: np.ndarray) -> np.ndarray:
    """Subtract the camera background of a measured bead image and clip at zero.

    The background is the median of the image's outermost pixels (every border row and column of
    the last two axes). It is removed only when it is a noticeable level (above 1e-3 of the
    peak), so analytic PSFs, which reach about zero at their border, are left untouched. This is
    the one place where the widgets, the CLI and the API remove a PSF's background.
    """
    data = np.asarray(image, dtype=np.float64)
    level = background_level(data)
    if level is None:
        return data
    return np.clip(data - level, 0, None)


def border_values(data: np.ndarray) -> np.ndarray:
    """Every border row and column of the last two axes, flattened."""
    return np.concatenate(
        [
            data[..., 0, :].ravel(),
            data[..., -1, :].ravel(),
            data[..., :, 0].ravel(),
            data[..., :, -1].ravel(),
        ]
    )


def background_level(data: np.ndarray) -> float | None:
    """The median of the border when it is a noticeable level (above 1e-3 of the peak), else
    None (an analytic PSF, or one whose background is removed already)."""
    level = float(np.median(border_values(data)))
    return None if level <= 1e-3 * float(data.max()) else level


def robust_spread(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def locate_bead(raw: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Where the bead of a measured PSF is: ``(kernel, peak)``.

    ``raw`` is the PSF as given, ``kernel`` the same with its background removed. ``peak`` is the
    brightest voxel after light smoothing (so that noise does not decide); when ``raw`` has a
    noticeable background (a measurement), ``kernel`` comes back zeroed outside the bead's
    support (:func:`bead_support`). Raises :class:`PSFError` when there is no clear peak.
    """
    smooth = ndimage.gaussian_filter(kernel, SMOOTHING_SIGMA, mode="nearest")
    # The noise: what light smoothing removes from the border (a computed PSF's smooth tail,
    # which may fill a small stack's border, is no noise).
    rough = raw - ndimage.gaussian_filter(raw, SMOOTHING_SIGMA, mode="nearest")
    peak = peak_voxel(smooth, robust_spread(border_values(rough)))
    if background_level(raw) is not None:
        kernel = bead_support(kernel, smooth, peak)
    return kernel, peak


def peak_voxel(smooth: np.ndarray, noise: float) -> tuple[int, ...]:
    """The brightest voxel of the lightly smoothed stack; :class:`PSFError` when it does not
    stand ``PEAK_PROMINENCE`` noise deviations (``noise``, measured on the raw stack's border)
    above the border's level."""
    peak = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    level = float(np.median(border_values(smooth)))
    if not smooth[peak] - level > PEAK_PROMINENCE * noise:
        raise PSFError(
            "the PSF stack has no clear peak (its brightest point is not well above the noise); "
            "use a stack with one isolated bead"
        )
    return tuple(int(i) for i in peak)


def bead_support(kernel: np.ndarray, smooth: np.ndarray, peak: tuple[int, ...]) -> np.ndarray:
    """``kernel`` zeroed outside the bead: the connected region around ``peak`` where the
    smoothed stack stands ``SUPPORT_NOISE`` of its border noise above the border's level,
    widened by two voxels. Keeps the noise of a measured stack out of the PSF."""
    border = border_values(smooth)
    noise = robust_spread(border)
    if noise == 0:
        return kernel
    labels, _ = ndimage.label(smooth - np.median(border) > SUPPORT_NOISE * noise)
    if labels[peak] == 0:
        return kernel
    support = ndimage.binary_dilation(labels == labels[peak], iterations=2)
    return kernel * support
