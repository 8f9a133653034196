"""``deconoising predict``: denoise and deconvolve an image with a trained model.

Both outputs keep the input's shape, axes and pixel sizes; they are written together at the end
(every file or none), after the output paths were checked before the prediction began.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..bundle import load_model
from ..config import PredictionConfig
from ..io import AxesImage
from ..prediction import PredictionProgress, Predictor
from ._files import DTYPES, add_axes_option, check_outputs, read_input, write_outputs
from ._output import Progress, add_json_option, report, say
from ._settings import add_setting, given

PREDICTION_SETTINGS = ("tile", "overlap", "device")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``predict``."""
    predict = commands.add_parser("predict", help="denoise and deconvolve an image")
    predict.add_argument(
        "image", help="TIFF file: a 2D image, a stack, or any axes of STCZYX (see --axes)"
    )
    predict.add_argument("--model", required=True, help="model file")
    for output in ("denoised", "deconvolved"):
        predict.add_argument(
            f"--{output}",
            required=True,
            help=f"output TIFF of the {output} image: an ImageJ hyperstack (.tif, .tiff) or "
            "OME-TIFF (.ome.tif, .ome.tiff) with the input's axes and pixel sizes",
        )
    add_axes_option(predict, "the image")
    predict.add_argument(
        "--dtype",
        choices=DTYPES,
        default=DTYPES[0],
        help="data type of the outputs: float32 (default), or the input's type (integers are "
        "rounded and clipped to its range)",
    )
    add_setting(predict, "--tile", PredictionConfig, "tile")
    add_setting(predict, "--overlap", PredictionConfig, "overlap")
    add_setting(predict, "--device", PredictionConfig, "device", help="where to predict")
    add_json_option(predict)
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Predict, then write both outputs (all or nothing) and print the figures and warnings."""
    model = load_model(args.model)
    image = read_input(args.image, args.axes, command=args.command)
    check_outputs((args.denoised, args.deconvolved), inputs=(args.image,))
    config = PredictionConfig().replace(**given(args, PREDICTION_SETTINGS))
    with Progress("predicting", enabled=not args.json) as progress:
        result = Predictor(model, config).predict(image, prediction_printer(progress))
        progress.close(1.0, "done")
    for warning in result.warnings:
        say(args.command, f"warning: {warning}")
    outputs = {
        args.denoised: AxesImage(result.denoised, result.axes, result.spacing, name="denoised"),
        args.deconvolved: AxesImage(
            result.deconvolved, result.axes, result.spacing, name="deconvolved"
        ),
    }
    write_outputs(outputs, args.dtype, input_dtype=image.dtype)
    figures = {
        "seconds": result.seconds,
        "shape": list(result.denoised.shape),
        "axes": result.axes,
        "warnings": result.warnings,
    }
    line = (
        f"denoised -> {args.denoised}, deconvolved -> {args.deconvolved} "
        f"({image.describe()}, {result.seconds:.1f} s)"
    )
    report(figures, [line], args.json)
    return 0


def prediction_printer(progress: Progress) -> Callable[[PredictionProgress], None]:
    """A callback that shows prediction progress on ``progress``."""

    def show(event: PredictionProgress) -> None:
        progress.update(event.progress, f"frame {event.frame + 1}/{event.n_frames}")

    return show
