"""The package's description (``rdf.yaml``, built with ``bioimageio.spec``) and its cover image
(the README: :mod:`~napari_deconoising.export.bioimageio.readme`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_deconoising._version import __version__
from napari_deconoising.evaluation.figures import side_by_side, to_uint8
from napari_deconoising.export.bioimageio.common import (
    COVER_HEIGHT,
    DEFAULT_AUTHOR,
    INPUT_ID,
    LICENSE,
    ONNX_FILE,
    OUTPUT_IDS,
    PACKAGE_FORMAT,
    PAPER,
    PAPER_DOI,
    TAGS,
    TORCHSCRIPT_FILE,
)
from napari_deconoising.export.bioimageio.facts import PackageFacts, design_name
from napari_deconoising.export.bioimageio.readme import summary
from napari_deconoising.export.onnx import OPSET, ExportError
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.model.package_reader import CONFIG_KEY, MODEL_MEMBER


def _units(model: AnyModel, axes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per spatial axis: its unit and scale (µm) when the model knows its pixel or voxel size."""
    if len(axes) == 3:
        voxel = model.voxel_size_um
        if voxel is None:
            return {axis: {} for axis in axes}
        return {a: {"unit": "micrometer", "scale": v} for a, v in zip(axes, voxel, strict=True)}
    pixel = model.pixel_size_um
    return {axis: {} if pixel is None else {"unit": "micrometer", "scale": pixel} for axis in axes}


def _output_texts(facts: PackageFacts) -> dict[str, str]:
    """What each output is, by design."""
    if facts.model.two_stage:
        return {
            "deconvolved": "deconvolved image in camera units (Richardson-Lucy of the denoised "
            f"image with the PSF, {facts.rl_iterations} iterations)",
            "denoised": "denoised image in camera units (the network's output)",
        }
    return {
        "deconvolved": "deconvolved image in camera units (the network's estimate of the "
        "sharp image)",
        "denoised": "denoised image in camera units (the deconvolved image convolved with the PSF)",
    }


def build_description(
    spec: Any,
    facts: PackageFacts,
    work: Path,
    files: dict[str, tuple[Path, Path]],
    description: str | None,
    authors: Sequence[str] | None,
    tags: Sequence[str],
) -> Any:
    """The package's ``bioimageio.spec`` model description (format 0.5), validated: the files in
    ``work`` (test and sample tensors in ``files``, per tensor id), ``description`` (default: a
    summary of the model), ``authors`` (default: napari-deconoising) and ``tags`` added to ours.
    Raises :class:`ExportError` when ``bioimageio.spec`` refuses it."""
    from bioimageio.spec import ValidationContext
    from bioimageio.spec.model import v0_5

    model = facts.model
    channel_names = [f"channel{index}" for index in range(model.n_channels)]
    units = _units(model, list(facts.sizes))
    float32 = v0_5.IntervalOrRatioDataDescr(type="float32")
    inputs = [
        v0_5.InputTensorDescr(
            id=v0_5.TensorId(INPUT_ID),
            description="raw image in camera units (counts, camera offset included)",
            axes=[
                v0_5.BatchAxis(),
                v0_5.ChannelAxis(channel_names=channel_names),
                *(
                    v0_5.SpaceInputAxis(
                        id=v0_5.AxisId(axis),
                        size=v0_5.ParameterizedSize(min=low, step=step),
                        **units[axis],
                    )
                    for axis, (low, step) in facts.sizes.items()
                ),
            ],
            test_tensor=v0_5.FileDescr(source=files[INPUT_ID][0]),
            sample_tensor=v0_5.FileDescr(source=files[INPUT_ID][1]),
            data=float32,
            preprocessing=[v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))],
        )
    ]
    texts = _output_texts(facts)
    outputs = [
        v0_5.OutputTensorDescr(
            id=v0_5.TensorId(output_id),
            description=texts[output_id],
            axes=[
                v0_5.BatchAxis(),
                v0_5.ChannelAxis(channel_names=channel_names),
                *(
                    v0_5.SpaceOutputAxis(
                        id=v0_5.AxisId(axis),
                        size=v0_5.SizeReference(
                            tensor_id=v0_5.TensorId(INPUT_ID), axis_id=v0_5.AxisId(axis)
                        ),
                        **units[axis],
                    )
                    for axis in facts.sizes
                ),
            ],
            test_tensor=v0_5.FileDescr(source=files[output_id][0]),
            sample_tensor=v0_5.FileDescr(source=files[output_id][1]),
            data=float32,
        )
        for output_id in OUTPUT_IDS
    ]
    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    formats: dict[str, Any] = {
        "torchscript": v0_5.TorchscriptWeightsDescr(
            source=work / TORCHSCRIPT_FILE, pytorch_version=torch_version
        )
    }
    if "onnx" in facts.weights:  # left out, not None: rdf.yaml then has no "onnx" entry
        formats["onnx"] = v0_5.OnnxWeightsDescr(
            source=work / ONNX_FILE, opset_version=OPSET, parent="torchscript"
        )
    weights = v0_5.WeightsDescr(**formats)
    first = model.channels[0]
    training = first.training_config
    bioimageio_config = v0_5.BioimageioConfig(
        architecture_type="U-Net (DecoNoising)",
        architecture_description=_architecture(facts),
        modality="fluorescence light microscopy",
        task="denoising and deconvolution",
        model_parameter_count=int(
            sum(p.numel() for m in model.channels for p in m.network.parameters())
        ),
        training=v0_5.TrainingDetails(
            training_preprocessing="(x - mean) / std with the training data's statistics",
            training_batch_size=training.get("batch_size"),
            initial_learning_rate=training.get("learning_rate"),
            loss_function=_loss(model),
            optimizer="Adam",
        ),
    )
    ours = {
        "format": PACKAGE_FORMAT,
        "version": __version__,
        "model_file": MODEL_MEMBER,
        "channels": model.n_channels,
        "kind": "n2v" if model.is_n2v else "deconoising",
        "design": design_name(model),
        "spatial_dims": model.spatial_dims,
        "size_min": facts.minimum,
        "size_step": facts.step,
        "sizes": {axis: {"min": low, "step": step} for axis, (low, step) in facts.sizes.items()},
        "normalisation": [
            {"mean": m.normalisation.mean, "std": m.normalisation.std} for m in model.channels
        ],
    }
    if facts.rl_iterations is not None:
        ours["rl_iterations"] = facts.rl_iterations
    if first.metadata.get("compressed_from"):
        ours["compressed_from"] = str(first.metadata["compressed_from"])
    config = v0_5.Config.model_validate({"bioimageio": bioimageio_config, CONFIG_KEY: ours})
    text = description or summary(facts)
    try:
        with ValidationContext(perform_io_checks=True, log_warnings=False):
            return v0_5.ModelDescr(
                name=facts.name,
                description=text,
                authors=[v0_5.Author(name=a) for a in (authors or [DEFAULT_AUTHOR])],
                cite=[v0_5.CiteEntry(text=PAPER, doi=v0_5.Doi(PAPER_DOI))],
                license=v0_5.LicenseId(LICENSE),
                tags=list(dict.fromkeys([TAGS[0], f"{model.spatial_dims}d", *TAGS[1:], *tags])),
                covers=[v0_5.FileDescr(source=work / "cover.png")],
                documentation=v0_5.FileDescr(source=work / "README.md"),
                attachments=[v0_5.FileDescr(source=work / MODEL_MEMBER)],
                inputs=inputs,
                outputs=outputs,
                weights=weights,
                config=config,
            )
    except Exception as err:
        raise ExportError(f"the bioimage.io description is invalid: {err}") from err


