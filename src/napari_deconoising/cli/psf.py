"""``deconoising psf``: make a PSF (Gaussian, widefield or from a bead stack) and save it as a TIFF.

A 3D PSF (axes ZYX) is made with ``--dims 3``, or when a 3D option (``--z-step``, ``--planes``,
``--sigma-z``, ``--immersion-index``, ``--bead``) is given. With ``--image`` the pixel size (and
for 3D the z-step) comes from that image's metadata (``--pixel-size``/``--z-step`` still win);
the PSF file records the voxel size it was made for whenever it is known.
"""

from __future__ import annotations

import argparse

import numpy as np

from napari_deconoising.cli._files import (
    add_axes_option,
    add_overwrite_option,
    check_outputs,
    read_input,
    write_output,
)
from napari_deconoising.cli._output import add_json_option, report, say
from napari_deconoising.cli._settings import add_setting
from napari_deconoising.config.settings import OpticsConfig
from napari_deconoising.data.channels import PIXEL_SIZE_TOLERANCE
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.io import AxesImage, read_tiff
from napari_deconoising.psf import core as psf_module
from napari_deconoising.psf.core import StackOpticsConfig

MODELS = ("gaussian", "widefield")
OPTICS = (("--na", "na"), ("--wavelength", "wavelength_nm"), ("--pixel-size", "pixel_size_nm"))
NM_PER_UM = 1000.0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``psf``."""
    psf = commands.add_parser("psf", help="make a PSF and save it as a TIFF")
    for flag, name in (("--sigma", "sigma"), *OPTICS):
        add_setting(psf, flag, OpticsConfig, name, show_default=False)
    psf.add_argument(
        "--image",
        metavar="IMAGE.tif",
        help="take the pixel size (and for a 3D PSF the z-step) from this image's ImageJ/OME "
        "metadata (instead of --pixel-size/--z-step; those given too win)",
    )
    add_axes_option(psf, "the --image file")
    psf.add_argument("--model", choices=MODELS, default=MODELS[0], help="PSF model")
    psf.add_argument(
        "--dims",
        type=int,
        choices=(2, 3),
        help="2 for a 2D PSF (YX), 3 for a 3D PSF (ZYX); default 3 when a 3D option is "
        "given, else 2",
    )
    add_setting(
        psf,
        "--z-step",
        StackOpticsConfig,
        "z_step_nm",
        show_default=False,
        help="distance between planes (nm); default: the --image file's z-step",
    )
    add_setting(
        psf,
        "--planes",
        StackOpticsConfig,
        "planes",
        help="planes of the 3D PSF, odd (default: 4 axial Gaussian sigmas each side of focus)",
        kind=int,
    )
    add_setting(
        psf,
        "--sigma-z",
        StackOpticsConfig,
        "sigma_z",
        help="axial sigma (planes) of a 3D Gaussian given by --sigma",
    )
    add_setting(
        psf,
        "--immersion-index",
        StackOpticsConfig,
        "immersion_index",
        kind=float,
        help="refractive index of the immersion medium (default: from the NA: oil "
        "1.515 above NA 1.33, water 1.33 above 0.95, else air)",
    )
    psf.add_argument(
        "--bead",
        metavar="BEADS.tif",
        help="make the PSF from this measured bead stack (background removed, centred on the "
        "bead, cropped, normalised); with --image it is resampled to the image's voxel size",
    )
    psf.add_argument("--out", required=True, help="output TIFF")
    add_overwrite_option(psf, "an --out file")
    add_json_option(psf)
    psf.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the PSF, write it and print its size and FWHM."""
    check_outputs([args.out], [args.image, args.bead], overwrite=args.overwrite)
    if wants_3d(args):
        return run_3d(args)
    if args.bead is not None:
        raise DeconoisingError("--bead makes a 3D PSF; leave out --dims 2")
    pixel_size_nm = pixel_size(args)
    kernel = make_psf(args, pixel_size_nm)
    size_um = None if pixel_size_nm is None else pixel_size_nm / NM_PER_UM
    spacing = {} if size_um is None else {"X": size_um, "Y": size_um}
    write_output(args.out, AxesImage(kernel, "YX", spacing, name="psf"), args.overwrite)
    figures = {
        "shape": list(kernel.shape),
        "fwhm_px": psf_module.psf_fwhm(kernel),
        "pixel_size_nm": pixel_size_nm,
        "out": str(args.out),
    }
    size = "x".join(str(side) for side in kernel.shape)
    pixels = "" if pixel_size_nm is None else f" at {pixel_size_nm:.4g} nm pixels"
    line = f"PSF {size}, FWHM {figures['fwhm_px']:.2f} px{pixels} -> {args.out}"
    report(figures, [line], args.json)
    return 0


