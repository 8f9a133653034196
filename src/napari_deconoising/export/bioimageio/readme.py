"""The package's README (Markdown) and the summary the description shares with it."""

from __future__ import annotations

from napari_deconoising._version import __version__
from napari_deconoising.export.bioimageio.common import INPUT_ID, LICENSE, PAPER_DOI
from napari_deconoising.export.bioimageio.facts import PackageFacts
from napari_deconoising.export.onnx import TOLERANCE
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.model.package_reader import MODEL_MEMBER
from napari_deconoising.training.blind_spot import describe_blind_spot, recorded_blind_spot


def summary(facts: PackageFacts) -> str:
    """The package's description: what the model does, on what, and its outputs."""
    model = facts.model
    images = "3D fluorescence microscopy z-stacks (volumes)"
    if model.spatial_dims == 2:
        images = "2D fluorescence microscopy images"
    if model.is_n2v:
        what = "Self-supervised denoising (Noise2Void)"
    elif model.two_stage:
        what = "Self-supervised denoising and Richardson-Lucy deconvolution (two-stage DecoNoising)"
    else:
        what = "Self-supervised joint denoising and deconvolution (DecoNoising)"
    text = (
        f"{what} of {images}, trained with napari-deconoising {__version__}. Input: raw camera "
        "counts. Outputs: the deconvolved image and the denoised image"
    )
    if model.two_stage:
        return text + (
            " (the network's output), in camera units. The deconvolved image is the "
            f"Richardson-Lucy deconvolution of the denoised one with the enclosed PSF "
            f"({facts.rl_iterations} iterations). Normalisation and deconvolution are inside "
            "the network."
        )
    return text + (
        " (the deconvolved image convolved with the PSF), in camera units. "
        "Normalisation and PSF convolution are inside the network."
    )


def readme(facts: PackageFacts) -> str:
    """The package's README (Markdown): the model, how to run it, and what was checked."""
    model = facts.model
    channels = model.n_channels
    pixel = model.pixel_size_um
    compressed = model.channels[0].metadata.get("compressed_from")
    lines = [f"# {facts.name}", "", summary(facts), ""]
    if channels > 1:
        lines += [
            f"The model has {channels} channels, each with its own network, normalisation and "
            "PSF: channel c of the input goes through channel c's network.",
            "",
        ]
    if compressed:
        lines += [f"It is a compressed (pruned and fine-tuned) version of {compressed}.", ""]
    lines += [
        f"Exported by napari-deconoising {__version__} (BioImage Model Zoo format 0.5).",
        "",
        "## Method",
        "",
        'DecoNoising (Goncharova, Honigmann, Jug, Krull, "Improving Blind Spot Denoising for '
        f'Microscopy", ECCV 2020 Workshops, doi:{PAPER_DOI}, arXiv:2008.08414) trains a U-Net '
        "without clean data: a Noise2Void blind-spot loss is applied to the network output "
        "convolved with the microscope's point spread function (PSF), so that the output itself "
        "becomes a deconvolved image."
        + (
            " This model was trained without a PSF (plain Noise2Void): both outputs are the "
            "same denoised image."
            if model.is_n2v
            else ""
        )
        + (_two_stage_method(facts) if model.two_stage else ""),
        "",
        "## Inputs and outputs",
        "",
        f"- Input `{INPUT_ID}`: axes ({facts.axes}), {channels} channel(s), float32 "
        "(other types are converted), in raw camera units: give the recorded counts, camera "
        "offset included. Do not normalise: the normalisation learnt from the training data is "
        "inside the network.",
        *_size_lines(facts),
        "- Outputs `deconvolved` and `denoised`: the input's shape, in camera units.",
        "- The network pads with zeros at the image border. For large images, process tiles "
        "that overlap by about 32 pixels and keep their centres.",
        "",
        "## Validation",
        "",
        "Checked when the package was written (nothing is written when a check fails):",
        "",
        f"- The {_weights_in_words(facts)} weights reproduce PyTorch within "
        f"{facts.max_relative_error:.1e} of the output range (tolerance {TOLERANCE:.0e} of the "
        "range, or float32 rounding of the values where that is more) on the "
        f"test input {tuple(facts.test_shape)} ({facts.test_source}) and on a batch of two "
        "images of the smallest size.",
        "- bioimageio.spec validated the description and the files it names.",
        (
            f"- bioimageio.core {facts.core_version}: its model test passed on this package "
            f"(for {_weights_in_words(facts)}, the test outputs are reproduced and inference "
            "runs at the smallest size and the next two steps, with batch sizes 1 and 2)."
            if facts.core_version
            else "- bioimageio.core's model test was not run at export."
        ),
        "",
        "The test outputs are this model's outputs for the test input. To validate the model "
        "on your own data without ground truth, record a static sample many times: the mean "
        "of the frames is a reference for the denoised output of one frame (compare by PSNR), "
        "and beads or sharp edges show the resolution the deconvolution gains. "
        "napari-deconoising's Denoise & Deconvolve widget reports this PSNR when a reference "
        "layer is chosen.",
        "",
        "## Limitations",
        "",
        "A self-supervised model is valid only for images like its training data: the same "
        "microscope, PSF, camera and pixel size"
        + (f" ({pixel:.4g} µm)" if pixel else "")
        + f". {noise_assumption(model)} "
        "Deconvolved images can show ringing or invented detail: compare them with the raw "
        "data before drawing conclusions.",
        "",
        "## Using it in napari-deconoising",
        "",
        f"The attachment `{MODEL_MEMBER}` is the napari-deconoising model file: "
        '`napari_deconoising.load_model("package.zip")` reads it back exactly.',
        "",
        "## Licence and citation",
        "",
        f"{LICENSE}. Please cite the DecoNoising paper (`cite` in rdf.yaml).",
        "",
    ]
    return "\n".join(lines)


