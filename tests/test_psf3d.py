"""3D PSFs: Gaussian from the optics (Zhang et al. 2007), vectorial widefield, measured bead stacks,
voxel-size matching, and ``deconoising psf`` writing them as ZYX TIFFs."""

import inspect
import json
import math

import numpy as np
import pytest
import tifffile

from napari_deconoising import PSFError
from napari_deconoising.cli import main
from napari_deconoising.io import read_tiff
from napari_deconoising.psf.load import load_psf, psf_from_bead_stack
from napari_deconoising.psf.measure import psf_fwhm, psf_fwhm_z
from napari_deconoising.psf.models import (
    gaussian_psf,
    gaussian_psf_3d,
    gaussian_psf_3d_from_optics,
    widefield_psf,
    widefield_psf_3d,
)
from napari_deconoising.psf.optics import default_planes, sigmas_3d_from_optics
from napari_deconoising.psf.prepare import match_voxel_size, prepare_psf
from napari_deconoising.psf.recipe import PSFRecipe, make_psf

WATER = {"na": 1.1, "wavelength_nm": 520.0, "pixel_size_nm": 100.0, "z_step_nm": 250.0}


def centre_of(psf):
    return tuple(side // 2 for side in psf.shape)


def test_gaussian_3d_is_odd_centred_normalised_with_its_sigmas():
    psf = gaussian_psf_3d(1.5, 2.0)
    assert psf.dtype == np.float32 and psf.ndim == 3
    assert all(side % 2 == 1 for side in psf.shape)
    assert psf.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.unravel_index(np.argmax(psf), psf.shape) == centre_of(psf)
    assert psf_fwhm(psf) == pytest.approx(2.355 * 1.5, rel=0.1)
    assert psf_fwhm_z(psf) == pytest.approx(2.355 * 2.0, rel=0.05)
    assert psf.shape[1] == gaussian_psf(1.5).shape[0]  # same lateral support as in 2D


def test_optics_sigmas_reach_the_paraxial_limit_at_low_na():
    # Zhang et al. 2007, paraxial widefield: sigma_r = sqrt(2) / (k NA),
    # sigma_z = 2 sqrt(6) n / (k NA^2)
    na, wavelength, index = 0.1, 500.0, 1.0
    k = 2 * math.pi / wavelength
    sigma_xy, sigma_z = sigmas_3d_from_optics(na, wavelength, index)
    assert sigma_xy == pytest.approx(math.sqrt(2) / (k * na), rel=0.01)
    assert sigma_z == pytest.approx(2 * math.sqrt(6) * index / (k * na**2), rel=0.01)


def test_axial_width_grows_as_the_na_drops_and_the_gaussian_matches_the_widefield_model():
    assert sigmas_3d_from_optics(0.8, 520)[1] > sigmas_3d_from_optics(1.4, 520)[1]
    gaussian = gaussian_psf_3d_from_optics(**WATER)
    widefield = widefield_psf_3d(**WATER)
    assert gaussian.shape[0] == widefield.shape[0] == default_planes(1.1, 520, 250)
    assert psf_fwhm_z(gaussian) == pytest.approx(psf_fwhm_z(widefield), rel=0.25)
    assert psf_fwhm(gaussian) == pytest.approx(psf_fwhm(widefield), rel=0.25)


def test_default_planes_are_odd_and_follow_the_z_step():
    coarse, fine = default_planes(1.1, 520, 500), default_planes(1.1, 520, 125)
    assert coarse % 2 == 1 and fine % 2 == 1
    assert coarse >= 3 and fine > 2 * coarse - 3
    assert gaussian_psf_3d_from_optics(**WATER, planes=7).shape[0] == 7


def test_widefield_3d_is_normalised_symmetric_and_its_focus_matches_the_2d_model():
    psf = widefield_psf_3d(**WATER)
    assert psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(psf), psf.shape) == centre_of(psf)
    np.testing.assert_allclose(psf, psf[::-1], atol=1e-3 * psf.max())  # no aberration
    in_focus = psf[psf.shape[0] // 2]
    assert psf_fwhm(in_focus) == pytest.approx(psf_fwhm(widefield_psf(1.1, 520, 100)), rel=0.15)
    # widefield: defocused planes keep their light, so planes far from focus hold a lot of it
    planes = psf.sum(axis=(1, 2))
    assert planes[0] > 0.5 * planes.max()


def test_bead_stack_is_cleaned_centred_and_cropped():
    truth = gaussian_psf_3d(1.3, 1.5, size=31, planes=21).astype(np.float64)
    rng = np.random.default_rng(0)
    stack = np.zeros((25, 40, 40))
    stack[2:23, 6:37, 3:34] = truth * 20000  # the bead off-centre in Y and X
    measured = rng.poisson(stack + 50) + rng.normal(0, 2, stack.shape)
    psf = psf_from_bead_stack(measured)
    assert np.unravel_index(np.argmax(psf), psf.shape) == centre_of(psf)
    assert psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert psf.shape[1] < 40 and psf.shape[0] < 25  # cropped to the support
    expected = gaussian_psf_3d(1.3, 1.5)
    assert psf_fwhm(psf) == pytest.approx(psf_fwhm(expected), rel=0.15)
    assert psf_fwhm_z(psf) == pytest.approx(psf_fwhm_z(expected), rel=0.15)


def test_bead_stack_without_a_peak_is_refused():
    noise = np.random.default_rng(1).poisson(100, (15, 32, 32)).astype(np.float64)
    with pytest.raises(PSFError, match="no clear peak"):
        psf_from_bead_stack(noise)


def test_prepare_keeps_3d_only_when_asked():
    stack = gaussian_psf_3d(1.5, 1.0)
    assert prepare_psf(stack).ndim == 2  # the 2D API: the in-focus plane
    assert prepare_psf(stack, spatial_dims=None).shape == stack.shape
    with pytest.raises(PSFError, match=r"\(Z, Y, X\) stack"):
        prepare_psf(gaussian_psf(1.5), spatial_dims=3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gaussian_psf_3d(1.5, 2.0, planes=8), "must be odd"),
        (lambda: gaussian_psf_3d(1.5, 0.0), "axial PSF sigma"),
        (lambda: widefield_psf_3d(1.4, 520, 100, 250, immersion_index=1.33), "below the imm"),
        (lambda: gaussian_psf_3d_from_optics(1.1, 520, 100, 0.0), "z-step"),
        (lambda: gaussian_psf_3d_from_optics(**WATER, planes=8), "must be odd"),
        (lambda: gaussian_psf_3d_from_optics(1.4, 520, 100, 250, 1.33), "below the imm"),
        (lambda: widefield_psf_3d(**WATER, planes=8), "must be odd"),
        (lambda: widefield_psf_3d(1.1, 520, 100, 0.0), "z-step"),
    ],
)
def test_bad_3d_settings_are_refused_with_a_reason(call, message):
    with pytest.raises(PSFError, match=message):
        call()


