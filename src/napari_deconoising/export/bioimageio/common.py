"""What the parts of a bioimage.io package share: file and tensor names, the paper, the tags,
sizes and tolerances, and :func:`quiet` for the exporters' chatter. The names that reading a
package back needs too (:data:`MODEL_MEMBER`, :data:`CONFIG_KEY`, :data:`YAML_NAMES`) live with
the reader, :mod:`napari_deconoising.model.package_reader`."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator

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
#: Tags of every package; the description adds "2d" or "3d" after the first.
TAGS = (
    "fluorescence-light-microscopy",
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
#: The same for 3D models, (z, y, x): small, since the ONNX graph convolves with the 3D PSF
#: directly and bioimageio.core runs the weights at several sizes.
TEST_SHAPE_3D, MAX_TEST_SHAPE_3D = (16, 64, 64), (32, 128, 128)
#: The spatial axes of 3D tensors; 2D tensors have the last two.
SPATIAL_AXES = ("z", "y", "x")
#: Smallest height of the cover image (pixels).
COVER_HEIGHT = 256
#: float32 rounding steps of the output values that the exported weights may differ by.
ROUNDING_STEPS = 16
NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_+\- ()]{5,128}$")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No tracer warnings or exporter chatter."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
