"""``deconoising psf``: make a PSF (Gaussian or widefield) and save it as a TIFF.

With ``--image`` the pixel size comes from that image's metadata (``--pixel-size`` still wins);
the PSF file records the pixel size it was made for whenever it is known.
"""

from __future__ import annotations

import argparse

import numpy as np

from .. import psf as psf_module
from ..channels import PIXEL_SIZE_TOLERANCE
from ..config import OpticsConfig
from ..errors import DeconoisingError
from ..io import AxesImage
from ._files import add_axes_option, read_input, write_output
from ._output import add_json_option, report, say
from ._settings import add_setting

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
        help="take the pixel size from this image's ImageJ/OME metadata (instead of "
        "--pixel-size; --pixel-size given too wins)",
    )
    add_axes_option(psf, "the --image file")
    psf.add_argument("--model", choices=MODELS, default=MODELS[0], help="PSF model")
    psf.add_argument("--out", required=True, help="output TIFF")
    add_json_option(psf)
    psf.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the PSF, write it and print its size and FWHM."""
    pixel_size_nm = pixel_size(args)
    kernel = make_psf(args, pixel_size_nm)
    size_um = None if pixel_size_nm is None else pixel_size_nm / NM_PER_UM
    spacing = {} if size_um is None else {"X": size_um, "Y": size_um}
    write_output(args.out, AxesImage(kernel, "YX", spacing, name="psf"))
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
