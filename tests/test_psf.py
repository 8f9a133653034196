import numpy as np
import pytest
import tifffile

from napari_deconoising import PSFError, gaussian_psf, load_psf, prepare_psf, psf_fwhm
from napari_deconoising.psf.beads import remove_background
from napari_deconoising.psf.models import gaussian_psf_from_optics, widefield_psf
from napari_deconoising.psf.optics import sigma_from_optics
from napari_deconoising.psf.recipe import PSFRecipe, make_psf


def test_gaussian_is_cropped_normalised_and_centred():
    psf = gaussian_psf(1.5)
    assert psf.shape == (11, 11)  # 99.9% of the energy, not 81x81
    assert psf.dtype == np.float32
    assert psf.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (5, 5)
    assert psf_fwhm(psf) == pytest.approx(2.355 * 1.5, rel=0.1)


def test_support_grows_with_sigma():
    assert gaussian_psf(0.7).shape[0] < gaussian_psf(1.5).shape[0] < gaussian_psf(4).shape[0]


def test_optics_follow_the_airy_approximation():
    sigma = sigma_from_optics(na=1.4, wavelength_nm=520, pixel_size_nm=65)
    assert sigma == pytest.approx(0.21 * 520 / 1.4 / 65)
    assert gaussian_psf_from_optics(1.4, 520, 65).shape == gaussian_psf(sigma).shape


def test_widefield_psf_is_normalised_and_close_to_its_gaussian():
    psf = widefield_psf(1.2, 520, 100)
    assert psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert psf.shape[0] % 2 == 1
    gaussian_fwhm = 2.355 * sigma_from_optics(1.2, 520, 100)
    assert psf_fwhm(psf) == pytest.approx(gaussian_fwhm, rel=0.35)


def test_off_centre_even_kernel_is_recentred():
    kernel = np.zeros((20, 20))
    kernel[3, 4] = 1.0
    kernel[3, 5] = 0.5
    psf = prepare_psf(kernel)
    assert psf.shape[0] % 2 == 1
    centre = psf.shape[0] // 2
    assert psf[centre, centre] == psf.max()


def test_stack_takes_brightest_plane(tmp_path):
    stack = np.zeros((3, 15, 15), np.float32)
    stack[1] = gaussian_psf(2.0, size=15)
    stack[0, 7, 7] = 0.001
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, stack, photometric="minisblack")
    assert load_psf(path).shape == gaussian_psf(2.0).shape


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 5)), "sums to zero"),
        (-np.ones((5, 5)), "negative"),
        (np.full((5, 5), np.nan), "NaN"),
        (np.ones(5), "2D"),
        (np.ones((2, 3, 4, 5)), "2D"),
    ],
)
def test_invalid_psfs_are_refused_with_a_reason(array, message):
    with pytest.raises(PSFError, match=message):
        prepare_psf(array)


def test_missing_psf_file(tmp_path):
    with pytest.raises(PSFError, match="not found"):
        load_psf(tmp_path / "nope.tif")


def test_bad_optics():
    with pytest.raises(PSFError, match="numerical aperture"):
        gaussian_psf_from_optics(3.0, 520, 65)


def test_measured_bead_background_is_removed():
    bead = gaussian_psf(1.5, size=31) * 1000 + 20  # a bead on a camera background of 20
    psf = prepare_psf(bead)
    assert psf.shape == gaussian_psf(1.5).shape
    np.testing.assert_allclose(psf, gaussian_psf(1.5), atol=1e-3)


def test_remove_background_subtracts_the_border_level_only_when_there_is_one():
    bead = gaussian_psf(1.5, size=31).astype(np.float64)
    np.testing.assert_allclose(remove_background(bead * 1000 + 20), bead * 1000, atol=1e-6)
    np.testing.assert_array_equal(remove_background(bead), bead)  # analytic: left alone


def test_recipe_makes_the_2d_psfs_of_the_model_functions():
    np.testing.assert_array_equal(make_psf(PSFRecipe(sigma=1.5)), gaussian_psf(1.5))
    optics = PSFRecipe(na=1.4, wavelength_nm=520, voxel_nm=(65.0, 65.0))
    np.testing.assert_array_equal(make_psf(optics), gaussian_psf_from_optics(1.4, 520, 65))
    bead = gaussian_psf(1.5, size=31) * 1000 + 20
    np.testing.assert_array_equal(make_psf(PSFRecipe(bead=bead)), prepare_psf(bead))


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"spatial_dims": 4, "sigma": 1.0}, "2D or 3D"),
        ({"model": "confocal", "sigma": 1.0}, "unknown PSF model"),
        ({"voxel_nm": (100.0,), "na": 1.2, "wavelength_nm": 520}, "one voxel size per axis"),
        ({"model": "widefield", "sigma": 1.0}, "needs the optics"),
        ({"na": 1.2, "wavelength_nm": 520}, "voxel size"),
    ],
)
def test_bad_recipes_are_refused_with_a_reason(recipe, message):
    with pytest.raises(PSFError, match=message):
        make_psf(PSFRecipe(**recipe))