def _architecture(facts: PackageFacts) -> str:
    """The exported network in words."""
    first = facts.model.channels[0]
    unet = f"{facts.model.spatial_dims}D U-Net ({unet_layout(first.network.config)})"
    if facts.model.two_stage:
        return (
            f"{unet} inside a graph that normalises the input and scales the network output (the "
            "denoised image), then deconvolves it by Richardson-Lucy with the PSF "
            f"({facts.rl_iterations} iterations, FFT-based, flat background)"
        )
    return (
        f"{unet} inside a graph that normalises the input, scales the network output and "
        "convolves it with the PSF (reflected borders)"
    )


def _loss(model: AnyModel) -> str:
    """The training loss in words."""
    if model.two_stage:
        return "Noise2Void blind-spot loss on the network output (the denoised image)"
    return (
        "DecoNoising: Noise2Void blind-spot loss on the PSF-convolved output, plus a positivity "
        "penalty on the deconvolved output"
    )


def cover(raw: np.ndarray, outputs: Sequence[np.ndarray], n2v: bool) -> np.ndarray:
    """Raw next to the deconvolved (Noise2Void: denoised) first channel, each with its own
    contrast: a 2:1 image, enlarged to at least ``COVER_HEIGHT`` pixels high; of a volume,
    its middle plane."""
    if raw.ndim == 5:
        middle = raw.shape[2] // 2
        raw, outputs = raw[:, :, middle], [output[:, :, middle] for output in outputs]
    shown = outputs[1] if n2v else outputs[0]
    height, gap = raw.shape[2], 4
    width = height - gap // 2  # two panels and the gap make twice the height
    panels = []
    for image in (raw[0, 0, :, :width], shown[0, 0, :, :width]):
        low, high = np.percentile(image, (0.5, 99.8))
        panels.append(to_uint8(image, low, high))
    grey = side_by_side(panels, gap=gap, percentiles=(0, 100))
    canvas = np.full((height, 2 * height), 255, np.uint8)
    canvas[:, : grey.shape[1]] = grey
    zoom = max(1, -(-COVER_HEIGHT // height))
    return np.repeat(np.repeat(canvas, zoom, axis=0), zoom, axis=1)


def unet_layout(config: Any) -> str:
    """The U-Net's layout in words: down-sampling, up-sampling and skips."""
    down = "max-blur-pool" if config.downsampling == "blur" else "max-pool"
    skips = "additive skips" if config.top_skip else "additive skips but none at full resolution"
    layout = f"{down} down, transposed convolution up, {skips}"
    planes = getattr(config, "z_context", 0)
    if planes:
        layout += f"; the first convolution spans {planes} planes, the rest work plane by plane"
    return layout
