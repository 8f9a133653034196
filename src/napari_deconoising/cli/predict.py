"""``deconoising predict``: denoise and deconvolve images with a trained model.

Both outputs keep the input's shape, axes and pixel sizes. A small TIFF with TIFF outputs is
predicted in memory and both outputs are written together at the end (every file or none). Any
other run is block-wise (:mod:`~napari_deconoising.prediction.blockwise`): large or lazily read
inputs (BigTIFF, compressed TIFF, zarr/OME-Zarr), ``.zarr`` outputs, several inputs (files,
globs, folders) with ``--output-dir``, or ``--scheduler`` (a dask cluster). Block-wise outputs are
written as they are computed, under a temporary name, and renamed when complete. Output paths
are checked before any work; an existing output is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from napari_deconoising.cli._files import (
    DTYPES,
    add_axes_option,
    add_overwrite_option,
    check_outputs,
    read_input,
    write_outputs,
)
from napari_deconoising.cli._interrupt import first_interrupt_stops
from napari_deconoising.cli._output import Progress, add_json_option, report, say
from napari_deconoising.cli._settings import add_settings, given
from napari_deconoising.config.prediction import BlockConfig, PredictionConfig, fits_in_memory
from napari_deconoising.errors import ImageError
from napari_deconoising.io import AxesImage
from napari_deconoising.io.lazy import find_inputs, open_image
from napari_deconoising.io.outputs import check_outputs as check_output_paths
from napari_deconoising.io.zarr_io import is_zarr_path
from napari_deconoising.model.bundle import load_model
from napari_deconoising.prediction.blockwise import BlockPredictor
from napari_deconoising.prediction.jobs import BlockProgress, PredictionJob
from napari_deconoising.prediction.predictor import PredictionProgress, Predictor

PREDICTION_SETTINGS = (
    "tile",
    "overlap",
    "tile_z",
    "overlap_z",
    "rl_iterations",
    "rl_tolerance",
    "device",
    "precision",
)
BLOCK_SETTINGS = ("block_size", "block_z")
OUTPUT_FORMATS = ("zarr", "tif")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``predict``."""
    predict = commands.add_parser("predict", help="denoise and deconvolve images")
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="TIFF file or .zarr store (a 2D image, a stack, or any axes of STCZYX, see --axes); "
        "several files, glob patterns or folders with --output-dir",
    )
    predict.add_argument("--model", required=True, help="model file")
    for output in ("denoised", "deconvolved"):
        predict.add_argument(
            f"--{output}",
            help=f"output of the {output} image (one input): a .zarr store (OME-Zarr, written "
            "block by block), an ImageJ hyperstack (.tif, .tiff) or OME-TIFF (.ome.tif; "
            "block-wise runs write BigTIFF OME-TIFF), with the input's axes and pixel sizes",
        )
    predict.add_argument(
        "--output-dir",
        metavar="DIR",
        help="folder for the outputs of every input: NAME_denoised and NAME_deconvolved "
        "(see --format); instead of --denoised/--deconvolved",
    )
    predict.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=OUTPUT_FORMATS[0],
        help="output format with --output-dir: zarr (OME-Zarr, default) or tif (BigTIFF)",
    )
    add_axes_option(predict, "the images")
    predict.add_argument(
        "--dtype",
        choices=DTYPES,
        default=DTYPES[0],
        help="data type of the outputs: float32 (default), or the input's type (integers are "
        "rounded and clipped to its range)",
    )
    add_settings(predict, PredictionConfig, PREDICTION_SETTINGS, {"device": "where to predict"})
    add_settings(predict, BlockConfig, BLOCK_SETTINGS)
    add_overwrite_option(predict)
    predict.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="predict on a running dask.distributed cluster (e.g. tcp://host:8786; the "
        "workers must see the input and output paths); outputs are written block-wise",
    )
    add_json_option(predict)
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Predict in memory or block-wise (see the module's description)."""
    _check_output_options(args)
    model = load_model(args.model)
    config = PredictionConfig().replace(**given(args, PREDICTION_SETTINGS))
    inputs = find_inputs(args.images)
    if _in_memory(args, inputs):
        return _run_in_memory(args, model, config, inputs[0])
    return _run_blockwise(args, model, config, inputs)


def _check_output_options(args: argparse.Namespace) -> None:
    named = args.denoised is not None or args.deconvolved is not None
    if args.output_dir is not None and named:
        raise ImageError("give either --output-dir or --denoised and --deconvolved, not both")
    if args.output_dir is None and (args.denoised is None or args.deconvolved is None):
        raise ImageError("give --denoised and --deconvolved (or --output-dir for several inputs)")


def _in_memory(args: argparse.Namespace, inputs: list[Path]) -> bool:
    """A single small TIFF with TIFF outputs and no cluster: the in-memory path."""
    if args.output_dir is not None or args.scheduler or len(inputs) != 1:
        return False
    if args.block_size is not None or args.block_z is not None or is_zarr_path(inputs[0]):
        return False
    if any(is_zarr_path(p) for p in (args.denoised, args.deconvolved)):
        return False
    image = open_image(inputs[0], args.axes)
    return fits_in_memory(image.shape)


def _run_in_memory(args: argparse.Namespace, model, config: PredictionConfig, path: Path) -> int:
    """Predict, then write both outputs (all or nothing) and print the figures and warnings."""
    outputs = (args.denoised, args.deconvolved)
    check_outputs(outputs, inputs=(path, args.model), overwrite=args.overwrite)
    image = read_input(path, args.axes, command=args.command)
    with Progress("predicting", enabled=not args.json) as progress:
        predictor = Predictor(model, config)
        result = predictor.predict(image, prediction_printer(progress))
        progress.close(1.0, "done")
    for warning in result.warnings:
        say(args.command, f"warning: {warning}")
    outputs = {
        args.denoised: AxesImage(result.denoised, result.axes, result.spacing, name="denoised"),
        args.deconvolved: AxesImage(
            result.deconvolved, result.axes, result.spacing, name="deconvolved"
        ),
    }
    write_outputs(outputs, args.dtype, input_dtype=image.dtype, overwrite=args.overwrite)
    figures = {
        "seconds": result.seconds,
        "shape": list(result.denoised.shape),
        "axes": result.axes,
        "precision": predictor.precision,
        "warnings": result.warnings,
    }
    details = f"{image.describe()}, {result.seconds:.1f} s in {predictor.precision}"
    report(figures, [outputs_line(args.denoised, args.deconvolved, details)], args.json)
    return 0


def _jobs(args: argparse.Namespace, inputs: list[Path]) -> list[PredictionJob]:
    jobs = []
    for path in inputs:
        image = read_input(path, args.axes, command=args.command, lazy=True)
        if args.output_dir is None:
            outputs = (Path(args.denoised), Path(args.deconvolved))
        else:
            folder, suffix = Path(args.output_dir), f".{args.format}"
            outputs = tuple(folder / f"{image.name}_{kind}{suffix}" for kind in _KINDS)
        jobs.append(PredictionJob(image, *outputs, path=path, axes=args.axes))
    if args.output_dir is None and len(jobs) > 1:
        raise ImageError(f"{len(jobs)} inputs need --output-dir instead of --denoised")
    return jobs


_KINDS = ("denoised", "deconvolved")


def _run_blockwise(
    args: argparse.Namespace, model, config: PredictionConfig, inputs: list[Path]
) -> int:
    jobs = _jobs(args, inputs)
    outputs = [path for job in jobs for path in job.outputs.values()]
    check_output_paths(outputs, [*inputs, args.model], overwrite=args.overwrite)
    blocks = BlockConfig().replace(**given(args, BLOCK_SETTINGS))
    predictor = BlockPredictor(
        model, config, blocks, dtype=args.dtype, overwrite=args.overwrite, scheduler=args.scheduler
    )
    with (
        first_interrupt_stops(predictor.cancel),
        Progress("predicting", enabled=not args.json) as progress,
    ):
        result = predictor.predict(jobs, block_printer(progress))
        progress.close(1.0, "done")
    for warning in result.warnings:
        say(args.command, f"warning: {warning}")
    figures = {
        "seconds": result.seconds,
        "pixels": result.pixels,
        "outputs": [{k: str(v) for k, v in o.items()} for o in result.outputs],
        "shapes": [list(job.image.shape) for job in jobs],
        "axes": [job.image.axes for job in jobs],
        "warnings": result.warnings,
    }
    lines = [
        f"{job.image.name}: " + outputs_line(job.denoised, job.deconvolved, job.image.describe())
        for job in jobs
    ]
    lines.append(f"{len(jobs)} image(s), {result.seconds:.1f} s")
    report(figures, lines, args.json)
    return 0


def outputs_line(denoised: str | Path, deconvolved: str | Path, details: str) -> str:
    """The line that names an image's two outputs, with ``details`` in parentheses."""
    return f"denoised -> {denoised}, deconvolved -> {deconvolved} ({details})"


def prediction_printer(progress: Progress) -> Callable[[PredictionProgress], None]:
    """A callback that shows prediction progress on ``progress``."""

    def show(event: PredictionProgress) -> None:
        progress.update(event.progress, f"frame {event.frame + 1}/{event.n_frames}")

    return show


def block_printer(progress: Progress) -> Callable[[BlockProgress], None]:
    """A callback that shows block-wise progress on ``progress``."""

    def show(event: BlockProgress) -> None:
        detail = f"block {event.blocks_done}/{event.blocks_total}"
        if event.n_jobs > 1:
            detail = f"image {event.job + 1}/{event.n_jobs}, {detail}"
        if event.stage != "predicting":
            detail += f", {event.stage}"
        progress.update(event.progress, detail)

    return show
