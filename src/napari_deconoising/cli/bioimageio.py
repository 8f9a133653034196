"""``deconoising export-bioimageio``: a model as a bioimage.io package (BioImage Model Zoo).

The package runs in Fiji (deepImageJ), QuPath, ilastik and bioimageio.core without
napari-deconoising, and ``deconoising`` reads it back as a model file. With ``--json`` the
figures are the JSON object on stdout and the report lines go to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_deconoising.cli._files import add_overwrite_option
from napari_deconoising.cli._output import Progress, add_json_option, report
from napari_deconoising.export.bioimageio import export_bioimageio_package
from napari_deconoising.io.outputs import check_outputs, refuse_input_model
from napari_deconoising.model.bundle import load_model

__all__ = ["add_commands", "run_export_bioimageio"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export-bioimageio``."""
    export = subparsers.add_parser(
        "export-bioimageio",
        help="export a model as a bioimage.io package (for deepImageJ, QuPath, ilastik...)",
        description="Write a BioImage Model Zoo package (format 0.5, a .zip) of a 2D or 3D "
        "model: TorchScript and ONNX weights with normalisation and PSF convolution inside, "
        "test images, a cover and a README. A two-stage model's package has TorchScript "
        "weights only, with its Richardson-Lucy deconvolution inside (a fixed number of "
        "iterations). Before writing, the weights are compared with PyTorch and the package is "
        "validated and tested with bioimageio.core (pip install "
        "'napari-deconoising[bioimageio]').",
    )
    export.add_argument("--model", required=True, help="model file (or package) to export")
    export.add_argument("--out", required=True, metavar="NAME.zip", help="package to write")
    export.add_argument(
        "--name",
        help="the model's name in the package: 5-128 letters, digits, spaces and _+-() "
        "(default: made from the model)",
    )
    export.add_argument(
        "--author",
        action="append",
        metavar="NAME",
        help="an author of the model (repeat for several; default: napari-deconoising)",
    )
    export.add_argument(
        "--rl-iterations",
        type=int,
        metavar="N",
        help="two-stage models only: the Richardson-Lucy iterations inside the package "
        "(default: where napari-deconoising's stopping rule stops on the test input)",
    )
    add_overwrite_option(export, "an --out package")
    add_json_option(export)
    export.set_defaults(handler=run_export_bioimageio)


def run_export_bioimageio(args: argparse.Namespace) -> int:
    """Export ``--model`` to ``--out`` after every check has passed; print what was written."""
    model_path, out = Path(args.model), Path(args.out)
    refuse_input_model(out, model_path, "choose a new .zip file name")
    check_outputs([out], [model_path], overwrite=args.overwrite)
    model = load_model(model_path)
    with Progress(args.command, enabled=not args.json) as progress:
        export = export_bioimageio_package(
            model,
            args.out,
            name=args.name,
            authors=args.author,
            rl_iterations=args.rl_iterations,
            overwrite=args.overwrite,
            progress=progress.update,
        )
        progress.close(1.0, "done")
    checked = (
        f"bioimageio.core {export.core_version} model test passed"
        if export.core_version
        else "bioimageio.spec validated it"
    )
    formats = " and ".join(
        {"torchscript": "TorchScript", "onnx": "ONNX"}[w] for w in export.weights
    )
    lines = [
        f"Wrote {export.path} ({export.bytes / 1e6:.2f} MB): '{export.name}', "
        f"{export.channels} channel(s), {formats} weights",
        f"Input (batch, channel, {', '.join(export.sizes)}) in camera units; "
        + "; ".join(f"{axis}: {low} + n x {step}" for axis, (low, step) in export.sizes.items()),
        f"Checked: weights match PyTorch within {export.max_relative_error:.1e} of the output "
        f"range; {checked}",
    ]
    if export.rl_iterations is not None:
        lines.insert(
            1,
            f"Two-stage: deconvolved = Richardson-Lucy of denoised with the PSF, "
            f"{export.rl_iterations} iterations inside the weights (no ONNX)",
        )
    report(export.to_dict(), lines, args.json)
    return 0
