"""bioimage.io model packages (BioImage Model Zoo format 0.5): export, and import of our own.

:func:`export_bioimageio` writes a zip that Fiji (deepImageJ), QuPath, ilastik, the BioEngine and
``bioimageio.core`` can run without napari-deconoising. The package holds:

* ``rdf.yaml``: the description (name, authors, the DecoNoising paper, licence, tags, tensors),
  built and validated with ``bioimageio.spec``;
* the whole model as one network, in TorchScript and ONNX: camera units in, ``deconvolved`` and
  ``denoised`` out in camera units. Normalisation, output scale and PSF convolution are inside
  (:class:`~napari_deconoising.onnx_export.DeconoisingGraph`), so a consumer needs nothing of
  ours. Tensors are ``(batch, channel, y, x)``; ``y`` and ``x`` take ``min + n * step`` pixels,
  where ``step`` is what the U-Net's poolings need and ``min`` also exceeds the PSF's radius.
  A multi-channel model (:class:`~napari_deconoising.bundle.ChannelModels`) becomes one network
  with a channel axis of size C that takes each channel through that channel's network;
* test input and outputs (``.npy``) computed by the model, a cover image and a README whose
  "Validation" section says what was checked;
* our own model file as the attachment ``napari-deconoising-model.pt``, so that
  :func:`~napari_deconoising.bundle.load_model` reads the package back exactly
  (:func:`load_bioimageio`).

Before anything is written, the TorchScript and ONNX weights are compared with PyTorch, the
package is validated by ``bioimageio.spec`` and, with ``test=True`` (the default), tested with
``bioimageio.core``'s model test. The description holds no web address, so none of this needs
the network. Exporting needs ``pip install 'napari-deconoising[bioimageio]'``; importing needs
nothing beyond napari-deconoising itself.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..bundle import AnyModel, ChannelModels, DecoNoisingModel, load_model
from ..errors import ConfigError, ImageError, ModelFileError
from ..figures import side_by_side, to_uint8, write_png
from ..files import atomic_write
from ..onnx_export import OPSET, TOLERANCE, DeconoisingGraph, ExportError, _cpu_copy

#: The names a bioimage.io package may give its description (``bioimageio.spec``'s list).
YAML_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
#: Our model file inside the package, and our block in the description's ``config``.
MODEL_MEMBER = "napari-deconoising-model.pt"
CONFIG_KEY = "napari_deconoising"
PACKAGE_FORMAT = 1
INPUT_ID = "raw"
OUTPUT_IDS = ("deconvolved", "denoised")
TORCHSCRIPT_FILE, ONNX_FILE = "deconoising.torchscript.pt", "deconoising.onnx"
LICENSE = "BSD-3-Clause"
PAPER = (
    "Goncharova, A. S., Honigmann, A., Jug, F., Krull, A. Improving Blind Spot Denoising for "
    "Microscopy. ECCV 2020 Workshops, LNCS 12535, 380-393 (2020). arXiv:2008.08414"
)
PAPER_DOI = "10.1007/978-3-030-66415-2_25"
DEFAULT_AUTHOR = "napari-deconoising"
TAGS = (
    "fluorescence-light-microscopy",
    "2d",
    "pytorch",
    "unet",
    "denoising",
    "image-restoration",
    "deconvolution",
    "self-supervised",
    "noise2void",
    "deconoising",
    "napari-deconoising",
)
#: Side of the generated test image, and the largest side taken from a given one (pixels).
TEST_SIZE, MAX_TEST_SIZE = 128, 256
#: Smallest height of the cover image (pixels).
COVER_HEIGHT = 256
#: float32 rounding steps of the output values that the exported weights may differ by.
ROUNDING_STEPS = 16
NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_+\- ()]{5,128}$")

#: ``progress(fraction, text)``: how far the export is (0..1) and what it does now.
ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class BioimageioExport:
    """What :func:`export_bioimageio_package` wrote and checked."""

    path: Path
    bytes: int
    name: str
    channels: int
    min_size: int
    step: int
    test_shape: list[int]
    weights: list[str]
    max_relative_error: float
    core_version: str | None
    spec_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "name": self.name,
            "channels": self.channels,
            "min_size": self.min_size,
            "step": self.step,
            "test_shape": self.test_shape,
            "weights": self.weights,
            "max_relative_error": self.max_relative_error,
            "bioimageio_core_test": self.core_version is not None,
            "bioimageio_core_version": self.core_version,
            "bioimageio_spec_version": self.spec_version,
        }


class ChannelGraph(nn.Module):
    """The exported network: ``(B, C, H, W)`` camera units in, ``(deconvolved, denoised)``
    ``(B, C, H, W)`` in camera units out; channel ``c`` goes through channel ``c``'s model
    (one :class:`~napari_deconoising.onnx_export.DeconoisingGraph` each)."""

    def __init__(self, models: Sequence[DecoNoisingModel]):
        super().__init__()
        self.graphs = nn.ModuleList(DeconoisingGraph(_cpu_copy(m)).eval() for m in models)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deconvolved, denoised = [], []
        for index, graph in enumerate(self.graphs):
            sharp, blurred = graph(raw[:, index : index + 1])
            deconvolved.append(sharp)
            denoised.append(blurred)
        return torch.cat(deconvolved, dim=1), torch.cat(denoised, dim=1)


def size_rule(model: AnyModel) -> tuple[int, int]:
    """``(min, step)`` of the exported network's height and width: multiples of what every
    channel's U-Net needs, larger than every PSF's radius (the PSF convolution reflects)."""
    models = model.channels
    step = max(m.network.size_multiple for m in models)  # powers of two: a multiple of the rest
    radius = max(0 if m.psf is None else max(np.shape(m.psf)) // 2 for m in models)
    return step * (radius // step + 1), step


@dataclass(frozen=True)
class ExportProgress:
    """How far an export is (``fraction``, 0..1) and what it does now."""

    fraction: float
    text: str


def export_bioimageio(
    model: AnyModel,
    out_path: str | Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
    description: str | None = None,
    authors: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    test_image: np.ndarray | None = None,
    test: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write ``model`` as a bioimage.io model package (a ``.zip``) at ``out_path``; its path.

    See :func:`export_steps` for the arguments and the checks; ``progress(fraction, text)`` is
    called at every step.
    """
    options = {"name": name, "overwrite": overwrite, "description": description}
    options.update(authors=authors, tags=tags, test_image=test_image, test=test)
    return export_bioimageio_package(model, out_path, progress=progress, **options).path


