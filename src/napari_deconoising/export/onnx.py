"""Export a model (original or compressed) to ONNX, checked with onnxruntime against torch.

The exported graph is the whole model, not only the network: it takes images in camera units,
shaped (N, 1, H, W) float32 with H and W multiples of ``size_multiple`` (stored in the file's
metadata), and returns ``deconvolved`` and ``denoised`` (same shape, camera units): normalisation,
the U-Net, the output scale and the PSF convolution with reflected borders are all inside. Height,
width and batch are dynamic. It processes each image whole, without the Predictor's tiling (the
network's zero padding shows at the image border, where the Predictor reflects the image), and
the image must be larger than the PSF's radius.

A two-stage model's graph returns ``denoised`` only: its second stage (Richardson-Lucy, an
iteration with a stopping rule and FFTs) does not trace to ONNX; the file's ``design`` metadata
says so, and ``deconoising predict`` or the bioimage.io package give both outputs.

3D models export alike with input (N, 1, D, H, W), every size dynamic, D a multiple of the Z entry
of ``size_multiples``. The PSF convolution inside the graph is always the direct one (the FFT
path does not trace to ONNX), which is slow for large 3D PSFs.

The graph is traced with torch's TorchScript-based exporter, which needs only ``onnx`` (the newer
``torch.export``-based one also needs ``onnxscript``), then run in onnxruntime on two input shapes
and compared with torch before anything is written.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_deconoising._version import __version__
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.io.outputs import atomic_write, check_outputs
from napari_deconoising.model.bundle import DecoNoisingModel, single_channel
from napari_deconoising.model.convolution import convolve, psf_tensor

OPSET = 17
#: Largest allowed difference between onnxruntime and torch, relative to the output's range.
TOLERANCE = 1e-4
INPUT, OUTPUTS = "image", ("deconvolved", "denoised")
#: A two-stage model's graph: its network denoises, Richardson-Lucy is left out.
TWO_STAGE_OUTPUTS = ("denoised",)
#: How to run the exported file (its ``usage`` metadata), by spatial dims.
USAGE = {
    2: "input (N,1,H,W) float32 camera units, H and W multiples of size_multiple; "
    "outputs deconvolved and denoised in camera units",
    3: "input (N,1,D,H,W) float32 camera units, D, H and W multiples of size_multiples "
    "(z, y, x); outputs deconvolved and denoised in camera units",
}


class ExportError(DeconoisingError):
    """The model could not be exported, or the exported file does not reproduce torch."""


@dataclass(frozen=True)
class OnnxExport:
    """Where the file went and how closely onnxruntime reproduced torch (None if unchecked)."""

    path: Path
    bytes: int
    opset: int
    max_relative_error: float | None
    checked_shapes: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "opset": self.opset,
            "max_relative_error": self.max_relative_error,
            "checked_shapes": self.checked_shapes,
        }


class DeconoisingGraph(nn.Module):
    """The model as one module: camera units in, (deconvolved, denoised) in camera units out."""

    def __init__(self, model: DecoNoisingModel):
        super().__init__()
        self.network = model.network
        norm = model.normalisation
        self.mean, self.std, self.scale = float(norm.mean), float(norm.std), model.output_scale
        self.spatial_dims = model.spatial_dims
        #: The graph's outputs, by name (two-stage: the denoiser's output only).
        self.outputs = TWO_STAGE_OUTPUTS if model.two_stage else OUTPUTS
        kernel = psf_tensor(model.output_psf)
        if kernel is None:
            kernel = torch.ones((1, 1) + (1,) * self.spatial_dims)
        self.register_buffer("kernel", kernel)
        #: The PSF's radius along each spatial axis.
        self.pad = tuple(k // 2 for k in kernel.shape[2:])

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        deconvolved = self.network((image - self.mean) / self.std) * self.scale
        if len(self.outputs) == 1:
            return (deconvolved * self.std + self.mean,)
        # traced on an example larger than the PSF, so the graph always reflects at the borders;
        # direct convolution, since the FFT does not trace to ONNX
        denoised = convolve(deconvolved, self.kernel, method="direct")
        return deconvolved * self.std + self.mean, denoised * self.std + self.mean


def export_onnx(
    model: DecoNoisingModel,
    path: str | Path,
    check: bool = True,
    opset: int = OPSET,
    overwrite: bool = False,
) -> OnnxExport:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and check it with onnxruntime.

    An existing ``path`` is replaced only with ``overwrite`` (see :mod:`.outputs`).

    Raises :class:`ExportError` when onnx or onnxruntime is missing, when the export fails, or
    when onnxruntime's outputs differ from torch's by more than ``TOLERANCE`` of their range.
    """
    model = single_channel(model, "ONNX export")
    onnx = _require("onnx")
    path = Path(path)
    check_outputs([path], overwrite=overwrite)
    graph = DeconoisingGraph(cpu_copy(model)).eval()
    multiple = model.network.size_multiples
    proto = _export(graph, multiple, opset, onnx)
    _add_metadata(proto, model)
    error, shapes = (None, []) if not check else _check(graph, proto, multiple)
    atomic_write(path, lambda temporary: onnx.save(proto, str(temporary)))
    return OnnxExport(path, path.stat().st_size, opset, error, shapes)


