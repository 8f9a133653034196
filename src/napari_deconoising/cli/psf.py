"""``deconoising psf``: make a PSF (Gaussian, widefield or from a bead stack) and save it as a TIFF.

A 3D PSF (axes ZYX) is made with ``--dims 3``, or when a 3D option (``--z-step``, ``--planes``,
``--sigma-z``, ``--immersion-index``, ``--bead``) is given. With ``--image`` the pixel size (and
for 3D the z-step) comes from that image's metadata (``--pixel-size``/``--z-step`` still win);
the PSF file records the voxel size it was made for whenever it is known. ``--from-image`` makes
the automatic PSF of an image instead (as ``train --psf auto`` does: its OME-TIFF optics, else
typical optics at its pixel size, else a width estimated from its spectrum).
"""

from __future__ import annotations

import argparse

from napari_deconoising.cli._files import (
    add_axes_option,
    add_out_option,
    check_outputs,
    read_input,
    write_output,
)
from napari_deconoising.cli._output import add_json_option, report, say
from napari_deconoising.cli._settings import add_setting
from napari_deconoising.config.psf import OpticsConfig, StackOpticsConfig
from napari_deconoising.data.automatic_psf import automatic_psf
from napari_deconoising.data.channels import PIXEL_SIZE_TOLERANCE
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.io import AxesImage, read_tiff
from napari_deconoising.psf.measure import psf_widths
from napari_deconoising.psf.recipe import GAUSSIAN, MODELS, PSFRecipe, make_psf

OPTICS = (("--na", "na"), ("--wavelength", "wavelength_nm"), ("--pixel-size", "pixel_size_nm"))
#: The options of a 3D PSF's axial side, and their argument names.
STACK_OPTIONS = (
    ("--z-step", "z_step_nm"),
    ("--planes", "planes"),
    ("--sigma-z", "sigma_z"),
    ("--immersion-index", "immersion_index"),
)
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
    psf.add_argument(
        "--from-image",
        metavar="IMAGE.tif",
        help="make the automatic PSF of this image (its first channel), as train --psf auto: a "
        "Gaussian for its OME-TIFF optics, else typical optics at its pixel size, else "
        "estimated from its spectrum (3D for a z-stack); no other PSF option",
    )
    add_axes_option(psf, "the --image or --from-image file")
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
    add_out_option(psf, "output TIFF")
    add_json_option(psf)
    psf.set_defaults(handler=run)


#: What ``--dims`` 2 or 3 lacks, when the options do not make a PSF.
EITHER_SIGMA_OR_OPTICS = {
    2: "give either --sigma or the optics (--na, --wavelength, --pixel-size or --image)",
    3: "give either --sigma (with --sigma-z) or the optics (--na, --wavelength, --pixel-size "
    "or --image)",
}
SIGMA_OR_OPTICS_NEEDED = {
    2: "give --sigma, or all of --na, --wavelength and --pixel-size (or --image)",
    3: "a 3D PSF needs --sigma, or all of --na, --wavelength, --pixel-size and --z-step "
    "(the last two may come from --image)",
}
#: The line printed for a PSF of 2 or 3 spatial dimensions, and its voxel size when known.
SUMMARY = {
    2: "PSF {size}, FWHM {fwhm_px:.2f} px{voxel} -> {out}",
    3: "3D PSF {size} (ZYX), FWHM {fwhm_px:.2f} px x {fwhm_z_planes:.2f} planes{voxel} -> {out}",
}
VOXEL = {
    2: " at {pixel_size_nm:.4g} nm pixels",
    3: " at {z_step_nm:.4g} x {pixel_size_nm:.4g} nm voxels",
}
#: The names of the axial voxel sizes in the figures, one per leading axis (Z).
AXIAL_SIZE_NAMES = ("z_step_nm",)


def run(args: argparse.Namespace) -> int:
    """Make the PSF, write it with its voxel size and print its size and FWHMs."""
    check_outputs([args.out], [args.image, args.bead, args.from_image], overwrite=args.overwrite)
    recipe, voxel_nm = psf_recipe(args)
    dims = recipe.spatial_dims
    kernel = make_psf(recipe)
    axes = "ZYX"[-dims:]
    spacing = {axis: size / NM_PER_UM for axis, size in zip(axes, voxel_nm, strict=True) if size}
    write_output(args.out, AxesImage(kernel, axes, spacing, name="psf"), args.overwrite)
    figures = {
        "shape": list(kernel.shape),
        **psf_widths(kernel),
        "pixel_size_nm": voxel_nm[-1],
        **dict(zip(AXIAL_SIZE_NAMES, voxel_nm[:-2], strict=False)),
        "out": str(args.out),
    }
    voxel = "" if None in voxel_nm else VOXEL[dims].format(**figures)
    size = "x".join(str(side) for side in kernel.shape)
    report(figures, [SUMMARY[dims].format(size=size, voxel=voxel, **figures)], args.json)
    return 0


def psf_recipe(args: argparse.Namespace) -> tuple[PSFRecipe, tuple]:
    """The recipe the options describe, with the voxel size (nm, Z first, None where unknown)
    the PSF is written for."""
    if args.from_image is not None:
        return image_recipe(args)
    dims = spatial_dims(args)
    make_recipe = model_recipe if args.bead is None else bead_recipe
    return make_recipe(args, dims)