def export_bioimageio_package(
    model: AnyModel,
    out_path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> BioimageioExport:
    """As :func:`export_bioimageio`, returning what was written and checked."""
    steps = export_steps(model, out_path, **options)
    while True:
        try:
            event = next(steps)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(event.fraction, event.text)


def export_steps(
    model: AnyModel,
    out_path: str | Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
    description: str | None = None,
    authors: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    test_image: np.ndarray | None = None,
    test: bool = True,
) -> Generator[ExportProgress, None, BioimageioExport]:
    """Export ``model`` (single- or multi-channel, original or compressed) to ``out_path``,
    yielding :class:`ExportProgress` before every step and returning a
    :class:`BioimageioExport`. Closing the generator early writes nothing.

    ``name`` (5-128 letters, digits, spaces and ``_+-()``) defaults to one made from the model;
    ``authors`` (names) default to "napari-deconoising"; ``tags`` are added to ours.
    ``test_image`` (``(Y, X)``, or ``(C, Y, X)`` for a C-channel model, camera units) gives the
    test input and the cover; by default a synthetic image with each channel's intensity
    statistics is used. ``out_path`` must end in ``.zip``; an existing file is replaced only
    with ``overwrite=True``. The file is written atomically, once every check has passed:
    TorchScript and ONNX reproduce PyTorch within ``TOLERANCE`` of the output range,
    ``bioimageio.spec`` accepts the package and, with ``test``, ``bioimageio.core``'s model
    test passes. Raises :class:`ExportError` (or :class:`ConfigError`/:class:`ImageError` for
    bad arguments) otherwise.
    """
    out_path = _checked_out_path(out_path, overwrite)
    models = _checked_models(model)
    name = _checked_name(name, model)
    spec = _require_spec()
    core_version = _core_version() if test else None
    minimum, step = size_rule(model)
    with tempfile.TemporaryDirectory(prefix="deconoising-bioimageio-") as folder:
        work = Path(folder)
        yield ExportProgress(0.02, "computing the test outputs")
        graph = ChannelGraph(models).eval()
        raw = _test_input(models, test_image, minimum, step)
        with torch.inference_mode():
            outputs = [t.numpy() for t in graph(torch.from_numpy(raw))]
        files = _write_tensors(work, raw, outputs)
        yield ExportProgress(0.1, "writing TorchScript and ONNX weights")
        _write_torchscript(graph, raw, work / TORCHSCRIPT_FILE)
        _write_onnx(graph, raw, work / ONNX_FILE)
        yield ExportProgress(0.25, "checking TorchScript and ONNX against PyTorch")
        error = _check_weights(graph, work, raw, (minimum, step))
        write_png(work / "cover.png", _cover(raw, outputs, model.is_n2v))
        (work / MODEL_MEMBER).write_bytes(model.to_bytes())
        source = "a crop of the image given at export"
        if test_image is None:
            source = "synthetic, with the model's intensity statistics"
        facts = _Facts(name, model, minimum, step, list(raw.shape), error, core_version, source)
        (work / "README.md").write_text(_readme(facts), encoding="utf-8")
        yield ExportProgress(0.4, "describing and validating the package")
        descr = _description(spec, facts, work, files, description, authors, tags)
        package = work / "package.zip"
        _save_package(spec, descr, package)
        if test:
            yield ExportProgress(0.5, "testing the package with bioimageio.core")
            _run_core_test(package)
        yield ExportProgress(0.98, f"writing {out_path.name}")
        _place(package, out_path, overwrite)
    return BioimageioExport(
        path=out_path,
        bytes=out_path.stat().st_size,
        name=name,
        channels=len(models),
        min_size=minimum,
        step=step,
        test_shape=list(raw.shape),
        weights=["torchscript", "onnx"],
        max_relative_error=error,
        core_version=core_version,
        spec_version=spec.__version__,
    )


# -- import -------------------------------------------------------------------------------------
def is_bioimageio_package(path: str | Path) -> bool:
    """True when ``path`` is a zip with a bioimage.io description (``rdf.yaml``) at its top.

    (A ``torch.save`` model file is a zip too, without one.) A ``.zip`` file that is not a
    readable zip raises :class:`ModelFileError`.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if not zipfile.is_zipfile(path):
        if path.suffix.lower() == ".zip":
            raise ModelFileError(
                f"{path} is a damaged zip file: it is not a readable zip archive (was the "
                "download or copy complete?)"
            )
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ModelFileError(f"{path} is a damaged zip file ({err})") from err
    return _yaml_name(names) is not None


def load_bioimageio(path: str | Path) -> AnyModel:
    """Read back the model of a package that :func:`export_bioimageio` wrote (its attached
    model file, exactly); a clear :class:`ModelFileError` for other packages or damage."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            yaml_name = _yaml_name(names)
            if yaml_name is None:
                raise ModelFileError(f"{path} is not a bioimage.io package (it has no rdf.yaml)")
            rdf = archive.read(yaml_name).decode("utf-8", errors="replace")
            if MODEL_MEMBER not in names:
                raise ModelFileError(_foreign_message(path, rdf))
            data = archive.read(MODEL_MEMBER)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        raise ModelFileError(f"{path} is a damaged bioimage.io package ({err})") from err
    with tempfile.TemporaryDirectory(prefix="deconoising-import-") as folder:
        inner = Path(folder) / MODEL_MEMBER
        inner.write_bytes(data)
        try:
            return load_model(inner)
        except ModelFileError as err:
            reason = str(err).replace(str(inner), MODEL_MEMBER)
            raise ModelFileError(
                f"{path}: the model inside the package is unusable: {reason}"
            ) from err


def _yaml_name(names: Sequence[str]) -> str | None:
    for yaml_name in YAML_NAMES:
        for name in sorted(names):
            if "/" not in name and (name == yaml_name or name.endswith("." + yaml_name)):
                return name
    return None


def _foreign_message(path: Path, rdf: str) -> str:
    if re.search(rf"^\s*{CONFIG_KEY}\s*:", rdf, flags=re.MULTILINE):
        return (
            f"{path} was exported by napari-deconoising, but its model file {MODEL_MEMBER} is "
            "missing from the package"
        )
    found = re.search(r"^name:\s*(.+?)\s*$", rdf, flags=re.MULTILINE)
    described = f" (it describes '{found.group(1).strip(chr(34) + chr(39))}')" if found else ""
    return (
        f"{path} is a bioimage.io package but not one napari-deconoising exported{described}: "
        f"it has no napari-deconoising model file ({MODEL_MEMBER}). Run it with a bioimage.io "
        "tool (bioimageio.core, deepImageJ, ilastik), or train a napari-deconoising model"
    )


# -- export: checks -----------------------------------------------------------------------------
def _checked_out_path(out_path: str | Path, overwrite: bool) -> Path:
    path = Path(out_path).expanduser()
    if path.suffix.lower() != ".zip":
        raise ConfigError(f"a bioimage.io package is a .zip file; give a .zip name, not {path}")
    if path.is_dir():
        raise ConfigError(f"the output {path} is a folder; give a .zip file name")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; choose another name or allow overwriting it")
    return path


def _checked_models(model: AnyModel) -> list[DecoNoisingModel]:
    if not isinstance(model, DecoNoisingModel | ChannelModels):
        raise ModelFileError(
            f"expected a napari-deconoising model or a model file, got {type(model).__name__}"
        )
    return list(model.channels)


def _checked_name(name: str | None, model: AnyModel) -> str:
    if name is None:
        kind = "Noise2Void denoising" if model.is_n2v else "DecoNoising denoising and deconvolution"
        compressed = any(m.metadata.get("compressed_from") for m in model.channels)
        channels = f" {model.n_channels} channels" if model.n_channels > 1 else ""
        return f"{kind} 2D{channels}{' (compressed)' if compressed else ''}"
    name = name.strip()
    if not NAME_CHARACTERS.match(name):
        raise ConfigError(
            f"a bioimage.io model name has 5 to 128 characters, only letters, digits, spaces "
            f"and _+-(); got {name!r}"
        )
    return name


def _require_spec() -> Any:
    try:
        import bioimageio.spec as spec
        import pydantic
        from bioimageio.spec.model import v0_5  # noqa: F401
    except ImportError as err:
        raise ExportError(
            "bioimage.io export needs bioimageio.core: pip install 'napari-deconoising[bioimageio]'"
        ) from err
    if _numbers(spec.__version__) < (0, 5, 14) and _numbers(pydantic.VERSION) >= (2, 14):
        raise ExportError(
            f"bioimageio.spec {spec.__version__} cannot write packages with pydantic "
            f"{pydantic.VERSION}: pip install 'pydantic<2.14' (or a bioimageio.spec >= 0.5.14)"
        )
    return spec


def _numbers(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: (0, 5, 12) for "0.5.12.0", (2, 14) for "2.14b1"."""
    numbers = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(numbers)


def _core_version() -> str:
    try:
        import bioimageio.core as core
    except ImportError as err:
        raise ExportError(
            "testing the package needs bioimageio.core: pip install "
            "'napari-deconoising[bioimageio]' (or export with test=False)"
        ) from err
    return str(core.__version__)


# -- export: tensors and weights ------------------------------------------------------------------
def _test_input(
    models: Sequence[DecoNoisingModel], image: np.ndarray | None, minimum: int, step: int
) -> np.ndarray:
    """``(1, C, H, W)`` float32 camera units: a crop of ``image``, or a synthetic image."""
    if image is None:
        from ..sample_data import make_sample

        side = max(minimum, -(-TEST_SIZE // step) * step)
        planes = []
        for index, model in enumerate(models):
            frame = make_sample((side, side), n_frames=1, cell_size=24, seed=index).noisy[0]
            norm = model.normalisation
            spread = max(float(frame.std()), 1e-6)
            planes.append((frame - frame.mean()) / spread * norm.std + norm.mean)
        return np.stack(planes)[None].astype(np.float32)
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] != len(models):
        want = "(Y, X)" if len(models) == 1 else f"({len(models)}, Y, X)"
        raise ImageError(f"the test image must be {want} for this model, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ImageError("the test image holds NaN or infinite values")
    sides = [min(size // step * step, MAX_TEST_SIZE // step * step) for size in array.shape[1:]]
    if min(sides) < minimum:
        raise ImageError(
            f"the test image {array.shape[1:]} is smaller than the {minimum} px the model needs"
        )
    top, left = ((size - side) // 2 for size, side in zip(array.shape[1:], sides, strict=True))
    return np.ascontiguousarray(array[None, :, top : top + sides[0], left : left + sides[1]])


def _write_tensors(
    work: Path, raw: np.ndarray, outputs: Sequence[np.ndarray]
) -> dict[str, tuple[Path, Path]]:
    """Per tensor id: the test tensor (``.npy``, with the batch axis) and the sample tensor
    (TIFF, for people: ``(C, Y, X)``, or ``(Y, X)`` for one channel)."""
    import tifffile

    files = {}
    for kind, tensor_id, array in [
        ("input", INPUT_ID, raw),
        *(("output", i, a) for i, a in zip(OUTPUT_IDS, outputs, strict=True)),
    ]:
        test, sample = (
            work / f"test_{kind}_{tensor_id}.npy",
            work / f"sample_{kind}_{tensor_id}.tif",
        )
        np.save(test, array.astype(np.float32))
        tifffile.imwrite(sample, array[0, 0] if array.shape[1] == 1 else array[0])
        files[tensor_id] = (test, sample)
    return files


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No tracer warnings or exporter chatter."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _write_torchscript(graph: ChannelGraph, raw: np.ndarray, path: Path) -> None:
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(graph, torch.from_numpy(raw), check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as err:
        raise ExportError(f"TorchScript export failed: {type(err).__name__}: {err}") from err


def _write_onnx(graph: ChannelGraph, raw: np.ndarray, path: Path) -> None:
    axes = {0: "batch", 2: "y", 3: "x"}
    try:
        with _quiet():
            torch.onnx.export(
                graph,
                (torch.from_numpy(raw),),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_ID],
                output_names=list(OUTPUT_IDS),
                dynamic_axes={name: axes for name in (INPUT_ID, *OUTPUT_IDS)},
            )
    except Exception as err:
        raise ExportError(f"ONNX export failed: {type(err).__name__}: {err}") from err


def _check_weights(
    graph: ChannelGraph, work: Path, raw: np.ndarray, sizes: tuple[int, int]
) -> float:
    """The largest difference between TorchScript or ONNX and PyTorch, relative to the output
    range, on the test input and on a batch of two at the smallest sizes. Allowed: ``TOLERANCE``
    of the range, or ``ROUNDING_STEPS`` float32 rounding steps of the values if that is more."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ExportError(
            "checking the ONNX weights needs onnxruntime: pip install "
            "'napari-deconoising[bioimageio]'"
        ) from err
    minimum, step = sizes
    generator = np.random.default_rng(0)
    small = raw[:, :, : minimum + step, :minimum]
    second = np.concatenate([small, small + generator.normal(0, 1, small.shape)]).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(work / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    with _quiet():
        scripted = torch.jit.load(str(work / TORCHSCRIPT_FILE), map_location="cpu")
    worst = 0.0
    for array in (raw, second):
        tensor = torch.from_numpy(array)
        with torch.inference_mode():
            expected = [t.numpy() for t in graph(tensor)]
            produced = {"TorchScript": [t.numpy() for t in scripted(tensor)]}
        produced["ONNX"] = session.run(list(OUTPUT_IDS), {INPUT_ID: array})
        for weights, arrays in produced.items():
            for want, got in zip(expected, arrays, strict=True):
                if got.shape != want.shape:
                    raise ExportError(
                        f"the {weights} weights returned shape {got.shape}, PyTorch {want.shape}"
                    )
                scale = max(float(np.ptp(want)), 1e-6)
                difference = float(np.max(np.abs(got - want)))
                error = difference / scale
                # float32 rounding of the values themselves is allowed too (camera units carry
                # an offset: an untrained network's output range can be a few rounding steps)
                rounding = ROUNDING_STEPS * float(np.finfo(np.float32).eps * np.max(np.abs(want)))
                if not difference <= max(TOLERANCE * scale, rounding):
                    raise ExportError(
                        f"the {weights} weights differ from PyTorch by {error:.2e} of the output "
                        f"range (tolerance {TOLERANCE:.0e}); nothing was written"
                    )
                worst = max(worst, error)
    return worst


def _cover(raw: np.ndarray, outputs: Sequence[np.ndarray], n2v: bool) -> np.ndarray:
    """Raw next to the deconvolved (Noise2Void: denoised) first channel, each with its own
    contrast: a 2:1 image, enlarged to at least ``COVER_HEIGHT`` pixels high."""
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


# -- export: description --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Facts:
    name: str
    model: AnyModel
    minimum: int
    step: int
    test_shape: list[int]
    max_relative_error: float
    core_version: str | None
    test_source: str


def _description(
    spec: Any,
    facts: _Facts,
    work: Path,
    files: dict[str, tuple[Path, Path]],
    description: str | None,
    authors: Sequence[str] | None,
    tags: Sequence[str],
) -> Any:
    from bioimageio.spec import ValidationContext
    from bioimageio.spec.model import v0_5

    model = facts.model
    channel_names = [f"channel{index}" for index in range(model.n_channels)]
    pixel = model.pixel_size_um
    units: dict[str, Any] = {} if pixel is None else {"unit": "micrometer", "scale": pixel}
    size = v0_5.ParameterizedSize(min=facts.minimum, step=facts.step)
    float32 = v0_5.IntervalOrRatioDataDescr(type="float32")
    inputs = [
        v0_5.InputTensorDescr(
            id=v0_5.TensorId(INPUT_ID),
            description="raw image in camera units (counts, camera offset included)",
            axes=[
                v0_5.BatchAxis(),
                v0_5.ChannelAxis(channel_names=channel_names),
                v0_5.SpaceInputAxis(id=v0_5.AxisId("y"), size=size, **units),
                v0_5.SpaceInputAxis(id=v0_5.AxisId("x"), size=size, **units),
            ],
            test_tensor=v0_5.FileDescr(source=files[INPUT_ID][0]),
            sample_tensor=v0_5.FileDescr(source=files[INPUT_ID][1]),
            data=float32,
            preprocessing=[v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))],
        )
    ]
    texts = {
        "deconvolved": "deconvolved image in camera units (the network's estimate of the "
        "sharp image)",
        "denoised": "denoised image in camera units (the deconvolved image convolved with the PSF)",
    }
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
                        **units,
                    )
                    for axis in ("y", "x")
                ),
            ],
            test_tensor=v0_5.FileDescr(source=files[output_id][0]),
            sample_tensor=v0_5.FileDescr(source=files[output_id][1]),
            data=float32,
        )
        for output_id in OUTPUT_IDS
    ]
    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    weights = v0_5.WeightsDescr(
        torchscript=v0_5.TorchscriptWeightsDescr(
            source=work / TORCHSCRIPT_FILE, pytorch_version=torch_version
        ),
        onnx=v0_5.OnnxWeightsDescr(
            source=work / ONNX_FILE, opset_version=OPSET, parent="torchscript"
        ),
    )
    first = model.channels[0]
    training = first.training_config
    bioimageio_config = v0_5.BioimageioConfig(
        architecture_type="U-Net (DecoNoising)",
        architecture_description=(
            "2D U-Net (max-pool down, transposed convolution up, additive skips) inside a graph "
            "that normalises the input, scales the network output and convolves it with the "
            "PSF (reflected borders)"
        ),
        modality="fluorescence light microscopy",
        task="denoising and deconvolution",
        model_parameter_count=int(
            sum(p.numel() for m in model.channels for p in m.network.parameters())
        ),
        training=v0_5.TrainingDetails(
            training_preprocessing="(x - mean) / std with the training data's statistics",
            training_batch_size=training.get("batch_size"),
            initial_learning_rate=training.get("learning_rate"),
            loss_function="DecoNoising: Noise2Void blind-spot loss on the PSF-convolved output, "
            "plus a positivity penalty on the deconvolved output",
            optimizer="Adam",
        ),
    )
    ours = {
        "format": PACKAGE_FORMAT,
        "version": __version__,
        "model_file": MODEL_MEMBER,
        "channels": model.n_channels,
        "kind": "n2v" if model.is_n2v else "deconoising",
        "size_min": facts.minimum,
        "size_step": facts.step,
        "normalisation": [
            {"mean": m.normalisation.mean, "std": m.normalisation.std} for m in model.channels
        ],
    }
    if first.metadata.get("compressed_from"):
        ours["compressed_from"] = str(first.metadata["compressed_from"])
    config = v0_5.Config.model_validate({"bioimageio": bioimageio_config, CONFIG_KEY: ours})
    text = description or _summary(model)
    try:
        with ValidationContext(perform_io_checks=True, log_warnings=False):
            return v0_5.ModelDescr(
                name=facts.name,
                description=text,
                authors=[v0_5.Author(name=a) for a in (authors or [DEFAULT_AUTHOR])],
                cite=[v0_5.CiteEntry(text=PAPER, doi=v0_5.Doi(PAPER_DOI))],
                license=v0_5.LicenseId(LICENSE),
                tags=list(dict.fromkeys([*TAGS, *tags])),
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


def _summary(model: AnyModel) -> str:
    what = (
        "Self-supervised denoising (Noise2Void)"
        if model.is_n2v
        else "Self-supervised joint denoising and deconvolution (DecoNoising)"
    )
    return (
        f"{what} of 2D fluorescence microscopy images, trained with napari-deconoising "
        f"{__version__}. Input: raw camera counts. Outputs: the deconvolved image and the "
        "denoised image (the deconvolved image convolved with the PSF), in camera units. "
        "Normalisation and PSF convolution are inside the network."
    )


def _save_package(spec: Any, descr: Any, package: Path) -> None:
    try:
        with spec.ValidationContext(log_warnings=False), _quiet():
            spec.save_bioimageio_package(descr, output_path=package)
    except Exception as err:
        raise ExportError(f"bioimageio.spec rejected the package: {err}") from err


def _run_core_test(package: Path) -> None:
    import bioimageio.core as core
    from bioimageio.spec import ValidationContext

    with ValidationContext(log_warnings=False), _quiet(), _kept_random_state():
        summary = core.test_model(package, devices=["cpu"])
    if summary.status != "passed":
        failures = [
            f"{detail.name}: {'; '.join(e.msg for e in detail.errors)[:300]}"
            for detail in summary.details
            if detail.status == "failed"
        ]
        raise ExportError(
            "the package failed bioimageio.core's model test; nothing was written: "
            + (" | ".join(failures) or summary.status)
        )


@contextlib.contextmanager
def _kept_random_state() -> Iterator[None]:
    """Undo what bioimageio.core's test does to the session: it seeds numpy's and torch's global
    generators and sets torch's deterministic-algorithms flag."""
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _place(package: Path, out_path: Path, overwrite: bool) -> None:
    if out_path.exists() and not overwrite:
        raise ConfigError(f"{out_path} exists; choose another name or allow overwriting it")
    atomic_write(out_path, lambda temporary: shutil.copyfile(package, temporary))


def _readme(facts: _Facts) -> str:
    model = facts.model
    channels = model.n_channels
    pixel = model.pixel_size_um
    compressed = model.channels[0].metadata.get("compressed_from")
    lines = [f"# {facts.name}", "", _summary(model), ""]
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
        ),
        "",
        "## Inputs and outputs",
        "",
        f"- Input `{INPUT_ID}`: axes (batch, channel, y, x), {channels} channel(s), float32 "
        "(other types are converted), in raw camera units: give the recorded counts, camera "
        "offset included. Do not normalise: the normalisation learnt from the training data is "
        "inside the network.",
        f"- Height and width: {facts.minimum} + n x {facts.step} pixels (n = 0, 1, 2, ...).",
        "- Outputs `deconvolved` and `denoised`: the input's shape, in camera units.",
        "- The network pads with zeros at the image border. For large images, process tiles "
        "that overlap by about 32 pixels and keep their centres.",
        "",
        "## Validation",
        "",
        "Checked when the package was written (nothing is written when a check fails):",
        "",
        f"- The TorchScript and ONNX weights reproduce PyTorch within "
        f"{facts.max_relative_error:.1e} of the output range (tolerance {TOLERANCE:.0e} of the "
        "range, or float32 rounding of the values where that is more) on the "
        f"test input {tuple(facts.test_shape)} ({facts.test_source}) and on a batch of two "
        "images of the smallest size.",
        "- bioimageio.spec validated the description and the files it names.",
        (
            f"- bioimageio.core {facts.core_version}: its model test passed on this package "
            "(for TorchScript and ONNX, the test outputs are reproduced and inference runs at "
            "the smallest size and the next two steps, with batch sizes 1 and 2)."
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
        + ". It assumes pixel-wise independent noise; structured (correlated) noise stays. "
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