@pytest.mark.parametrize("make", [gaussian_psf_3d_from_optics, widefield_psf_3d])
def test_3d_models_from_the_optics_take_the_optics_positionally_or_by_name(make):
    names = ["na", "wavelength_nm", "pixel_size_nm", "z_step_nm", "immersion_index", "planes"]
    assert list(inspect.signature(make).parameters) == names
    by_name = make(**WATER, immersion_index=1.33, planes=7)
    np.testing.assert_array_equal(make(*WATER.values(), 1.33, 7), by_name)
    assert by_name.shape[0] == 7


def test_voxel_size_mismatch_is_resampled_or_refused():
    coarse = gaussian_psf_3d(1.0, 1.0)  # sigma 100 nm laterally and 250 nm axially
    fine = match_voxel_size(coarse, (0.25, 0.1, 0.1), (0.125, 0.05, 0.05))
    assert fine.sum() == pytest.approx(1.0, abs=1e-5)
    assert psf_fwhm(fine) == pytest.approx(2 * psf_fwhm(coarse), rel=0.1)
    assert psf_fwhm_z(fine) == pytest.approx(2 * psf_fwhm_z(coarse), rel=0.1)
    assert match_voxel_size(coarse, (0.25, 0.1, 0.1), (0.26, 0.1, 0.1)) is not None
    np.testing.assert_array_equal(
        match_voxel_size(coarse, (0.25, 0.1, 0.1), (0.26, 0.1, 0.1)), coarse
    )
    np.testing.assert_array_equal(match_voxel_size(coarse, None, (0.1, 0.1, 0.1)), coarse)
    with pytest.raises(PSFError, match="differ more than"):
        match_voxel_size(coarse, (0.25, 0.1, 0.1), (0.25, 0.01, 0.01))


