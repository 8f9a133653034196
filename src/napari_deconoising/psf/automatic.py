"""The recipes of the PSF to assume for an image when the user gives none, and what they say.

:func:`~napari_deconoising.data.automatic_psf.automatic_psf` picks, in this order
(:data:`SOURCES`):

1. ``"file optics"``: the voxel size is known and the file records optics (OME-TIFF: the NA,
   the channel's emission wavelength, the immersion index; see
   :class:`~napari_deconoising.io.axes.Optics`): a Gaussian for them, with the default
   (:class:`~napari_deconoising.config.OpticsConfig`) for any the file lacks;
2. ``"default optics"``: the voxel size is known, the optics are not: a Gaussian for the
   default optics (NA 1.4, 520 nm);
3. ``"spectrum"``: no voxel size: a Gaussian whose lateral sigma is estimated from the image's
   power spectrum (:func:`~napari_deconoising.data.psf_estimate.estimated_psf_sigma`, on a
   bounded central sample of the channel's planes), with the default axial sigma (planes) for
   a z-stack;
4. ``"default sigma"``: no voxel size, and the spectrum shows no measurable blur: a Gaussian
   of the default sigmas (pixels, planes).

Every choice makes a 3D PSF for an image with a Z axis (so that ``mode="auto"`` trains a 3D
network), else a 2D one, made by :func:`~.recipe.make_psf` like every PSF. This module makes the
recipes from the metadata (:func:`optics_psf`) or from a given sigma (:func:`sigma_psf`); the
estimate, which reads pixels, is the data layer's.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_deconoising.config.base import bounds
from napari_deconoising.config.psf import OpticsConfig, StackOpticsConfig
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.psf.recipe import GAUSSIAN, NM_PER_UM, PSFRecipe

FILE_OPTICS, DEFAULT_OPTICS, SPECTRUM, DEFAULT_SIGMA = (
    "file optics",
    "default optics",
    "spectrum",
    "default sigma",
)
#: Where an automatic PSF comes from, in the order they are tried.
SOURCES = (FILE_OPTICS, DEFAULT_OPTICS, SPECTRUM, DEFAULT_SIGMA)


@dataclass(frozen=True, eq=False)
class AutomaticPSF:
    """An automatic PSF's recipe, and what it was made from (:meth:`describe` says it)."""

    recipe: PSFRecipe
    #: One of :data:`SOURCES`.
    source: str
    #: The optics that came from the file: some of ``"na"``, ``"wavelength_nm"``,
    #: ``"immersion_index"`` (the recipe's names).
    from_file: tuple[str, ...] = ()
    #: What the image lacks for the optics: ``"pixel size"``, ``"z-step"``... (None: nothing).
    missing: str | None = None
    #: The channel the PSF is made for, when the image has several (its emission or spectrum).
    channel: int | None = None

    def describe(self, owner: str = "image") -> str:
        """What the PSF is, e.g. ``"a Gaussian for the file's optics (NA 1.2, 600 nm emission)
        at the image's 0.1 µm pixels"``; ``owner`` names the image (``"layer"``...)."""
        recipe = self.recipe
        kind = "a 3D Gaussian" if recipe.spatial_dims == 3 else "a Gaussian"
        if self.source in (FILE_OPTICS, DEFAULT_OPTICS):
            return f"{kind} for {self._optics_text()} at the {owner}'s {self._voxel_text()}"
        axial = f", {recipe.sigma_z:g} planes along Z" if recipe.spatial_dims == 3 else ""
        reasons = [f"the {owner} has no {self.missing}"] if self.missing else []
        if self.source == SPECTRUM:
            spectrum = (
                f"the {owner}'s spectrum"
                if self.channel is None
                else f"the spectrum of the {owner}'s channel {self.channel}"
            )
            why = f" ({reasons[0]})" if reasons else ""
            return f"{kind} of sigma {recipe.sigma:.3g} px estimated from {spectrum}{axial}{why}"
        reasons.append("its spectrum shows no measurable blur")
        return f"{kind} of sigma {recipe.sigma:g} px{axial} ({', and '.join(reasons)})"

    def _optics_text(self) -> str:
        """``"the file's optics (NA 1.2, ...)"``, ``"typical optics (...)"``, or both."""
        recipe = self.recipe
        values = {
            "na": f"NA {recipe.na:g}",
            "wavelength_nm": f"{recipe.wavelength_nm:g} nm emission{self._of_channel()}",
        }
        if recipe.immersion_index is not None and recipe.spatial_dims == 3:
            values["immersion_index"] = f"immersion index {recipe.immersion_index:g}"
        given = [text for name, text in values.items() if name in self.from_file]
        typical = [text for name, text in values.items() if name not in self.from_file]
        if not given:
            return f"typical optics ({', '.join(typical)})"
        if not typical:
            return f"the file's optics ({', '.join(given)})"
        return f"the file's {', '.join(given)} and typical {', '.join(typical)}"

    def _voxel_text(self) -> str:
        z_step, pixel = self.recipe.voxel_um[0], self.recipe.voxel_um[-1]
        step = f" and {z_step:.4g} µm z-step" if self.recipe.spatial_dims == 3 else ""
        return f"{pixel:.4g} µm pixels{step}"

    def _of_channel(self) -> str:
        return "" if self.channel is None else f" of channel {self.channel}"