def _require(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError as err:
        raise ExportError(
            f"ONNX export needs the '{name}' package: pip install 'napari-deconoising[onnx]'"
        ) from err


def cpu_copy(model: DecoNoisingModel) -> DecoNoisingModel:
    """A shallow copy of ``model`` with a float32 copy of its network on the CPU, in eval mode
    (what is traced; the model itself is left as it is)."""
    clone = copy.copy(model)
    clone.network = copy.deepcopy(model.network).cpu().float().eval()
    return clone


def _example(graph: DeconoisingGraph, batch: int, *sizes: int) -> torch.Tensor:
    """Noise with the training data's mean and spread, (batch, 1, *sizes)."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(batch, 1, *sizes, generator=generator)
    return (noise * graph.std + graph.mean).float()


def _sizes(graph: DeconoisingGraph, multiples: int | Sequence[int]) -> list[tuple[int, ...]]:
    """Two (batch, height, width) or (batch, depth, height, width) shapes to check, larger than
    the PSF and the poolings need."""
    if isinstance(multiples, int):
        multiples = (multiples,) * len(graph.pad)
    first, second = [1], [2]
    for axis, (multiple, pad) in enumerate(zip(multiples, graph.pad, strict=True)):
        smallest = 8 if axis < len(graph.pad) - 2 else 32
        least = max(smallest, 4 * multiple, 2 * pad + 2)
        base = -(-least // multiple) * multiple
        first.append(base)
        second.append(base + (2 if axis % 2 == len(graph.pad) % 2 else 6) * multiple)
    return [tuple(first), tuple(second)]


def _export(graph: DeconoisingGraph, multiple: int | Sequence[int], opset: int, onnx: Any) -> Any:
    """Trace ``graph`` into an ONNX model proto with dynamic batch and spatial sizes."""
    example = _example(graph, *_sizes(graph, multiple)[0])
    buffer = io.BytesIO()
    spatial = ("depth", "height", "width")[-graph.spatial_dims :]
    trace_to_onnx(graph, example, buffer, INPUT, graph.outputs, spatial, opset=opset)
    return onnx.load_from_string(buffer.getvalue())


def trace_to_onnx(
    graph: nn.Module,
    example: torch.Tensor,
    target: Any,
    input_name: str,
    output_names: Sequence[str],
    spatial: Sequence[str] = ("height", "width"),
    opset: int = OPSET,
) -> None:
    """Trace ``graph`` on ``example`` (B, C, H, W) or (B, C, D, H, W) into an ONNX file or
    buffer ``target``, with batch and the ``spatial`` sizes dynamic; quiet; any failure becomes
    :class:`ExportError`."""
    axes = {0: "batch", **{2 + index: name for index, name in enumerate(spatial)}}
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                (example,),
                target,
                dynamo=False,
                opset_version=opset,
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_axes={name: axes for name in (input_name, *output_names)},
            )
    except Exception as err:
        raise ExportError(f"ONNX export failed: {type(err).__name__}: {err}") from err


def _add_metadata(proto: Any, model: DecoNoisingModel) -> None:
    info = model.info()
    values = {
        "producer": f"napari-deconoising {__version__}",
        "size_multiple": str(model.network.size_multiple),
        "kind": info["kind"],
        "parameters": str(info["parameters"]),
        "normalisation": json.dumps(info["normalisation"]),
        "psf_shape": json.dumps(info["psf_shape"]),
        "compressed_from": str(info["compressed_from"] or ""),
        "usage": _usage(model),
        "design": info["design"] or "n2v",
        "spatial_dims": str(model.spatial_dims),
        "size_multiples": json.dumps(list(model.network.size_multiples)),
    }
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "napari-deconoising"


def _usage(model: DecoNoisingModel) -> str:
    """How to run the file (its ``usage`` metadata)."""
    usage = USAGE[model.spatial_dims]
    if not model.two_stage:
        return usage
    return usage.replace("outputs deconvolved and denoised", "output denoised") + (
        "; deconvolve it with Richardson-Lucy and the model's PSF (two-stage model)"
    )


def _check(
    graph: DeconoisingGraph, proto: Any, multiple: int | Sequence[int]
) -> tuple[float, list[list[int]]]:
    """Run two input shapes through onnxruntime and torch; the largest relative difference."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    worst, shapes = 0.0, []
    for shape in _sizes(graph, multiple):
        example = _example(graph, *shape)
        shapes.append(list(example.shape))
        with torch.inference_mode():
            expected = [t.numpy() for t in graph(example)]
        produced = session.run(list(graph.outputs), {INPUT: example.numpy()})
        for want, got in zip(expected, produced, strict=True):
            if got.shape != want.shape:
                raise ExportError(f"the ONNX model returned shape {got.shape}, torch {want.shape}")
            scale = max(float(np.ptp(want)), 1e-6)
            worst = max(worst, float(np.max(np.abs(got - want))) / scale)
    if not worst <= TOLERANCE:
        raise ExportError(
            f"the exported ONNX model differs from torch by {worst:.2e} of the output range "
            f"(tolerance {TOLERANCE:.0e}); nothing was written"
        )
    return worst, shapes