def wants_3d(args: argparse.Namespace) -> bool:
    """Whether a 3D PSF is asked for: ``--dims 3``, or a 3D option without ``--dims``."""
    options_3d = {
        "--z-step": args.z_step_nm,
        "--planes": args.planes,
        "--sigma-z": args.sigma_z,
        "--immersion-index": args.immersion_index,
        "--bead": args.bead,
    }
    given = [flag for flag, value in options_3d.items() if value is not None]
    if args.dims == 2 and given:
        raise DeconoisingError(f"{', '.join(given)} make(s) a 3D PSF; leave out --dims 2")
    return args.dims == 3 or bool(given)


def run_3d(args: argparse.Namespace) -> int:
    """Make a 3D PSF (ZYX), write it with its voxel size and print its size and FWHMs."""
    if args.bead is not None:
        kernel, voxel_nm = bead_psf(args)
    else:
        voxel_nm = voxel_size(args)
        kernel = make_psf_3d(args, voxel_nm)
    spacing = {axis: size / NM_PER_UM for axis, size in zip("ZYX", voxel_nm, strict=True) if size}
    write_output(args.out, AxesImage(kernel, "ZYX", spacing, name="psf"), args.overwrite)
    figures = {
        "shape": list(kernel.shape),
        "fwhm_px": psf_module.psf_fwhm(kernel),
        "fwhm_z_planes": psf_module.psf_fwhm_z(kernel),
        "pixel_size_nm": voxel_nm[2],
        "z_step_nm": voxel_nm[0],
        "out": str(args.out),
    }
    size = "x".join(str(side) for side in kernel.shape)
    voxel = "" if None in voxel_nm else f" at {voxel_nm[0]:.4g} x {voxel_nm[2]:.4g} nm voxels"
    line = (
        f"3D PSF {size} (ZYX), FWHM {figures['fwhm_px']:.2f} px x "
        f"{figures['fwhm_z_planes']:.2f} planes{voxel} -> {args.out}"
    )
    report(figures, [line], args.json)
    return 0


def voxel_size(args: argparse.Namespace) -> tuple[float | None, float | None, float | None]:
    """(z-step, pixel, pixel) in nm from the options, else the ``--image`` file's metadata."""
    pixel = pixel_size(args)
    z_step = args.z_step_nm
    if z_step is None and args.image is not None:
        image = read_input(args.image, args.axes, command=args.command)
        z_um = image.spacing.get("Z") if image.has("Z") else None
        z_step = None if z_um is None else z_um * NM_PER_UM
    return (z_step, pixel, pixel)


def make_psf_3d(args: argparse.Namespace, voxel_nm: tuple) -> np.ndarray:
    """The 3D PSF the options describe: a Gaussian of ``--sigma``/``--sigma-z`` (planes), or one
    from the optics (Gaussian or widefield) for the voxel size."""
    z_step, pixel = voxel_nm[0], voxel_nm[2]
    if args.sigma is not None:
        if args.model == "widefield":
            raise DeconoisingError("the widefield model needs the optics, not --sigma")
        if any(value is not None for value in (args.na, args.wavelength_nm, pixel)):
            raise DeconoisingError(
                "give either --sigma (with --sigma-z) or the optics (--na, --wavelength, "
                "--pixel-size or --image)"
            )
        return psf_module.gaussian_psf_3d(
            args.sigma, args.sigma_z or psf_module.StackOpticsConfig().sigma_z,
            planes=args.planes,
        )  # fmt: skip
    if args.sigma_z is not None:
        raise DeconoisingError("--sigma-z goes with --sigma; from the optics it is computed")
    optics = (args.na, args.wavelength_nm, pixel, z_step)
    if any(value is None for value in optics):
        raise DeconoisingError(
            "a 3D PSF needs --sigma, or all of --na, --wavelength, --pixel-size and --z-step "
            "(the last two may come from --image)"
        )
    make = (
        psf_module.widefield_psf_3d if args.model == "widefield"
        else psf_module.gaussian_psf_3d_from_optics
    )  # fmt: skip
    return make(*optics, immersion_index=args.immersion_index, planes=args.planes)


