"""``deconoising predict``: denoise and deconvolve an image with a trained model."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..bundle import load_model
from ..config import PredictionConfig
from ..prediction import PredictionProgress, Predictor
from ._files import read_input, write_output
from ._output import Progress, add_json_option, report
from ._settings import add_setting, given

PREDICTION_SETTINGS = ("tile", "overlap", "device")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``predict``."""
    predict = commands.add_parser("predict", help="denoise and deconvolve an image")
    predict.add_argument("image", help="TIFF file: a 2D image or a stack of 2D frames")
    predict.add_argument("--model", required=True, help="model file")
    predict.add_argument("--denoised", required=True, help="output TIFF of the denoised image")
    predict.add_argument(
        "--deconvolved", required=True, help="output TIFF of the deconvolved image"
    )
    add_setting(predict, "--tile", PredictionConfig, "tile")
    add_setting(predict, "--overlap", PredictionConfig, "overlap")
    add_setting(predict, "--device", PredictionConfig, "device", help="where to predict")
    add_json_option(predict)
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Predict, then write both outputs (each whole or not at all) and print the figures."""
    model = load_model(args.model)
    image = read_input(args.image)
    config = PredictionConfig().replace(**given(args, PREDICTION_SETTINGS))
    with Progress("predicting", enabled=not args.json) as progress:
        result = Predictor(model, config).predict(image, prediction_printer(progress))
        progress.close(1.0, "done")
    write_output(args.denoised, result.denoised)
    write_output(args.deconvolved, result.deconvolved)
    figures = {"seconds": result.seconds, "shape": list(result.denoised.shape)}
    line = (
        f"denoised -> {args.denoised}, deconvolved -> {args.deconvolved} ({result.seconds:.1f} s)"
    )
    report(figures, [line], args.json)
    return 0


def prediction_printer(progress: Progress) -> Callable[[PredictionProgress], None]:
    """A callback that shows prediction progress on ``progress``."""

    def show(event: PredictionProgress) -> None:
        progress.update(event.progress, f"frame {event.frame + 1}/{event.n_frames}")

    return show
