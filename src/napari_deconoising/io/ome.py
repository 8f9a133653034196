"""What OME-XML (the metadata of an OME-TIFF) says about an image: pixel sizes and optics.

Only the first image of the file is read (the series :func:`~napari_deconoising.io.read_tiff`
reads): its ``Pixels`` element's ``PhysicalSize`` attributes, and the optics:

- the numerical aperture, ``LensNA`` of the objective the image's ``ObjectiveSettings`` refer
  to by ID (else of the file's only objective);
- the immersion medium's refractive index, ``ObjectiveSettings@RefractiveIndex``;
- each channel's ``EmissionWavelength`` (in ``EmissionWavelengthUnit``, default nm).

Values that are missing, not numbers, or not positive are left out (None): a file never makes
reading fail here.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import suppress

from napari_deconoising.io.axes import Optics
from napari_deconoising.io.layer_axes import um_per_unit

NM_PER_UM = 1000.0


def ome_spacing(xml: str) -> dict[str, float]:
    """Pixel sizes in µm from the first Pixels element of OME-XML (default unit µm)."""
    root = _parse(xml)
    pixels = None if root is None else _first(root, "Pixels")
    if pixels is None:
        return {}
    spacing: dict[str, float] = {}
    for axis in "XYZ":
        factor = um_per_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        size = _positive(pixels.get(f"PhysicalSize{axis}"), factor)
        if size is not None:
            spacing[axis] = size
    return spacing


def ome_optics(xml: str) -> Optics | None:
    """The optics of the first image of OME-XML (see the module's description), or None when
    it records none of them."""
    root = _parse(xml)
    image = None if root is None else _first(root, "Image")
    if image is None:
        return None
    settings = _first(image, "ObjectiveSettings")
    objective = _objective(root, None if settings is None else settings.get("ID"))
    optics = Optics(
        na=None if objective is None else _positive(objective.get("LensNA")),
        emission_nm=_emissions(image),
        refractive_index=None if settings is None else _positive(settings.get("RefractiveIndex")),
    )
    return optics if optics.known else None


def _parse(xml: str) -> ET.Element | None:
    try:
        return ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError:
        return None


def _local(element: ET.Element) -> str:
    """An element's tag without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def _all(element: ET.Element, tag: str) -> Iterator[ET.Element]:
    return (el for el in element.iter() if _local(el) == tag)


def _first(element: ET.Element, tag: str) -> ET.Element | None:
    return next(_all(element, tag), None)


def _objective(root: ET.Element, objective_id: str | None) -> ET.Element | None:
    """The objective with ``objective_id``, else the file's only objective, else None."""
    objectives = list(_all(root, "Objective"))
    if objective_id is not None:
        return next((el for el in objectives if el.get("ID") == objective_id), None)
    return objectives[0] if len(objectives) == 1 else None


def _emissions(image: ET.Element) -> tuple[float | None, ...]:
    """Each channel's emission wavelength (nm) of the image's Pixels, None where unknown."""
    pixels = _first(image, "Pixels")
    if pixels is None:
        return ()
    emissions = []
    for channel in _all(pixels, "Channel"):
        um = um_per_unit(channel.get("EmissionWavelengthUnit", "nm"))
        nm_per_unit = None if um is None else um * NM_PER_UM
        emissions.append(_positive(channel.get("EmissionWavelength"), nm_per_unit))
    return tuple(emissions)


def _positive(text: str | None, factor: float | None = 1.0) -> float | None:
    """``text`` as a number times ``factor``, when both are known and the result is a positive
    finite number; else None."""
    if text is None or not factor:
        return None
    value = math.nan
    with suppress(TypeError, ValueError):
        value = float(text) * factor
    return value if math.isfinite(value) and value > 0 else None