def bead_psf(args: argparse.Namespace) -> tuple[np.ndarray, tuple]:
    """The PSF from the ``--bead`` stack, resampled to the ``--image`` voxel size when both
    are known; with the voxel size (nm) it is written for."""
    optics = {"--sigma": args.sigma, "--na": args.na, "--wavelength": args.wavelength_nm}
    extra = [flag for flag, value in optics.items() if value is not None]
    extra += [flag for flag, value in (("--planes", args.planes),) if value is not None]
    if extra:
        raise DeconoisingError(f"--bead makes the PSF from the stack; leave out {', '.join(extra)}")
    bead = read_tiff(args.bead)
    kernel = psf_module.psf_from_bead_stack(np.asarray(bead.data))
    own = tuple(
        None if bead.spacing.get(axis) is None else bead.spacing[axis] * NM_PER_UM for axis in "ZYX"
    )
    if args.image is None and args.pixel_size_nm is None and args.z_step_nm is None:
        return kernel, own
    target = voxel_size(args)
    if None in own:
        raise DeconoisingError(
            f"{args.bead} has no voxel size in its metadata, so it cannot be matched to the "
            "image's; leave out --image/--pixel-size/--z-step or save the beads with their "
            "voxel size"
        )
    if None in target:
        return kernel, own
    kernel = psf_module.match_voxel_size(kernel, own, target)
    return kernel, target


def pixel_size(args: argparse.Namespace) -> float | None:
    """The pixel size in nm: ``--pixel-size``, else the ``--image`` file's; None without both.

    When both are given and differ by more than 10%, a note says which one is used."""
    if args.image is None:
        if args.axes is not None:
            raise DeconoisingError("--axes describes the --image file; give --image too")
        return args.pixel_size_nm
    if args.sigma is not None:
        raise DeconoisingError(
            "--sigma is in pixels; --image only gives the pixel size for the optics "
            "(--na, --wavelength)"
        )
    image = read_input(args.image, args.axes, command=args.command)
    from_file = None if image.pixel_size is None else image.pixel_size * NM_PER_UM
    if args.pixel_size_nm is None:
        if from_file is None:
            raise DeconoisingError(
                f"{args.image} has no pixel size in its metadata; give --pixel-size in nm"
            )
        return from_file
    if from_file is not None and abs(from_file - args.pixel_size_nm) > (
        PIXEL_SIZE_TOLERANCE * from_file
    ):
        say(
            args.command,
            f"note: --pixel-size {args.pixel_size_nm:g} nm differs from the {from_file:.4g} nm "
            f"of {args.image}; using --pixel-size",
        )
    return args.pixel_size_nm


def make_psf(args: argparse.Namespace, pixel_size_nm: float | None) -> np.ndarray:
    """The PSF the options describe: a Gaussian of ``--sigma``, or one from the optics."""
    optics = (args.na, args.wavelength_nm, pixel_size_nm)
    if args.sigma is not None and any(value is not None for value in optics):
        raise DeconoisingError(
            "give either --sigma or the optics (--na, --wavelength, --pixel-size or --image)"
        )
    if args.sigma is None and any(value is None for value in optics):
        raise DeconoisingError(
            "give --sigma, or all of --na, --wavelength and --pixel-size (or --image)"
        )
    if args.model == "widefield":
        if args.sigma is not None:
            raise DeconoisingError("the widefield model needs the optics, not --sigma")
        return psf_module.widefield_psf(*optics)
    if args.sigma is not None:
        return psf_module.gaussian_psf(args.sigma)
    return psf_module.gaussian_psf_from_optics(*optics)