def image_recipe(args: argparse.Namespace) -> tuple[PSFRecipe, tuple]:
    """The recipe of the automatic PSF of the ``--from-image`` file's first channel (a note on
    stderr says what it was made from), with the voxel size (nm) it is written for."""
    others = {
        "--image": args.image,
        "--bead": args.bead,
        "--dims": args.dims,
        **{flag: getattr(args, name) for flag, name in (("--sigma", "sigma"), *OPTICS)},
        **{flag: getattr(args, name) for flag, name in STACK_OPTIONS},
        "--model": None if args.model == GAUSSIAN else args.model,
    }
    extra = [flag for flag, value in others.items() if value is not None]
    if extra:
        raise DeconoisingError(
            f"--from-image makes the PSF from the image alone; leave out {', '.join(extra)}"
        )
    image = read_input(args.from_image, args.axes, command=args.command, lazy=True)
    choice = automatic_psf(image)
    say(args.command, f"note: automatic PSF: {choice.describe()}")
    recipe = choice.recipe
    return recipe, recipe.voxel_nm or (None,) * recipe.spatial_dims


def spatial_dims(args: argparse.Namespace) -> int:
    """``--dims``, else 3 when a 3D option is given, else 2; 3D options with ``--dims 2`` are
    refused."""
    options_3d = {flag: getattr(args, name) for flag, name in STACK_OPTIONS}
    options_3d["--bead"] = args.bead
    given = [flag for flag, value in options_3d.items() if value is not None]
    needed = 3 if given else 2
    dims = args.dims or needed
    if dims < needed:
        raise DeconoisingError(f"{', '.join(given)} make(s) a 3D PSF; leave out --dims 2")
    return dims


def model_recipe(args: argparse.Namespace, dims: int) -> tuple[PSFRecipe, tuple]:
    """The recipe of a Gaussian of ``--sigma`` (``--sigma-z``), or of the model for the optics
    and voxel size; with the voxel size (nm, Z first, None where unknown) it is written for."""
    voxel_nm = voxel_size(args, dims)
    check_sigma_or_optics(args, voxel_nm)
    recipe = PSFRecipe(
        spatial_dims=dims,
        model=args.model,
        sigma=args.sigma,
        sigma_z=args.sigma_z,
        na=args.na,
        wavelength_nm=args.wavelength_nm,
        voxel_nm=voxel_nm,
        immersion_index=args.immersion_index,
        planes=args.planes,
    )
    return recipe, voxel_nm


def check_sigma_or_optics(args: argparse.Namespace, voxel_nm: tuple) -> None:
    """Refuse options that give both a Gaussian's ``--sigma`` and the optics, or neither."""
    dims = len(voxel_nm)
    if args.sigma is not None:
        if args.model == "widefield":
            raise DeconoisingError("the widefield model needs the optics, not --sigma")
        if any(value is not None for value in (args.na, args.wavelength_nm, voxel_nm[-1])):
            raise DeconoisingError(EITHER_SIGMA_OR_OPTICS[dims])
        return
    if args.sigma_z is not None:
        raise DeconoisingError("--sigma-z goes with --sigma; from the optics it is computed")
    if any(value is None for value in (args.na, args.wavelength_nm, *voxel_nm)):
        raise DeconoisingError(SIGMA_OR_OPTICS_NEEDED[dims])


def voxel_size(args: argparse.Namespace, dims: int) -> tuple[float | None, ...]:
    """One size (nm) per spatial axis, Z first: the z-step for the axial axis, then the pixel
    size for Y and X (see :func:`pixel_size` and :func:`z_step`)."""
    pixel = pixel_size(args)
    axial = tuple(z_step(args) for _ in range(dims - 2))
    return (*axial, pixel, pixel)


def z_step(args: argparse.Namespace) -> float | None:
    """The z-step in nm: ``--z-step``, else the ``--image`` file's; None without both."""
    if args.z_step_nm is not None or args.image is None:
        return args.z_step_nm
    image = read_input(args.image, args.axes, command=args.command)
    z_um = image.spacing.get("Z") if image.has("Z") else None
    return None if z_um is None else z_um * NM_PER_UM


def bead_recipe(args: argparse.Namespace, dims: int) -> tuple[PSFRecipe, tuple]:
    """The recipe of the PSF from the ``--bead`` stack, resampled to the ``--image`` voxel size
    when both are known; with the voxel size (nm) it is written for."""
    optics = {"--sigma": args.sigma, "--na": args.na, "--wavelength": args.wavelength_nm}
    extra = [flag for flag, value in optics.items() if value is not None]
    extra += [flag for flag, value in (("--planes", args.planes),) if value is not None]
    if extra:
        raise DeconoisingError(f"--bead makes the PSF from the stack; leave out {', '.join(extra)}")
    bead = read_tiff(args.bead)
    own = tuple(
        None if bead.spacing.get(axis) is None else bead.spacing[axis] * NM_PER_UM
        for axis in "ZYX"[-dims:]
    )
    measured = PSFRecipe(spatial_dims=dims, bead=bead.data, bead_voxel_nm=own)
    if args.image is None and args.pixel_size_nm is None and args.z_step_nm is None:
        return measured, own
    target = voxel_size(args, dims)
    if None in own:
        raise DeconoisingError(
            f"{args.bead} has no voxel size in its metadata, so it cannot be matched to the "
            "image's; leave out --image/--pixel-size/--z-step or save the beads with their "
            "voxel size"
        )
    if None in target:
        return measured, own
    return PSFRecipe(spatial_dims=dims, bead=bead.data, bead_voxel_nm=own, voxel_nm=target), target


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
