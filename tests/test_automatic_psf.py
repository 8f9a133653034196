"""The automatic PSF: from the OME-TIFF's optics, else typical optics at the pixel size, else a
width estimated from the image's spectrum, else the default sigma; in the engine and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_deconoising.cli import main
from napari_deconoising.config.psf import OpticsConfig, StackOpticsConfig
from napari_deconoising.data.automatic_psf import automatic_psf, automatic_recipe
from napari_deconoising.data.psf_check import FWHM_PER_SIGMA
from napari_deconoising.data.psf_estimate import (
    MIN_FWHM_PX,
    SPECTRUM_FRACTION,
    estimated_psf_sigma,
    sample_planes_of,
)
from napari_deconoising.io import AxesImage, Optics, read_optics, read_tiff
from napari_deconoising.io.ome import ome_optics
from napari_deconoising.psf.automatic import (
    DEFAULT_OPTICS,
    DEFAULT_SIGMA,
    FILE_OPTICS,
    SPECTRUM,
    sigma_psf,
)
from napari_deconoising.psf.measure import psf_fwhm
from napari_deconoising.psf.recipe import make_psf

DEFAULT_SIGMA_PX = OpticsConfig().sigma
#: An estimate is within this share of the rule's value for the true blur of sparse points.
TOLERANCE = 0.1
TINY_TRAIN = ["--patch-size", "32", "--batch-size", "2", "--start-filters", "8", "--depth", "2"]

OME = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
<Instrument ID="Instrument:0">
<Objective ID="Objective:0" LensNA="0.5"/><Objective ID="Objective:1" LensNA="{na}"/>
</Instrument>
<Image ID="Image:0" Name="cells"><InstrumentRef ID="Instrument:0"/>
<ObjectiveSettings ID="Objective:1" RefractiveIndex="1.33"/>
<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="{size}" SizeY="{size}"
 SizeC="{channels}" SizeZ="1" SizeT="1" PhysicalSizeX="0.1" PhysicalSizeY="0.1">
{channel_elements}<TiffData IFD="0" PlaneCount="{channels}"/>
</Pixels></Image></OME>"""
CHANNEL = '<Channel ID="Channel:0:{index}" SamplesPerPixel="1" EmissionWavelength="{nm}"/>\n'


def blurred_points(sigma: float, size: int = 256, photons: float = 50.0, seed: int = 0):
    """Sparse points (``photons`` at the peak) blurred by a Gaussian of ``sigma`` px, on a
    background of 10, with Poisson noise."""
    rng = np.random.default_rng(seed)
    objects = np.zeros((size, size))
    objects[rng.integers(0, size, 300), rng.integers(0, size, 300)] = 2 * np.pi * sigma**2
    return rng.poisson(photons * ndimage.gaussian_filter(objects, sigma) + 10).astype(np.float32)


def rule(sigma: float) -> float:
    """The sigma the estimate gives for a true blur of ``sigma`` px (points have no width)."""
    return max(SPECTRUM_FRACTION * sigma * FWHM_PER_SIGMA, MIN_FWHM_PX) / FWHM_PER_SIGMA


def write_ome(path, data: np.ndarray, na: float = 1.2, emissions=(600,)):
    channels = "".join(CHANNEL.format(index=i, nm=nm) for i, nm in enumerate(emissions))
    xml = OME.format(na=na, size=data.shape[-1], channels=len(emissions), channel_elements=channels)
    tifffile.imwrite(path, data, description=xml, metadata=None)
    return path


# -- optics from OME-TIFF ---------------------------------------------------------------------
def test_ome_tiff_optics_give_a_psf_of_their_fwhm(tmp_path):
    path = write_ome(tmp_path / "cells.ome.tif", blurred_points(2.0, size=64).astype(np.uint16))
    image = read_tiff(path)
    assert image.optics == Optics(na=1.2, emission_nm=(600.0,), refractive_index=1.33)
    assert read_optics(path) == image.optics
    assert image.canonical().optics == image.optics  # copies keep the optics
    choice = automatic_psf(image)
    assert choice.source == FILE_OPTICS and choice.recipe.wavelength_nm == 600
    fwhm_px = psf_fwhm(make_psf(choice.recipe))
    assert fwhm_px == pytest.approx(0.51 * 600 / 1.2 / 100, rel=0.1)  # 255 nm at 100 nm pixels
    assert choice.describe() == (
        "a Gaussian for the file's optics (NA 1.2, 600 nm emission) at the image's 0.1 µm pixels"
    )