def optics_psf(image: AxesImage, channel: int = 0) -> AutomaticPSF | None:
    """The Gaussian for ``channel`` of ``image`` from the optics its file records (``"file
    optics"``), else from the default optics (``"default optics"``), at its voxel size; None
    when the voxel size is not known on every spatial axis."""
    voxel_um = _voxel_um(image)
    if None in voxel_um:
        return None
    return _from_optics(image, channel, voxel_um, _several(image, channel))


def sigma_psf(image: AxesImage, sigma: float | None, channel: int = 0) -> AutomaticPSF:
    """The Gaussian of lateral ``sigma`` (pixels) estimated from ``channel`` of ``image``'s
    spectrum (``"spectrum"``), or of the default sigma when ``sigma`` is None or out of bounds
    (``"default sigma"``); the default axial sigma (planes) for an image with Z."""
    voxel_um = _voxel_um(image)
    spatial_dims, missing = len(voxel_um), _missing_size(voxel_um)
    sigma_z = StackOpticsConfig().sigma_z if spatial_dims == 3 else None
    if sigma is None or not bounds(OpticsConfig, "sigma").accepts(sigma):
        recipe = PSFRecipe(spatial_dims=spatial_dims, sigma=OpticsConfig().sigma, sigma_z=sigma_z)
        return AutomaticPSF(recipe, DEFAULT_SIGMA, missing=missing)
    recipe = PSFRecipe(spatial_dims=spatial_dims, sigma=sigma, sigma_z=sigma_z)
    return AutomaticPSF(recipe, SPECTRUM, missing=missing, channel=_several(image, channel))


def _voxel_um(image: AxesImage) -> tuple[float | None, ...]:
    """The image's voxel size (µm; None where unknown), Z first for an image with Z."""
    return tuple(image.spacing.get(axis) for axis in ("ZYX" if image.has("Z") else "YX"))


def _several(image: AxesImage, channel: int) -> int | None:
    """``channel`` when the image has several channels (texts then name it), else None."""
    return channel if image.n_channels > 1 else None


def _from_optics(
    image: AxesImage, channel: int, voxel_um: tuple[float, ...], several: int | None
) -> AutomaticPSF:
    """A Gaussian for the file's optics where it gives them, else the default optics."""
    defaults = OpticsConfig()
    given = file_optics(image, channel)
    if len(voxel_um) == 2:  # the immersion medium only shapes a PSF along Z
        given.pop("immersion_index", None)
    recipe = PSFRecipe(
        spatial_dims=len(voxel_um),
        model=GAUSSIAN,
        na=given.get("na", defaults.na),
        wavelength_nm=given.get("wavelength_nm", defaults.wavelength_nm),
        voxel_nm=tuple(size * NM_PER_UM for size in voxel_um),
        immersion_index=given.get("immersion_index"),
    )
    source = FILE_OPTICS if given else DEFAULT_OPTICS
    emission_channel = several if "wavelength_nm" in given else None
    return AutomaticPSF(recipe, source, tuple(given), channel=emission_channel)


def file_optics(image: AxesImage, channel: int = 0) -> dict[str, float]:
    """The optics ``image``'s file records that a PSF can use, by recipe name (``na``,
    ``wavelength_nm`` of ``channel``, ``immersion_index``): each within the settings' bounds,
    and the immersion index only above the NA."""
    optics = image.optics
    if optics is None:
        return {}
    values = {
        "na": optics.na,
        "wavelength_nm": optics.emission_for(channel, image.n_channels),
    }
    usable = {
        name: value
        for name, value in values.items()
        if value is not None and bounds(OpticsConfig, name).accepts(value)
    }
    index = optics.refractive_index
    above_na = index is not None and usable.get("na", OpticsConfig().na) < index
    if above_na and bounds(StackOpticsConfig, "immersion_index").accepts(index):
        usable["immersion_index"] = index
    return usable


def _missing_size(voxel_um: tuple[float | None, ...]) -> str | None:
    """What an image of ``voxel_um`` lacks: ``"pixel size"``, ``"z-step"`` or ``"pixel size
    or z-step"``; None when it has them all."""
    lateral = None in voxel_um[-2:]
    axial = len(voxel_um) == 3 and voxel_um[0] is None
    if lateral and axial:
        return "pixel size or z-step"
    if lateral:
        return "pixel size"
    return "z-step" if axial else None