def test_load_psf_keeps_a_stack_3d_and_matches_the_image_voxel_size(tmp_path):
    psf = gaussian_psf_3d(1.0, 1.0)
    path = tmp_path / "psf.tif"
    tifffile.imwrite(
        path,
        psf,
        imagej=True,
        resolution=(10, 10),
        metadata={"axes": "ZYX", "spacing": 0.25, "unit": "um"},
    )
    np.testing.assert_allclose(load_psf(path, spatial_dims=None), psf, atol=1e-7)
    assert load_psf(path).ndim == 2
    resampled = load_psf(path, spatial_dims=3, voxel_size_um=(0.125, 0.05, 0.05))
    assert psf_fwhm_z(resampled) == pytest.approx(2 * psf_fwhm_z(psf), rel=0.1)


# -- deconoising psf ------------------------------------------------------------------------------
def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


OPTICS = ["--na", "1.1", "--wavelength", "520"]


def test_cli_writes_a_3d_gaussian_with_axes_and_voxel_size(capsys, tmp_path):
    out = tmp_path / "g.tif"
    args = ["psf", *OPTICS, "--pixel-size", "100", "--z-step", "250", "--out", out, "--json"]
    code, stdout, _ = run_cli(capsys, *args)
    assert code == 0
    figures = json.loads(stdout)
    written = read_tiff(out)
    assert written.axes == "ZYX"
    assert written.spacing == pytest.approx({"Z": 0.25, "Y": 0.1, "X": 0.1})
    np.testing.assert_array_equal(written.data, gaussian_psf_3d_from_optics(**WATER))
    assert figures["shape"] == list(written.shape) and figures["z_step_nm"] == 250


def test_cli_widefield_takes_voxel_size_from_the_image_and_honours_planes(capsys, tmp_path):
    image = tmp_path / "stack.tif"
    data = np.zeros((6, 16, 16), np.uint16)
    tifffile.imwrite(
        image,
        data,
        imagej=True,
        resolution=(10, 10),
        metadata={"axes": "ZYX", "spacing": 0.25, "unit": "um"},
    )
    out = tmp_path / "w.tif"
    args = ["psf", *OPTICS, "--model", "widefield", "--image", image, "--dims", "3"]
    code, _, err = run_cli(
        capsys, *args, "--planes", "9", "--immersion-index", "1.33", "--out", out
    )
    assert code == 0 and err == ""
    written = read_tiff(out)
    assert written.spacing == pytest.approx({"Z": 0.25, "Y": 0.1, "X": 0.1})
    np.testing.assert_array_equal(
        written.data, widefield_psf_3d(**WATER, planes=9, immersion_index=1.33)
    )


