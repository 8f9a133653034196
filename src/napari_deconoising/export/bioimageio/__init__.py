"""bioimage.io model packages (BioImage Model Zoo format 0.5): export, and import of our own.

:func:`export_bioimageio` writes a zip that Fiji (deepImageJ), QuPath, ilastik, the BioEngine and
``bioimageio.core`` can run without napari-deconoising. The package holds:

* ``rdf.yaml``: the description (name, authors, the DecoNoising paper, licence, tags, tensors),
  built and validated with ``bioimageio.spec``;
* the whole model as one network, in TorchScript and ONNX: camera units in, ``deconvolved`` and
  ``denoised`` out in camera units. Normalisation, output scale and PSF convolution are inside
  (:class:`~napari_deconoising.export.onnx.DeconoisingGraph`), so a consumer needs nothing of
  ours. Tensors are ``(batch, channel, y, x)``, or ``(batch, channel, z, y, x)`` for a 3D
  model; each spatial axis takes ``min + n * step`` pixels, where ``step`` is what the U-Net's
  poolings need along it and ``min`` also exceeds the PSF's radius along it
  (:func:`~.weights.axis_sizes`). A multi-channel model (:class:`~.model.bundle.ChannelModels`)
  becomes one network with a channel axis of size C that takes each channel through that
  channel's network;
* for a two-stage model (its network denoises), the same two outputs in TorchScript only: the
  deconvolved one is Richardson-Lucy with the PSF inside the weights, for a fixed number of
  iterations (:mod:`.richardson_lucy`; its FFTs do not export to ONNX);
* test input and outputs (``.npy``) computed by the model (a synthetic image, or z-stack for 3D,
  unless an image is given), a cover image (a 3D model's: the middle plane) and a README whose
  "Validation" section says what was checked;
* our own model file as the attachment ``napari-deconoising-model.pt``, so that
  :func:`~napari_deconoising.model.bundle.load_model` reads the package back exactly
  (:func:`load_bioimageio`, :mod:`napari_deconoising.model.package_reader`).

Before anything is written, the TorchScript and ONNX weights are compared with PyTorch, the
package is validated by ``bioimageio.spec`` and, with ``test=True`` (the default), tested with
``bioimageio.core``'s model test. The description holds no web address, so none of this needs
the network. Exporting needs ``pip install 'napari-deconoising[bioimageio]'``; importing needs
nothing beyond napari-deconoising itself.

The parts: :mod:`.package` (the export steps, the checks and the write), :mod:`.weights` (the
network, the test tensors, TorchScript and ONNX), :mod:`.richardson_lucy` (a two-stage model's
second stage in the weights), :mod:`.describe` (``rdf.yaml``, README, cover) and
:mod:`.common` (names and constants they share). Reading a package back belongs to the model
file (:mod:`napari_deconoising.model.package_reader`); it is re-exported here.
"""

from __future__ import annotations

from napari_deconoising.export.bioimageio.common import (
    COVER_HEIGHT,
    DEFAULT_AUTHOR,
    INPUT_ID,
    LICENSE,
    MAX_TEST_SHAPE_3D,
    MAX_TEST_SIZE,
    NAME_CHARACTERS,
    ONNX_FILE,
    OUTPUT_IDS,
    PACKAGE_FORMAT,
    PAPER,
    PAPER_DOI,
    ROUNDING_STEPS,
    SPATIAL_AXES,
    TAGS,
    TEST_SHAPE_3D,
    TEST_SIZE,
    TORCHSCRIPT_FILE,
)
from napari_deconoising.export.bioimageio.package import (
    BioimageioExport,
    ExportProgress,
    ProgressCallback,
    export_bioimageio,
    export_bioimageio_package,
    export_steps,
)
from napari_deconoising.export.bioimageio.richardson_lucy import (
    FixedRichardsonLucy,
    calibrated_iterations,
)
from napari_deconoising.export.bioimageio.weights import (
    ChannelGraph,
    TwoStageGraph,
    axis_sizes,
    size_rule,
)
from napari_deconoising.export.onnx import ExportError
from napari_deconoising.model.bundle import load_bioimageio
from napari_deconoising.model.package_reader import (
    CONFIG_KEY,
    MODEL_MEMBER,
    YAML_NAMES,
    is_bioimageio_package,
)

__all__ = [
    "CONFIG_KEY",
    "COVER_HEIGHT",
    "DEFAULT_AUTHOR",
    "INPUT_ID",
    "LICENSE",
    "MAX_TEST_SHAPE_3D",
    "MAX_TEST_SIZE",
    "MODEL_MEMBER",
    "NAME_CHARACTERS",
    "ONNX_FILE",
    "OUTPUT_IDS",
    "PACKAGE_FORMAT",
    "PAPER",
    "PAPER_DOI",
    "ROUNDING_STEPS",
    "SPATIAL_AXES",
    "TAGS",
    "TEST_SHAPE_3D",
    "TEST_SIZE",
    "TORCHSCRIPT_FILE",
    "YAML_NAMES",
    "BioimageioExport",
    "ChannelGraph",
    "ExportError",
    "ExportProgress",
    "FixedRichardsonLucy",
    "ProgressCallback",
    "TwoStageGraph",
    "axis_sizes",
    "calibrated_iterations",
    "export_bioimageio",
    "export_bioimageio_package",
    "export_steps",
    "is_bioimageio_package",
    "load_bioimageio",
    "size_rule",
]
