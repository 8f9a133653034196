"""``deconoising psf``: make a PSF (Gaussian or widefield) and save it as a TIFF."""

from __future__ import annotations

import argparse

import numpy as np

from .. import psf as psf_module
from ..config import OpticsConfig
from ..errors import DeconoisingError
from ._files import write_output
from ._output import add_json_option, report
from ._settings import add_setting

MODELS = ("gaussian", "widefield")
OPTICS = (("--na", "na"), ("--wavelength", "wavelength_nm"), ("--pixel-size", "pixel_size_nm"))


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``psf``."""
    psf = commands.add_parser("psf", help="make a PSF and save it as a TIFF")
    for flag, name in (("--sigma", "sigma"), *OPTICS):
        add_setting(psf, flag, OpticsConfig, name, show_default=False)
    psf.add_argument("--model", choices=MODELS, default=MODELS[0], help="PSF model")
    psf.add_argument("--out", required=True, help="output TIFF")
    add_json_option(psf)
    psf.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the PSF, write it and print its size and FWHM."""
    kernel = make_psf(args)
    write_output(args.out, kernel)
    figures = {
        "shape": list(kernel.shape),
        "fwhm_px": psf_module.psf_fwhm(kernel),
        "out": str(args.out),
    }
    size = "x".join(str(side) for side in kernel.shape)
    line = f"PSF {size}, FWHM {figures['fwhm_px']:.2f} px -> {args.out}"
    report(figures, [line], args.json)
    return 0


def make_psf(args: argparse.Namespace) -> np.ndarray:
    """The PSF the options describe: a Gaussian of ``--sigma``, or one from the optics."""
    optics = tuple(getattr(args, name) for _, name in OPTICS)
    if args.sigma is not None and any(value is not None for value in optics):
        raise DeconoisingError(
            "give either --sigma or the optics (--na, --wavelength, --pixel-size)"
        )
    if args.sigma is None and any(value is None for value in optics):
        raise DeconoisingError("give --sigma, or all of --na, --wavelength and --pixel-size")
    if args.model == "widefield":
        if args.sigma is not None:
            raise DeconoisingError("the widefield model needs the optics, not --sigma")
        return psf_module.widefield_psf(*optics)
    if args.sigma is not None:
        return psf_module.gaussian_psf(args.sigma)
    return psf_module.gaussian_psf_from_optics(*optics)