def test_cli_gaussian_sigmas_and_bead_stack(capsys, tmp_path):
    assert (
        run_cli(capsys, "psf", "--sigma", "1.5", "--sigma-z", "2", "--out", tmp_path / "s.tif")[0]
        == 0
    )
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "s.tif"), gaussian_psf_3d(1.5, 2.0))
    beads = tmp_path / "beads.tif"
    stack = np.pad(gaussian_psf_3d(1.2, 1.5) * 5e4, ((3, 2), (4, 6), (6, 4))) + 30
    tifffile.imwrite(
        beads, stack.astype(np.float32), imagej=True, resolution=(20, 20),
        metadata={"axes": "ZYX", "spacing": 0.125, "unit": "um"},
    )  # fmt: skip
    code, stdout, _ = run_cli(capsys, "psf", "--bead", beads, "--out", tmp_path / "b.tif", "--json")
    assert code == 0 and json.loads(stdout)["z_step_nm"] == pytest.approx(125)
    assert read_tiff(tmp_path / "b.tif").spacing == pytest.approx(
        {"Z": 0.125, "Y": 0.05, "X": 0.05}
    )
    # resampled to 2x coarser voxels: half the widths
    args = [
        "psf",
        "--bead",
        beads,
        "--pixel-size",
        "100",
        "--z-step",
        "250",
        "--out",
        tmp_path / "c.tif",
    ]
    assert run_cli(capsys, *args)[0] == 0
    coarse = tifffile.imread(tmp_path / "c.tif")
    expected = gaussian_psf_3d(0.6, 0.75)  # the same bead sampled 2x coarser
    assert psf_fwhm_z(coarse) == pytest.approx(psf_fwhm_z(expected), rel=0.2)
    assert psf_fwhm(coarse) == pytest.approx(psf_fwhm(expected), rel=0.2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sigma", "1.5", "--planes", "4"], "must be odd"),
        ([*OPTICS, "--pixel-size", "100", "--dims", "3"], "--z-step"),
        (["--sigma", "1.5", "--z-step", "200", "--dims", "2"], "leave out --dims 2"),
        (
            ["--sigma-z", "2", *OPTICS, "--pixel-size", "100", "--z-step", "200"],
            "goes with --sigma",
        ),
        ([*OPTICS, "--pixel-size", "100", "--z-step", "200", "--immersion-index", "1.0"], "below"),
        (["--bead", "{d}/noise.tif"], "no clear peak"),
        (["--bead", "{d}/noise.tif", "--na", "1.2"], "leave out --na"),
    ],
)
def test_cli_bad_3d_input_is_one_line_and_writes_nothing(capsys, tmp_path, args, message):
    noise = np.random.default_rng(0).poisson(100, (9, 24, 24)).astype(np.float32)
    tifffile.imwrite(tmp_path / "noise.tif", noise)
    out = tmp_path / "p.tif"
    argv = [a.format(d=tmp_path) for a in args]
    code, stdout, err = run_cli(capsys, "psf", *argv, "--out", out)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not out.exists()


def test_recipe_makes_the_3d_psfs_of_the_model_functions():
    sigmas = PSFRecipe(spatial_dims=3, sigma=1.5, sigma_z=2.0, planes=9)
    np.testing.assert_array_equal(make_psf(sigmas), gaussian_psf_3d(1.5, 2.0, planes=9))
    voxel_nm = (WATER["z_step_nm"], WATER["pixel_size_nm"], WATER["pixel_size_nm"])
    optics = PSFRecipe(spatial_dims=3, na=1.1, wavelength_nm=520.0, voxel_nm=voxel_nm)
    np.testing.assert_array_equal(make_psf(optics), gaussian_psf_3d_from_optics(**WATER))
    assert optics.voxel_um == pytest.approx((0.25, 0.1, 0.1))


def test_bead_recipe_is_resampled_to_the_voxel_size():
    stack = np.pad(gaussian_psf_3d(1.2, 1.5) * 5e4, ((3, 2), (4, 6), (6, 4))) + 30
    fine, coarse = (125.0, 50.0, 50.0), (250.0, 100.0, 100.0)
    measured = make_psf(PSFRecipe(spatial_dims=3, bead=stack, bead_voxel_nm=fine))
    np.testing.assert_array_equal(measured, psf_from_bead_stack(stack))
    resampled = make_psf(PSFRecipe(spatial_dims=3, bead=stack, bead_voxel_nm=fine, voxel_nm=coarse))
    expected = match_voxel_size(measured, (0.125, 0.05, 0.05), (0.25, 0.1, 0.1))
    np.testing.assert_array_equal(resampled, expected)