def test_each_channel_gets_its_emission_and_other_axes_drop_it(tmp_path):
    data = np.zeros((2, 32, 32), np.uint16)
    path = write_ome(tmp_path / "two.ome.tif", data, na=1.4, emissions=(520, 680))
    image = read_tiff(path)
    assert image.axes == "CYX" and image.optics.emission_nm == (520.0, 680.0)
    red = automatic_psf(image, channel=1)
    assert red.recipe.wavelength_nm == 680
    assert "the file's optics (NA 1.4, 680 nm emission of channel 1)" in red.describe()
    assert automatic_recipe(image).wavelength_nm == 520
    frames = read_tiff(path, axes="SYX")  # the user says: not channels
    assert frames.optics == image.optics
    mixed = automatic_psf(frames)
    assert (mixed.recipe.na, mixed.recipe.wavelength_nm) == (1.4, OpticsConfig().wavelength_nm)
    assert "the file's NA 1.4 and typical 520 nm emission" in mixed.describe()


def test_ome_optics_parsing_follows_ids_units_and_ignores_junk():
    xml = OME.format(na=1.2, size=8, channels=1, channel_elements=CHANNEL.format(index=0, nm=600))
    assert ome_optics(xml) == Optics(1.2, (600.0,), 1.33)  # Objective:1, not the first one
    in_um = xml.replace(
        'EmissionWavelength="600"', 'EmissionWavelength="0.6" EmissionWavelengthUnit="µm"'
    )
    assert ome_optics(in_um).emission_nm == pytest.approx((600.0,))
    junk = xml.replace('LensNA="1.2"', 'LensNA="high"').replace('"1.33"', '"-1"')
    assert ome_optics(junk) == Optics(None, (600.0,), None)
    single = xml.replace('<Objective ID="Objective:0" LensNA="0.5"/>', "")
    single = single.replace('<ObjectiveSettings ID="Objective:1" RefractiveIndex="1.33"/>', "")
    assert ome_optics(single).na == 1.2  # the file's only objective
    assert ome_optics("<OME><Image ID='Image:0'/></OME>") is None
    assert ome_optics("not xml") is None


def test_a_3d_psf_uses_the_files_immersion_index(tmp_path):
    optics = Optics(na=1.2, emission_nm=(600.0,), refractive_index=1.33)
    stack = AxesImage(np.zeros((5, 16, 16)), "ZYX", {"Z": 0.3, "Y": 0.1, "X": 0.1}, optics=optics)
    choice = automatic_psf(stack)
    assert choice.recipe.immersion_index == 1.33 and make_psf(choice.recipe).ndim == 3
    assert "(NA 1.2, 600 nm emission, immersion index 1.33)" in choice.describe()
    assert "0.1 µm pixels and 0.3 µm z-step" in choice.describe()


def test_known_pixel_size_without_optics_uses_typical_optics():
    image = AxesImage(np.zeros((16, 16)), "YX", {"X": 0.1, "Y": 0.1})
    choice = automatic_psf(image)
    assert choice.source == DEFAULT_OPTICS and choice.recipe.na == OpticsConfig().na
    assert choice.describe("layer") == (
        "a Gaussian for typical optics (NA 1.4, 520 nm emission) at the layer's 0.1 µm pixels"
    )


# -- the spectrum estimate --------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [2.0, 3.0, 5.0])
def test_the_estimate_follows_the_rule_for_blurred_points(sigma):
    estimate = estimated_psf_sigma(blurred_points(sigma))
    assert estimate == pytest.approx(rule(sigma), rel=TOLERANCE)


def test_the_estimate_is_below_the_default_for_sharp_images_and_above_for_blurred_ones():
    sharp, blurred = (estimated_psf_sigma(blurred_points(s)) for s in (0.7, 5.0))
    assert sharp < 0.5 * DEFAULT_SIGMA_PX < 1.5 * DEFAULT_SIGMA_PX < blurred


def test_pure_noise_shows_no_blur_and_gets_the_default_sigma():
    noise = np.random.default_rng(1).poisson(50, (256, 256)).astype(np.float32)
    assert estimated_psf_sigma(noise) is None
    choice = automatic_psf(AxesImage(noise, "YX"))
    assert choice.source == DEFAULT_SIGMA and choice.recipe.sigma == DEFAULT_SIGMA_PX
    assert choice.describe() == (
        "a Gaussian of sigma 1.5 px (the image has no pixel size, and its spectrum shows no "
        "measurable blur)"
    )


def test_a_sigma_recipe_names_only_what_the_image_lacks():
    known = AxesImage(np.zeros((16, 16)), "YX", {"X": 0.1, "Y": 0.1})
    assert sigma_psf(known, 0.8).describe() == (
        "a Gaussian of sigma 0.8 px estimated from the image's spectrum"
    )
    assert sigma_psf(known, None).describe() == (
        "a Gaussian of sigma 1.5 px (its spectrum shows no measurable blur)"
    )
    assert sigma_psf(known, 500.0).source == DEFAULT_SIGMA  # beyond the sigma's bounds