def noise_assumption(model: AnyModel) -> str:
    """The README's words on the noise the model's blind spot assumes."""
    recorded = recorded_blind_spot(model)
    if recorded is None or recorded[0] == "pixel":
        return "It assumes pixel-wise independent noise; structured (correlated) noise stays."
    return (
        f"Its blind spot ({describe_blind_spot(*recorded)}) was chosen for noise correlated "
        "between neighbouring pixels; noise correlated over longer distances stays."
    )


def _two_stage_method(facts: PackageFacts) -> str:
    """The README's words on a two-stage model's second stage."""
    return (
        " This model is two-stage: its network was trained with the blind-spot loss alone, so "
        "its output is the denoised image, and the deconvolved image is the Richardson-Lucy "
        "deconvolution of the denoised one with the enclosed PSF (a flat background at the "
        f"denoised image's 1st percentile, Biggs-Andrews acceleration), run inside the network "
        f"for a fixed {facts.rl_iterations} iterations: where napari-deconoising's stopping "
        "rule stopped on the test input. napari-deconoising itself stops by that rule on each "
        "image, so its deconvolved images can differ slightly. Richardson-Lucy is FFT-based, "
        "which ONNX cannot hold: this package has TorchScript weights only."
    )


def _size_lines(facts: PackageFacts) -> list[str]:
    """The README's lines on the allowed sizes."""
    lines = []
    if "z" in facts.sizes:
        low, step = facts.sizes["z"]
        lines.append(f"- Depth (z): {low} + n x {step} planes (n = 0, 1, 2, ...).")
    lines.append(
        f"- Height and width: {facts.minimum} + n x {facts.step} pixels (n = 0, 1, 2, ...)."
    )
    return lines


def _weights_in_words(facts: PackageFacts) -> str:
    """ "TorchScript and ONNX" or "TorchScript"."""
    return " and ".join({"torchscript": "TorchScript", "onnx": "ONNX"}[w] for w in facts.weights)