def test_without_pixel_size_the_sigma_comes_from_the_spectrum():
    choice = automatic_psf(AxesImage(blurred_points(2.0), "YX"))
    assert choice.source == SPECTRUM
    assert choice.recipe.sigma == pytest.approx(rule(2.0), rel=TOLERANCE)
    assert choice.describe() == (
        f"a Gaussian of sigma {choice.recipe.sigma:.3g} px estimated from the image's spectrum "
        "(the image has no pixel size)"
    )
    noise = np.random.default_rng(2).poisson(10.0, (256, 256)).astype(np.float32)
    second = automatic_psf(AxesImage(np.stack([noise, blurred_points(2.0)]), "CYX"), channel=1)
    assert "estimated from the spectrum of the image's channel 1" in second.describe()
    assert second.recipe.sigma == pytest.approx(choice.recipe.sigma, rel=TOLERANCE)


def test_a_zstack_without_voxel_size_gets_the_estimate_and_the_default_axial_sigma():
    planes = np.stack([blurred_points(3.0, size=128, seed=seed) for seed in range(3)])
    choice = automatic_psf(AxesImage(planes, "ZYX", {"X": 0.1, "Y": 0.1}))  # no z-step
    assert choice.source == SPECTRUM and choice.recipe.spatial_dims == 3
    assert choice.recipe.sigma_z == StackOpticsConfig().sigma_z
    assert choice.recipe.sigma == pytest.approx(rule(3.0), rel=TOLERANCE)
    assert choice.describe().endswith("spectrum, 2 planes along Z (the image has no z-step)")


def test_the_sample_is_bounded_central_and_of_the_channel():
    channels = np.broadcast_to(np.arange(3.0)[:, None, None, None], (3, 40, 512, 512))
    image = AxesImage(channels, "CZYX")
    planes = sample_planes_of(image, channel=2, max_pixels=2**16)
    assert sum(plane.size for plane in planes) <= 2**16
    assert planes[0].shape == (256, 256) and planes[0].dtype == np.float32
    assert all(np.all(plane == 2) for plane in planes)
    ramp = AxesImage(np.arange(64.0)[None, :].repeat(64, axis=0), "YX")
    (crop,) = sample_planes_of(ramp, max_pixels=16 * 16)
    np.testing.assert_array_equal(crop[0], np.arange(24.0, 40.0))


# -- the command line -------------------------------------------------------------------------
def test_train_with_psf_auto_says_which_psf_it_made(capsys, tmp_path):
    image = tmp_path / "points.tif"
    tifffile.imwrite(image, blurred_points(2.0, size=128).astype(np.uint16))
    out = tmp_path / "model.pt"
    args = ["train", image, "--psf", "auto", "--steps", "2", *TINY_TRAIN, "--out", out]
    assert main([str(a) for a in args]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "automatic PSF" in line]
    assert len(notes) == 1
    assert notes[0].startswith("deconoising train: note: automatic PSF: a Gaussian of sigma ")
    assert notes[0].endswith("px estimated from the image's spectrum (the image has no pixel size)")
    assert out.is_file()


def test_train_refuses_auto_among_psf_files(capsys, tmp_path):
    image = tmp_path / "points.tif"
    tifffile.imwrite(image, blurred_points(2.0, size=64).astype(np.uint16))
    args = ["train", image, "--psf", "auto", "--psf", "auto", "--out", tmp_path / "m.pt"]
    assert main([str(a) for a in args]) != 0
    assert "--psf auto makes the PSF of every channel; give it alone" in capsys.readouterr().err


def test_psf_from_image_writes_the_automatic_psf(capsys, tmp_path):
    image = write_ome(tmp_path / "cells.ome.tif", np.zeros((32, 32), np.uint16))
    out = tmp_path / "psf.tif"
    assert main(["psf", "--from-image", str(image), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: automatic PSF: a Gaussian for the file's optics (NA 1.2, 600 nm emission)" in err
    written = read_tiff(out)
    assert psf_fwhm(written.data) == pytest.approx(2.55, rel=0.1)
    assert written.spacing == pytest.approx({"X": 0.1, "Y": 0.1})
    other = str(tmp_path / "other.tif")
    refused = main(["psf", "--from-image", str(image), "--sigma", "2", "--out", other])
    assert refused != 0
    assert "leave out --sigma" in capsys.readouterr().err
